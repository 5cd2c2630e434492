"""Complaints (投诉) over HTTP on SQLite and PostgreSQL: from the subscribe page to the
supervisors' queue and back with a reply, forward-only states, the audit log, what an agency
key cannot see (no complaint, no single rating), the supervision figures per agency and month
against hand-counted ones, and hostile input that writes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import Clock
from flows import check_in, published, token
from quietday.persistence import Engine
from seed import AGENCIES, Seeded

A, B = AGENCIES["A"][0], AGENCIES["B"][0]
FORM_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def csrf_of(fc: TestClient, feed: str) -> str:
    found = FORM_CSRF.search(fc.get(f"/feeds/{feed}").text)
    assert found is not None
    return found.group(1)


def queue(fc: TestClient, world: Seeded, **params: Any) -> list[dict[str, Any]]:
    r = fc.get("/api/v1/complaints", params=params, headers=world.auth())
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def complaint_log(fc: TestClient, world: Seeded) -> list[dict[str, Any]]:
    r = fc.get("/api/v1/audit/log", params={"limit": 500, "action": "complaint."},
               headers=world.auth())  # fmt: skip
    return list(r.json()["items"])


@pytest.mark.usefixtures("inspectors")
def test_a_complaint_reaches_the_queue_and_its_reply_the_subscribe_page(
    fc: TestClient, world: Seeded
) -> None:
    published(fc, world)
    entry = check_in(fc, world, "A", 0, "2026-07-21T09:30:00+08:00")
    feed = token(fc, world, "enterprise", world.enterprises[0])
    page = fc.get(f"/feeds/{feed['token']}").text
    assert "投诉直接送达司法行政监督部门" in page
    assert 'action="/feeds/' in page
    assert "/complain" in page
    r = fc.post(
        f"/feeds/{feed['token']}/complain",
        data={"check_in_id": entry["id"], "reason": "no_code", "text": "未出示检查码",
              "csrf": csrf_of(fc, feed["token"])},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text
    pending = queue(fc, world, status="pending")
    assert [(c["agency_id"], c["reason"], c["channel"], c["status"]) for c in pending] == [
        (A, "no_code", "subscribe", "pending")
    ]
    cid = pending[0]["id"]
    assert r.headers["location"] == f"/feeds/{feed['token']}?complained={cid}#complaints"
    assert "待处理" in fc.get(r.headers["location"]).text

    accepted = fc.post(f"/api/v1/complaints/{cid}/accept", headers=world.auth())
    assert (accepted.status_code, accepted.json()["status"]) == (200, "handling")
    assert queue(fc, world, status="pending") == []
    again = fc.post(f"/api/v1/complaints/{cid}/accept", headers=world.auth())
    assert (again.status_code, again.json()["code"]) == (409, "complaint_state")
    empty = fc.post(f"/api/v1/complaints/{cid}/close", json={"reply": " "}, headers=world.auth())
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["path"] == "reply"
    closed = fc.post(
        f"/api/v1/complaints/{cid}/close", json={"reply": "已约谈该局负责人,责令整改。"},
        headers=world.auth(),
    )  # fmt: skip
    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    for step in ("accept", "close"):
        back = fc.post(f"/api/v1/complaints/{cid}/{step}", json={"reply": "再次"},
                       headers=world.auth())  # fmt: skip
        assert back.status_code == 409
    assert fc.get(f"/api/v1/complaints/{cid}", headers=world.auth()).json()["status"] == "closed"

    shown = fc.get(f"/feeds/{feed['token']}").text
    assert "已办结" in shown
    assert "已约谈该局负责人,责令整改。" in shown
    own = fc.get(f"/api/v1/feeds/{feed['token']}/complaints").json()
    assert [(c["status_label"], c["reply"]) for c in own] == [
        ("已办结", "已约谈该局负责人,责令整改。")
    ]
    assert "handled_by" not in own[0]

    log = complaint_log(fc, world)
    assert [(e["action"], e["subject"]) for e in log] == [
        ("complaint.file", f"complaint:{cid}"),
        ("complaint.accept", f"complaint:{cid}"),
        ("complaint.close", f"complaint:{cid}"),
    ]
    assert log[0]["actor"] == f"enterprise:{world.enterprises[0]} (feed token {feed['id']})"
    assert log[0]["changes"]["reason"] == "no_code"
    assert log[1]["actor"].startswith("supervisor:key")
    assert log[2]["changes"]["after"] == {
        "status": "closed",
        "reply": "已约谈该局负责人,责令整改。",
    }
    assert feed["token"] not in str(log)


@pytest.mark.usefixtures("inspectors")
def test_a_pending_complaint_closes_at_once_and_json_filing_works(
    fc: TestClient, world: Seeded
) -> None:
    feed = token(fc, world, "enterprise", world.enterprises[2])["token"]
    r = fc.post(f"/api/v1/feeds/{feed}/complaints", json={"reason": "other", "text": "来电骚扰"})
    assert r.status_code == 201, r.text
    assert (r.json()["agency_id"], r.json()["status"]) == (None, "pending")
    cid = r.json()["id"]
    closed = fc.post(f"/api/v1/complaints/{cid}/close", json={"reply": "已转交"},
                     headers=world.auth())  # fmt: skip
    body = closed.json()
    assert (body["status"], body["accepted_at"], body["closed_at"] is not None) == (
        "closed", None, True
    )  # fmt: skip
    assert [e["action"] for e in complaint_log(fc, world)] == ["complaint.file", "complaint.close"]


@pytest.mark.usefixtures("inspectors")
def test_agency_keys_see_no_complaint_and_no_single_rating(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    entry = check_in(fc, world, "A", 0, "2026-07-21T09:30:00+08:00")
    feed = token(fc, world, "enterprise", world.enterprises[0])["token"]
    rated = fc.put(f"/feeds/{feed}/check-ins/{entry['id']}/rating",
                   json={"score": 2, "comment": "态度生硬"})  # fmt: skip
    assert rated.status_code == 200
    filed = fc.post(f"/api/v1/feeds/{feed}/complaints",
                    json={"reason": "conduct", "text": "索要好处", "check_in_id": entry["id"]})  # fmt: skip
    cid = filed.json()["id"]
    assert filed.json()["agency_id"] == A

    agency = world.auth("A")
    for method, url in (
        ("GET", "/api/v1/complaints"),
        ("GET", f"/api/v1/complaints/{cid}"),
        ("POST", f"/api/v1/complaints/{cid}/accept"),
        ("GET", "/api/v1/supervision?month=2026-07"),
    ):
        r = fc.request(method, url, headers=agency)
        assert r.status_code == 403, (url, r.text)
        assert "索要好处" not in r.text
    closing = fc.post(f"/api/v1/complaints/{cid}/close", json={"reply": "x"}, headers=agency)
    assert closing.status_code == 403
    listed = fc.get("/api/v1/check-ins", headers=agency).json()["items"]
    assert [(c["id"], c["rating"]) for c in listed] == [(entry["id"], None)]
    one = fc.get(f"/api/v1/check-ins/{entry['id']}", headers=agency)
    assert one.json()["rating"] is None
    summary = fc.get("/api/v1/check-ins/ratings", headers=agency).json()
    # One rating, this month: nothing of it in the summary (closed months, at least 5 ratings).
    assert summary == {"agency_id": A, "count": 0, "average": None, "months": []}
    for r in (one, fc.get("/api/v1/check-ins", headers=agency)):
        assert "态度生硬" not in r.text
        assert "索要好处" not in r.text
    # An agency's own subscription is no way in either: neither its page nor the complaint API.
    agency_feed = token(fc, world, "agency", A)["token"]
    assert "索要好处" not in fc.get(f"/feeds/{agency_feed}").text
    assert fc.get(f"/api/v1/feeds/{agency_feed}/complaints").status_code == 404
    # Supervisors see everything.
    assert (
        fc.get(f"/api/v1/check-ins/{entry['id']}", headers=world.auth()).json()["rating"]["comment"]
        == "态度生硬"
    )
    assert fc.get(f"/api/v1/complaints/{cid}", headers=world.auth()).json()["text"] == "索要好处"
    assert fc.get("/api/v1/complaints", headers=world.auth()).json()["items"][0]["id"] == cid


@pytest.mark.usefixtures("inspectors")
def test_supervision_counts_entries_flags_complaints_and_caps_by_hand(
    fc: TestClient, world: Seeded, engine: Engine, clock: Clock
) -> None:
    published(fc, world)
    # c1 enters before A applied for its codes (no_code); then A has the codes of its visits on
    # 07-21, 07-22 and 07-24, B that of 07-21.
    c1 = check_in(fc, world, "A", 0, "2026-07-21T09:30:00+08:00")
    for who, day in (("A", "2026-07-21"), ("A", "2026-07-22"), ("A", "2026-07-24"),
                     ("B", "2026-07-21")):  # fmt: skip
        r = fc.get("/api/v1/codes", params={"date": day}, headers=world.auth(who))
        assert len(r.json()) == 1, r.text
    late = {"late": True, "late_reason": "突发事件,先行处置"}

    def scan(n: int) -> str:
        url = f"/api/v1/enterprises/{world.enterprises[n]}/code"
        return str(fc.get(url, headers=world.auth()).json()["token"])

    c2 = check_in(fc, world, "A", 3, "2026-07-24T09:00:00+08:00")
    # Another day than its visit's: no code that day.
    check_in(fc, world, "A", 3, "2026-07-28T09:00:00+08:00", visit_id=c2["visit_id"])
    c4 = check_in(fc, world, "A", 4, "2026-07-10T09:00:00+08:00",  # unplanned: no code
                  scanned_at="2026-07-10T11:00:00+08:00", enterprise_code=scan(4), **late)  # fmt: skip
    check_in(fc, world, "A", 1, "2026-07-22T10:00:00+08:00")  # a case: no cap counts it
    c6 = check_in(fc, world, "B", 0, "2026-07-21T09:30:00+08:00",
                  scanned_at="2026-07-21T10:30:00+08:00", enterprise_code=scan(0), **late)  # fmt: skip
    c7 = check_in(fc, world, "A", 5, "2026-08-01T00:30:00+08:00")  # August, unplanned
    flags = {
        c["id"]: sorted(f["code"] for f in c["flags"] if f["code"] in {"no_code", "late_scan"})
        for c in (c1, c2, c4, c6, c7)
    }
    assert flags == {
        c1["id"]: ["no_code"],
        c2["id"]: [],
        c4["id"]: ["late_scan", "no_code"],
        c6["id"]: ["late_scan"],
        c7["id"]: ["no_code"],
    }
    feeds = {n: token(fc, world, "enterprise", world.enterprises[n])["token"] for n in (0, 2, 3, 4)}

    def file(n: int, at: str, **body: Any) -> int:
        clock.now = utc(at)
        r = fc.post(f"/api/v1/feeds/{feeds[n]}/complaints", json={"reason": "other", **body})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def act(cid: int, step: str, at: str) -> None:
        clock.now = utc(at)
        r = fc.post(f"/api/v1/complaints/{cid}/{step}", json={"reply": "已处理"},
                    headers=world.auth())  # fmt: skip
        assert r.status_code == 200, r.text

    k1 = file(0, "2026-07-21T02:00:00", check_in_id=c1["id"])
    act(k1, "accept", "2026-07-21T04:00:00")
    act(k1, "close", "2026-07-21T06:00:00")  # 4 hours
    k2 = file(3, "2026-07-22T01:00:00", check_in_id=c2["id"])
    act(k2, "close", "2026-07-23T01:00:00")  # 24 hours
    k3 = file(4, "2026-07-25T02:00:00", check_in_id=c4["id"])
    act(k3, "close", "2026-07-25T04:00:00")  # 2 hours
    file(0, "2026-07-31T15:00:00", check_in_id=c6["id"])  # 23:00 in China: July, still pending
    file(0, "2026-07-31T16:30:00", check_in_id=c6["id"])  # 00:30 on 1 August in China
    file(2, "2026-07-10T02:00:00")  # no agency named

    r = fc.get("/api/v1/supervision", params={"month": "2026-07"}, headers=world.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {a["agency_id"]: a for a in body["agencies"]}
    pick = ("entries", "no_code", "late_scan", "complaints_filed", "complaints_closed",
            "median_hours", "mean_hours", "at_cap", "one_below_cap")  # fmt: skip
    # A: 5 July entries (c7 is August), 3 without a code (c1, the 07-28 one, c4); E3 on 2 capped
    # dates = the cap of 2; E0 and E4 on one.
    assert [rows[A][k] for k in pick] == [5, 3, 1, 3, 3, 4.0, 10.0, 1, 2]
    assert [rows[B][k] for k in pick] == [1, 0, 1, 1, 0, None, None, 0, 1]
    assert body["unattributed_complaints"] == 1
    assert [rows[AGENCIES["C"][0]][k] for k in pick] == [0, 0, 0, 0, 0, None, None, 0, 0]
    august = fc.get("/api/v1/supervision", params={"month": "2026-08"}, headers=world.auth())
    rows8 = {a["agency_id"]: a for a in august.json()["agencies"]}
    # By the end of August, E5 joins the enterprises one date below A's cap.
    assert [rows8[A][k] for k in ("entries", "no_code", "at_cap", "one_below_cap")] == [1, 1, 1, 3]
    assert rows8[B]["complaints_filed"] == 1
    # The dashboard shows the same figures.
    july = queue(fc, world, month="2026-07", agency_id=A)
    assert [c["id"] for c in july] == [k1, k2, k3]


@pytest.mark.usefixtures("inspectors")
def test_hostile_complaints_get_4xx_and_write_nothing(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    entry = check_in(fc, world, "A", 0, "2026-07-21T09:30:00+08:00")
    feed = token(fc, world, "enterprise", world.enterprises[0])
    other = token(fc, world, "enterprise", world.enterprises[1])["token"]
    secret = feed["token"]
    csrf = csrf_of(fc, secret)
    api = f"/api/v1/feeds/{secret}/complaints"
    cases = [
        (fc.post(api, json={"reason": "bribery"}), 422, "reason"),
        (fc.post(api, json={"reason": "other", "text": "长" * 10_000}), 422, "text"),
        (fc.post(api, json={"reason": "other", "extra": 1}), 422, "extra"),
        (fc.post(api, json={"reason": "other", "check_in_id": "1"}), 422, "check_in_id"),
        (fc.post(f"/api/v1/feeds/{other}/complaints",
                 json={"reason": "other", "check_in_id": entry["id"]}), 422, "check_in_id"),
        (fc.post(f"/feeds/{secret}/complain", data={"reason": "bribery", "csrf": csrf}), 422,
         "reason"),
        (fc.post(f"/feeds/{secret}/complain",
                 data={"reason": "other", "text": "长" * 10_000, "csrf": csrf}), 422, "text"),
        (fc.post(f"/feeds/{secret}/complain", data={"reason": "other"}), 403, ""),
        (fc.post(f"/feeds/{secret}/complain", data={"reason": "other", "csrf": csrf},
                 headers={"Origin": "https://evil.example"}), 403, ""),
        (fc.post(f"/feeds/{other}/complain", data={"reason": "other", "csrf": csrf}), 403, ""),
        (fc.get("/api/v1/supervision", params={"month": "2026-13"}, headers=world.auth()), 422,
         "month"),
        (fc.get("/api/v1/supervision", params={"month": "2026-Q3"}, headers=world.auth()), 422,
         "month"),
        (fc.get("/api/v1/complaints", params={"month": "07-2026"}, headers=world.auth()), 422,
         "month"),
        (fc.get("/api/v1/complaints", params={"status": "reopened"}, headers=world.auth()), 422,
         "status"),
        (fc.post("/api/v1/complaints/99/accept", headers=world.auth()), 404, ""),
    ]  # fmt: skip
    for i, (r, status, field) in enumerate(cases):
        assert r.status_code == status, (i, r.text)
        assert r.headers["content-type"] == "application/problem+json", i
        if field:
            assert any(field in e["path"] for e in r.json()["errors"]), (i, r.json())
    revoked = fc.post(f"/api/v1/feed-tokens/{feed['id']}/revoke", headers=world.auth())
    assert revoked.status_code == 200
    assert fc.post(api, json={"reason": "other"}).status_code == 404
    assert fc.post(f"/feeds/{secret}/complain",
                   data={"reason": "other", "csrf": csrf}).status_code == 404  # fmt: skip
    assert queue(fc, world) == []
    assert complaint_log(fc, world) == []


@pytest.mark.usefixtures("inspectors")
def test_one_enterprise_cannot_flood_the_queue(fc: TestClient, world: Seeded) -> None:
    feed = token(fc, world, "enterprise", world.enterprises[0])["token"]
    for _ in range(20):
        assert (
            fc.post(f"/api/v1/feeds/{feed}/complaints", json={"reason": "other"}).status_code == 201
        )
    r = fc.post(f"/api/v1/feeds/{feed}/complaints", json={"reason": "other"})
    assert r.status_code == 429
    assert r.json()["code"] == "too_many"
    assert "24 小时内最多投诉 20 次" in r.json()["detail"]
    assert len(queue(fc, world)) == 20
