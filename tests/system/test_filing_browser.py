"""The public listing of approved special plans (公示) in headless Chromium on a phone (360 px)
and a laptop, over the demo province: no sign-in, no console error, no failed request, nothing
wider than the screen, the month picked from the server's own list, and no enterprise named.
The demo's approver rejected one special plan with a comment and approved the others; Nanchang
asks for plans 7 working days ahead. Screenshots go to out/test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from browser import chromium, free_port, served, shoot, watch
from quietday.api import create_app
from quietday.config import Settings
from quietday.planning.province import REJECTED, run_demo

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
USCC = re.compile(r"[0-9A-Z]{18}")


@dataclass
class Demo:
    base: str
    supervisor: dict[str, str]
    approver: dict[str, str]
    approver_agency: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    out = tmp_path_factory.mktemp("filing-demo")
    report, engine = run_demo(
        out, enterprises=300, time_limit=2, on_step=lambda _: None, today=NOW.date()
    )
    engine.dispose()
    app = create_app(Settings(database_url=report.database_url, runner="thread"), clock=lambda: NOW)
    with served(app, free_port()) as base:
        yield Demo(
            base,
            {"Authorization": f"Bearer {report.supervisor_key}"},
            {"Authorization": f"Bearer {report.approver_key}"},
            report.approver_agency_id,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_the_demo_filed_and_approved(demo: Demo) -> None:
    specials = httpx.get(
        f"{demo.base}/api/v1/plans",
        params={"kind": "special", "limit": 500},
        headers=demo.approver,
    ).json()["items"]
    decided = [(p["approval"], p["approval_comment"]) for p in specials]
    assert [c for a, c in decided if a != "approved"] == [REJECTED]
    assert [a for a, _ in decided if a != "rejected"] == ["approved"] * (len(decided) - 1)
    regions = httpx.get(f"{demo.base}/api/v1/regions", headers=demo.supervisor).json()
    assert {r["code"]: r["filing_lead_days"] for r in regions}["3601"] == 7


@pytest.mark.parametrize("width", [360, 1280])
def test_the_public_listing_on_a_phone_and_a_laptop(demo: Demo, browser: Any, width: int) -> None:
    names = {
        e["name"]
        for e in httpx.get(
            f"{demo.base}/api/v1/enterprises", params={"limit": 500}, headers=demo.supervisor
        ).json()["items"]
    }
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
    page = context.new_page()
    problems = watch(page, http=True)
    page.goto(f"{demo.base}/public/special-plans")
    assert page.locator("h1").inner_text() == "专项检查计划公示"
    assert page.locator("article.campaign").count() > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    text = page.locator("body").inner_text()
    assert USCC.search(text) is None
    assert not [n for n in names if n in text]
    shoot(page, f"public-special-plans-{width}")
    options = page.locator("#month option").all_inner_texts()
    assert options
    assert all(re.fullmatch(r"20\d\d年\d{1,2}月", o) for o in options)
    page.select_option("#month", index=len(options) - 1)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "month=" in page.url
    assert problems == []
    context.close()
