"""Hostile input on every entry path (JSON, CSV, XLSX, forms, cookies, query and path ids): never
a 5xx, always a 4xx problem+json that names the field; fuzzed with hypothesis on the CSV, XLSX
and form paths. Size limits and zip bombs are in test_limits.py (they need a real server)."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import IllegalCharacterError

from conftest import CERTS
from flows import login
from quietday.planning.imports import COLUMNS
from seed import Seeded

PROBLEM = "application/problem+json"
HEADERS = [h for h, _, _ in COLUMNS]
LONE = "\ud800"


def problem(r: Any, field: str, status: int = 422) -> dict[str, Any]:
    """`r` is a problem+json answer of `status` that names `field` (in a path or, for a
    spreadsheet, in a message)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = dict(r.json())
    named = [e["path"] for e in body.get("errors", [])] + [
        e["message"] for e in body.get("errors", [])
    ]
    assert any(field in n for n in named), (field, body)
    return body


def raw_json(client: TestClient, method: str, url: str, text: str, auth: dict[str, str]) -> Any:
    """Send `text` as it is: json.dumps would escape a lone surrogate the way a client does."""
    headers = {**auth, "Content-Type": "application/json"}
    return client.request(method, url, content=text.encode("ascii"), headers=headers)


def plan(world: Seeded, **changes: Any) -> dict[str, Any]:
    return {
        "enterprise_id": world.enterprises[0],
        "kind": "routine",
        "earliest": "2026-07-01",
        "latest": "2026-09-30",
        "items": ["SCJG-0101"],
        "priority": 3,
        **changes,
    }


def with_lone(body: Any) -> str:
    """`body` as JSON with every "LONE" string replaced by the escape of a lone surrogate."""
    return json.dumps(body).replace('"LONE"', '"\\ud800"')


