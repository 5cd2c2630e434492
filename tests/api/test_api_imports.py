"""Spreadsheet imports: Chinese headers, CSV in UTF-8 or GB18030, XLSX, all or nothing."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from conftest import Clock, url_of
from db import empty
from flows import HEADERS, as_csv, count, row
from quietday.api import create_app
from quietday.config import Settings
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import Engine, session_scope
from quietday.persistence.registry import AgencyRepository
from quietday.planning.keys import create_key
from quietday.planning.province import CLI, load_province
from seed import Seeded


def as_xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.append(HEADERS)
    for r in rows:
        sheet.append(r)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def upload(client: TestClient, world: Seeded, name: str, data: bytes, who: str = "A") -> Any:
    return client.post(
        "/api/v1/plans/import", files={"file": (name, data)}, headers=world.auth(who)
    )


def test_csv_import_utf8_and_gb18030(client: TestClient, world: Seeded) -> None:
    r = upload(client, world, "plans.csv", as_csv([row(world, k) for k in range(20)]))
    assert r.status_code == 201, r.text
    assert r.json() == {"rows": 20, "created": 20, "unchanged": 0}
    r = upload(
        client, world, "plans.csv", as_csv([row(world, k) for k in range(20, 25)], "gb18030")
    )
    assert r.json()["created"] == 5
    r = upload(client, world, "plans.csv", as_csv([row(world, k) for k in range(25)]))
    assert r.json() == {"rows": 25, "created": 0, "unchanged": 25}
    plans = client.get("/api/v1/plans", params={"limit": 500}, headers=world.auth("A")).json()[
        "items"
    ]
    assert {p["kind"] for p in plans} == {"routine", "special"}
    assert plans[0]["items"] == ["SCJG-0101", "SCJG-0102"]


def test_bad_rows_are_all_reported_and_nothing_kept(client: TestClient, world: Seeded) -> None:
    rows = [row(world, k) for k in range(1200)]
    rows[3] = row(world, 3, 最早日期="2026-13-01")
    rows[700] = row(world, 700, 检查类型="突击")
    rows[1100] = row(world, 1100, 统一社会信用代码="91360102MA0000009X")
    r = upload(client, world, "plans.csv", as_csv(rows))
    assert r.status_code == 422
    found = [(e["path"], e["code"]) for e in r.json()["errors"]]
    assert found == [
        ("rows[3].earliest", "bad_cell"),
        ("rows[700].kind", "bad_cell"),
        ("rows[1100].enterprise_id", "unknown_enterprise"),
    ]
    assert "第 5 行「最早日期」" in r.json()["errors"][0]["message"]
    assert count(client, world) == 0


def test_missing_column_and_garbage_files(client: TestClient, world: Seeded) -> None:
    r = upload(client, world, "plans.csv", "外部编号,检查类型\nX,日常检查\n".encode())
    assert r.status_code == 422
    assert {e["code"] for e in r.json()["errors"]} == {"missing_column"}
    assert (
        upload(client, world, "plans.xlsx", b"not a workbook").json()["errors"][0]["code"]
        == "bad_file"
    )
    assert upload(client, world, "plans.csv", b"").json()["errors"][0]["code"] == "empty_file"


def test_xlsx_import_and_templates(client: TestClient, world: Seeded) -> None:
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.append(HEADERS)
    for k in range(10):
        sheet.append(row(world, k))
    data = io.BytesIO()
    book.save(data)
    r = upload(client, world, "plans.xlsx", data.getvalue())
    assert r.status_code == 201, r.text
    assert r.json()["created"] == 10
    template = client.get("/api/v1/plans/template.csv", headers=world.auth("A"))
    assert template.content.decode("utf-8-sig").splitlines()[0].split(",") == HEADERS
    xlsx = client.get("/api/v1/plans/template.xlsx", headers=world.auth("A"))
    first = next(load_workbook(io.BytesIO(xlsx.content)).worksheets[0].iter_rows(values_only=True))
    assert list(first) == HEADERS


def test_supervisor_import_needs_the_agency_column(client: TestClient, world: Seeded) -> None:
    r = upload(client, world, "plans.csv", as_csv([row(world, 1)]), who="supervisor")
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "rows[0].agency_id"
    r = upload(
        client,
        world,
        "plans.csv",
        as_csv([row(world, 1, 部门编码="360102-XFJY")]),
        who="supervisor",
    )
    assert r.status_code == 201


def test_every_problem_of_every_row_in_one_answer(client: TestClient, world: Seeded) -> None:
    """Cell formats, ranges, past windows and unknown enterprises come back together, in sheet
    order, each with its spreadsheet row and Chinese header."""
    rows = [row(world, k) for k in range(6)]
    rows[0] = row(world, 0, 最早日期="2026-7-32", 优先级="²", 统一社会信用代码="91360102MA0000009X")
    rows[2] = row(world, 2, 优先级="101", 最晚日期="2026-06-29", 最早日期="2026-06-01")
    rows[4] = row(world, 4, 检查类型="突击", 最晚日期="2026-06-01")
    r = upload(client, world, "plans.csv", as_csv(rows))
    assert r.status_code == 422
    found = [(e["path"], e["code"], e["message"]) for e in r.json()["errors"]]
    assert found == [
        ("rows[0].enterprise_id", "unknown_enterprise",
         "第 2 行「统一社会信用代码」企业 91360102MA0000009X 不在企业名录中"),
        ("rows[0].earliest", "bad_cell", "第 2 行「最早日期」不是日期(应为 YYYY-MM-DD): 2026-7-32"),
        ("rows[0].priority", "bad_cell", "第 2 行「优先级」应为 1 至 100 的整数: ²"),
        ("rows[2].latest", "window_past",
         "第 4 行「最晚日期」2026-06-29 已经过去(今天是 2026-06-30),检查窗口已结束,无法排期"),
        ("rows[2].priority", "bad_cell", "第 4 行「优先级」应为 1 至 100 的整数: 101"),
        ("rows[4].kind", "bad_cell",
         "第 6 行「检查类型」应为 日常检查、专项检查、个案检查 或 应企业申请: 突击"),
        ("rows[4].latest", "window_inverted", "第 6 行「最晚日期」2026-06-01 早于 「最早日期」 2026-07-01"),
    ]  # fmt: skip
    assert all(e["path"].isascii() for e in r.json()["errors"])
    assert not any("latest" in m or "priority" in m for _, _, m in found)
    assert count(client, world) == 0


def test_the_sheet_comes_back_with_its_bad_cells_marked(client: TestClient, world: Seeded) -> None:
    rows = [row(world, k) for k in range(3)]
    rows[1] = row(world, 1, 优先级="0", 统一社会信用代码="91360102MA0000009X")
    for name, data in (("plans.csv", as_csv(rows)), ("plans.xlsx", as_xlsx(rows))):
        r = client.post(
            "/api/v1/plans/import?marked=true",
            files={"file": (name, data)},
            headers=world.auth("A"),
        )
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        book = load_workbook(io.BytesIO(r.content))
        sheet, listing = book.worksheets
        assert [c.value for c in sheet[1]] == HEADERS
        assert [c.value or "" for c in sheet[3]] == rows[1]
        marked = {
            (c.row, HEADERS[c.column - 1]): c.comment.text
            for line in sheet.iter_rows()
            for c in line
            if c.comment is not None
        }
        assert marked == {
            (3, "统一社会信用代码"): "第 3 行「统一社会信用代码」企业 91360102MA0000009X 不在企业名录中",
            (3, "优先级"): "第 3 行「优先级」0 超出 1 至 100",
        }  # fmt: skip
        assert sheet.cell(3, HEADERS.index("优先级") + 1).fill.fgColor.rgb == "FFFFC7CE"
        assert sheet.cell(2, 1).fill.fill_type is None
        assert [c.value for c in listing[1]] == ["位置", "代码", "说明"]
        assert listing.max_row == 3
    assert count(client, world) == 0
    # A good sheet imports as usual with marked=true.
    r = client.post(
        "/api/v1/plans/import?marked=true",
        files={"file": ("plans.csv", as_csv([row(world, 0)]))},
        headers=world.auth("A"),
    )
    assert r.status_code == 201, r.text


def test_a_missing_column_is_marked_on_the_first_cell(client: TestClient, world: Seeded) -> None:
    data = "外部编号,检查类型\nX-1,日常检查\n".encode()
    r = client.post(
        "/api/v1/plans/import?marked=true",
        files={"file": ("plans.csv", data)},
        headers=world.auth("A"),
    )
    assert r.status_code == 422
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert "缺少列「统一社会信用代码」" in sheet["A1"].comment.text


@pytest.mark.parametrize("today", [date(2026, 12, 6), date(2027, 3, 31)])
def test_the_template_example_imports_as_it_is_on_the_demo(engine: Engine, today: date) -> None:
    """On a database seeded as the demo is (a generated province), the templates' example row
    (an enterprise of the registry, the quarter after today in China) imports unchanged, for
    an agency's key and a supervisor's."""
    empty(engine)
    with session_scope(engine, actor=CLI) as s:
        load_province(s, generate(GeneratorConfig(enterprises=30, seed=2026, quarter=4)))
        agency = AgencyRepository(s).list()[-1].id
        _, agency_key = create_key(s, role="agency", agency_id=agency)
        _, supervisor_key = create_key(s, role="supervisor")
    clock = Clock()
    clock.now = datetime.combine(today, time(23, 30), tzinfo=UTC) - timedelta(hours=8)
    app = create_app(
        Settings(database_url=url_of(engine), runner="thread"), engine=engine, clock=clock
    )
    next_start = {date(2026, 12, 6): "2027-01-01", date(2027, 3, 31): "2027-04-01"}[today]
    with TestClient(app) as c:
        for key in (agency_key, supervisor_key):
            auth = {"Authorization": f"Bearer {key}"}
            csv_template = c.get("/api/v1/plans/template.csv", headers=auth).content
            example = csv_template.decode("utf-8-sig").splitlines()[1].split(",")
            assert example[5] == next_start
            r = c.post(
                "/api/v1/plans/import", files={"file": ("t.csv", csv_template)}, headers=auth
            )
            assert r.status_code == 201, r.text
            xlsx = c.get("/api/v1/plans/template.xlsx", headers=auth).content
            r = c.post("/api/v1/plans/import", files={"file": ("t.xlsx", xlsx)}, headers=auth)
            assert r.status_code == 201, r.text
            assert r.json() == {"rows": 1, "created": 0, "unchanged": 1}


def test_an_unreadable_csv_comes_back_marked_with_its_problem(
    client: TestClient, world: Seeded
) -> None:
    """Bytes that are neither UTF-8 nor GB18030, and a field over the csv module's limit, are
    refused as the plain import refuses them; the marked copy reads the file again and once
    answered 500 on the same error."""
    for data, code in (
        (b"\xff\xfe\x00\x01" * 1000, "bad_encoding"),
        (("外部编号," + "x" * 200_000 + "\n").encode(), "bad_file"),
    ):
        assert upload(client, world, "plans.csv", data).json()["errors"][0]["code"] == code
        r = client.post(
            "/api/v1/plans/import?marked=true",
            files={"file": ("plans.csv", data)},
            headers=world.auth("A"),
        )
        assert r.status_code == 422, r.text
        listing = load_workbook(io.BytesIO(r.content)).worksheets[1]
        assert [c.value for c in listing[2]][:2] == ["file", code]
    assert count(client, world) == 0
