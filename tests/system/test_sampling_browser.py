"""Sampling in headless Chromium (Debian's) at 1280 and 390 px: a supervisor opens a round on
the dashboard, adds a task by its form, waits for the announced time and draws; the public page
shows the seed and its exports; after the schedule is published, the agency records a result
on the plan's page. Each page passes axe-core without a serious or critical violation, with no
console error or failed request, and nothing wider than a phone's screen. Screenshots go to
out/test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from browser import assert_accessible, chromium, free_port, served, shoot, watch
from conftest import Clock
from db import migrated, sqlite_url
from flows import start, wait
from quietday.api import create_app
from quietday.config import Settings
from seed import Seeded, seed

EVE = datetime(2026, 6, 30, 1, 0, tzinfo=UTC)  # 09:00 in China


@dataclass
class Site:
    base: str
    world: Seeded
    client: TestClient
    clock: Clock


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app under uvicorn on a SQLite file of the seeded world, its clock settable."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for engine in migrated(sqlite_url(tmp_path_factory.mktemp("sampling"))):
        world = seed(engine)
        settings = Settings(database_url=str(engine.url), runner="thread", public_url=base)
        clock = Clock(EVE)
        with (
            TestClient(create_app(settings, engine=engine, clock=clock), base_url=base) as c,
            served(create_app(settings, engine=engine, clock=clock), port),
        ):
            yield Site(base, world, c, clock)


def fits(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def test_a_round_opened_drawn_and_a_result_recorded_from_the_browser(site: Site) -> None:
    with chromium() as browser:
        for name, width in (("desktop", 1280), ("phone", 390)):
            site.clock.now = EVE
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
            page = context.new_page()
            problems = watch(page)
            page.goto(f"{site.base}/dashboard/login")
            page.fill("#key", site.world.supervisor)
            page.click("button[type=submit]")
            page.wait_for_url(f"{site.base}/dashboard")
            page.wait_for_load_state("networkidle")
            page.goto(f"{site.base}/dashboard/sampling")
            assert_accessible(page)
            page.fill("#name", f"东湖区 第三季度({name})")
            page.fill("#draw_at", "2026-06-30T10:00")
            page.click("#round-form button[type=submit]")
            page.wait_for_url("**/dashboard/sampling/*")
            round_id = int(page.url.rsplit("/", 1)[1])
            page.fill("#task-name", "全部企业 一半")
            page.check("input[name=agency][value='360102-SCJG']")
            page.select_option("#region_prefix", "360102")
            page.fill("#ratio_u", "50")
            page.fill("#task-items", "SCJG-0101")
            page.fill("#task-earliest", "2026-07-01")
            page.fill("#task-latest", "2026-07-31")
            page.click("#task-form button[type=submit]")
            assert "已添加任务" in page.inner_text("[data-done]")
            assert page.is_disabled("#draw-form button")  # before the announced time
            assert_accessible(page)
            fits(page, width)
            shoot(page, f"sampling-round-{name}")
            site.clock.now = datetime(2026, 6, 30, 2, 1, tzinfo=UTC)
            page.goto(f"{site.base}/dashboard/sampling/{round_id}")
            page.click("#draw-form button")
            assert "已抽取,生成检查计划 2 条" in page.inner_text("[data-done]")
            assert page.inner_text("[data-tasks] [data-drawn]") == "2"
            seed_text = page.inner_text("[data-seed]")
            fits(page, width)
            shoot(page, f"sampling-drawn-{name}")
            page.goto(f"{site.base}/public/sampling/{round_id}")
            assert page.inner_text("[data-seed]") == seed_text
            assert "抽取方法" in page.inner_text("#method")
            assert_accessible(page)
            fits(page, width)
            shoot(page, f"sampling-public-{name}")
            # Scheduled and published; on 31 July the agency records what it found.
            run = wait(site.client, site.world, start(site.client, site.world)["id"])
            publish = site.client.post(
                f"/api/v1/runs/{run['id']}/publish", headers=site.world.auth()
            )
            assert publish.status_code == 200, publish.text
            site.clock.now = datetime(2026, 7, 31, 4, 0, tzinfo=UTC)
            plans = site.client.get(
                "/api/v1/plans", params={"limit": 500}, headers=site.world.auth("A")
            ).json()["items"]
            got = site.client.get(
                f"/api/v1/sampling-rounds/{round_id}", headers=site.world.auth()
            ).json()
            prefix = f"SJ-{got['tasks'][0]['id']}-"
            plan = next(
                p
                for p in plans
                if (p["external_ref"] or "").startswith(prefix) and p["published_date"]
            )
            page.goto(f"{site.base}/agency/login")
            page.fill("#key", site.world.keys["A"])
            page.click("button[type=submit]")
            page.wait_for_url("**/agency/plans")
            page.goto(f"{site.base}/agency/plans/{plan['id']}")
            page.select_option("#outcome", "corrected")
            page.fill("#note", "当场整改")
            page.click("#result-form button[type=submit]")
            assert "发现问题,已责令改正" in page.inner_text("[data-result]")
            assert_accessible(page)
            fits(page, width)
            shoot(page, f"sampling-result-{name}")
            assert problems == []
            context.close()