def check_in(fc: TestClient, world: Seeded) -> int:
    body = {
        "enterprise_id": world.enterprises[0],
        "certificates": CERTS["A"],
        "at": "2026-07-21T09:30:00+08:00",
    }
    r = fc.post("/api/v1/check-ins", json=body, headers=world.auth("A"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def enterprise_token(fc: TestClient, world: Seeded) -> str:
    body = {"kind": "enterprise", "subject_id": world.enterprises[0]}
    r = fc.post("/api/v1/feed-tokens", json=body, headers=world.auth())
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_a_lone_surrogate_in_any_json_string_is_a_422(fc: TestClient, world: Seeded) -> None:
    a = world.auth("A")
    post = "POST"
    problem(raw_json(fc, post, "/api/v1/plans", with_lone(plan(world, items=["LONE"])), a), "items")
    problem(
        raw_json(fc, post, "/api/v1/plans", with_lone(plan(world, external_ref="LONE")), a),
        "external_ref",
    )
    problem(raw_json(fc, post, "/api/v1/plans", with_lone(plan(world, kind="LONE")), a), "kind")
    extra = with_lone(plan(world)).replace('"kind"', '"\\udc00"', 1)
    assert raw_json(fc, post, "/api/v1/plans", extra, a).status_code == 422
    batch = with_lone([plan(world), plan(world, items=["x", "LONE"])])
    problem(raw_json(fc, post, "/api/v1/plans/batch", batch, a), "[1].items[1]")
    created = fc.post("/api/v1/plans", json=plan(world), headers=a)
    assert created.status_code == 201, created.text
    url = f"/api/v1/plans/{created.json()['id']}"
    problem(raw_json(fc, "PATCH", url, with_lone({"exempt_reason": "LONE"}), a), "exempt_reason")
    url = f"/api/v1/enterprises/{world.enterprises[0]}"
    problem(raw_json(fc, "PATCH", url, with_lone({"name": "LONE"}), world.auth()), "name")
    body = {"enterprise_id": world.enterprises[0], "certificates": ["LONE"], "at": "2026-07-01"}
    problem(raw_json(fc, post, "/api/v1/check-ins", with_lone(body), a), "certificates[0]")


@pytest.mark.usefixtures("inspectors")
def test_ratings_refuse_lone_surrogates_nul_and_control_characters(
    fc: TestClient, world: Seeded
) -> None:
    cid = check_in(fc, world)
    feed = enterprise_token(fc, world)
    url = f"/feeds/{feed}/check-ins/{cid}/rating"
    problem(raw_json(fc, "PUT", url, with_lone({"score": 3, "comment": "LONE"}), {}), "comment")
    for bad in ("a\x00b", "\x1b[31m", "\x85"):
        problem(fc.put(url, json={"score": 3, "comment": bad}), "comment")
        form = {"check_in_id": str(cid), "score": "3", "comment": bad}
        problem(fc.post(f"/feeds/{feed}/rate", data=form), "comment")
    # A comment is free text: it keeps its line breaks.
    r = fc.post(
        f"/feeds/{feed}/rate",
        data={"check_in_id": str(cid), "score": "4", "comment": "第一行\r\n第二行"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    rating = fc.get(f"/api/v1/check-ins/{cid}", headers=world.auth()).json()["rating"]
    assert rating["comment"] == "第一行\r\n第二行"


@pytest.mark.usefixtures("inspectors")
def test_a_check_in_in_year_one_is_a_422(fc: TestClient, world: Seeded) -> None:
    for at in ("0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00"):
        body = {"enterprise_id": world.enterprises[0], "certificates": CERTS["A"], "at": at}
        problem(fc.post("/api/v1/check-ins", json=body, headers=world.auth("A")), "at")
    problem(fc.get("/api/v1/check-ins?date_from=0001-01-01", headers=world.auth()), "date_from")


@pytest.mark.parametrize("subject", ["²", "9" * 20, "٣", "1\x00"])
def test_inspector_feed_tokens_for_odd_subjects_are_4xx(
    fc: TestClient, world: Seeded, subject: str
) -> None:
    r = fc.post(
        "/api/v1/feed-tokens",
        json={"kind": "inspector", "subject_id": subject},
        headers=world.auth(),
    )
    assert r.status_code in (404, 422), r.text
    assert r.headers["content-type"] == PROBLEM
    if r.status_code == 422:
        problem(r, "subject_id")


def test_odd_cookies_months_cursors_and_periods_are_not_5xx(fc: TestClient, world: Seeded) -> None:
    # A cookie that was never ours is no session: the sign-in page, as for an expired one.
    for cookie in ("é.x", "ab\x7fc", "x" * 900 + "é"):
        fc.cookies.clear()
        raw = f"qd_dashboard={cookie}".encode()
        r = fc.get("/dashboard", headers={"Cookie": raw}, follow_redirects=False)  # type: ignore[dict-item]
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/dashboard/login"
    # A stranger's odd month gets the sign-in page, a supervisor's a problem naming the month.
    odd = fc.get("/dashboard", params={"month": "2026-13"}, follow_redirects=False)
    assert (odd.status_code, odd.headers["location"]) == (303, "/dashboard/login")
    signed = login(fc, world.supervisor)  # followed to the overview: the sign-in took
    assert (signed.status_code, signed.url.path) == (200, "/dashboard"), signed.text
    for month in ("0000-01", "9999-12", "٢٠٢٦-01", "2026-13"):
        problem(fc.get("/dashboard", params={"month": month}), "month")
    for cursor in ("cDrCsg", "cDo5OTk5OTk5OTk5OTk5OTk5OTk5", "\x00"):
        r = fc.get("/api/v1/plans", params={"cursor": cursor}, headers=world.auth())
        problem(r, "cursor")
    for period in ("٢٠٢٦", "2026-\x00"):
        r = fc.get("/api/v1/audit/frequency", params={"period": period}, headers=world.auth())
        problem(r, "period")
    problem(fc.get("/api/v1/check-ins", params={"flag": "a\x00"}, headers=world.auth()), "flag")
    for token in ("a%00b", "%ED%A0%80", "%FF", "a%1Bb"):
        r = fc.get(f"/feeds/{token}.ics")
        assert r.status_code in (404, 422), r.text
        assert r.headers["content-type"] == PROBLEM


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def as_xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.append(HEADERS)
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sheet_row(world: Seeded, **changes: str) -> list[str]:
    values = {
        "外部编号": "X-1",
        "部门编码": "",
        "统一社会信用代码": world.enterprises[0],
        "检查类型": "日常检查",
        "检查事项": "SCJG-0101",
        "最早日期": "2026-07-01",
        "最晚日期": "2026-09-30",
        "优先级": "3",
        "豁免事由": "",
        "不提前告知": "否",
        "触发事由": "",
        "检查方式": "",
        **changes,
    }
    return [values[h] for h in HEADERS]


def upload(client: TestClient, world: Seeded, name: str, data: bytes) -> Any:
    return client.post(
        "/api/v1/plans/import", files={"file": (name, data)}, headers=world.auth("A")
    )


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("优先级", "²"),
        ("优先级", "9" * 5000),
        ("优先级", "٣"),
        ("优先级", "-1"),
        ("最早日期", "0001-01-01"),
        ("最早日期", "2026-07-01" + "1" * 200),
        ("最晚日期", "99999999-1-1"),
        ("检查事项", "a\x00b"),
        ("外部编号", "X\x00Y"),
        ("豁免事由", "投诉\x1b举报"),
        ("统一社会信用代码", "9\x00"),
        ("部门编码", "\x7f"),
    ],
)
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_odd_cells_are_named_by_row_and_header(
    fc: TestClient, world: Seeded, header: str, value: str, kind: str
) -> None:
    if kind == "xlsx":
        # XML 1.0 cannot carry C0 controls (openpyxl refuses to write them and reads `_x0000_`
        # as it is): an XLSX brings C1 controls instead.
        value = re.sub("[\x00-\x1f]", "\x85", value)
    cells = sheet_row(world, **{header: value})
    data = as_csv([cells]) if kind == "csv" else as_xlsx([cells])
    body = problem(upload(fc, world, f"plans.{kind}", data), f"第 2 行「{header}」")
    assert fc.get("/api/v1/plans", headers=world.auth()).json()["items"] == []
    assert all("internal" not in e["code"] for e in body["errors"])


_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=("Cc", "Nd", "No", "L", "P", "Zs")),
    max_size=30,
)
_cells = st.fixed_dictionaries(dict.fromkeys(HEADERS, _text))
_fuzz = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_fuzz
@given(rows=st.lists(_cells, min_size=1, max_size=4), kind=st.sampled_from(["csv", "xlsx"]))
def test_fuzzed_spreadsheets_never_5xx(
    client: TestClient, world: Seeded, rows: list[dict[str, str]], kind: str
) -> None:
    cells = [[r[h] for h in HEADERS] for r in rows]
    if kind == "xlsx":
        try:
            data = as_xlsx(cells)
        except IllegalCharacterError:
            return  # XLSX (XML 1.0) cannot hold most control characters: openpyxl refuses them
    else:
        data = as_csv(cells)
    r = upload(client, world, f"plans.{kind}", data)
    assert r.status_code < 500, r.text
    if r.status_code != 201:
        assert r.headers["content-type"] == PROBLEM
        for e in r.json()["errors"]:
            assert e["path"] == "file" or e["message"].startswith("第 "), e
        # The same sheet marked: a workbook that opens, listing every problem.
        r = client.post(
            "/api/v1/plans/import?marked=true",
            files={"file": (f"plans.{kind}", data)},
            headers=world.auth("A"),
        )
        assert r.status_code == 422, r.text
        listing = load_workbook(io.BytesIO(r.content)).worksheets[-1]
        assert listing.max_row >= 2


