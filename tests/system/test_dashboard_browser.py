"""The dashboard in headless Chromium (Debian's `chromium`, launched by Playwright by path): sign
in, open the overview, an enterprise and an agency, with no console error, no failed request,
and every chart drawn by ECharts with data. Full-page screenshots go to out/test-artifacts/, with
the time each page took to draw its charts (measured, never asserted: `make bench` is for speed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from browser import ARTIFACTS, chromium, free_port, served, shoot, watch
from flows import HYPOTHETICAL_2027
from quietday.api import create_app
from quietday.config import Settings
from quietday.planning.province import run_demo

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)

# Every chart on the page: does it have a canvas, and how many points has its first series?
CHARTS = """() => Array.from(document.querySelectorAll('[data-chart]')).map(el => {
  const chart = window.echarts && window.echarts.getInstanceByDom(el);
  const series = chart ? chart.getOption().series : [];
  return {name: el.dataset.chart, canvas: el.querySelector('canvas') !== null,
          points: series.length ? series[0].data.length : 0};
})"""
DRAWN = """() => { const els = document.querySelectorAll('[data-chart]');
  return els.length > 0 && Array.from(els).every(el => el.querySelector('canvas')); }"""


@dataclass
class Server:
    base: str
    supervisor_key: str
    agency_key: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real app under uvicorn on a free port, over a demo province with a published
    schedule (SQLite), its clock on 28 November 2026."""
    out = tmp_path_factory.mktemp("dashboard-demo")
    report, engine = run_demo(
        out, enterprises=400, time_limit=4, on_step=lambda _: None, today=NOW.date()
    )
    engine.dispose()
    app = create_app(Settings(database_url=report.database_url, runner="thread"), clock=lambda: NOW)
    with served(app, free_port()) as base:
        yield Server(base, report.supervisor_key, report.agency_key)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def open_and_check(page: Any, url: str, shot: str, timings: dict[str, float]) -> None:
    """Open a page, wait until its charts are drawn, check each has data, keep a screenshot."""
    started = time.monotonic()
    page.goto(url)
    page.wait_for_function(DRAWN, timeout=15_000)
    timings[shot] = round(time.monotonic() - started, 3)
    charts = page.evaluate(CHARTS)
    assert charts, url
    for chart in charts:
        assert chart["canvas"], (url, chart)
        assert chart["points"] > 0, (url, chart)
    shoot(page, f"dashboard-{shot}")


def test_supervisor_signs_in_and_every_page_draws_its_charts(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 800}, locale="zh-CN")
    page = context.new_page()
    problems = watch(page, http=True)
    timings: dict[str, float] = {}

    page.goto(f"{server.base}/dashboard")
    assert page.url.endswith("/dashboard/login")
    shoot(page, "dashboard-login", full_page=False)
    page.fill("#key", server.supervisor_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base}/dashboard")
    page.wait_for_selector("[data-caps] table", timeout=15_000)  # let its last request finish

    started = time.monotonic()
    open_and_check(page, f"{server.base}/dashboard", "overview", timings)
    page.wait_for_selector("[data-caps] table", timeout=15_000)
    timings["overview_with_caps"] = round(time.monotonic() - started, 3)
    assert "2026 年 11 月" in page.inner_text("h1")
    assert int(page.inner_text("[data-kpi=visits]").replace(",", "")) > 0
    assert int(page.inner_text("[data-kpi=at-cap]").replace(",", "")) >= 0
    shoot(page, "dashboard-overview")

    enterprise = page.locator("a[href^='/dashboard/enterprises/']").first.get_attribute("href")
    open_and_check(page, f"{server.base}{enterprise}", "enterprise", timings)
    assert "安静日规则" in page.content()

    agency = page.locator("a[href^='/dashboard/agencies/']").first.get_attribute("href")
    open_and_check(page, f"{server.base}{agency}", "agency", timings)

    page.goto(f"{server.base}/dashboard/enterprises?q=江西")
    assert page.locator("table a[href^='/dashboard/enterprises/']").count() > 0
    shoot(page, "dashboard-enterprises")
    page.goto(f"{server.base}/dashboard/agencies")
    assert page.locator("table a[href^='/dashboard/agencies/']").count() > 0
    shoot(page, "dashboard-agencies")

    page.click("form.logout button")
    page.wait_for_url(f"{server.base}/dashboard/login")
    (ARTIFACTS / "dashboard-timings.json").write_text(json.dumps(timings, indent=2), "utf-8")
    assert problems == []
    context.close()


