"""Check-ins (扫码入企) over HTTP on SQLite and PostgreSQL: matching to the published schedule,
every flag, re-judging when an entry arrives late, who sees what, ratings through feed tokens,
and agreement of the flags with the core checker on the same entries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import CERTS, Clock
from flows import check_in, published, token
from helpers import assert_flags_agree_with_check
from quietday.persistence import Engine, session_scope
from quietday.persistence.registry import InspectorRepository
from quietday.planning.checkins import ENTRY_FLAGS
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded


def codes(entry: dict[str, Any]) -> set[str]:
    return {f["code"] for f in entry["flags"]}


def read(fc: TestClient, world: Seeded, cid: int) -> dict[str, Any]:
    r = fc.get(f"/api/v1/check-ins/{cid}", headers=world.auth())
    assert r.status_code == 200
    return dict(r.json())


@pytest.mark.usefixtures("inspectors")
def test_check_ins_are_matched_and_flagged(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    # A takes its inspection codes (先赋码) of its visits' days; an entry without one is no_code.
    for day in ("2026-07-21", "2026-07-22", "2026-07-24"):
        r = fc.get("/api/v1/codes", params={"date": day}, headers=world.auth("A"))
        assert r.status_code == 200
        assert len(r.json()) == 1
    joint = check_in(fc, world, "A", 0, "2026-07-21T09:30:00+08:00")
    assert joint["visit_id"] is not None
    assert codes(joint) == set()
    assert joint["kind"] == "routine"
    assert joint["date"] == "2026-07-21"
    # The published case visit is matched and keeps the plan's exemption.
    case = check_in(fc, world, "A", 1, "2026-07-22T10:00:00+08:00")
    assert case["kind"] == "case"
    assert case["exempt_reason"] == "投诉举报"
    assert codes(case) == set()
    # Late at night in Beijing is the next day in UTC terms only: the date is China's.
    late = check_in(fc, world, "A", 3, "2026-07-24T15:30:00Z")
    assert late["date"] == "2026-07-24"
    assert codes(late) == set()
    # A visit named explicitly but entered on another day.
    other = check_in(fc, world, "A", 3, "2026-07-28T09:00:00+08:00", visit_id=late["visit_id"])
    assert "different_day" in codes(other)
    # No plan, inside the quiet days (1-20), on a Saturday.
    quiet = check_in(fc, world, "A", 4, "2026-07-10T09:00:00+08:00")
    assert codes(quiet) == {"no_code", "unplanned", "quiet_day"}
    saturday = check_in(fc, world, "B", 4, "2026-07-25T09:00:00+08:00")
    assert codes(saturday) == {"no_code", "unplanned", "not_working_day"}
    # A complaint case may enter on a quiet day.
    complaint = check_in(
        fc, world, "A", 5, "2026-07-13T09:00:00+08:00", kind="case", exempt_reason="投诉举报"
    )
    assert codes(complaint) == {"no_code", "unplanned"}
    # Inspectors: one of A's, one unknown, one of B's.
    crew = check_in(
        fc,
        world,
        "A",
        2,
        "2026-07-23T09:00:00+08:00",
        certificates=["A-001", "X-999", "B-001"],
    )
    assert codes(crew) == {
        "no_code",
        "unplanned",
        "too_few_inspectors",
        "inspector_not_certified",
        "inspector_other_agency",
    }
    assert crew["visit_id"] is None


@pytest.mark.usefixtures("inspectors")
def test_a_lapsed_certificate_and_a_declared_conflict_flag_the_entry(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    """An inspector whose certificate had lapsed on the entry's day, and one with a declared 回避
    for the enterprise, are flagged by name; the flags have Chinese labels, are listed by code and
    counted by the frequency audit and the supervision figures alike."""
    agency, firm = AGENCIES["A"][0], world.enterprises[2]
    with session_scope(engine, actor="cli") as s:
        create_inspector(
            s,
            agency_id=agency,
            name="王过期",
            certificate_no="A-003",
            certified_until=date(2026, 7, 20),
        )
        ids = {r.certificate_no: int(r.id or 0) for r in InspectorRepository(s).list()}
    r = fc.post(
        f"/api/v1/agencies/{agency}/inspector-conflicts",
        json={"inspector_id": ids["A-002"], "enterprise_id": firm, "reason": "亲属关系"},
        headers=world.auth("A"),
    )
    assert r.status_code == 201, r.text
    certificates = ["A-001", "A-002", "A-003"]
    entry = check_in(fc, world, "A", 2, "2026-07-23T09:00:00+08:00", certificates=certificates)
    flags = {f["code"]: f["detail"] for f in entry["flags"]}
    assert flags["certificate_expired"] == (
        "2026-07-23 入企时执法证已过期: 王过期(A-003,有效期至 2026-07-20)"
    )
    assert flags["inspector_conflict"] == f"已申报回避企业 {firm}: 执法员A-002(A-002,亲属关系)"
    assert "too_few_inspectors" not in flags  # held their certificates
    # The day the certificate still held, at another enterprise: neither flag.
    held = check_in(fc, world, "A", 3, "2026-07-20T09:00:00+08:00", certificates=certificates)
    assert not codes(held) & {"certificate_expired", "inspector_conflict"}
    # Two inspectors of whom one had lapsed: too few certified ones, too.
    short = check_in(
        fc, world, "A", 4, "2026-07-24T09:00:00+08:00", certificates=["A-001", "A-003"]
    )
    assert {"certificate_expired", "too_few_inspectors"} <= codes(short)
    assert ENTRY_FLAGS["certificate_expired"] == "有执法人员的执法证在入企当天已过期"
    assert ENTRY_FLAGS["inspector_conflict"] == "有执法人员已申报回避该企业"
    for code, expected in (
        ("certificate_expired", [entry["id"], short["id"]]),
        ("inspector_conflict", [entry["id"]]),
    ):
        r = fc.get("/api/v1/check-ins", params={"flag": code}, headers=world.auth())
        assert [e["id"] for e in r.json()["items"]] == expected
    described = fc.get("/openapi.json").json()["paths"]["/api/v1/check-ins"]["get"]["parameters"]
    flag = next(p for p in described if p["name"] == "flag")
    assert "certificate_expired" in flag["description"]
    assert "inspector_conflict" in flag["description"]
    audit = fc.get(
        "/api/v1/audit/frequency",
        params={"by": "agency", "period": "2026-07"},
        headers=world.auth(),
    )
    assert audit.status_code == 200, audit.text
    row = next(x for x in audit.json()["items"] if x["subject"] == agency)
    assert (row["flags"]["certificate_expired"], row["flags"]["inspector_conflict"]) == (2, 1)
    assert row["actual_visits"] == 3
    supervised = fc.get("/api/v1/supervision", params={"month": "2026-07"}, headers=world.auth())
    assert supervised.status_code == 200, supervised.text
    mine = next(a for a in supervised.json()["agencies"] if a["agency_id"] == agency)
    assert mine["entries"] == 3


@pytest.mark.usefixtures("inspectors")
def test_caps_flag_the_entry_that_broke_them_and_late_entries_rejudge(
    fc: TestClient, world: Seeded
) -> None:
    """Caps of the seed: agency-enterprise 2 a year, enterprise 2 a month (routine, special)."""
    first = check_in(fc, world, "A", 5, "2026-07-21T09:00:00+08:00")
    second = check_in(fc, world, "A", 5, "2026-07-22T09:00:00+08:00")
    third = check_in(fc, world, "A", 5, "2026-07-23T09:00:00+08:00")
    assert codes(first) == codes(second) == {"no_code", "unplanned"}
    assert codes(third) == {
        "no_code",
        "unplanned",
        "cap_agency_enterprise_year",
        "cap_enterprise_month",
    }
    # An entry in June recorded late: July's second date is now A's third in the year.
    june = check_in(fc, world, "A", 5, "2026-06-22T09:00:00+08:00")
    assert codes(june) == {"no_code", "unplanned"}
    assert codes(read(fc, world, second["id"])) == {
        "no_code",
        "unplanned",
        "cap_agency_enterprise_year",
    }
    assert codes(read(fc, world, first["id"])) == {"no_code", "unplanned"}
    # B's case inspection is not capped; B's routine one is over the month cap only.
    case = check_in(
        fc, world, "B", 5, "2026-07-24T09:00:00+08:00", kind="case", exempt_reason="举报"
    )
    assert codes(case) == {"no_code", "unplanned"}
    routine = check_in(fc, world, "B", 5, "2026-07-27T09:00:00+08:00")
    assert codes(routine) == {"no_code", "unplanned", "cap_enterprise_month"}


@pytest.mark.usefixtures("inspectors")
def test_a_class_a_firms_cap_flags_its_second_entry_by_one_agency(
    fc: TestClient, world: Seeded
) -> None:
    """The class policy's cap (A: one a year per agency) holds for entries as for runs."""
    firm = world.enterprises[5]
    r = fc.patch(f"/api/v1/enterprises/{firm}", json={"risk_class": "A"}, headers=world.auth())
    assert r.status_code == 200, r.text
    first = check_in(fc, world, "A", 5, "2026-07-21T09:00:00+08:00")
    second = check_in(fc, world, "A", 5, "2026-07-24T09:00:00+08:00")
    assert codes(first) == {"no_code", "unplanned"}
    assert codes(second) == {"no_code", "unplanned", "cap_agency_enterprise_year"}
    audit = fc.get("/api/v1/audit/frequency?by=enterprise&period=2026", headers=world.auth())
    mine = [r for r in audit.json()["items"] if r["subject"] == firm]
    assert [(r["cap_agency_year"], r["headroom_agency_year"]) for r in mine] == [(1, -1)]


