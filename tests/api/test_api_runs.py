"""Runs through the API: 202 at once, the exact instance and solution downloadable and valid,
publishing in one transaction, changes during a run, stale runs, published visits as pins."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import Clock, url_of
from flows import RUN, documents, start, submit, wait
from quietday.api import create_app
from quietday.config import Settings
from quietday.domain import find_violations
from quietday.persistence import Engine
from seed import AGENCIES, Seeded


def test_run_solve_download_check_publish(client: TestClient, world: Seeded) -> None:
    ids = [submit(client, world, who, n) for n, who in enumerate("AABBC")]
    queued = start(client, world)
    assert queued["status"] == "queued"
    run = wait(client, world, queued["id"])
    assert run["status"] == "succeeded", run
    assert run["summary"]["inspections"] == 5
    instance, solution = documents(client, world, run["id"])
    assert find_violations(instance, solution) == []
    assert sorted(i.id for i in instance.inspections) == sorted(f"P-{i}" for i in ids)
    r = client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["published"] + report["unscheduled"] == 5
    assert report["skipped"] == []
    mine = client.get(
        "/api/v1/plans", params={"status": "published"}, headers=world.auth("A")
    ).json()["items"]
    assert {p["id"] for p in mine} <= set(ids)
    for p in mine:
        assert p["published_date"] is not None
        assert p["visit_id"] is not None
    again = client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    assert again.status_code == 409
    assert again.json()["code"] == "run_not_publishable"


def test_published_visits_become_pins_of_later_runs(client: TestClient, world: Seeded) -> None:
    first = [submit(client, world, "A", n) for n in range(3)]
    run = wait(client, world, start(client, world)["id"])
    assert client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).status_code == 200
    dates = {
        p: client.get(f"/api/v1/plans/{p}", headers=world.auth()).json()["published_date"]
        for p in first
    }
    submit(client, world, "B", 0)
    second = wait(client, world, start(client, world)["id"])
    instance, _ = documents(client, world, second["id"])
    assert {str(k): v.isoformat() for k, v in instance.pins.items()} == {
        f"P-{p}": d for p, d in dates.items() if d
    }


def test_plans_changed_or_cancelled_during_a_run_are_not_published(
    client: TestClient, world: Seeded
) -> None:
    ids = [submit(client, world, "A", n) for n in range(4)]
    run = wait(client, world, start(client, world)["id"])
    late = submit(client, world, "A", 5)
    assert (
        client.patch(
            f"/api/v1/plans/{ids[0]}", json={"priority": 8}, headers=world.auth("A")
        ).status_code
        == 200
    )
    assert client.post(f"/api/v1/plans/{ids[1]}/cancel", headers=world.auth("A")).status_code == 200
    report = client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).json()
    assert report["skipped"] == [
        {"plan_id": ids[0], "why": "changed", "detail": "运行开始后已修改,等待下次排期"},
        {"plan_id": ids[1], "why": "cancelled", "detail": "运行开始后已取消"},
    ]
    assert (
        client.get(f"/api/v1/plans/{ids[0]}", headers=world.auth()).json()["status"] == "submitted"
    )
    assert client.get(f"/api/v1/plans/{late}", headers=world.auth()).json()["status"] == "submitted"
    instance, _ = documents(client, world, run["id"])
    assert f"P-{late}" not in instance.by_id


def test_a_run_cannot_publish_over_a_newer_overlapping_one(
    client: TestClient, world: Seeded
) -> None:
    submit(client, world, "A", 1)
    older = wait(client, world, start(client, world)["id"])
    newer = wait(client, world, start(client, world, scope="3601")["id"])
    elsewhere = wait(client, world, start(client, world, scope="360103")["id"])
    assert (
        client.post(f"/api/v1/runs/{newer['id']}/publish", headers=world.auth()).status_code == 200
    )
    r = client.post(f"/api/v1/runs/{older['id']}/publish", headers=world.auth())
    assert r.status_code == 409
    assert r.json()["code"] == "stale_run"
    assert "请重新运行" in r.json()["detail"]
    r = client.post(f"/api/v1/runs/{elsewhere['id']}/publish", headers=world.auth())
    assert r.status_code == 409  # 360103 lies inside 3601


def test_cancelling_a_published_plan_cancels_its_lonely_visit(
    client: TestClient, world: Seeded
) -> None:
    pid = submit(client, world, "A", 1)
    run = wait(client, world, start(client, world)["id"])
    client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    published = client.get(f"/api/v1/plans/{pid}", headers=world.auth()).json()
    assert published["status"] == "published"
    cancelled = client.post(f"/api/v1/plans/{pid}/cancel", headers=world.auth("A")).json()
    assert cancelled["published_date"] is None
    assert cancelled["visit_id"] is None  # it is in no visit now
    # remembered: the visit's agency and inspectors still see it, cancelled
    assert cancelled["cancelled_visit_id"] == published["visit_id"]
    (visit,) = client.get("/api/v1/visits", headers=world.auth()).json()["items"]
    assert (visit["id"], visit["status"], visit["plan_ids"]) == (
        published["visit_id"],
        "cancelled",
        [],
    )
    assert visit["sequence"] == 2


def test_bad_run_requests(client: TestClient, world: Seeded) -> None:
    r = client.post("/api/v1/runs", json={**RUN, "horizon_end": "2026-06-01"}, headers=world.auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "horizon_inverted"
    r = client.post("/api/v1/runs", json={**RUN, "scope": "3699"}, headers=world.auth())
    assert r.json()["errors"][0]["code"] == "unknown_region"
    assert client.get("/api/v1/runs/424242", headers=world.auth()).status_code == 404


def test_run_documents_are_gzip_json(client: TestClient, world: Seeded) -> None:
    submit(client, world, "C", 0)
    run = wait(client, world, start(client, world)["id"])
    with client.stream("GET", f"/api/v1/runs/{run['id']}/instance", headers=world.auth()) as r:
        body = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    doc = json.loads(gzip.decompress(body))
    assert doc["format"] == "quietday.instance/1"
    assert [a["id"] for a in doc["agencies"]] == [AGENCIES["C"][0]]


def test_the_published_schedule_as_visits(client: TestClient, world: Seeded) -> None:
    a = submit(client, world, "A", 1, earliest="2026-07-21", latest="2026-07-21")
    b = submit(client, world, "B", 1, earliest="2026-07-21", latest="2026-07-21")
    submit(client, world, "C", 0)
    run = wait(client, world, start(client, world)["id"])
    client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    everything = client.get("/api/v1/visits", headers=world.auth()).json()["items"]
    assert len(everything) == 2
    mine = client.get("/api/v1/visits", headers=world.auth("A")).json()["items"]
    assert len(mine) == 1
    (joint,) = mine
    assert joint["date"] == "2026-07-21"
    assert joint["agencies"] == sorted([AGENCIES["A"][0], AGENCIES["B"][0]])
    assert joint["plan_ids"] == [a]
    both = client.get(
        "/api/v1/visits",
        params={"date_from": "2026-07-21", "date_to": "2026-07-21"},
        headers=world.auth(),
    ).json()
    assert both["items"][0]["plan_ids"] == sorted([a, b])
    assert (
        client.get(
            "/api/v1/visits", params={"date_from": "2026-07-22"}, headers=world.auth("A")
        ).json()["items"]
        == []
    )


def test_a_plan_left_behind_by_the_clock_cannot_be_changed_to_wait(
    client: TestClient, world: Seeded, clock: Clock
) -> None:
    """A submitted plan whose window has passed refuses changes (it would wait for ever); a
    published one whose date has passed is the record: neither corrected nor moved."""
    alone = submit(client, world, "A", 3, earliest="2026-07-24", latest="2026-07-24")
    run = wait(client, world, start(client, world)["id"])
    assert client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).status_code == 200
    waiting = submit(client, world, "A", 2, latest="2026-07-31")
    clock.now = datetime(2026, 8, 1, 1, 0, tzinfo=UTC)
    auth = world.auth("A")
    r = client.patch(f"/api/v1/plans/{waiting}", json={"priority": 7}, headers=auth)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "window_past")
    for change in ({"items": ["SCJG-0109"]}, {"kind": "special"}):
        r = client.patch(f"/api/v1/plans/{alone}", json=change, headers=auth)
        assert (r.status_code, r.json()["code"]) == (409, "plan_in_record")


def raw(client: TestClient, url: str, headers: dict[str, str], *, drop: str = "") -> Any:
    """The answer as sent (not decoded by the client), optionally without one default header."""
    request = client.build_request("GET", url, headers=headers)
    if drop:
        del request.headers[drop]
    r = client.send(request, stream=True)
    r.raw_body = b"".join(r.iter_raw())
    r.close()
    return r


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("identity", False),
        ("br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        (None, False),
    ],
)
def test_run_documents_follow_accept_encoding(
    client: TestClient, world: Seeded, accept: str | None, gzipped: bool
) -> None:
    """gzip on the wire only for a client that accepts it; others (curl -OJ, a browser's plain
    download) get the JSON itself, so the saved .json is JSON."""
    submit(client, world, "C", 0)
    run = wait(client, world, start(client, world)["id"])
    for which in ("instance", "solution"):
        url = f"/api/v1/runs/{run['id']}/{which}"
        headers = {**world.auth(), **({"Accept-Encoding": accept} if accept else {})}
        r = raw(client, url, headers, drop="" if accept else "accept-encoding")
        assert r.status_code == 200
        assert "accept-encoding" in r.headers["vary"].lower()
        assert (
            r.headers["content-disposition"] == f"attachment; filename=run-{run['id']}-{which}.json"
        )
        if gzipped:
            assert r.headers["content-encoding"] == "gzip"
            assert int(r.headers["content-length"]) == len(r.raw_body)
            body = gzip.decompress(r.raw_body)
        else:
            assert "content-encoding" not in r.headers
            body = r.raw_body
        assert json.loads(body)["format"] == f"quietday.{which}/1"


def test_plain_downloads_inflate_a_megabyte_at_a_time() -> None:
    """A province's document is inflated in chunks, not whole in memory, and comes out exact."""
    from quietday.api.routers.runs import _gunzipped

    text = json.dumps([{"inspection": f"P-{k:07d}", "date": "2026-07-21"} for k in range(60_000)])
    chunks = list(_gunzipped(gzip.compress(text.encode(), mtime=0)))
    assert len(chunks) > 3
    assert max(len(c) for c in chunks) <= 1 << 20
    assert b"".join(chunks).decode() == text


def test_the_servers_limits_are_the_apis(engine: Engine, world: Seeded) -> None:
    """A run may ask for up to QUIETDAY_MAX_TIME_LIMIT seconds and QUIETDAY_MAX_WORKERS threads,
    whatever they are set to (the schema once capped them at 3600 and 64 on its own)."""
    settings = Settings(database_url=url_of(engine), runner="thread", max_time_limit=7200,
                        max_workers=96)  # fmt: skip
    app = create_app(settings, engine=engine, clock=Clock())
    with TestClient(app) as c:
        body = {**RUN, "time_limit": 5000, "workers": 80, "deterministic": False}
        r = c.post("/api/v1/runs", json=body, headers=world.auth())
        assert r.status_code == 202, r.text
        c.post(f"/api/v1/runs/{r.json()['id']}/cancel", headers=world.auth())
        r = c.post("/api/v1/runs", json={**body, "time_limit": 7201}, headers=world.auth())
        assert (r.status_code, r.json()["errors"][0]["path"]) == (422, "time_limit")
        r = c.post("/api/v1/runs", json={**body, "workers": 97}, headers=world.auth())
        assert (r.status_code, r.json()["errors"][0]["path"]) == (422, "workers")
