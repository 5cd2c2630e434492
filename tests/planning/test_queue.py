"""Runs on the PostgreSQL job queue (real PostgreSQL, real `quietday worker` processes): a run and
its job are recorded together or not at all; one run per scope waits at a time; a worker solves
it; a worker killed in the middle of a solve loses nothing, and the run ends with the schedule
an undisturbed run gives."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import Clock, on_postgresql, url_of
from quietday.api import create_app
from quietday.cli import app
from quietday.config import Settings
from quietday.domain import find_violations
from quietday.formats import parse_instance, parse_solution
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import Engine, session_scope
from quietday.planning.keys import Actor, create_key
from quietday.planning.parts import PART_TASK, QueuePool
from quietday.planning.province import load_province
from quietday.planning.runner import RUN_TASK, QueueRunner
from quietday.planning.runs import RunRequest, cancel_run, create_run
from quietday.solver import SolverConfig, solve
from seed import seed

SUPERVISOR = Actor(key_id=1, role="supervisor", agency_id=None)


def jobs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, status, args, attempts, lock, queueing_lock FROM procrastinate_jobs"
                " WHERE task_name = :task ORDER BY id"
            ),
            {"task": RUN_TASK},
        ).mappings()
        return [dict(r) for r in rows]


def runs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM run ORDER BY id")).mappings()
        return [dict(r) for r in rows]


RUN = {"horizon_start": "2026-07-01", "horizon_end": "2026-09-30", "time_limit": 5}


@on_postgresql
def test_a_run_and_its_job_commit_together_and_one_waits_per_scope(engine: Engine) -> None:
    world = seed(engine)
    app = create_app(
        Settings(database_url=url_of(engine), runner="queue"), engine=engine, clock=Clock()
    )
    with TestClient(app) as client:
        first = client.post("/api/v1/runs", json=RUN, headers=world.auth())
        assert first.status_code == 202, first.text
        assert jobs(engine) == [
            {
                "id": 1,
                "status": "todo",
                "args": {"run_id": first.json()["id"]},
                "attempts": 0,
                "lock": "run-scope:*",
                "queueing_lock": "run-scope:*",
            }
        ]
        again = client.post("/api/v1/runs", json=RUN, headers=world.auth())
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "run_already_queued"
        other = client.post("/api/v1/runs", json={**RUN, "scope": "360102"}, headers=world.auth())
        assert other.status_code == 202, other.text
    assert [r["id"] for r in runs(engine)] == [first.json()["id"], other.json()["id"]]
    assert [j["queueing_lock"] for j in jobs(engine)] == ["run-scope:*", "run-scope:360102"]
    with pytest.raises(RuntimeError, match="after the job"):
        defer_then_fail(engine)
    assert len(runs(engine)) == 2
    assert len(jobs(engine)) == 2


def defer_then_fail(engine: Engine) -> None:
    request = RunRequest(date(2026, 10, 1), date(2026, 12, 31), scope="360103")
    with session_scope(engine, actor="test") as s:
        run = create_run(
            s, SUPERVISOR, request, today=date(2026, 9, 30), max_time_limit=60, max_workers=2
        )
        QueueRunner().submit(s, int(run.id or 0))
        raise RuntimeError("the request fails after the job was deferred")


class Worker:
    """A real `quietday worker` process; its output is read as it comes (and kept)."""

    def __init__(self, engine: Engine, name: str, part_size: int | None = None) -> None:
        env = {
            **os.environ,
            "QUIETDAY_DATABASE_URL": url_of(engine),
            "QUIETDAY_WORKER_HEARTBEAT_SECONDS": "1",
            "QUIETDAY_WORKER_STALLED_SECONDS": "4",
            **({"QUIETDAY_PART_SIZE": str(part_size)} if part_size else {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quietday", "worker", "--name", name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if "等待排期运行" in line:
                    ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        assert ready.wait(60), "".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def start_run(engine: Engine, **changes: Any) -> int:
    request = RunRequest(
        date(2026, 10, 1), date(2026, 12, 31), time_limit=1, workers=1, deterministic=True
    )
    with session_scope(engine, actor="test") as s:
        run = create_run(
            s,
            SUPERVISOR,
            replace(request, **changes),
            today=date(2026, 9, 30),
            max_time_limit=600,
            max_workers=2,
        )
        QueueRunner().submit(s, int(run.id or 0))
        return int(run.id or 0)


def run_row(engine: Engine, run_id: int) -> dict[str, Any]:
    return next(r for r in runs(engine) if r["id"] == run_id)


def finished(engine: Engine, run_id: int, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = run_row(engine, run_id)
        if row["status"] not in ("queued", "running"):
            return row
        time.sleep(0.2)
    pytest.fail(f"run {run_id} did not finish in {timeout} s")


def assignment(row: dict[str, Any]) -> dict[str, str]:
    solution = parse_solution(gzip.decompress(row["solution_gz"]))
    return {i: d.isoformat() for i, d in solution.assignment().items()}


def audit_actions(engine: Engine, subject: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT action FROM audit_log WHERE subject = :s ORDER BY seq"),
                {"s": subject},
            ).scalars()
        )


@pytest.mark.slow
@on_postgresql
def test_a_worker_killed_mid_solve_loses_nothing_and_the_schedule_is_the_same(
    engine: Engine,
) -> None:
    province = generate(GeneratorConfig(enterprises=1500, seed=7, quarter=4, counties=2))
    with session_scope(engine, actor="test") as s:
        load_province(s, province)
        create_key(s, role="supervisor")
    worker = Worker(engine, "w1")
    try:
        calm = finished(engine, start_run(engine))
        assert calm["status"] == "succeeded", calm
        instance = parse_instance(gzip.decompress(calm["instance_gz"]))
        assert find_violations(instance, parse_solution(gzip.decompress(calm["solution_gz"]))) == []
        assert len(instance.inspections) > 1000

        run_id = start_run(engine)
        deadline = time.monotonic() + 60
        # The worker has stored the instance it solves: the solve has begun.
        while run_row(engine, run_id)["instance_gz"] is None:
            assert time.monotonic() < deadline, run_row(engine, run_id)
            time.sleep(0.05)
        worker.proc.kill()
        assert worker.stop() == -signal.SIGKILL
        left = run_row(engine, run_id)
        assert left["status"] == "running"
        worker = Worker(engine, "w2")
        disturbed = finished(engine, run_id)
        assert worker.stop() == 0, "".join(worker.lines)
    finally:
        worker.stop()
    assert disturbed["status"] == "succeeded", disturbed
    assert audit_actions(engine, f"run:{run_id}") == [
        "run.create", "run.start", "run.retry", "run.finish",
    ]  # fmt: skip
    # procrastinate counts an attempt when a job ends and when it is handed back.
    assert [(j["status"], j["attempts"]) for j in jobs(engine)] == [
        ("succeeded", 1),
        ("succeeded", 2),
    ]
    # The second worker solved the instance the first one stored (its plans as they were when
    # the run began), and found what an undisturbed solve of it finds.
    assert disturbed["instance_gz"] == left["instance_gz"]
    stored = parse_instance(gzip.decompress(left["instance_gz"]))
    undisturbed = solve(stored, SolverConfig(time_limit=1, workers=1, deterministic=True))
    assert assignment(disturbed) == {
        i: d.isoformat() for i, d in undisturbed.solution.assignment().items()
    }
    assert disturbed["summary"]["inspections"] == len(stored.inspections)


PART_SIZE = 400
KILLED_RUN_LIMIT = 20


def parts(engine: Engine, run_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, kind, label, state, worker, attempts, error,"
                " job_gz IS NULL AS job_cleared, result_gz IS NULL AS result_cleared"
                " FROM run_part WHERE run_id = :r ORDER BY id"
            ),
            {"r": run_id},
        ).mappings()
        return [dict(r) for r in rows]


def part_jobs(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT status FROM procrastinate_jobs WHERE task_name = :t ORDER BY id"),
                {"t": PART_TASK},
            ).scalars()
        )


def load_world(engine: Engine) -> None:
    province = generate(GeneratorConfig(enterprises=1500, seed=7, quarter=4, counties=2))
    with session_scope(engine, actor="test") as s:
        load_province(s, province)
        create_key(s, role="supervisor")


def single_process(row: dict[str, Any], time_limit: float = 1) -> dict[str, str]:
    """What one process finds for the instance the run stored, in deterministic mode."""
    stored = parse_instance(gzip.decompress(row["instance_gz"]))
    config = SolverConfig(time_limit=time_limit, workers=1, deterministic=True, part_size=PART_SIZE)
    return {i: d.isoformat() for i, d in solve(stored, config).solution.assignment().items()}


@pytest.mark.slow
@on_postgresql
def test_a_decomposed_run_spreads_its_parts_over_the_workers(engine: Engine) -> None:
    load_world(engine)
    workers = [Worker(engine, name, PART_SIZE) for name in ("w1", "w2")]
    try:
        assert QueuePool(engine, 0, stalled_seconds=4).width == 2
        row = finished(engine, start_run(engine))
    finally:
        for w in workers:
            assert w.stop() == 0, "".join(w.lines)
    assert row["status"] == "succeeded", row
    done = parts(engine, row["id"])
    # Seven parts of the quarter, then the one unit (the province is one component, cut).
    assert [(p["kind"], p["state"]) for p in done] == [("part", "done")] * 7 + [("unit", "done")]
    assert {p["worker"] for p in done if p["kind"] == "part"} == {"w1", "w2"}
    assert all(p["job_cleared"] and p["result_cleared"] for p in done)
    assert set(part_jobs(engine)) == {"succeeded"}
    assert assignment(row) == single_process(row)
    assert row["summary"]["inspections"] > 2000


@pytest.mark.slow
@on_postgresql
def test_a_worker_killed_mid_part_loses_nothing_and_the_schedule_is_the_same(
    engine: Engine,
) -> None:
    load_world(engine)
    coordinator = Worker(engine, "w1", PART_SIZE)
    # Parts long enough (seconds each) that the victim is killed while its part is solving.
    run_id = start_run(engine, time_limit=KILLED_RUN_LIMIT)
    victim = Worker(engine, "w2", PART_SIZE)
    deadline = time.monotonic() + 120
    while not any(p["state"] == "running" and p["worker"] == "w2" for p in parts(engine, run_id)):
        assert time.monotonic() < deadline, parts(engine, run_id)
        time.sleep(0.05)
    victim.proc.kill()
    assert victim.stop() == -signal.SIGKILL
    spare = Worker(engine, "w3", PART_SIZE)
    try:
        row = finished(engine, run_id)
    finally:
        for w in (coordinator, spare):
            assert w.stop() == 0, "".join(w.lines)
    assert row["status"] == "succeeded", row
    done = parts(engine, run_id)
    assert {p["state"] for p in done} == {"done"}
    # The part w2 had was solved again, by a worker still alive.
    again = [p for p in done if p["attempts"] == 2]
    assert len(again) == 1, done
    assert again[0]["worker"] in ("w1", "w3"), done
    assert assignment(row) == single_process(row, KILLED_RUN_LIMIT)
    assert audit_actions(engine, f"run:{run_id}") == ["run.create", "run.start", "run.finish"]


@pytest.mark.slow
@on_postgresql
def test_cancelling_a_decomposed_run_stops_its_parts(engine: Engine) -> None:
    load_world(engine)
    workers = [Worker(engine, name, PART_SIZE) for name in ("w1", "w2")]
    try:
        # Ten minutes of work if nothing stopped it.
        run_id = start_run(engine, time_limit=600, deterministic=False)
        deadline = time.monotonic() + 120
        while sum(p["state"] == "running" for p in parts(engine, run_id)) < 2:
            assert time.monotonic() < deadline, parts(engine, run_id)
            time.sleep(0.05)
        with session_scope(engine, actor="test") as s:
            cancel_run(s, run_id)
        asked = time.monotonic()
        unfinished = {p["id"] for p in parts(engine, run_id) if p["state"] in ("todo", "running")}
        row = finished(engine, run_id)
        stopped_after = time.monotonic() - asked
    finally:
        for w in workers:
            assert w.stop() == 0, "".join(w.lines)
    assert row["status"] == "cancelled", row
    ended = {p["id"]: p["state"] for p in parts(engine, run_id) if p["kind"] == "part"}
    assert len(unfinished) >= 2
    assert {ended[i] for i in unfinished} == {"cancelled"}, ended
    assert "todo" not in part_jobs(engine)
    assert stopped_after < 30
    # What it keeps is a schedule that breaks no rule (the unit stage placed what it could).
    instance = parse_instance(gzip.decompress(row["instance_gz"]))
    assert find_violations(instance, parse_solution(gzip.decompress(row["solution_gz"]))) == []


def test_the_worker_and_the_queue_runner_need_postgresql(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'q.db'}"
    r = CliRunner().invoke(app, ["worker"], env={"QUIETDAY_DATABASE_URL": sqlite})
    assert r.exit_code == 2
    assert "需要 PostgreSQL" in r.output
    with pytest.raises(ValueError, match="需要 PostgreSQL"):
        create_app(Settings(database_url=sqlite, runner="queue"))
