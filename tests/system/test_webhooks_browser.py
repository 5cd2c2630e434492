"""The dashboard's webhook pages in headless Chromium at desktop and phone width: the endpoints
and deliveries, one delivery's log (a receiver that refused the connection), and re-delivery by
its button (a CSRF form). Screenshots go to out/test-artifacts/."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from conftest import require
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import make_engine, session_scope
from quietday.persistence.runs import RunRepository
from quietday.persistence.webhooks import WebhookRepository
from quietday.planning.keys import Actor
from quietday.planning.province import run_demo
from quietday.planning.webhooks import Deliverer, create_endpoint, run_published

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, int]]:
    """The app under uvicorn over a small demo province, with an integrator's endpoint whose
    receiver is down and one delivery of the demo's run attempted once."""
    require(CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install chromium)")
    out = tmp_path_factory.mktemp("webhooks-demo")
    report, engine = run_demo(
        out, enterprises=120, time_limit=3, on_step=lambda _: None, today=NOW.date()
    )
    engine.dispose()
    settings = Settings(database_url=report.database_url, runner="thread", webhooks_local=True)
    engine = make_engine(report.database_url)
    with session_scope(engine, actor="cli") as s:
        actor = Actor(key_id=1, role="supervisor", agency_id=None)
        url = f"http://127.0.0.1:{_closed_port()}/quietday/hooks"
        create_endpoint(s, actor, url=url, description="省平台集成(测试)", local=True)
        run = RunRepository(s).list(limit=1, after=None)[0]
        run_published(s, run, {"published": 1, "visits": 1, "unscheduled": 0})
    deliverer = Deliverer(engine, settings)
    assert deliverer.run_once() == 1
    deliverer.close()
    with session_scope(engine) as s:
        delivery_id = int(WebhookRepository(s).deliveries()[0].delivery.id or 0)
    engine.dispose()
    app = create_app(settings, clock=lambda: NOW)
    port = _closed_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", report.supervisor_key, delivery_id
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


def test_webhook_pages_at_desktop_and_phone_width(served: tuple[str, str, int]) -> None:
    base, key, delivery_id = served
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            for name, width in (("desktop", 1280), ("phone", 360)):
                context = browser.new_context(
                    viewport={"width": width, "height": 800}, locale="zh-CN"
                )
                page = context.new_page()
                problems: list[str] = []
                page.on("console", lambda m, ps=problems: ps.append(m.text) if m.type == "error" else None)  # type: ignore[misc]  # fmt: skip
                page.on("pageerror", lambda e, ps=problems: ps.append(str(e)))  # type: ignore[misc]
                page.goto(f"{base}/dashboard/login")
                page.fill("#key", key)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/dashboard")
                page.goto(f"{base}/dashboard/webhooks")
                assert "省平台集成" in page.inner_text("[data-endpoints]")
                assert page.locator(f"[data-delivery='{delivery_id}']").count() == 1
                page.screenshot(path=str(ARTIFACTS / f"webhooks-{name}.png"), full_page=True)
                page.click(f"[data-delivery='{delivery_id}'] a")
                assert "ConnectError" in page.inner_text("[data-attempts]")
                page.click("[data-redeliver]")
                page.wait_for_selector("[data-redelivered]")
                assert page.inner_text("[data-status]").startswith("待投递")
                page.screenshot(
                    path=str(ARTIFACTS / f"webhook-delivery-{name}.png"), full_page=True
                )
                # Nothing wider than the screen on a phone.
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                assert problems == []
                context.close()
        finally:
            browser.close()


def test_a_stranger_meets_the_sign_in_page(served: tuple[str, str, int]) -> None:
    import httpx

    base, _, delivery_id = served
    r = httpx.post(f"{base}/dashboard/webhooks/deliveries/{delivery_id}/redeliver", data={})
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/login"
    assert httpx.get(f"{base}/dashboard/webhooks").headers["location"] == "/dashboard/login"