def test_agency_key_is_refused_in_the_browser(server: Server, browser: Any) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{server.base}/dashboard/login")
    page.fill("#key", server.agency_key)
    page.click("button[type=submit]")
    assert "部门密钥不能登录监督看板" in page.inner_text(".error")
    page.goto(f"{server.base}/dashboard")
    assert page.url.endswith("/dashboard/login")
    context.close()


def test_calendar_page_shows_the_provisional_year_then_the_imported_notice(
    server: Server, browser: Any
) -> None:
    """The demo plans 2027 Q1 before the 2027 notice: the page says so at desktop and phone
    width; after the notice is imported, its row and the visits it disturbs are listed."""
    for name, viewport in (("desktop", {"width": 1366, "height": 800}),
                           ("phone", {"width": 390, "height": 844})):  # fmt: skip
        context = browser.new_context(viewport=viewport, locale="zh-CN")
        page = context.new_page()
        problems = watch(page, http=True)
        page.goto(f"{server.base}/dashboard/login")
        page.fill("#key", server.supervisor_key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.base}/dashboard")
        # The overview fetches its figures: let them land before going on (else they are aborted).
        page.wait_for_load_state("networkidle")
        page.goto(f"{server.base}/dashboard/calendar")
        assert "暂定" in page.inner_text("tr[data-year='2027']")
        assert "2027 年尚无国务院节假日安排" in page.inner_text("[data-provisional]")
        assert "2027 年尚无通知" in page.inner_text("table[data-runs]")
        assert page.locator("table[data-days] tbody tr").count() >= 19
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (name, width)  # nothing sticks out sideways
        shoot(page, f"calendar-provisional-{name}")
        assert problems == []
        context.close()

    answer = httpx.post(
        f"{server.base}/api/v1/calendar/years/2027/import",
        files={"file": ("2027.csv", HYPOTHETICAL_2027.encode())},
        headers={"Authorization": f"Bearer {server.supervisor_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    total = answer.json()["disturbed"]["total"]
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{server.base}/dashboard/login")
    page.fill("#key", server.supervisor_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base}/dashboard")
    page.goto(f"{server.base}/dashboard/calendar?year=2027")
    row = page.inner_text("tr[data-year='2027']")
    assert "正式" in row
    assert "csv" in row
    assert page.locator("[data-provisional]").count() == 0
    assert page.locator("table[data-disturbed] tbody tr").count() == min(total, 200)
    shoot(page, "calendar-imported-phone")
    context.close()


def test_the_month_picker_reads_chinese_in_any_browser_language(
    server: Server,
    browser: Any,
) -> None:
    """An `<input type=month>` speaks the browser's language ("December 2026" in an English
    one): the picker is the server's own list, at desktop and phone width."""
    for name, viewport in (("desktop", {"width": 1366, "height": 800}),
                           ("phone", {"width": 390, "height": 844})):  # fmt: skip
        context = browser.new_context(viewport=viewport, locale="en-US")
        page = context.new_page()
        page.goto(f"{server.base}/dashboard/login")
        page.fill("#key", server.supervisor_key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.base}/dashboard")
        page.goto(f"{server.base}/dashboard?month=2026-12")
        assert page.locator("input[type=month]").count() == 0
        picker = page.locator("select[name=month]")
        assert picker.evaluate("s => s.options[s.selectedIndex].text") == "2026年12月"
        box = picker.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= viewport["width"], (name, box)
        # Each section's name stays on one line (on a phone they once wrapped a character a line).
        lines = page.eval_on_selector_all(
            ".top nav a",
            "as => as.map(a => a.getBoundingClientRect().height"
            " / parseFloat(getComputedStyle(a).fontSize))",
        )
        assert (
            len(lines) == 11
        )  # 总览 企业 执法部门 投诉 监督 节假日 排期运行 订阅告知函 事件推送 监督码 双随机
        assert all(h < 2.5 for h in lines), (name, lines)
        shoot(page, f"language-month-{name}", full_page=False)
        picker.select_option("2027-01")
        page.click(".month-nav button[type=submit]")
        page.wait_for_url(f"{server.base}/dashboard?month=2027-01")
        assert "2027 年 1 月" in page.inner_text("h1")
        context.close()
