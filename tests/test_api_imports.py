"""Spreadsheet imports: Chinese headers, CSV in UTF-8 or GB18030, XLSX, all or nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from quietday.planning.imports import COLUMNS
from seed import Seeded
from test_api_plans import count

HEADERS = [h for h, _, _ in COLUMNS]


def row(world: Seeded, k: int, **changes: str) -> list[str]:
    values = {
        "外部编号": f"X-{k}",
        "部门编码": "",
        "统一社会信用代码": world.enterprises[k % len(world.enterprises)],
        "检查类型": "日常检查" if k % 2 else "专项检查",
        "检查事项": "SCJG-0101、SCJG-0102",
        "最早日期": "2026-07-01",
        "最晚日期": "2026-09-30",
        "优先级": str(1 + k % 5),
        "豁免事由": "",
        "不提前告知": "否",
    }
    values.update(changes)
    return [values[h] for h in HEADERS]


def as_csv(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


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
