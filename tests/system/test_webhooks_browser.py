"""The dashboard's webhook pages in headless Chromium at desktop and phone width: the endpoints
and deliveries, one delivery's log (a receiver that refused the connection), and re-delivery by
its button (a CSRF form). Screenshots go to out/test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from browser import chromium, free_port, served, shoot, watch
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import make_engine, session_scope
from quietday.persistence.runs import RunRepository
from quietday.persistence.webhooks import WebhookRepository
from quietday.planning.keys import Actor
from quietday.planning.province import run_demo
from quietday.planning.webhooks import Deliverer, create_endpoint, run_published

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, int]]:
    """The app under uvicorn over a small demo province, with an integrator's endpoint whose
    receiver is down and one delivery of the demo's run attempted once."""
    out = tmp_path_factory.mktemp("webhooks-demo")
    report, engine = run_demo(
        out, enterprises=120, time_limit=3, on_step=lambda _: None, today=NOW.date()
    )
    engine.dispose()
    settings = Settings(database_url=report.database_url, runner="thread", webhooks_local=True)
    engine = make_engine(report.database_url)
    with session_scope(engine, actor="cli") as s:
        actor = Actor(key_id=1, role="supervisor", agency_id=None)
        url = f"http://127.0.0.1:{free_port()}/quietday/hooks"  # nothing listens
        create_endpoint(s, actor, url=url, description="省平台集成(测试)", local=True)
        run = RunRepository(s).list(limit=1, after=None)[0]
        run_published(s, run, {"published": 1, "visits": 1, "unscheduled": 0})
    deliverer = Deliverer(engine, settings)
    assert deliverer.run_once() == 1
    deliverer.close()
    with session_scope(engine) as s:
        delivery_id = int(WebhookRepository(s).deliveries()[0].delivery.id or 0)
    engine.dispose()
    with served(create_app(settings, clock=lambda: NOW), free_port()) as base:
        yield base, report.supervisor_key, delivery_id


def test_webhook_pages_at_desktop_and_phone_width(site: tuple[str, str, int]) -> None:
    base, key, delivery_id = site
    with chromium() as browser:
        for name, width in (("desktop", 1280), ("phone", 360)):
            context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
            page = context.new_page()
            problems = watch(page)
            page.goto(f"{base}/dashboard/login")
            page.fill("#key", key)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/dashboard")
            # The overview fetches its figures: let them land (else they are aborted).
            page.wait_for_load_state("networkidle")
            page.goto(f"{base}/dashboard/webhooks")
            assert "省平台集成" in page.inner_text("[data-endpoints]")
            assert page.locator(f"[data-delivery='{delivery_id}']").count() == 1
            shoot(page, f"webhooks-{name}")
            page.click(f"[data-delivery='{delivery_id}'] a")
            assert "ConnectError" in page.inner_text("[data-attempts]")
            page.click("[data-redeliver]")
            page.wait_for_selector("[data-redelivered]")
            assert page.inner_text("[data-status]").startswith("待投递")
            shoot(page, f"webhook-delivery-{name}")
            # Nothing wider than the screen on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert problems == []
            context.close()


def test_a_stranger_meets_the_sign_in_page(site: tuple[str, str, int]) -> None:
    import httpx

    base, _, delivery_id = site
    r = httpx.post(f"{base}/dashboard/webhooks/deliveries/{delivery_id}/redeliver", data={})
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/login"
    assert httpx.get(f"{base}/dashboard/webhooks").headers["location"] == "/dashboard/login"
