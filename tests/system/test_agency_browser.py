"""The agency pages in headless Chromium (Debian's, by path): a clerk signs in with the agency's
key, uploads a sheet built from the template with three bad cells, reads every problem in the
error table, downloads the sheet back and finds exactly those cells marked (red fill and a
comment, read by openpyxl), fixes them and uploads again, and sees every plan's outcome; the
month and a visit's inspectors. Each page passes axe-core (tests/js, served from disk into the
page) without a serious or critical violation; no console error, no CSP violation. Screenshots
at 1280 and 390 px go to out/test-artifacts/."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from browser import assert_accessible, chromium, free_port, served, shoot, watch
from conftest import CERTS, Clock
from db import migrated, sqlite_url
from flows import published
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import session_scope
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded, seed

RED = "FFFFC7CE"


@dataclass
class Desk:
    base: str
    world: Seeded
    client: TestClient


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """The app under uvicorn on a SQLite file, the seeded world's schedule published, the clock
    on the eve of its quarter."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for engine in migrated(sqlite_url(tmp_path_factory.mktemp("agency"))):
        world = seed(engine)
        with session_scope(engine, actor="test") as s:
            for n in (*CERTS["A"], "A-003"):
                create_inspector(s, agency_id=AGENCIES["A"][0], name=f"执法员{n}", certificate_no=n)
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
    assert page.url.endswith("/agency/login")
    page.fill("#key", desk.world.keys["A"])
    page.click("button[type=submit]")
    page.wait_for_url("**/agency/plans")


def sheet_with_errors(desk: Desk, path: Path) -> Path:
    """The template (its example row) and three more rows, with three bad cells."""
    r = desk.client.get("/api/v1/plans/template.xlsx", headers=desk.world.auth("A"))
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    example = [c.value for c in sheet[2]]
    for k, enterprise in enumerate(desk.world.enterprises[3:6]):
        sheet.append([f"B-{k}", *example[1:2], enterprise, *example[3:]])
    sheet["C3"] = "91360000MA0000000X"  # no such enterprise
    sheet["F4"] = "2026-02-30"  # no such day
    sheet["D5"] = "随便检查"  # no such kind
    book.save(path)
    return path


def test_a_clerk_fixes_a_sheet_from_the_marked_copy_and_sees_every_outcome(
    desk: Desk, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True
    )
    page = context.new_page()
    problems = watch(page)
    page.goto(f"{desk.base}/agency/login")
    assert_accessible(page)
    shoot(page, "agency-login-1280")
    sign_in(page, desk)
    page.goto(f"{desk.base}/agency/upload")
    assert_accessible(page)
    sheet = sheet_with_errors(desk, tmp_path / "计划.xlsx")
    page.set_input_files("#file", str(sheet))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/agency/uploads/*")
    rows = page.locator("#problems tbody tr").all_inner_texts()
    cells = [tuple(r.split("\t")[:2]) for r in rows]
    assert cells == [("3", "统一社会信用代码"), ("4", "最早日期"), ("5", "检查类型")], rows
    assert_accessible(page)
    shoot(page, "agency-errors-1280")
    with page.expect_download() as caught:
        page.click("#marked-link")
    marked = tmp_path / "marked.xlsx"
    caught.value.save_as(marked)
    book = load_workbook(marked)
    found = {
        c.coordinate: c.comment.text
        for line in book.worksheets[0].iter_rows()
        for c in line
        if c.fill.fgColor.rgb == RED and c.comment is not None
    }
    assert set(found) == {"C3", "F4", "D5"}
    # Nothing of the refused sheet was kept.
    listed = desk.client.get("/api/v1/plans?limit=500", headers=desk.world.auth("A")).json()
    assert len(listed["items"]) == 3
    # The clerk fixes the marked cells in the sheet sent back and uploads it again.
    fixed = book.worksheets[0]
    fixed["C3"] = desk.world.enterprises[3]
    fixed["F4"] = fixed["F2"].value
    fixed["D5"] = "日常检查"
    for line in fixed.iter_rows():
        for c in line:
            c.comment = None
    book.save(tmp_path / "改正.xlsx")
    page.goto(f"{desk.base}/agency/upload")
    page.set_input_files("#file", str(tmp_path / "改正.xlsx"))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/agency/uploads/*")
    assert "已全部导入" in page.inner_text("main")
    assert "新增 4 条" in page.inner_text("main")
    page.click("text=查看检查计划")
    page.wait_for_url("**/agency/plans")
    outcomes = page.locator("#plans tbody tr").all_inner_texts()
    assert len(outcomes) == 7
    assert sum("待排期" in o for o in outcomes) == 4
    assert sum("已排定" in o for o in outcomes) == 3
    assert any("联合" in o and AGENCIES["B"][1] in o for o in outcomes)
    assert_accessible(page)
    shoot(page, "agency-plans-1280")
    page.fill("#q", "jxcs")
    page.locator("#enterprise-options option").first.wait_for(state="attached", timeout=5000)
    assert page.locator("#enterprise-options option").count() == 6
    page.click("#plans tbody tr >> nth=0 >> a")
    page.wait_for_url("**/agency/plans/*")
    assert_accessible(page)
    shoot(page, "agency-plan-1280")
    page.goto(f"{desk.base}/agency/month?month=2026-07")
    assert page.locator("#calendar .visit.joint").count() == 1
    assert_accessible(page)
    shoot(page, "agency-month-1280")
    page.click("#calendar .visit.joint")
    page.wait_for_url("**/agency/visits/*")
    page.check("text=执法员A-001")
    page.check("text=执法员A-002")
    page.click("#assign-form button[type=submit]")
    assert "已指派" in page.inner_text("main")
    assert_accessible(page)
    shoot(page, "agency-visit-1280")
    page.goto(f"{desk.base}/agency/month?month=2026-07")
    assert "执法员A-001" in page.inner_text("#calendar")
    assert problems == []
    context.close()


def test_pages_on_a_phone(desk: Desk, browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = context.new_page()
    problems = watch(page)
    sign_in(page, desk)
    for path, name in (
        ("/agency/plans", "plans-390"),
        ("/agency/upload", "upload-390"),
        ("/agency/month?month=2026-07", "month-390"),
    ):
        page.goto(f"{desk.base}{path}")
        assert_accessible(page)
        shoot(page, f"agency-{name}")
    page.click("form.logout button")
    page.wait_for_url("**/agency/login")
    page.goto(f"{desk.base}/agency/plans")
    assert page.url.endswith("/agency/login")
    assert problems == []
    context.close()