@_fuzz
@given(
    comment=st.text(max_size=600),
    score=st.text(alphabet="0123456789²٣-", max_size=4),
    check_in_id=st.text(alphabet="0123456789²", max_size=12),
)
def test_fuzzed_rating_forms_never_5xx(
    client: TestClient, world: Seeded, comment: str, score: str, check_in_id: str
) -> None:
    form = {"check_in_id": check_in_id, "score": score, "comment": comment}
    # Percent-encoded bytes as they are, lone surrogates included (as CESU-8, not UTF-8).
    encoded = "&".join(
        f"{k}=" + "".join(f"%{b:02X}" for b in v.encode("utf-8", "surrogatepass"))
        for k, v in form.items()
    )
    r = client.post(
        "/feeds/icsf_no-such-token/rate",
        content=encoded.encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code < 500, r.text
    assert r.headers["content-type"] == PROBLEM


def test_bodies_over_the_limit_and_deep_json_are_4xx(fc: TestClient, world: Seeded) -> None:
    big = b"[" + b"1," * (5 << 19) + b"1]"
    r = fc.post("/api/v1/plans/batch", content=big, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
    assert r.headers["content-type"] == PROBLEM
    r = raw_json(fc, "POST", "/api/v1/plans/batch", "[" * 100_000, world.auth("A"))
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == PROBLEM


_STRINGS_OVERRIDE = (
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)


def _strings_part(count: int) -> bytes:
    unit = b"<si><t>a</t></si>"
    return (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + unit * count
        + b"</sst>"
    )


def test_a_zip_that_understates_a_part_is_cut_at_its_word(fc: TestClient, world: Seeded) -> None:
    """zipfile stops a member at the size its directory declares: a shared-strings part that
    claims 1 KB but inflates to 64 MB is read as a broken file, not inflated."""
    plain = io.BytesIO(as_xlsx([sheet_row(world)]))
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", _STRINGS_OVERRIDE + b"</Types>")
            z.writestr(member, data)
        z.writestr("xl/sharedStrings.xml", _strings_part(4_000_000))
    data = bytearray(out.getvalue())
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"xl/sharedStrings.xml") + 1)
    assert data[entry + 46 : entry + 66] == b"xl/sharedStrings.xml"
    data[entry + 24 : entry + 28] = (1024).to_bytes(4, "little")
    r = upload(fc, world, "plans.xlsx", bytes(data))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "file"


