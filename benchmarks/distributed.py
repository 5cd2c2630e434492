"""distributed: the 100,000-enterprise quarter in PostgreSQL solved as a deterministic run by
one `quietday worker`, then by two (each on its own copy of the database); its largest part
solved alone and as two copies at once, for what the machine gives two processes."""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Echo,
    copy_database,
    eve,
    fresh_database,
    postgres_reachable,
    settle,
)
from benchmarks.scale import SCALE
from quietday.domain.check import find_violations
from quietday.domain.model import Horizon, Instance
from quietday.formats import parse_instance, parse_solution
from quietday.generate import generate
from quietday.persistence import Engine, make_engine, session_scope
from quietday.persistence.jobs import JobRepository, PartRepository
from quietday.persistence.runs import RunRepository
from quietday.planning.keys import Actor, create_key
from quietday.planning.parts import WORKER_QUEUES
from quietday.planning.province import CLI, load_province
from quietday.planning.runner import QueueRunner
from quietday.planning.runs import RunRequest, create_run
from quietday.solver import DEFAULT_PART_SIZE, SolverConfig
from quietday.solver.jobs import PartJob, solve_part
from quietday.solver.partition import plan_parts, slice_of

DISTRIBUTED = SCALE[0][1]
DISTRIBUTED_DB = "bench_distributed"
# Deterministic time for the whole run (as `quietday solve --deterministic --time-limit`): the
# work is fixed, so the schedule is the same whatever the number of workers, and so is quality.
DISTRIBUTED_LIMIT = 60.0
# Issue 24: two workers solve the run at least this many times as fast as one.
SPEEDUP_TARGET = 1.9


