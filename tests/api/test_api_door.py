"""At the door over HTTP on SQLite and PostgreSQL: a check-in by the enterprise's 监督码 (its URL
or token), no_code and late_scan, forged and hostile codes refused naming the field, the day's
visits with their inspection codes (and QR images an independent decoder reads back), and the
door pages: sign-in with an agency key, the inspectors at the door (not another agency's, not
an inactive one), a scan, sign-out."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from conftest import CERTS, Clock
from flows import published
from quietday.persistence import Engine, session_scope
from quietday.persistence.registry import InspectorRepository
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded

# 09:30 in China on the day of E0's joint visit (A and B) of the published schedule.
MORNING = datetime(2026, 7, 21, 1, 30, tzinfo=UTC)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def codes(entry: dict[str, Any]) -> set[str]:
    return {f["code"] for f in entry["flags"]}


def enterprise_code(fc: TestClient, world: Seeded, n: int) -> dict[str, Any]:
    r = fc.get(f"/api/v1/enterprises/{world.enterprises[n]}/code", headers=world.auth())
    assert r.status_code == 200, r.text
    return dict(r.json())


def scan(fc: TestClient, world: Seeded, who: str, expect: int = 201, **body: Any) -> Any:
    body = {"certificates": CERTS[who], "at": "2026-07-21T09:30:00+08:00", **body}
    r = fc.post("/api/v1/check-ins", json=body, headers=world.auth(who))
    assert r.status_code == expect, r.text
    return r.json()


@pytest.fixture
def morning(fc: TestClient, world: Seeded, clock: Clock, inspectors: None) -> dict[str, int]:
    clock.now = MORNING
    return published(fc, world)


@pytest.mark.usefixtures("morning")
def test_a_scan_registers_the_entry_and_no_code_flags_an_agency_without_one(
    fc: TestClient, world: Seeded
) -> None:
    code = enterprise_code(fc, world, 0)
    assert code["url"].endswith(f"/e/{code['token']}")
    listed = fc.get("/api/v1/door/visits", headers=world.auth("A"))
    assert listed.status_code == 200
    (visit,) = listed.json()
    assert visit["enterprise_id"] == world.enterprises[0]
    assert visit["agencies"] == [AGENCIES["A"][1], AGENCIES["B"][1]]
    assert visit["items"] == ["SCJG-0101"]
    assert visit["triggered"] is False
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", visit["code"])
    # A holds its code for the day (listing minted it): the scan by URL is clean.
    entry = scan(fc, world, "A", enterprise_code=code["url"])
    assert entry["enterprise_id"] == world.enterprises[0]
    assert entry["visit_id"] == visit["visit_id"]
    assert entry["scanned"] is True
    assert moment(entry["scanned_at"]) == MORNING
    assert entry["late_reason"] is None
    assert codes(entry) == set()
    # B is in the same visit but never took its code: the entry breaks 先赋码、再凭码检查.
    other = scan(fc, world, "B", enterprise_code=code["token"])
    assert other["visit_id"] == visit["visit_id"]
    assert codes(other) == {"no_code"}
    assert "没有" in other["flags"][0]["detail"]
    # The token's enterprise and a named one must agree.
    r = scan(
        fc,
        world,
        "A",
        422,
        enterprise_code=code["token"],
        enterprise_id=world.enterprises[1],
    )
    assert r["errors"][0]["path"] == "enterprise_code"


@pytest.mark.usefixtures("morning")
def test_late_scan_records_the_entry_time_and_its_reason(fc: TestClient, world: Seeded) -> None:
    fc.get("/api/v1/door/visits", headers=world.auth("A"))
    token = enterprise_code(fc, world, 0)["token"]
    entry = scan(
        fc,
        world,
        "A",
        enterprise_code=token,
        at="2026-07-21T08:05:00+08:00",
        late=True,
        late_reason="群众举报正在发生的隐患",
    )
    assert codes(entry) == {"late_scan"}
    assert moment(entry["at"]) == datetime(2026, 7, 21, 0, 5, tzinfo=UTC)
    assert moment(entry["scanned_at"]) == MORNING
    assert entry["late_reason"] == "群众举报正在发生的隐患"
    assert "08:05 入企,09:30 扫码" in entry["flags"][0]["detail"]
    problems = {
        "late_reason": {"enterprise_code": token, "at": "2026-07-21T08:05:00+08:00", "late": True},
        "at": {"enterprise_code": token, "late": True, "late_reason": "急"},
        "late": {"enterprise_code": token, "scanned_at": "2026-07-21T09:30:00+08:00",
                 "at": "2026-07-21T08:05:00+08:00"},
        "enterprise_code": {"enterprise_id": world.enterprises[0], "late": True,
                            "late_reason": "急", "at": "2026-07-21T08:05:00+08:00"},
        "scanned_at": {"enterprise_code": token, "late": True, "late_reason": "急",
                       "at": "2026-07-20T16:00:00+08:00", "scanned_at": "2026-07-21T09:00:00+08:00"},
    }  # fmt: skip
    for field, body in problems.items():
        r = scan(fc, world, "A", 422, **body)
        assert field in {e["path"] for e in r["errors"]}, (field, r)
    # Nothing was half-written.
    listed = fc.get("/api/v1/check-ins", headers=world.auth("A")).json()
    assert [e["id"] for e in listed["items"]] == [entry["id"]]


@pytest.mark.usefixtures("morning")
def test_forged_and_hostile_codes_are_refused_naming_the_field(
    fc: TestClient, world: Seeded
) -> None:
    token = enterprise_code(fc, world, 0)["token"]
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    forged = [
        f"{head}.{payload}.{flipped}",
        f"{head}.{payload[:-1]}x.{signature}",
        "not a code",
        "https://example.org/e/",
        "../../etc/passwd",
        "a" * 1001,
        "\u202egnp.exe",
        "https://example.org/e/<script>alert(1)</script>",
    ]
    for text in forged:
        r = scan(fc, world, "A", 422, enterprise_code=text)
        assert r["errors"][0]["path"] == "enterprise_code", (text, r)
    for body in ({}, {"enterprise_code": None}, {"enterprise_code": 7}, {"late": "yes"}):
        scan(fc, world, "A", 422, **body)
    assert fc.get("/api/v1/check-ins", headers=world.auth("A")).json()["items"] == []
    # A supervisor key neither lists the door's visits nor registers a scan.
    assert fc.get("/api/v1/door/visits", headers=world.auth()).status_code == 403
    r = fc.post(
        "/api/v1/check-ins",
        json={
            "enterprise_code": token,
            "certificates": CERTS["A"],
            "at": "2026-07-21T09:30:00+08:00",
        },
        headers=world.auth(),
    )
    assert r.status_code == 403


@pytest.mark.usefixtures("morning")
def test_the_days_code_images_decode_to_the_code_url(fc: TestClient, world: Seeded) -> None:
    """The QR images are read back by zxing-cpp, an independent decoder: the URL of the code."""
    (visit,) = fc.get("/api/v1/door/visits", headers=world.auth("A")).json()
    png = fc.get(f"/api/v1/door/visits/{visit['visit_id']}/qr.png", headers=world.auth("A"))
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    (found,) = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode
    )
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    assert found.text == visit["url"]
    assert re.fullmatch(
        r"http://127\.0\.0\.1:8000/v/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", visit["url"]
    )
    svg = fc.get(f"/api/v1/door/visits/{visit['visit_id']}/qr.svg", headers=world.auth("A"))
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") or "<svg" in svg.text
    # B's code of the same visit is B's; C has no visit that day; a visit of another day is not found.
    (b_visit,) = fc.get("/api/v1/door/visits", headers=world.auth("B")).json()
    assert b_visit["visit_id"] == visit["visit_id"]
    assert b_visit["code"] != visit["code"]
    assert fc.get("/api/v1/door/visits", headers=world.auth("C")).json() == []
    r = fc.get(f"/api/v1/door/visits/{visit['visit_id']}/qr.png", headers=world.auth("C"))
    assert r.status_code == 404
    bad = fc.get("/api/v1/door/visits/0/qr.gif", headers=world.auth("A"))
    assert bad.status_code == 422


def _form(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None
    return found.group(1)


def _sign_in(fc: TestClient, key: str) -> Any:
    form = fc.get("/door/login")
    assert form.status_code == 200
    assert form.headers["content-security-policy"].startswith("default-src 'self'")
    return fc.post("/door/login", data={"key": key, "csrf": _form(form.text)})


def test_door_pages_sign_in_choose_the_crew_scan_and_sign_out(
    fc: TestClient, world: Seeded, engine: Engine, morning: dict[str, int]
) -> None:
    assert fc.get("/door").headers.get("location") is None  # followed to the sign-in page
    assert "执法人员登录" in fc.get("/door").text
    refused = _sign_in(fc, world.supervisor)
    assert refused.status_code == 403
    assert "执法部门的密钥" in refused.text
    # An approver key is refused at the sign-in, not signed in to a session no page accepts.
    approver = fc.post(
        "/api/v1/keys", json={"role": "approver", "agency_id": AGENCIES["A"][0]},
        headers=world.auth(),
    ).json()["key"]  # fmt: skip
    refused = _sign_in(fc, approver)
    assert refused.status_code == 403
    assert "审批密钥不能登记入企" in refused.text
    assert fc.get("/door/crew").url.path == "/door/login"
    assert _sign_in(fc, "qd_wrong-key-of-enough-length").status_code == 401
    crew = _sign_in(fc, world.keys["A"])
    assert crew.status_code == 200
    assert crew.url.path == "/door/crew"
    # Until two inspectors are named, the other pages send back to this one.
    assert fc.get("/door/scan").url.path == "/door/crew"
    with session_scope(engine, actor="test") as s:
        ids = {r.certificate_no: int(r.id or 0) for r in InspectorRepository(s).list()}
        retired = create_inspector(
            s, agency_id=AGENCIES["A"][0], name="已调离", certificate_no="A-009"
        )
        retired.active = False
        s.add(retired)
        ids["A-009"] = int(retired.id or 0)
    csrf = _form(crew.text)
    assert "A-009" not in crew.text
    assert "B-001" not in crew.text
    for chosen in ([ids["A-001"]], [ids["A-001"], ids["B-001"]], [ids["A-001"], ids["A-009"]]):
        r = fc.post("/door/crew", data={"inspector": chosen, "csrf": csrf})
        assert r.status_code == 422, chosen
    assert fc.post("/door/crew", data={"inspector": ["x"], "csrf": csrf}).status_code == 422
    forged = fc.post("/door/crew", data={"inspector": [ids["A-001"], ids["A-002"]], "csrf": "x"})
    assert forged.status_code == 403
    r = fc.post("/door/crew", data={"inspector": [ids["A-001"], ids["A-002"]], "csrf": csrf})
    assert r.status_code == 200
    assert r.url.path == "/door"
    assert "江西测试1号有限公司" in r.text
    assert r.text.count("<svg") == 1
    short = re.search(r'class="short mono">([2-9A-Z]{4}-[2-9A-Z]{4})<', r.text)
    assert short is not None
    # A scan typed in: the URL of E0's 监督码.
    url = enterprise_code(fc, world, 0)["url"]
    done = fc.post("/door/check-in", data={"code": url, "csrf": csrf})
    # Post, then redirect to the entry's page: a reload registers nothing more.
    assert done.status_code == 200
    assert done.url.path.startswith("/door/entries/")
    assert "与已发布的计划相符" in done.text
    assert fc.get(done.url.path).status_code == 200
    assert fc.get("/door/entries/999999").status_code == 404
    assert len(fc.get("/api/v1/check-ins", headers=world.auth("A")).json()["items"]) == 1
    entry = fc.get("/api/v1/check-ins", headers=world.auth("A")).json()["items"][-1]
    assert entry["certificates"] == ["A-001", "A-002"]
    assert entry["scanned"] is True
    # An emergency without its reason, and a forged code: the form again, with the problem.
    r = fc.post(
        "/door/check-in", data={"code": url, "late": "1", "entered_at": "08:10", "csrf": csrf}
    )
    assert r.status_code == 422
    assert "先行检查须说明事由" in r.text
    r = fc.post("/door/check-in", data={"code": url + "x", "csrf": csrf})
    assert r.status_code == 422
    assert "监督码无效" in r.text
    r = fc.post(
        "/door/check-in",
        data={"code": url, "late": "1", "entered_at": "25:99", "late_reason": "急", "csrf": csrf},
    )
    assert r.status_code == 422
    assert "时:分" in r.text
    late = fc.post(
        "/door/check-in",
        data={"code": url, "late": "1", "entered_at": "08:10", "late_reason": "险情", "csrf": csrf},
    )
    assert late.status_code == 200
    assert 'data-flag="late_scan"' in late.text
    # Picked from the list without a code: registered, not scanned.
    picked = fc.post("/door/check-in", data={"enterprise_id": world.enterprises[0], "csrf": csrf})
    assert picked.status_code == 200
    items = fc.get("/api/v1/check-ins", headers=world.auth("A")).json()["items"]
    assert [e["scanned"] for e in items] == [True, True, False]
    assert fc.post("/door/check-in", data={"code": url, "csrf": "forged"}).status_code == 403
    assert len(fc.get("/api/v1/check-ins", headers=world.auth("A")).json()["items"]) == 3
    # Sign-out ends the session on the server.
    cookie = fc.cookies.get("qd_door")
    assert fc.post("/door/logout", data={"csrf": csrf}).url.path == "/door/login"
    fc.cookies.set("qd_door", cookie or "", path="/door")
    assert fc.get("/door").url.path == "/door/login"


def test_an_inspector_whose_certificate_lapsed_is_neither_offered_nor_kept_at_the_door(
    fc: TestClient, world: Seeded, engine: Engine, clock: Clock, morning: dict[str, int]
) -> None:
    """The door offers the agency's active inspectors whose certificate holds today: one that
    lapsed yesterday is refused by name and date, and one that lapses tonight leaves the crew
    of a session still open after midnight."""
    with session_scope(engine, actor="test") as s:
        for number, until in (("A-007", date(2026, 7, 20)), ("A-008", date(2026, 7, 21))):
            create_inspector(
                s,
                agency_id=AGENCIES["A"][0],
                name=f"执法员{number}",
                certificate_no=number,
                certified_until=until,
            )
        ids = {r.certificate_no: int(r.id or 0) for r in InspectorRepository(s).list()}
    clock.now = datetime(2026, 7, 21, 14, 0, tzinfo=UTC)  # 22:00 in China
    crew = _sign_in(fc, world.keys["A"])
    assert crew.url.path == "/door/crew"
    assert "A-007" not in crew.text
    assert "A-008" in crew.text
    csrf = _form(crew.text)
    r = fc.post("/door/crew", data={"inspector": [ids["A-001"], ids["A-007"]], "csrf": csrf})
    assert r.status_code == 422
    assert "执法员A-007(A-007)的执法证有效期至 2026-07-20,今天不能入企" in r.text
    r = fc.post("/door/crew", data={"inspector": [ids["A-001"], ids["A-008"]], "csrf": csrf})
    assert r.url.path == "/door"
    clock.now = datetime(2026, 7, 21, 16, 30, tzinfo=UTC)  # 00:30 on 07-22, the session lives
    again = fc.get("/door")
    assert again.url.path == "/door/crew"  # one certified inspector left: choose again
    assert "A-008" not in again.text
