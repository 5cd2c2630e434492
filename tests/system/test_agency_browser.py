"""The agency pages in headless Chromium (Debian's, by path): a clerk signs in with the agency's
key, uploads a sheet built from the template with three bad cells, reads every problem in the
error table, downloads the sheet back and finds exactly those cells marked (red fill and a
comment, read by openpyxl), fixes them and uploads again, and sees every plan's outcome; the
month and a visit's inspectors. Each page passes axe-core (tests/js, served from disk into the
page) without a serious or critical violation; no console error, no CSP violation. Screenshots
at 1280 and 390 px go to out/test-artifacts/."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from conftest import CERTS, Clock, require
from db import migrated, sqlite_url
from flows import published
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import session_scope
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded, seed

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
RED = "FFFFC7CE"


@dataclass
class Desk:
    base: str
    world: Seeded
    client: TestClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """The app under uvicorn on a SQLite file, the seeded world's schedule published, the clock
    on the eve of its quarter."""
    require(CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install chromium)")
    require(AXE.exists(), "axe-core not installed (make tests/js/node_modules/.installed)")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    for engine in migrated(sqlite_url(tmp_path_factory.mktemp("agency"))):
        world = seed(engine)
        with session_scope(engine, actor="test") as s:
            for n in (*CERTS["A"], "A-003"):
                create_inspector(s, agency_id=AGENCIES["A"][0], name=f"执法员{n}", certificate_no=n)
        settings = Settings(database_url=str(engine.url), runner="thread", public_url=base)
        clock = Clock()
        app = create_app(settings, engine=engine, clock=clock)
        served = create_app(settings, engine=engine, clock=clock)
        with TestClient(app, base_url=base) as client:
            published(client, world)
            uv = uvicorn.Server(
                uvicorn.Config(served, host="127.0.0.1", port=port, log_level="warning")
            )
            thread = threading.Thread(target=uv.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not uv.started:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
            try:
                yield Desk(base, world, client)
            finally:
                uv.should_exit = True
                thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    # A download ends its navigation as ERR_ABORTED: only other failures count.
    page.on(
        "requestfailed",
        lambda r: None if r.url.endswith(".xlsx") else problems.append(f"failed: {r.url}"),
    )
    return problems


def accessible(page: Any) -> None:
    """axe-core in the page (its source evaluated through the DevTools protocol: a script tag
    would be inline, which the pages' CSP refuses): no serious or critical violation."""
    page.evaluate(AXE.read_text(encoding="utf-8") + ";0")
    result = page.evaluate("axe.run(document)")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"agency-{name}.png"), full_page=True)


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
    accessible(page)
    shoot(page, "login-1280")
    sign_in(page, desk)
    page.goto(f"{desk.base}/agency/upload")
    accessible(page)
    sheet = sheet_with_errors(desk, tmp_path / "计划.xlsx")
    page.set_input_files("#file", str(sheet))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/agency/uploads/*")
    rows = page.locator("#problems tbody tr").all_inner_texts()
    cells = [tuple(r.split("\t")[:2]) for r in rows]
    assert cells == [("3", "统一社会信用代码"), ("4", "最早日期"), ("5", "检查类型")], rows
    accessible(page)
    shoot(page, "errors-1280")
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
    accessible(page)
    shoot(page, "plans-1280")
    page.fill("#q", "jxcs")
    page.locator("#enterprise-options option").first.wait_for(state="attached", timeout=5000)
    assert page.locator("#enterprise-options option").count() == 6
    page.click("#plans tbody tr >> nth=0 >> a")
    page.wait_for_url("**/agency/plans/*")
    accessible(page)
    shoot(page, "plan-1280")
    page.goto(f"{desk.base}/agency/month?month=2026-07")
    assert page.locator("#calendar .visit.joint").count() == 1
    accessible(page)
    shoot(page, "month-1280")
    page.click("#calendar .visit.joint")
    page.wait_for_url("**/agency/visits/*")
    page.check("text=执法员A-001")
    page.check("text=执法员A-002")
    page.click("#assign-form button[type=submit]")
    assert "已指派" in page.inner_text("main")
    accessible(page)
    shoot(page, "visit-1280")
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
        accessible(page)
        shoot(page, name)
    page.click("form.logout button")
    page.wait_for_url("**/agency/login")
    page.goto(f"{desk.base}/agency/plans")
    assert page.url.endswith("/agency/login")
    assert problems == []
    context.close()
