"""Nothing lost: agencies submit concurrently over real HTTP while a run solves; afterwards the
database holds exactly what the answers said was accepted, no more, no less."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from conftest import CERTS, Clock, url_of
from flows import plan
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import Engine, Session, make_engine, session_scope
from quietday.persistence.checkins import CheckInRepository
from quietday.persistence.tables import CheckInFlagRow
from quietday.planning.checkins import judge_enterprise
from seed import Seeded

AGENTS = ("A", "B", "C")
ROUNDS = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(engine: Engine, world: Seeded, clock: Clock) -> Iterator[str]:
    port = _free_port()
    app = create_app(
        Settings(database_url=url_of(engine), runner="thread"), engine=engine, clock=clock
    )
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


def _agent(
    base: str, world: Seeded, who: str, accepted: dict[int, dict[str, Any]], errors: list[str]
) -> None:
    with httpx.Client(base_url=base, headers=world.auth(who), timeout=60) as http:
        for k in range(ROUNDS):
            ref = f"{who}-{k}"
            if k % 4 == 3:  # a batch with one bad row: all refused
                rows = [plan(world, n, external_ref=f"{ref}-{n}") for n in range(20)]
                rows[7]["latest"] = "2026-06-01"
                r = http.post("/api/v1/plans/batch", json=rows)
                if r.status_code != 422:
                    errors.append(f"{who} bad batch answered {r.status_code}")
                continue
            if k % 4 == 2:  # a batch of good rows, sent twice with the same Idempotency-Key
                rows = [plan(world, n, external_ref=f"{ref}-{n}") for n in range(10)]
                first = http.post(
                    "/api/v1/plans/batch", json=rows, headers={"Idempotency-Key": ref}
                )
                again = http.post(
                    "/api/v1/plans/batch", json=rows, headers={"Idempotency-Key": ref}
                )
                if first.status_code != 201 or again.json() != first.json():
                    errors.append(f"{who} batch {first.status_code} / replay differs")
                    continue
                for item in first.json()["items"]:
                    accepted[item["id"]] = item
                continue
            body = plan(world, k, external_ref=ref, priority=1 + k % 9)
            r = http.post("/api/v1/plans", json=body)
            dup = http.post("/api/v1/plans", json=body)
            if r.status_code != 201 or dup.status_code != 200 or dup.json()["id"] != r.json()["id"]:
                errors.append(f"{who} single {r.status_code}/{dup.status_code}")
                continue
            accepted[r.json()["id"]] = r.json()


def test_concurrent_submissions_during_a_run_lose_nothing(server: str, world: Seeded) -> None:
    with httpx.Client(base_url=server, headers=world.auth(), timeout=60) as sup:
        seeded = sup.post(
            "/api/v1/plans/batch", json=[plan(world, n, agency_id="360102-SCJG") for n in range(30)]
        )
        assert seeded.status_code == 201
        run = sup.post(
            "/api/v1/runs",
            json={"horizon_start": "2026-07-01", "horizon_end": "2026-09-30", "time_limit": 3},
        )
        assert run.status_code == 202
        accepted: dict[int, dict[str, Any]] = {p["id"]: p for p in seeded.json()["items"]}
        errors: list[str] = []
        agents = [
            threading.Thread(target=_agent, args=(server, world, who, accepted, errors))
            for who in AGENTS
        ]
        for a in agents:
            a.start()
        for a in agents:
            a.join()
        assert errors == []
        while sup.get(f"/api/v1/runs/{run.json()['id']}").json()["status"] in ("queued", "running"):
            time.sleep(0.1)
        stored: dict[int, dict[str, Any]] = {}
        cursor = None
        while True:
            page = sup.get(
                "/api/v1/plans", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
            ).json()
            stored.update({p["id"]: p for p in page["items"]})
            cursor = page["next_cursor"]
            if cursor is None:
                break
    expected_per_agent = 6 + 3 * 10  # per agent: six single plans, three good batches of ten
    assert len(accepted) == 30 + expected_per_agent * len(AGENTS)
    assert set(stored) == set(accepted)
    fields = (
        "agency_id",
        "enterprise_id",
        "kind",
        "earliest",
        "latest",
        "priority",
        "external_ref",
        "items",
    )
    for pid, answer in accepted.items():
        assert {f: stored[pid][f] for f in fields} == {f: answer[f] for f in fields}


@pytest.mark.usefixtures("inspectors")
def test_simultaneous_check_ins_at_one_enterprise_all_land_and_are_judged_once_more(
    server: str, world: Seeded, engine: Engine, clock: Clock
) -> None:
    """A and B scan in at the same enterprise at the same moment, many times: every check-in is
    accepted, and the stored flags are what judging all of them afresh gives."""
    clock.now = datetime(2026, 8, 1, 1, 0, tzinfo=UTC)
    enterprise = world.enterprises[5]
    answers: list[int] = []

    def scan(who: str, day: int) -> None:
        with httpx.Client(base_url=server, headers=world.auth(who), timeout=60) as client:
            r = client.post(
                "/api/v1/check-ins",
                json={"enterprise_id": enterprise, "certificates": CERTS[who],
                      "at": f"2026-07-{day:02d}T09:00:00+08:00"},
            )  # fmt: skip
            answers.append(r.status_code)

    threads = [
        threading.Thread(target=scan, args=(who, day))
        for day in range(21, 31)
        for who in ("A", "B")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [201] * len(threads)
    with session_scope(engine) as s:
        stored = {(f.check_in_id, f.code) for fs in _flags(s, enterprise).values() for f in fs}
        judge_enterprise(s, enterprise)
        again = {(f.check_in_id, f.code) for fs in _flags(s, enterprise).values() for f in fs}
    assert stored == again
    assert any(code == "cap_agency_enterprise_year" for _, code in stored)


def _flags(session: Session, enterprise: str) -> dict[int, list[CheckInFlagRow]]:
    repo = CheckInRepository(session)
    return repo.flags_of(int(c.id or 0) for c in repo.of_enterprise(enterprise))


@pytest.mark.usefixtures("inspectors")
def test_a_check_in_needs_one_connection_at_a_time(
    engine: Engine, world: Seeded, clock: Clock
) -> None:
    """A request that held one pooled connection while taking a second (the code keys read in
    a session of their own) let 15 simultaneous check-ins hold the whole pool, each waiting for
    another, until the pool timed out (503s): a pool of one must serve them."""
    one = make_engine(url_of(engine), pool_size=1, max_overflow=0, pool_timeout=3)
    app = create_app(
        Settings(database_url=url_of(engine), runner="thread"), engine=one, clock=clock
    )
    try:
        with TestClient(app) as client:
            for day in (21, 22):
                r = client.post(
                    "/api/v1/check-ins",
                    json={"enterprise_id": world.enterprises[3], "certificates": CERTS["A"],
                          "at": f"2026-07-{day:02d}T09:00:00+08:00"},
                    headers=world.auth("A"),
                )  # fmt: skip
                assert r.status_code == 201, r.text
    finally:
        one.dispose()