@contextmanager
def _queue_workers(url: str, count: int, engine: Engine) -> Iterator[None]:
    """`count` real `quietday worker` processes, once each has registered its queue workers."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "quietday", "worker", "--name", f"bench-w{k + 1}"],
            env={**os.environ, "QUIETDAY_DATABASE_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k in range(count)
    ]
    try:
        deadline = time.monotonic() + 120
        while True:
            with session_scope(engine) as session:
                live = JobRepository(session).live_workers(60)
            if live >= count * len(WORKER_QUEUES):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} workers did not start")
            time.sleep(0.2)
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=600)


def _queued_run(engine: Engine, horizon: Horizon) -> dict[str, Any]:
    """One deterministic run on the queue, from its start by a worker to its end."""
    with session_scope(engine, actor=CLI) as session:
        supervisor, _ = create_key(session, role="supervisor", label="bench")
        actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
        request = RunRequest(
            horizon_start=horizon.start,
            horizon_end=horizon.end,
            workers=1,
            time_limit=DISTRIBUTED_LIMIT,
            deterministic=True,
        )
        run = create_run(
            session, actor, request, today=eve(horizon), max_time_limit=3600, max_workers=8
        )
        run_id = int(run.id or 0)
        QueueRunner().submit(session, run_id)
    while True:
        with session_scope(engine) as session:
            row = RunRepository(session).get_or_raise(run_id)
            if row.status not in ("queued", "running"):
                instance_gz, solution_gz = row.instance_gz, row.solution_gz
                break
        time.sleep(0.5)
    if row.status != "succeeded" or solution_gz is None or instance_gz is None:
        raise RuntimeError(f"run {run_id} ended {row.status}: {row.error}")
    if row.started_at is None or row.finished_at is None:
        raise RuntimeError(f"run {run_id} has no start or end time")
    solution = parse_solution(gzip.decompress(solution_gz))
    instance = parse_instance(gzip.decompress(instance_gz))
    with session_scope(engine) as session:
        ran = PartRepository(session).of_run(run_id)
    return {
        "instance_gz": instance_gz,
        "run_seconds": round((row.finished_at - row.started_at).total_seconds(), 1),
        "inspections": row.summary["inspections"],
        "scheduled": row.summary["scheduled"],
        "total_priority": row.summary["total_priority"],
        "visits": row.summary["visits"],
        "violations": len(find_violations(instance, solution)),
        "jobs": len(ran),
        "jobs_by_worker": dict(sorted(Counter(p.worker or "-" for p in ran).items())),
        "job_seconds": round(sum(p.seconds or 0.0 for p in ran), 1),
        # Seconds from the run's start: each job's queueing, start and end, and the run's end
        # (the stretches where no job runs are the run's serial work).
        "timeline": {
            "jobs": [
                {
                    "label": p.label,
                    "worker": p.worker,
                    "queued": _since(row.started_at, p.created_at),
                    "started": _since(row.started_at, p.started_at),
                    "ended": _since(row.started_at, p.finished_at),
                }
                for p in ran
            ],
            "finished": _since(row.started_at, row.finished_at),
        },
        "schedule_sha256": hashlib.sha256(
            json.dumps(
                sorted((i, d.isoformat()) for i, d in solution.assignment().items())
            ).encode()
        ).hexdigest(),
    }


def _since(start: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((then - start).total_seconds(), 1)


def _timed_part(job: PartJob) -> float:
    """In a child process: the seconds `solve_part` takes on `job`."""
    began = time.perf_counter()
    solve_part(job)
    return round(time.perf_counter() - began, 1)


def _pair_probe(
    instance: Instance, *, limit: float = DISTRIBUTED_LIMIT, rounds: int = 2
) -> dict[str, Any]:
    """What this machine gives two processes against one, on the work that runs in parallel:
    the instance's largest part with its share of `limit` (as in a run), solved alone,
    then as two copies at once in two processes, `rounds` times in turn (the host's speed
    drifts). Each child times its own solve, so start-up is not counted."""
    plan = plan_parts(instance, DEFAULT_PART_SIZE)
    subs = [
        slice_of(instance, p, plan.slices[0], placed={}, name=f"p{p.index}") for p in plan.parts
    ]
    sizes = [len(sub.inspections) for sub in subs]
    sub = subs[sizes.index(max(sizes))]
    budget = limit * max(sizes) / sum(sizes)
    job = PartJob(sub.name, sub, SolverConfig(time_limit=budget, deterministic=True, workers=1))
    alone: list[float] = []
    pairs: list[list[float]] = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        list(pool.map(abs, [0, 0]))  # both children started before anything is timed
        for _ in range(rounds):
            alone.append(pool.submit(_timed_part, job).result())
            pairs.append(sorted(pool.map(_timed_part, [job, job])))
    mean_alone = sum(alone) / rounds
    mean_pair = sum(pair[-1] for pair in pairs) / rounds
    return {
        "part": sub.name,
        "inspections": len(sub.inspections),
        "alone_seconds": alone,
        "pair_seconds": pairs,
        # Work done per second by two processes against one (2.0: two full cores).
        "two_process_throughput": round(2 * mean_alone / mean_pair, 3),
    }


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    """Wall time of the run from its start to its end. Each worker count solves its own copy
    of the loaded database: a finished run leaves its schedule as the plans' drafts, which the
    next run's instance would carry as `previous`."""
    if not postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    progress(f"生成 {DISTRIBUTED.enterprises:,} 家企业的季度并写入 PostgreSQL……")
    instance = generate(DISTRIBUTED)
    url = fresh_database(out, DISTRIBUTED_DB, pg=True)
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=CLI) as session:
            load_province(session, instance)
    finally:
        engine.dispose()
    settle(DISTRIBUTED_DB)
    runs: dict[str, Any] = {}
    for count in (1, 2):
        copy = f"{DISTRIBUTED_DB}_{count}"
        url = copy_database(DISTRIBUTED_DB, copy)
        settle(copy)
        engine = make_engine(url)
        try:
            progress(f"{count} 个求解进程: 确定性运行(时限 {DISTRIBUTED_LIMIT:g})……")
            with _queue_workers(url, count, engine):
                runs[f"workers_{count}"] = _queued_run(engine, instance.horizon)
        finally:
            engine.dispose()
    one, two = runs["workers_1"], runs["workers_2"]
    progress("同一部分: 单独求解与两个进程同时求解……")
    probe = _pair_probe(parse_instance(gzip.decompress(one.pop("instance_gz")).decode("utf-8")))
    two.pop("instance_gz")
    speedup = round(one["run_seconds"] / two["run_seconds"], 3)
    # The best two workers could do: the run's serial time (all but its jobs' own seconds)
    # unchanged, its jobs' seconds divided by the machine's two-process throughput.
    serial = one["run_seconds"] - one["job_seconds"]
    best = serial + one["job_seconds"] / probe["two_process_throughput"]
    return {
        "enterprises": DISTRIBUTED.enterprises,
        "deterministic_time_limit": DISTRIBUTED_LIMIT,
        **runs,
        "pair_probe": probe,
        "serial_seconds": round(serial, 1),
        "speedup_ceiling": round(one["run_seconds"] / best, 3),
        "speedup": speedup,
        "bars": {
            "two_workers_at_least_1_9x": speedup >= SPEEDUP_TARGET,
            "same_schedule": one["schedule_sha256"] == two["schedule_sha256"],
            "zero_violations": one["violations"] == 0 and two["violations"] == 0,
        },
    }


def print_figures(di: dict[str, Any], echo: Echo) -> None:
    for count in (1, 2):
        r = di[f"workers_{count}"]
        echo(
            f"分布式 {count} 个求解进程: {r['run_seconds']} 秒, 任务 {r['jobs']} 个 {r['jobs_by_worker']}, "
            f"已排 {r['scheduled']:,}(优先级 {r['total_priority']:,}), 入企 {r['visits']:,} 次"
        )
        tl = r["timeline"]
        spans = ", ".join(
            f"{j['label']}@{j['worker']} {j['started']}–{j['ended']}" for j in tl["jobs"]
        )
        echo(f"  时间线(秒): {spans}; 结束 {tl['finished']}")
    pr = di["pair_probe"]
    echo(
        f"分布式 同一部分 {pr['part']}({pr['inspections']:,} 项): 单独 {pr['alone_seconds']} 秒, "
        f"两个同时 {pr['pair_seconds']} 秒; 两进程吞吐 {pr['two_process_throughput']} 倍"
    )
    echo(f"分布式 串行 {di['serial_seconds']} 秒; 本机加速比上限 {di['speedup_ceiling']}")
    echo(
        f"分布式 加速比 {di['speedup']}(目标 ≥ {SPEEDUP_TARGET}); "
        f"排期相同 {di['bars']['same_schedule']}"
    )