@pytest.mark.usefixtures("inspectors")
def test_flags_agree_with_the_core_checker(
    fc: TestClient, world: Seeded, engine: Engine, tmp_path: Path
) -> None:
    """What `quietday check` finds on the year's entries is what the flags say."""
    published(fc, world)
    for who, ent, at in [
        ("A", 0, "2026-07-21T09:30:00+08:00"),
        ("A", 4, "2026-07-10T09:00:00+08:00"),
        ("B", 4, "2026-07-25T09:00:00+08:00"),
        ("A", 5, "2025-12-30T09:00:00+08:00"),
        ("A", 5, "2026-01-05T09:00:00+08:00"),
        ("A", 5, "2026-07-21T09:00:00+08:00"),
        ("A", 5, "2026-07-22T09:00:00+08:00"),
        ("B", 5, "2026-07-23T09:00:00+08:00"),
        ("A", 5, "2026-07-24T09:00:00+08:00"),
    ]:
        check_in(fc, world, who, ent, at)
    assert assert_flags_agree_with_check(engine, 2026, tmp_path) > 0


@pytest.mark.usefixtures("inspectors")
def test_agencies_see_their_own_and_only_supervisors_see_who_rated(
    fc: TestClient, world: Seeded
) -> None:
    published(fc, world)
    entry = check_in(fc, world, "A", 0, "2026-07-21T09:30:00+08:00")
    feed = token(fc, world, "enterprise", world.enterprises[0])["token"]
    r = fc.put(
        f"/feeds/{feed}/check-ins/{entry['id']}/rating", json={"score": 4, "comment": "规范,用时短"}
    )
    assert r.status_code == 200
    assert r.json()["score"] == 4
    # Rating again replaces it.
    r = fc.put(f"/feeds/{feed}/check-ins/{entry['id']}/rating", json={"score": 5})
    assert r.status_code == 200
    assert fc.get(f"/feeds/{feed}/check-ins").json()[0]["rating"]["score"] == 5
    assert read(fc, world, entry["id"])["rating"]["score"] == 5
    mine = fc.get(f"/api/v1/check-ins/{entry['id']}", headers=world.auth("A")).json()
    assert mine["rating"] is None
    listed = fc.get("/api/v1/check-ins", headers=world.auth("A")).json()["items"]
    assert [e["id"] for e in listed] == [entry["id"]]
    assert listed[0]["rating"] is None
    # The agency's summary shows months gone by only, and no average of fewer than 5 ratings.
    summary = fc.get("/api/v1/check-ins/ratings", headers=world.auth("A")).json()
    assert summary == {"agency_id": AGENCIES["A"][0], "count": 0, "average": None, "months": []}
    # Another agency neither reads nor lists it.
    assert fc.get(f"/api/v1/check-ins/{entry['id']}", headers=world.auth("B")).status_code == 404
    assert fc.get("/api/v1/check-ins", headers=world.auth("B")).json()["items"] == []
    # Another enterprise's token, an agency's token and a revoked token cannot rate it.
    other = token(fc, world, "enterprise", world.enterprises[1])["token"]
    agency = token(fc, world, "agency", AGENCIES["A"][0])
    for t in (other, agency["token"], "icsf_nonsense"):
        r = fc.put(f"/feeds/{t}/check-ins/{entry['id']}/rating", json={"score": 1})
        assert r.status_code == 404
    assert (
        fc.put(f"/feeds/{feed}/check-ins/{entry['id']}/rating", json={"score": 6}).status_code
        == 422
    )
    # A score of the wrong JSON type is refused naming the field, not read as a number.
    for score in ("5", True, 5.0):
        r = fc.put(f"/feeds/{feed}/check-ins/{entry['id']}/rating", json={"score": score})
        assert r.status_code == 422, score
        assert [e["path"] for e in r.json()["errors"]] == ["score"]
    assert fc.get(f"/feeds/{feed}/check-ins").json()[0]["rating"]["score"] == 5