def test_a_sheet_past_its_row_cap_is_refused(fc: TestClient, world: Seeded) -> None:
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.append(HEADERS)
    sheet.append(sheet_row(world))
    sheet.cell(row=1_048_576, column=16_384, value="x")
    out = io.BytesIO()
    book.save(out)
    r = upload(fc, world, "plans.xlsx", out.getvalue())
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "too_many_rows")
    rows = "\n".join([",".join(HEADERS)] + [""] * 20_001).encode()
    r = upload(fc, world, "plans.csv", rows)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "too_many_rows")


def test_parts_parsed_whole_are_capped_by_what_they_are(fc: TestClient, world: Seeded) -> None:
    """openpyxl parses the styles whole into objects (1 MB of `<xf/>`: +126 MB and 10 s), and
    finds the shared strings by their declared content type, wherever they lie: both are capped
    by what openpyxl makes of them, not by their names."""
    plain = io.BytesIO(as_xlsx([sheet_row(world)]))
    # Random numbers: parts that deflate too poorly for the ratio check to catch them.
    rng = random.Random(18)
    styles = "".join(f'<xf numFmtId="{rng.getrandbits(20)}"/>' for _ in range(40_000))
    strings = "".join(f"<si><t>{rng.getrandbits(64):x}</t></si>" for _ in range(600_000))
    for target, part in (
        ("xl/styles.xml", f"<styleSheet><cellXfs>{styles}</cellXfs></styleSheet>".encode()),
        ("xl/worksheets/strings.xml", f"<sst>{strings}</sst>".encode()),
    ):
        out = io.BytesIO()
        with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for member in source.infolist():
                data = source.read(member)
                if member.filename == "[Content_Types].xml":
                    override = _STRINGS_OVERRIDE.replace(
                        b"/xl/sharedStrings.xml", b"/" + target.encode()
                    )
                    data = data.replace(b"</Types>", override + b"</Types>")
                if member.filename != target:
                    z.writestr(member, data)
            z.writestr(target, part)
        r = upload(fc, world, "plans.xlsx", out.getvalue())
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["code"] == "xlsx_too_large", r.text
        assert target in r.json()["errors"][0]["message"]
