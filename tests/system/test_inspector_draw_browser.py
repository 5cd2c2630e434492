"""随机选派 on the agency pages in headless Chromium (Debian's, by path): a clerk declares a 回避
with the month page's form, draws the month with its button, reads the result and the drawn
inspectors in the calendar, finds the 回避 and the expired inspector marked on a visit's page,
finds no way to withdraw a 回避 (a supervisor's) but a note, declares one for a drawn inspector
and reads which visit now needs a team; the same pages on a 390-px phone without sideways
scrolling. Each page
passes axe-core without a serious or critical violation; no console error, no CSP violation.
Screenshots at 1280 and 390 px go to out/test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from browser import assert_accessible, chromium, free_port, served, shoot, watch
from conftest import Clock
from db import migrated, sqlite_url
from flows import published
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import session_scope
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded, seed


@dataclass
class Desk:
    base: str
    world: Seeded
    client: TestClient


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """The app under uvicorn on a SQLite file, the seeded world's schedule published, A with
    four inspectors (the fourth certified until 07-21), the clock on the eve of the quarter."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for engine in migrated(sqlite_url(tmp_path_factory.mktemp("draw"))):
        world = seed(engine)
        with session_scope(engine, actor="test") as s:
            for n in range(1, 5):
                create_inspector(
                    s,
                    agency_id=AGENCIES["A"][0],
                    name=f"执法员{n}",
                    certificate_no=f"A-00{n}",
                    certified_until=date(2026, 7, 21) if n == 4 else None,
                )
        settings = Settings(database_url=str(engine.url), runner="thread", public_url=base)
        clock = Clock()
        app = create_app(settings, engine=engine, clock=clock)
        with TestClient(app, base_url=base) as client:
            published(client, world)
            with served(create_app(settings, engine=engine, clock=clock), port):
                yield Desk(base, world, client)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def sign_in(page: Any, desk: Desk) -> None:
    page.goto(f"{desk.base}/agency")
    page.fill("#key", desk.world.keys["A"])
    page.click("button[type=submit]")
    page.wait_for_url("**/agency/plans")


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_a_clerk_declares_a_conflict_and_draws_the_month(desk: Desk, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    problems = watch(page)
    sign_in(page, desk)
    page.goto(f"{desk.base}/agency/month?month=2026-07")
    assert "没有回避申报" in page.inner_text("#conflicts")
    page.select_option("#conflict-inspector", label="执法员1(A-001)")
    page.fill("#conflict-enterprise", desk.world.enterprises[1])
    page.fill("#conflict-reason", "亲属关系")
    page.click("#conflict-form button[type=submit]")
    page.wait_for_load_state()
    assert "已登记回避" in page.inner_text("main")
    assert "亲属关系" in page.inner_text("#conflicts")
    assert_accessible(page)
    page.click("#draw button[type=submit]")
    page.wait_for_selector("#draw-result")
    assert "为 3 次入企抽取了执法人员" in page.inner_text("#draw-result")
    crews = page.locator("#calendar .crew").all_inner_texts()
    assert len(crews) == 3
    assert all(c.count("执法员") == 2 for c in crews), crews
    assert_accessible(page)
    shoot(page, "draw-month-1280")
    # E1's visit (07-22): 1 is 回避 there and 4's certificate has ended.
    page.click("#calendar .visit >> nth=1")
    page.wait_for_url("**/agency/visits/*")
    assert page.locator(".tag.warn", has_text="不可指派").count() == 2
    assert page.locator("input[name=inspector][disabled]").count() == 2
    assert_accessible(page)
    shoot(page, "draw-visit-1280")
    page.goto(f"{desk.base}/agency/month?month=2026-07")
    assert page.locator("#conflicts button").count() == 1  # 登记回避 alone: no 撤回
    assert "不能撤回" in page.inner_text("#conflict-note")
    # A 回避 for one of E3's drawn team (07-24): the page says that visit needs a team.
    name = page.locator("#calendar .crew >> nth=2").inner_text().split("、")[0]
    page.select_option("#conflict-inspector", label=f"{name}(A-00{name[-1]})")
    page.fill("#conflict-enterprise", desk.world.enterprises[3])
    page.fill("#conflict-reason", "曾任职")
    page.click("#conflict-form button[type=submit]")
    page.wait_for_selector("#released")
    released = page.inner_text("#released")
    assert "须重新选派" in released
    assert "2026-07-24" in released
    assert name not in page.locator("#calendar .crew >> nth=2").inner_text()
    assert_accessible(page)
    shoot(page, "draw-released-1280")
    assert problems == []
    context.close()


def test_the_draw_on_a_phone(desk: Desk, browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = context.new_page()
    problems = watch(page)
    sign_in(page, desk)
    page.goto(f"{desk.base}/agency/month?month=2026-07")
    page.check("input[name=redraw]")
    page.click("#draw button[type=submit]")
    page.wait_for_selector("#draw-result")
    assert page.locator("#conflict-note").is_visible()
    no_sideways_scroll(page)
    assert_accessible(page)
    shoot(page, "draw-month-390")
    assert problems == []
    context.close()
