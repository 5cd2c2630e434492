"""The supervisor's run controls in headless Chromium: start a run from the page over a small
generated province, watch its stage and share change, preview, publish, see the plans'
outcomes; issue feed letters and print them (print media), the QR decoded by zxing-cpp to the
subscribe page. Every page is checked by axe-core (tests/js, evaluated through the DevTools
protocol, so the pages keep their CSP) for serious or critical violations, at 1280 and 390 px;
screenshots go to out/test-artifacts/."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from browser import chromium, free_port, serious_violations, served, shoot, watch
from conftest import url_of
from db import migrated, sqlite_url
from quietday.api import create_app
from quietday.config import Settings
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import session_scope
from quietday.planning.keys import create_key
from quietday.planning.province import load_province


@dataclass
class Server:
    base: str
    key: str
    start: str
    end: str
    enterprises: list[str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app under uvicorn over a generated province of 400 enterprises (SQLite), no
    schedule published yet, its clock on the eve of the province's horizon."""
    database = next(migrated(sqlite_url(tmp_path_factory.mktemp("run-controls"))))
    province = generate(GeneratorConfig(enterprises=400, seed=5, counties=2))
    horizon = province.horizon
    with session_scope(database, actor="test") as s:
        load_province(s, province)
        _, key = create_key(s, role="supervisor", label="省司法厅")
    eve = datetime.combine(horizon.start - timedelta(days=1), clock_time(2), tzinfo=UTC)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=url_of(database), runner="thread", public_url=base)
    with served(create_app(settings, engine=database, clock=lambda: eve), port):
        yield Server(base, key, horizon.start.isoformat(), horizon.end.isoformat(),
                     sorted(province.enterprises)[:2])  # fmt: skip


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def accessible(page: Any, name: str) -> None:
    """No serious or critical axe-core violation; full-page screenshots at 1280 and 390 px."""
    bad = serious_violations(page)
    assert bad == [], f"{name}: {bad}"
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        shoot(page, f"run-controls-{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_start_watch_preview_publish_and_print_letters(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = watch(page)
    page.goto(f"{server.base}/dashboard/runs")
    page.fill("input[name=key]", server.key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base}/dashboard")
    # The overview fetches its figures: let them land before going on (else they are aborted).
    page.wait_for_load_state("networkidle")
    page.goto(f"{server.base}/dashboard/runs")
    accessible(page, "runs")
    options = page.eval_on_selector_all("#scope option", "els => els.map(e => e.textContent)")
    assert options[0] == "全省"
    assert all(not o.strip().isdigit() for o in options)
    page.fill("#horizon_start", server.start)
    page.fill("#horizon_end", server.end)
    page.fill("#time_limit", "6")
    page.click("form.run-form button[type=submit]")
    page.wait_for_url("**/dashboard/runs/*")
    run_url = page.url
    page.wait_for_function(
        "() => (document.getElementById('run-progress').dataset.seen || '').split('|')"
        ".filter(s => s.startsWith('solve:')).length >= 2",
        timeout=30_000,
    )
    seen = page.eval_on_selector("#run-progress", "el => el.dataset.seen")
    solving = {int(s.split(":")[1]) for s in seen.split("|") if s.startswith("solve:")}
    assert len(solving) >= 2, seen  # the share moves while it solves
    assert all(5 <= p <= 95 for p in solving), seen
    page.wait_for_selector("#preview-title", timeout=60_000)
    accessible(page, "preview")
    placed = int(page.inner_text("[data-count=placed]"))
    unscheduled = int(page.inner_text("[data-count=unscheduled]"))
    assert placed > 0
    page.click("text=确认发布")
    page.wait_for_selector("text=本次运行已发布")
    assert page.url == run_url
    run_id = run_url.rsplit("/", 1)[1]
    with httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {server.key}"}
    ) as api:
        run = api.get(f"/api/v1/runs/{run_id}").json()
        counts: dict[str, int] = {}
        cursor = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            body = api.get("/api/v1/plans", params=params).json()
            for p in body["items"]:
                counts[p["status"]] = counts.get(p["status"], 0) + 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
    assert run["status"] == "published"
    assert counts.get("published", 0) == placed
    assert counts.get("unscheduled", 0) == unscheduled

    page.goto(f"{server.base}/dashboard/feed-letters")
    accessible(page, "letters-form")
    page.fill("#codes", "\n".join(server.enterprises))
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("article.letter")
    assert page.locator("article.letter").count() == 2
    accessible(page, "letters")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    shoot(page, "run-controls-letters-print")
    shot = page.locator("article.letter .letter-qr").first.screenshot()
    (found,) = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(shot)).convert("L"), formats=zxingcpp.BarcodeFormat.QRCode
    )
    url = str(found.text)
    assert url.startswith(f"{server.base}/feeds/icsf_")
    assert url in page.inner_text("article.letter >> nth=0")
    pdf = page.pdf(format="A4")
    assert (
        pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page>") + pdf.count(b"/Type /Page ") >= 2
    )
    subscribe = context.new_page()
    subscribe.goto(url)
    assert "日历" in subscribe.inner_text("body")
    assert errors == []
    context.close()