@pytest.mark.usefixtures("inspectors")
def test_bad_check_ins_are_refused_naming_the_field(fc: TestClient, world: Seeded) -> None:
    r = fc.post(
        "/api/v1/check-ins",
        json={"enterprise_id": "91360000MA0000000X", "certificates": CERTS["A"],
              "at": "2026-07-21T09:00:00+08:00"},
        headers=world.auth("A"),
    )  # fmt: skip
    assert r.status_code == 422
    assert [e["path"] for e in r.json()["errors"]] == ["enterprise_id"]
    naive = check_in(fc, world, "A", 0, "2026-07-21T09:00:00", expect=422)
    assert naive["errors"][0]["path"] == "at"
    future = check_in(fc, world, "A", 0, "2026-08-02T09:00:00+08:00", expect=422)
    assert future["errors"][0]["code"] == "future_check_in"
    wrong_visit = check_in(fc, world, "A", 0, "2026-06-21T09:00:00+08:00", visit_id=99, expect=422)
    assert wrong_visit["errors"][0]["path"] == "visit_id"
    by_supervisor = fc.post(
        "/api/v1/check-ins",
        json={"enterprise_id": world.enterprises[0], "certificates": ["A-001"],
              "at": "2026-06-21T09:00:00+08:00"},
        headers=world.auth(),
    )  # fmt: skip
    assert by_supervisor.status_code == 403
    assert fc.get("/api/v1/check-ins", headers=world.auth()).json()["items"] == []


