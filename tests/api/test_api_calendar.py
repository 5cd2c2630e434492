"""The official calendar through the API (issue 18, item 3): a run over a year without a State
Council notice succeeds provisionally; importing the notice (holiday-cn JSON or CSV) changes the
working days, is audit-logged, lists the published visits now on a day off, refuses to publish a
run made on the old days, and the next run moves those visits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conftest import Clock
from flows import HYPOTHETICAL_2027, RUN, start, submit, wait
from quietday.formats import parse_instance
from seed import AGENCIES, Seeded

Q1_2027 = {"horizon_start": "2027-01-01", "horizon_end": "2027-03-31"}


def upload(
    client: TestClient, world: Seeded, year: int, data: bytes, who: str = "supervisor"
) -> Any:
    return client.post(
        f"/api/v1/calendar/years/{year}/import",
        files={"file": ("notice", data)},
        headers=world.auth(who),
    )


def years(client: TestClient, world: Seeded) -> dict[int, dict[str, Any]]:
    listed = client.get("/api/v1/calendar/years", headers=world.auth("A")).json()
    return {y["year"]: y for y in listed}


def instance_of(client: TestClient, world: Seeded, run_id: int) -> Any:
    r = client.get(f"/api/v1/runs/{run_id}/instance", headers=world.auth())
    return parse_instance(r.content)


def test_a_run_over_2027_q1_succeeds_provisionally(client: TestClient, world: Seeded) -> None:
    """Before the 2027 notice, a run over 2027 Q1 plans on the computable calendar, says so,
    and its stored instance carries that calendar on its own (`quietday check` reads it)."""
    submit(client, world, "A", 1, earliest="2027-02-21", latest="2027-02-28")
    queued = start(client, world, **Q1_2027)
    assert queued["provisional_years"] == [2027]
    run = wait(client, world, queued["id"])
    assert run["status"] == "succeeded", run
    assert run["provisional_years"] == [2027]
    assert run["summary"]["scheduled"] == 1
    instance = instance_of(client, world, run["id"])
    days = set(instance.working_days)
    assert {d.isoformat() for d in instance.calendar.extra_holidays} >= {
        "2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10",
    }  # fmt: skip
    assert not any(d.isoformat() in ("2027-02-06", "2027-02-07") for d in days)  # a weekend
    assert any(d.isoformat() == "2027-02-11" for d in days)  # no notice: no longer 春节 break
    listed = years(client, world)
    assert listed[2027]["provisional"] is True
    assert listed[2026]["provisional"] is False
    assert listed[2026]["source"].startswith("holidays-")


def published_on_the_11th_or_12th(client: TestClient, world: Seeded) -> tuple[int, Any]:
    """A complaint case (it may fall on quiet days) whose agency is closed on every weekday of
    its window after 12 February: provisionally it can only go on the 11th or the 12th. Its
    id and the plan once a run over 2027 Q1 is published."""
    agency, _, _ = AGENCIES["A"]
    pid = submit(
        client, world, "A", 1, kind="case", exempt_reason="投诉举报",
        earliest="2027-02-11", latest="2027-02-26",
    )  # fmt: skip
    for day in (15, 16, 17, 18, 19, 22, 23, 24, 25, 26):
        r = client.put(
            f"/api/v1/agencies/{agency}/capacity/2027-02-{day}",
            json={"capacity": 0},
            headers=world.auth(),
        )
        assert r.status_code == 200, r.text
    first = wait(client, world, start(client, world, **Q1_2027)["id"])
    assert first["provisional_years"] == [2027]
    client.post(f"/api/v1/runs/{first['id']}/publish", headers=world.auth()).raise_for_status()
    plan = client.get(f"/api/v1/plans/{pid}", headers=world.auth()).json()
    assert plan["published_date"] in ("2027-02-11", "2027-02-12")
    return pid, plan


def test_importing_the_notice_lists_disturbed_visits_and_the_next_run_moves_them(
    client: TestClient, world: Seeded
) -> None:
    agency, _, _ = AGENCIES["A"]
    pid, plan = published_on_the_11th_or_12th(client, world)
    second = wait(client, world, start(client, world, **Q1_2027)["id"])  # made on the old days

    r = upload(client, world, 2027, HYPOTHETICAL_2027.encode())
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["source"], answer["holidays"], answer["workdays"]) == ("csv", 26, 2)
    assert answer["replaced"] is None
    assert {"2027-02-11", "2027-02-12", "2027-01-31", "2027-02-20"} <= set(answer["changed_days"])
    (visit,) = answer["disturbed"]["items"]
    assert answer["disturbed"]["total"] == 1
    assert (visit["visit_id"], visit["date"], visit["why"]) == (
        plan["visit_id"], plan["published_date"], "春节",
    )  # fmt: skip
    assert (visit["lead_agency_id"], visit["plans"]) == (agency, 1)
    listing = client.get(
        "/api/v1/calendar/disturbed", params={"year": 2027}, headers=world.auth()
    ).json()
    assert [v["visit_id"] for v in listing["items"]] == [plan["visit_id"]]
    assert years(client, world)[2027]["provisional"] is False
    assert years(client, world)[2027]["disturbed"] == 1

    refused = client.post(f"/api/v1/runs/{second['id']}/publish", headers=world.auth())
    assert refused.status_code == 409
    assert refused.json()["code"] == "calendar_changed"

    third = wait(client, world, start(client, world, **Q1_2027)["id"])
    assert third["status"] == "succeeded", third
    assert third["provisional_years"] == []
    published = client.post(f"/api/v1/runs/{third['id']}/publish", headers=world.auth())
    assert published.status_code == 200, published.text
    moved = client.get(f"/api/v1/plans/{pid}", headers=world.auth()).json()
    assert (moved["status"], moved["published_date"]) == ("published", "2027-02-20")  # 调休
    assert moved["visit_id"] != plan["visit_id"]
    visits = {
        v["id"]: v for v in client.get("/api/v1/visits", headers=world.auth()).json()["items"]
    }
    assert visits[plan["visit_id"]]["status"] == "cancelled"
    assert visits[plan["visit_id"]]["plan_ids"] == []
    assert (
        client.get(
            "/api/v1/calendar/disturbed", params={"year": 2027}, headers=world.auth()
        ).json()["total"]
        == 0
    )

    log = client.get("/api/v1/audit/log", params={"limit": 500}, headers=world.auth()).json()
    (entry,) = [e for e in log["items"] if e["action"] == "calendar.import"]
    assert entry["subject"] == "calendar:2027"
    assert entry["changes"]["source"] == "csv"
    assert entry["changes"]["holidays"]["2027-02-11"] == "春节"
    assert entry["changes"]["workdays"] == {"2027-01-31": "春节", "2027-02-20": "春节"}
    assert entry["changes"]["disturbed_visits"] == 1
    assert "2027-02-12" in entry["changes"]["changed_days"]


def test_a_holiday_cn_file_imports_and_replaces_the_seeded_year(
    client: TestClient, world: Seeded, shared: Path
) -> None:
    """The 2026 notice in holiday-cn's format agrees with the package's seed day by day."""
    data = (shared / "data" / "cn_holidays" / "2026.json").read_bytes()
    r = upload(client, world, 2026, data)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["source"] == "holiday-cn"
    assert answer["replaced"].startswith("holidays-")
    assert answer["changed_days"] == []
    assert (answer["holidays"], answer["workdays"]) == (33, 6)
    shown = client.get("/api/v1/calendar/years/2026", headers=world.auth("B")).json()
    assert shown["source"] == "holiday-cn"
    assert shown["papers"] == json.loads(data)["papers"]
    days = {d["date"]: (d["kind"], d["name"]) for d in shown["days"]}
    assert days["2026-02-14"] == ("班", "春节")
    assert days["2026-10-07"] == ("休", "国庆节")


def test_an_unpublished_notice_and_bad_files_are_refused_by_field_and_row(
    client: TestClient, world: Seeded, shared: Path
) -> None:
    empty = upload(
        client, world, 2027, (shared / "data" / "cn_holidays" / "2027.json").read_bytes()
    )
    assert empty.status_code == 422
    assert [e["code"] for e in empty.json()["errors"]] == ["no_holidays"]
    assert "尚未发布" in empty.json()["detail"]

    doc = {
        "year": 2027,
        "papers": ["https://www.gov.cn/x", "ftp://x"],
        "days": [
            {"name": "元旦", "date": "2027-01-01", "isOffDay": True},
            {"name": "元旦", "date": "2027-01-01", "isOffDay": True},
            {"name": "春节", "date": "2027-02-11", "isOffDay": False},
            {"name": "", "date": "2026-12-31", "isOffDay": "yes"},
            "2027-03-01",
        ],
    }
    r = upload(client, world, 2027, json.dumps(doc).encode())
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    found = {(e["path"], e["code"]) for e in r.json()["errors"]}
    assert found == {
        ("papers[1]", "bad_paper"),
        ("days[1].date", "duplicate_date"),
        ("days[2].date", "workday_not_weekend"),
        ("days[3].isOffDay", "bad_is_off_day"),
        ("days[3].date", "wrong_year"),
        ("days[3].name", "bad_name"),
        ("days[4]", "wrong_type"),
    }
    one_day = {**doc, "papers": [], "days": doc["days"][:1]}
    wrong_year = upload(client, world, 2028, json.dumps(one_day).encode())
    assert [e["code"] for e in wrong_year.json()["errors"]] == ["year_mismatch", "wrong_year"]

    rows = (
        "date,kind,name\n2027-01-01,休,元旦\n2027-01-09,放,元旦\n2027-13-01,休,x\n2027-01-02,休\n"
    )
    r = upload(client, world, 2027, rows.encode())
    found = {(e["path"], e["code"]) for e in r.json()["errors"]}
    assert found == {
        ("rows[3].kind", "bad_kind"),
        ("rows[4].date", "bad_date"),
        ("rows[5]", "csv_row"),
    }
    assert "第 3 行" in r.json()["detail"]
    nasty = {"year": 2027, "papers": ["https://www.gov.cn/a b"], "days": [
        {"name": "春\u0000节", "date": "2027-01-01", "isOffDay": True},
        {"name": "元旦", "date": "\ud800", "isOffDay": True},
    ]}  # fmt: skip
    r = upload(client, world, 2027, json.dumps(nasty).encode())  # \ud800 stays escaped
    assert r.status_code == 422
    assert {(e["path"], e["code"]) for e in r.json()["errors"]} == {
        ("papers[0]", "bad_paper"), ("days[0].name", "bad_name"), ("days[1].date", "bad_date"),
    }  # fmt: skip
    assert "U+0000" in r.text
    assert "\ufffd" in r.json()["errors"][2]["message"]  # the lone surrogate, made readable
    header = upload(client, world, 2027, "日期,类型,名称\n".encode())
    assert [e["code"] for e in header.json()["errors"]] == ["csv_header"]
    assert upload(client, world, 2027, b"\xff\xfe").json()["errors"][0]["code"] == "encoding"
    big = upload(client, world, 2027, b"date,kind,name\n" + b"x" * 300_000)
    assert big.json()["errors"][0]["code"] == "file_too_large"
    assert upload(client, world, 2027, HYPOTHETICAL_2027.encode(), who="A").status_code == 403
    assert client.post("/api/v1/calendar/years/1999/import", files={"file": ("x", b"")},
                       headers=world.auth()).status_code == 422  # fmt: skip
    # Nothing was stored by any of them.
    assert years(client, world)[2027]["provisional"] is True
    log = client.get("/api/v1/audit/log", params={"limit": 500}, headers=world.auth()).json()
    assert not [e for e in log["items"] if e["action"] == "calendar.import"]


def test_a_run_in_a_year_with_a_notice_is_not_provisional(
    client: TestClient, world: Seeded
) -> None:
    submit(client, world, "C", 0)
    run = wait(client, world, start(client, world)["id"])
    assert run["horizon_start"] == RUN["horizon_start"]
    assert run["provisional_years"] == []


def test_a_disturbed_visit_already_in_the_past_stays_as_the_record(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    """Moving a visit the notice put on a day off is for the future: once its date has passed
    it is the record, and a correction run over it leaves it where it was."""
    pid, plan = published_on_the_11th_or_12th(fc, world)
    assert upload(fc, world, 2027, HYPOTHETICAL_2027.encode()).status_code == 200
    clock.now = datetime(2027, 2, 15, 1, 0, tzinfo=UTC)
    run = wait(fc, world, start(fc, world, **Q1_2027, correction=True)["id"])
    assert run["status"] == "succeeded", run
    report = fc.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    assert report.status_code == 200, report.text
    # Not an inspection of the run at all: its day is history, as it stands.
    solved = parse_instance(
        fc.get(f"/api/v1/runs/{run['id']}/instance", headers=world.auth()).content
    )
    assert f"P-{pid}" not in {i.id for i in solved.inspections}
    assert plan["published_date"] in {h.date.isoformat() for h in solved.history}
    kept = fc.get(f"/api/v1/plans/{pid}", headers=world.auth()).json()
    assert (kept["status"], kept["published_date"], kept["visit_id"]) == (
        "published", plan["published_date"], plan["visit_id"],
    )  # fmt: skip
