"""Credit-risk classes and remote checks in headless Chromium (Debian's, by path), at 1280 and
390 px: a clerk filters the agency's plans to the remote ones (非现场), which the policy made of a
无感监管 firm's routine plan, and reads its mode on the plan's page; a supervisor reads the
per-class policy and the month's remote checks on the overview. Each page (of the overview,
the parts it gained) passes axe-core with no serious or critical violation, no console error,
no CSP violation; screenshots go to
out/test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from browser import assert_accessible, chromium, free_port, served, shoot, watch
from conftest import Clock
from db import migrated, sqlite_url
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import session_scope
from quietday.planning.registry import update_enterprise
from seed import Seeded, seed


@dataclass
class Site:
    base: str
    world: Seeded
    remote_id: int


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app under uvicorn on a SQLite file: one class A 无感监管 firm whose routine plan the
    policy made remote, and one on-site plan, on the eve of the seeded quarter."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for engine in migrated(sqlite_url(tmp_path_factory.mktemp("risk"))):
        world = seed(engine)
        low = world.enterprises[1]
        with session_scope(engine, actor="test") as s:
            update_enterprise(s, low, {"risk_class": "A", "low_risk": True})
        settings = Settings(database_url=str(engine.url), runner="thread", public_url=base)
        clock = Clock()
        with TestClient(create_app(settings, engine=engine, clock=clock), base_url=base) as c:
            plans = [
                c.post(
                    "/api/v1/plans",
                    json={
                        "enterprise_id": ent,
                        "kind": "routine",
                        "earliest": "2026-07-21",
                        "latest": "2026-07-31",
                    },
                    headers=world.auth("A"),
                ).json()
                for ent in (low, world.enterprises[2])
            ]
        assert [p["remote"] for p in plans] == [True, False]
        with served(create_app(settings, engine=engine, clock=clock), port):
            yield Site(base, world, int(plans[0]["id"]))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize("width", [1280, 390])
def test_remote_plans_on_the_agency_pages_and_the_policy_on_the_overview(
    site: Site, browser: Any, width: int
) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, is_mobile=width < 500, locale="zh-CN"
    )
    page = context.new_page()
    problems = watch(page)
    page.goto(f"{site.base}/agency/login")
    page.fill("#key", site.world.keys["A"])
    page.click("button[type=submit]")
    page.wait_for_url("**/agency/plans")
    assert page.locator("#plans tbody tr").count() == 2
    page.select_option("#mode", "remote")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**mode=remote**")
    rows = page.locator("#plans tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-plan") == str(site.remote_id)
    assert "非现场" in rows.first.inner_text()
    assert_accessible(page)
    shoot(page, f"risk-agency-plans-{width}")
    page.goto(f"{site.base}/agency/plans/{site.remote_id}")
    assert "不参加排期" in page.inner_text("#mode")
    assert "待录入结果" in page.inner_text(".facts")
    assert_accessible(page)
    shoot(page, f"risk-agency-plan-{width}")

    page.goto(f"{site.base}/dashboard/login")
    page.fill("#key", site.world.supervisor)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.base}/dashboard")
    page.wait_for_load_state("networkidle")  # its caps request done before leaving
    page.goto(f"{site.base}/dashboard?month=2026-07")
    page.wait_for_load_state("networkidle")
    policy = page.locator("#risk-policy tbody tr").all_inner_texts()
    assert [line.split("\t")[:3] for line in policy] == [
        ["A 类", "3.0%", "1"],
        ["B 类", "5.0%", "2"],
        ["C 类", "10.0%", "2"],
        ["D 类", "20.0%", "不设上限"],
    ]
    assert [line.split("\t")[3] for line in policy] == ["非现场", "现场", "现场", "现场"]
    assert page.inner_text("[data-kpi=remote]") == "0"
    assert "计划 1 项" in page.inner_text(".kpi:has([data-kpi=remote])")
    # What this page gained (its month links' contrast is the overview's own, older matter).
    assert_accessible(page, "#risk-policy")
    assert_accessible(page, ".kpis")
    page.locator("#risk-policy").scroll_into_view_if_needed()
    shoot(page, f"risk-overview-{width}")
    assert problems == []
    context.close()