@pytest.mark.usefixtures("inspectors")
def test_the_subscribe_page_rates_check_ins(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    entry = check_in(fc, world, "A", 0, "2026-07-21T09:30:00+08:00")
    feed = token(fc, world, "enterprise", world.enterprises[0])["token"]
    page = fc.get(f"/feeds/{feed}").text
    assert "评价近期入企检查" in page
    assert f'name="check_in_id" value="{entry["id"]}"' in page
    r = fc.post(
        f"/feeds/{feed}/rate",
        data={"check_in_id": entry["id"], "score": 2, "comment": "等候时间长"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/feeds/{feed}?rated={entry['id']}"
    rating = read(fc, world, entry["id"])["rating"]
    assert (rating["score"], rating["comment"]) == (2, "等候时间长")
    again = fc.get(r.headers["location"]).text
    assert '<option value="2" selected>' in again
    assert "修改评价" in again
    # An agency's page has no rating form, and another enterprise cannot rate through its own.
    agency = token(fc, world, "agency", AGENCIES["A"][0])["token"]
    assert "评价近期入企检查" not in fc.get(f"/feeds/{agency}").text
    other = token(fc, world, "enterprise", world.enterprises[1])["token"]
    r = fc.post(f"/feeds/{other}/rate", data={"check_in_id": entry["id"], "score": 1})
    assert r.status_code == 404


@pytest.mark.usefixtures("inspectors")
def test_a_year_without_an_official_calendar_is_judged_by_every_other_rule(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    """A check-in is a fact: it is recorded in 2027 too, before the State Council's 2027
    notice is in the calendar data; only the working-day rule waits for it."""
    clock.now = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)
    saturday = check_in(fc, world, "A", 4, "2027-01-09T09:00:00+08:00")
    assert codes(saturday) == {"no_code", "unplanned", "quiet_day"}
    monday = check_in(fc, world, "A", 4, "2027-01-25T09:00:00+08:00")
    assert codes(monday) == {"no_code", "unplanned"}


@pytest.mark.usefixtures("inspectors")
def test_check_ins_and_ratings_enter_the_audit_log(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    entry = check_in(fc, world, "A", 4, "2026-07-10T09:00:00+08:00")
    feed = token(fc, world, "enterprise", world.enterprises[4])
    r = fc.put(f"/feeds/{feed['token']}/check-ins/{entry['id']}/rating", json={"score": 3})
    assert r.status_code == 200
    log = fc.get("/api/v1/audit/log", params={"limit": 500}, headers=world.auth()).json()
    by_action = {e["action"]: e for e in log["items"]}
    created = by_action["check_in.create"]
    assert created["subject"] == f"check_in:{entry['id']}"
    assert created["actor"].startswith(f"agency:{AGENCIES['A'][0]}")
    assert created["changes"]["flags"] == ["no_code", "quiet_day", "unplanned"]
    rated = by_action["rating.put"]
    assert rated["actor"] == f"enterprise:{world.enterprises[4]} (feed token {feed['id']})"
    assert rated["changes"]["after"] == {"score": 3, "comment": ""}
    assert feed["token"] not in str(log)
