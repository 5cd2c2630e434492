"""Complaints in headless Chromium (Debian's `chromium` through Playwright): an enterprise on a
360 px phone complains about an entry from its subscribe page; a supervisor at 1280 px finds it
in the dashboard's queue, accepts it and closes it with a reply; the phone then shows the reply.
No console error, no failed request, nothing wider than the phone. Screenshots go to
out/test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from browser import chromium, free_port, served, shoot, watch
from db import migrated, sqlite_url
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import session_scope
from quietday.planning.checkins import CheckInInput, record_check_in
from quietday.planning.feeds import issue_token
from quietday.planning.keys import authenticate
from seed import seed

NOW = datetime(2026, 8, 1, 1, 0, tzinfo=UTC)
REPLY = "已核实:该次检查未出示检查码,已责令东湖区市场监督管理局整改。"


@dataclass
class Server:
    base: str
    supervisor_key: str
    feed: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app under uvicorn over a seeded registry (SQLite) with one entry of 东湖区市场监督
    管理局 at an enterprise that holds a subscription."""
    url = sqlite_url(tmp_path_factory.mktemp("complaints"))
    for engine in migrated(url):
        world = seed(engine)
        with session_scope(engine, actor="test") as s:
            agency = authenticate(s, world.keys["A"])
            s.info["actor"] = agency.name
            record_check_in(
                s,
                agency,
                CheckInInput(
                    enterprise_id=world.enterprises[0],
                    certificates=("A-001", "A-002"),
                    at=datetime(2026, 7, 28, 1, 0, tzinfo=UTC),
                ),
                now=NOW,
            )
            supervisor = authenticate(s, world.supervisor)
            s.info["actor"] = supervisor.name
            _, feed = issue_token(s, supervisor, kind="enterprise", subject_id=world.enterprises[0])
    app = create_app(Settings(database_url=url, runner="thread"), clock=lambda: NOW)
    with served(app, free_port()) as base:
        yield Server(base, world.supervisor, feed)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def watched(browser: Any, width: int, height: int) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    return context, page, watch(page, http=True)


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_complaint_goes_from_the_phone_to_the_supervisor_and_the_reply_comes_back(
    server: Server, browser: Any
) -> None:
    phone, page, problems = watched(browser, 360, 740)
    page.goto(f"{server.base}/feeds/{server.feed}")
    page.click("details.complain summary >> text=投诉")
    page.select_option("select[name=reason] >> nth=0", "no_code")
    page.fill("textarea[name=text] >> nth=0", "检查人员没有出示检查码")
    shoot(page, "complaints-phone-form")
    page.click("button:has-text('提交投诉') >> nth=0")
    page.wait_for_url("**complained=*")
    row = page.locator("tr[data-complaint]")
    assert row.count() == 1
    assert "待处理" in row.inner_text()
    assert "未出示检查码" in row.inner_text()
    assert fits(page)
    shoot(page, "complaints-phone-filed")

    desk, admin, admin_problems = watched(browser, 1280, 800)
    admin.goto(f"{server.base}/dashboard/login")
    admin.fill("#key", server.supervisor_key)
    admin.click("button[type=submit]")
    admin.wait_for_url(f"{server.base}/dashboard")
    admin.click("nav >> text=投诉")
    queue = admin.locator("tr[data-complaint]")
    assert queue.count() == 1
    assert "东湖区市场监督管理局" in queue.inner_text()
    shoot(admin, "complaints-queue")
    queue.locator("a").first.click()
    admin.click("button:has-text('受理')")
    assert admin.inner_text("[data-status]") == "处理中"
    admin.fill("textarea[name=reply]", REPLY)
    admin.click("button:has-text('办结')")
    assert admin.inner_text("[data-status]") == "已办结"
    assert admin.inner_text("[data-reply]") == REPLY
    shoot(admin, "complaints-closed")
    admin.goto(f"{server.base}/dashboard/supervision?month=2026-08")
    shoot(admin, "complaints-supervision")
    admin.goto(f"{server.base}/dashboard/supervision?month=2026-07")
    agency = admin.locator("tr[data-agency='360102-SCJG']").inner_text()
    assert agency.split()[1] == "1"  # its one July entry
    shoot(admin, "complaints-supervision-july")

    page.reload()
    assert "已办结" in page.locator("tr[data-complaint]").inner_text()
    assert page.inner_text(".reply") == REPLY
    assert fits(page)
    shoot(page, "complaints-phone-replied")
    assert problems == []
    assert admin_problems == []
    phone.close()
    desk.close()
