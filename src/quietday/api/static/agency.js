// The agency pages' script (served by the app; the pages run no inline script).
// 1. The upload form is sent by XMLHttpRequest, so that a large sheet shows its progress; the
//    answer is the result page (followed redirect), which then replaces the page.
// 2. Inputs marked data-enterprise-search suggest enterprises (name, code or pinyin initials).
"use strict";

(function () {
  function uploadWithProgress(form) {
    var box = document.getElementById("upload-progress");
    var bar = document.getElementById("upload-bar");
    var status = document.getElementById("upload-status");
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      box.hidden = false;
      bar.value = 0;
      status.textContent = "正在上传…";
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.round((e.loaded / e.total) * 100);
          bar.value = pct;
          bar.textContent = pct + "%";
          status.textContent = pct < 100 ? "已上传 " + pct + "%" : "上传完成,正在检查每一行…";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status === 413) {
          status.textContent = "文件太大,超过上传上限。请拆分后再上传。";
          return;
        }
        if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL) {
          window.location.assign(xhr.responseURL);
          return;
        }
        status.textContent = "上传未成功(" + xhr.status + "),请刷新页面后重试。";
      });
      xhr.addEventListener("error", function () {
        status.textContent = "网络错误,上传未完成,请重试。";
      });
      xhr.open("POST", form.action);
      xhr.send(new FormData(form));
    });
  }

  function enterpriseSearch(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var last = "";
    input.addEventListener("input", function () {
      var text = input.value.trim();
      if (timer) { clearTimeout(timer); }
      if (!text || text === last) { return; }
      timer = setTimeout(function () {
        last = text;
        fetch("/agency/enterprises?q=" + encodeURIComponent(text), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (found) {
            list.textContent = "";
            found.forEach(function (e) {
              var option = document.createElement("option");
              option.value = e.id;
              option.label = e.name;
              option.textContent = e.name;
              list.appendChild(option);
            });
          })
          .catch(function () { list.textContent = ""; });
      }, 200);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (form) { uploadWithProgress(form); }
    document.querySelectorAll("[data-enterprise-search]").forEach(enterpriseSearch);
  });
})();
