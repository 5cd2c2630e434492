// A run's page while it runs: poll its progress every second, show the stage, share and
// message; once it has finished, load the page again (it then shows the preview).
"use strict";
(function () {
  const box = document.getElementById("run-progress");
  if (!box || box.dataset.finished === "true") return;
  const bar = document.getElementById("run-bar");
  const field = (name) => box.querySelector(`[data-field="${name}"]`);
  async function poll() {
    let body;
    try {
      const answer = await fetch(box.dataset.url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!answer.ok) throw new Error(String(answer.status));
      body = await answer.json();
    } catch (err) {
      setTimeout(poll, 3000);
      return;
    }
    field("status_label").textContent = body.status_label;
    field("stage_label").textContent = body.stage_label;
    field("percent").textContent = String(body.percent);
    field("message").textContent = body.message;
    bar.value = body.percent;
    bar.textContent = `${body.percent}%`;
    if (body.parts.total) {
      field("parts").textContent = `队列任务 ${body.parts.done || 0}/${body.parts.total} 已完成`;
    }
    box.dataset.seen = `${box.dataset.seen || ""}|${body.stage}:${body.percent}`;
    if (body.finished) {
      window.location.reload();
      return;
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
