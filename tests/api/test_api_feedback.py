"""Afterwards (扫码评价): the enterprise that scanned an inspector's code evaluates the entry and
complains from the page the code opens; the complaint reaches the supervisors' queue and their
reply the enterprise's own page; the inspecting agency sees no single evaluation, only closed
months' averages of at least five."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import Clock
from flows import check_in, published, token
from seed import AGENCIES, Seeded

A = AGENCIES["A"][0]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SAME_SITE = {"Origin": "http://testserver"}


def code_of(fc: TestClient, world: Seeded, plan_id: int, who: str) -> str:
    visit = fc.get(f"/api/v1/plans/{plan_id}", headers=world.auth()).json()["visit_id"]
    (code,) = fc.get(f"/api/v1/visits/{visit}/codes", headers=world.auth(who)).json()
    return str(code["token"])


def form(fc: TestClient, code: str) -> str:
    page = fc.get(f"/v/{code}")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None, "no form on the page"
    return found.group(1)


def post(fc: TestClient, code: str, what: str, **data: Any) -> Any:
    return fc.post(f"/v/{code}/{what}", data=data, headers=SAME_SITE, follow_redirects=False)


@pytest.mark.usefixtures("inspectors")
def test_an_evaluation_and_a_complaint_from_the_codes_page_reach_whom_they_should(
    fc: TestClient, world: Seeded
) -> None:
    ids = published(fc, world)
    code = code_of(fc, world, ids["alone"], "A")
    entry = check_in(fc, world, "A", 3, "2026-07-24T09:00:00+08:00")
    assert [f["code"] for f in entry["flags"] if f["code"] == "no_code"] == []
    csrf = form(fc, code)
    r = post(fc, code, "rate", score=2, comment="态度生硬", csrf=csrf)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/v/{code}?sent=rating#feedback"
    assert "已收到您的评价" in fc.get(r.headers["location"]).text
    supervisor = fc.get(f"/api/v1/check-ins/{entry['id']}", headers=world.auth()).json()
    assert (supervisor["rating"]["score"], supervisor["rating"]["comment"]) == (2, "态度生硬")
    assert (
        fc.get(f"/api/v1/check-ins/{entry['id']}", headers=world.auth("A")).json()["rating"] is None
    )
    # Whoever holds the code (the inspectors do) cannot replace it, by form or JSON; the
    # enterprise can, on its own subscribe page.
    assert post(fc, code, "rate", score=5, comment="很好", csrf=csrf).status_code == 409
    again = fc.post("/api/v1/codes/ratings", json={"token": code, "score": 5})
    assert again.status_code == 409
    feed = token(fc, world, "enterprise", world.enterprises[3])["token"]
    mine = fc.put(f"/feeds/{feed}/check-ins/{entry['id']}/rating", json={"score": 3})
    assert mine.status_code == 200
    supervisor = fc.get(f"/api/v1/check-ins/{entry['id']}", headers=world.auth()).json()
    assert supervisor["rating"]["score"] == 3

    r = post(fc, code, "complain", reason="conduct", text="检查时态度生硬", csrf=csrf)
    assert r.status_code == 303, r.text
    (complaint,) = fc.get("/api/v1/complaints", headers=world.auth()).json()["items"]
    assert (complaint["channel"], complaint["agency_id"], complaint["check_in_id"]) == (
        "verify",
        A,
        entry["id"],
    )
    assert complaint["enterprise_id"] == world.enterprises[3]
    assert fc.get("/api/v1/complaints", headers=world.auth("A")).status_code == 403
    reply = "已核实,责令该局整改并约谈相关执法人员。"
    r = fc.post(
        f"/api/v1/complaints/{complaint['id']}/close", json={"reply": reply}, headers=world.auth()
    )
    assert r.status_code == 200, r.text
    assert reply in fc.get(f"/feeds/{feed}").text
    mine = fc.get(f"/api/v1/feeds/{feed}/complaints").json()
    assert [(c["status"], c["reply"]) for c in mine] == [("closed", reply)]


@pytest.mark.usefixtures("inspectors")
def test_feedback_is_refused_without_the_form_token_before_the_day_and_on_a_revoked_code(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    ids = published(fc, world)
    after = clock.now
    # Before the day, the page offers no form and takes none.
    clock.now = datetime(2026, 7, 20, 1, 0, tzinfo=UTC)
    code = code_of(fc, world, ids["alone"], "A")
    page = fc.get(f"/v/{code}")
    assert page.status_code == 200
    assert 'id="feedback"' not in page.text
    assert post(fc, code, "complain", reason="other", csrf="x" * 32).status_code == 403
    # On its day, a code revoked (its plan changed) takes nothing.
    clock.now = datetime(2026, 7, 21, 1, 0, tzinfo=UTC)
    joint = code_of(fc, world, ids["joint_a"], "A")
    csrf = form(fc, joint)
    r = fc.patch(f"/api/v1/plans/{ids['joint_a']}", json={"items": ["特种设备"]},
                 headers=world.auth("A"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert fc.get(f"/v/{joint}").status_code == 410
    assert post(fc, joint, "complain", reason="other", csrf=csrf).status_code == 410
    clock.now = after
    check_in(fc, world, "A", 3, "2026-07-24T09:00:00+08:00")
    csrf = form(fc, code)
    assert post(fc, code, "rate", score=5, csrf="x" * 32).status_code == 403
    assert post(fc, code, "complain", reason="other", csrf=csrf + "x").status_code == 403
    r = fc.post(f"/v/{code}/rate", data={"score": 5, "csrf": csrf},
                headers={"Origin": "https://elsewhere.example"})  # fmt: skip
    assert r.status_code == 403
    assert post(fc, code, "complain", reason="bribes", csrf=csrf).status_code == 422
    assert fc.get("/api/v1/complaints", headers=world.auth()).json()["items"] == []
    # Rated through the subscribe page: the code's page cannot replace it.
    entry = fc.get("/api/v1/check-ins", headers=world.auth()).json()["items"][0]
    feed = token(fc, world, "enterprise", world.enterprises[3])["token"]
    put = fc.put(f"/feeds/{feed}/check-ins/{entry['id']}/rating", json={"score": 4})
    assert put.status_code == 200
    assert post(fc, code, "rate", score=1, csrf=csrf).status_code == 409
    rating = fc.get(f"/api/v1/check-ins/{entry['id']}", headers=world.auth()).json()["rating"]
    assert rating["score"] == 4


@pytest.mark.usefixtures("inspectors")
def test_the_json_twins_take_feedback_by_code(fc: TestClient, world: Seeded) -> None:
    ids = published(fc, world)
    code = code_of(fc, world, ids["alone"], "A")
    r = fc.post("/api/v1/codes/ratings", json={"token": code, "score": 3})
    assert r.status_code == 409  # no entry to rate yet
    entry = check_in(fc, world, "A", 3, "2026-07-24T09:00:00+08:00")
    r = fc.post("/api/v1/codes/ratings", json={"token": code, "score": 3, "comment": "一般"})
    assert r.status_code == 201, r.text
    assert r.json() == {"check_in_id": entry["id"], "score": 3, "comment": "一般"}
    r = fc.post("/api/v1/codes/complaints", json={"token": code, "reason": "repeated"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    forged = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    for body in ({"token": forged, "reason": "other"}, {"token": "x", "reason": "other"}):
        assert fc.post("/api/v1/codes/complaints", json=body).status_code == 404
    assert fc.post("/api/v1/codes/ratings", json={"token": code, "score": 9}).status_code == 422


@pytest.mark.usefixtures("inspectors")
def test_complaints_by_code_cannot_use_up_the_enterprises_own_channel(
    fc: TestClient, world: Seeded
) -> None:
    # The inspectors hold the code too: their scripted complaints by it stop at the limit, and
    # the enterprise can still complain through its subscribe page.
    ids = published(fc, world)
    code = code_of(fc, world, ids["alone"], "A")
    check_in(fc, world, "A", 3, "2026-07-24T09:00:00+08:00")
    by_code = {"token": code, "reason": "other", "text": "刷单"}
    for _ in range(20):
        assert fc.post("/api/v1/codes/complaints", json=by_code).status_code == 201
    assert fc.post("/api/v1/codes/complaints", json=by_code).status_code == 429
    feed = token(fc, world, "enterprise", world.enterprises[3])["token"]
    r = fc.post(f"/api/v1/feeds/{feed}/complaints", json={"reason": "conduct", "text": "真实投诉"})
    assert r.status_code == 201, r.text
    texts = [c["text"] for c in fc.get(f"/api/v1/feeds/{feed}/complaints").json()]
    assert texts.count("真实投诉") == 1


@pytest.mark.usefixtures("inspectors")
def test_an_agency_sees_closed_months_averages_of_at_least_five_ratings(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    published(fc, world)
    feeds = {n: token(fc, world, "enterprise", world.enterprises[n])["token"] for n in range(6)}
    for n, score in zip(range(5), (5, 4, 4, 3, 1), strict=True):
        entry = check_in(fc, world, "A", n, f"2026-07-2{n}T09:00:00+08:00")
        assert fc.put(f"/feeds/{feeds[n]}/check-ins/{entry['id']}/rating",
                      json={"score": score}).status_code == 200  # fmt: skip
    summary = fc.get("/api/v1/check-ins/ratings", headers=world.auth("A"))
    assert summary.json()["months"] == []  # August is not over
    clock.now = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
    entry = check_in(fc, world, "A", 5, "2026-08-31T09:00:00+08:00")
    assert fc.put(f"/feeds/{feeds[5]}/check-ins/{entry['id']}/rating",
                  json={"score": 2}).status_code == 200  # fmt: skip
    summary = fc.get("/api/v1/check-ins/ratings", headers=world.auth("A")).json()
    assert summary == {
        "agency_id": A,
        "count": 5,
        "average": 3.4,
        "months": [{"month": "2026-08", "count": 5, "average": 3.4}],
    }
    clock.now = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
    summary = fc.get("/api/v1/check-ins/ratings", headers=world.auth("A")).json()
    assert summary["months"] == [
        {"month": "2026-08", "count": 5, "average": 3.4},
        {"month": "2026-09", "count": 1, "average": None},
    ]
    assert (summary["count"], summary["average"]) == (6, 3.17)
