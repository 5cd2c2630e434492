"""load: feed polls (two in three with If-None-Match) and plan submissions from 200 paced wrk
clients for a minute against two API processes on PostgreSQL, while a `quietday worker` solves a
run; then the plans the clients were told were created are counted in the database."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks.feeds import WRK_SCRIPT, warm
from benchmarks.harness import (
    Echo,
    eve,
    fresh_database,
    postgres_reachable,
    server,
    settle,
    wrk_field,
)
from quietday.domain.model import Horizon
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import make_engine, session_scope
from quietday.persistence.visits import VisitRepository
from quietday.planning.feeds import issue_enterprise_tokens
from quietday.planning.keys import Actor, create_key
from quietday.planning.province import CLI, load_province
from quietday.planning.runs import RunRequest, create_run, execute_run, publish_run

LOAD = GeneratorConfig(enterprises=20_000, seed=5, horizon="quarter", year=2026, quarter=4)
LOAD_DB = "bench_load"
LOAD_PUBLISHED_END = date(2026, 11, 30)
LOAD_SECONDS = 60
# 200 simulated clients: most poll their calendar feed, a few agencies submit plans. Each waits
# a random pause between requests (half to one and a half times the mean): 196 feed clients every
# 0.5 s and 4 agencies every 0.2 s offer about 390 polls and 20 submissions a second (5 %); a
# million subscriptions polled every 43 minutes.
LOAD_FEED_CLIENTS, LOAD_PLAN_CLIENTS = 196, 4
LOAD_FEED_PAUSE_MS, LOAD_PLAN_PAUSE_MS = 500, 200

_WRK_PLANS = """
local ents = {}
for line in io.lines(os.getenv("QD_ENTERPRISES")) do ents[#ents + 1] = line end
local key = os.getenv("QD_KEY")
local counter, threads = 0, {}
function setup(thread) thread:set("id", counter); counter = counter + 1; table.insert(threads, thread) end
local pause = tonumber(os.getenv("QD_PAUSE_MS"))
function init(args) n = 0; created = 0; math.randomseed(id * 104729 + 7) end
function delay() return math.random(math.floor(pause / 2), math.floor(pause * 3 / 2)) end
function request()
  n = n + 1
  local body = string.format('{"enterprise_id": "%s", "kind": "routine", "earliest": "2026-12-21", '
    .. '"latest": "2026-12-31", "external_ref": "load-%d-%d"}', ents[math.random(#ents)], id, n)
  return wrk.format("POST", "/api/v1/plans",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body) if status == 201 then created = created + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("created") end
  io.write(string.format("created %d\\n", total))
end
"""


def _ms(text: str) -> float | None:
    """wrk's latency figure (`850.00us`, `12.34ms`, `1.02s`) in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[found.group(2)]
    return round(float(found.group(1)) * scale, 2)


def _wrk_run(
    base: str, script: Path, *, clients: int, threads: int, env: dict[str, str]
) -> subprocess.Popen[str]:
    cmd = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{LOAD_SECONDS}s", "--latency"]
    cmd += ["--timeout", "10s", "-s", str(script), base]
    return subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wrk_figures(text: str) -> dict[str, Any]:
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "requests": int(wrk_field(r"(\d+) requests in", text) or 0),
        "requests_per_second": float(wrk_field(r"Requests/sec:\s+([\d.]+)", text) or 0),
        "p50_ms": _ms(wrk_field(r"50%\s+([\d.]+\w+)", text)),
        "p99_ms": _ms(wrk_field(r"99%\s+([\d.]+\w+)", text)),
        "non_2xx_3xx": int(wrk_field(r"Non-2xx or 3xx responses: (\d+)", text) or 0),
        "socket_errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    }


@dataclass(frozen=True)
class _LoadWorld:
    url: str
    horizon: Horizon
    tokens: list[str]
    supervisor_key: str
    agency_key: str


def _load_world(out: Path) -> _LoadWorld:
    """The province in PostgreSQL with its quarter's first two months published (the third is
    left for the run under load to solve: a run over published days alone is all pins and ends
    in seconds), a subscription per visited enterprise, and the busiest agency's key with the
    enterprises it inspects (for wrk)."""
    instance = generate(LOAD)
    published = Horizon(instance.horizon.start, LOAD_PUBLISHED_END)
    url = fresh_database(out, LOAD_DB, pg=True)
    engine = make_engine(url)
    busiest = max(
        instance.agencies, key=lambda a: sum(1 for i in instance.inspections if i.agency == a)
    )
    with session_scope(engine, actor=CLI) as session:
        load_province(session, instance)
        supervisor, supervisor_key = create_key(session, role="supervisor", label="bench")
        _, agency_key = create_key(session, role="agency", agency_id=busiest, label="bench")
        actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
        request = RunRequest(
            horizon_start=published.start, horizon_end=published.end, time_limit=30
        )
        run = create_run(
            session, actor, request, today=eve(published), max_time_limit=3600, max_workers=8
        )
        run_id = int(run.id or 0)
    execute_run(engine, run_id)
    with session_scope(engine, actor=CLI) as session:
        publish_run(session, run_id, today=eve(published))
        visited = sorted(
            {v.enterprise_id for v in VisitRepository(session).page(after=None, limit=10**9)}
        )
        tokens = [t for _, t in issue_enterprise_tokens(session, actor, visited, label="bench")]
    engine.dispose()
    ents = sorted({i.enterprise for i in instance.inspections if i.agency == busiest})
    (out / "load-enterprises.txt").write_text("".join(f"{e}\n" for e in ents), encoding="utf-8")
    (out / "load-feeds.lua").write_text(WRK_SCRIPT, encoding="utf-8")
    (out / "load-plans.lua").write_text(_WRK_PLANS, encoding="utf-8")
    settle(LOAD_DB)
    return _LoadWorld(url, instance.horizon, tokens, supervisor_key, agency_key)


def _under_load(base: str, world: _LoadWorld, out: Path, progress: Echo) -> tuple[str, str, str]:
    """Start a run (a worker solves it), put the load on, and say whether the run was still
    solving when the load ended: (feeds wrk output, plans wrk output, the run's status)."""
    etags = warm(base, world.tokens)
    rows = out / "load-feeds.tsv"
    rows.write_text(
        "".join(f"/feeds/{t}.ics\t{e}\n" for t, e in zip(world.tokens, etags, strict=True)),
        encoding="utf-8",
    )
    auth = {"Authorization": f"Bearer {world.supervisor_key}"}
    # The world's quarter may be past by the wall clock: planned again as a correction.
    body = {
        "horizon_start": world.horizon.start.isoformat(),
        "correction": True,
        "horizon_end": world.horizon.end.isoformat(),
        "time_limit": 3 * LOAD_SECONDS,
    }
    run = httpx.post(f"{base}/api/v1/runs", json=body, headers=auth, timeout=30).json()
    status = f"{base}/api/v1/runs/{run['id']}"
    deadline = time.monotonic() + 60
    while httpx.get(status, headers=auth).json()["status"] != "running":
        if time.monotonic() > deadline:
            raise RuntimeError("worker did not start the run")
        time.sleep(0.2)
    progress(
        f"负载 {LOAD_SECONDS} 秒: {LOAD_FEED_CLIENTS} 个订阅客户端, {LOAD_PLAN_CLIENTS} 个提交计划的部门, 同时求解……"
    )
    feeds_wrk = _wrk_run(
        base,
        out / "load-feeds.lua",
        clients=LOAD_FEED_CLIENTS,
        threads=2,
        env={"QD_FEEDS": str(rows), "QD_MODE": "mixed", "QD_PAUSE_MS": str(LOAD_FEED_PAUSE_MS)},
    )
    plans_wrk = _wrk_run(
        base,
        out / "load-plans.lua",
        clients=LOAD_PLAN_CLIENTS,
        threads=1,
        env={
            "QD_ENTERPRISES": str(out / "load-enterprises.txt"),
            "QD_KEY": world.agency_key,
            "QD_PAUSE_MS": str(LOAD_PLAN_PAUSE_MS),
        },
    )
    feeds_out, _ = feeds_wrk.communicate(timeout=LOAD_SECONDS + 60)
    plans_out, _ = plans_wrk.communicate(timeout=LOAD_SECONDS + 60)
    state = str(httpx.get(status, headers=auth).json()["status"])
    httpx.post(f"{status}/cancel", headers=auth, timeout=30)
    return feeds_out, plans_out, state


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk 未安装: apt-get install -y wrk")
    if not postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    progress(f"生成 {LOAD.enterprises:,} 家企业的省份, 求解并发布一个季度……")
    world = _load_world(out)
    queue = {"QUIETDAY_RUNNER": "queue"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "quietday", "worker", "--name", "bench-worker"],
        env={**os.environ, **queue, "QUIETDAY_DATABASE_URL": world.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with server(world.url, workers=2, env=queue) as (base, _):
            feeds_out, plans_out, state = _under_load(base, world, out, progress)
    finally:
        worker.terminate()
        worker.wait(timeout=120)
    created = re.search(r"created (\d+)", plans_out)
    told = int(created.group(1)) if created else 0
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{LOAD_DB}") as conn:
        row = conn.execute("SELECT count(*) FROM plan WHERE external_ref LIKE 'load-%'").fetchone()
    stored = int(row[0]) if row else 0
    feeds, plans = _wrk_figures(feeds_out), _wrk_figures(plans_out)
    p99 = feeds["p99_ms"]
    return {
        "enterprises": LOAD.enterprises,
        "subscriptions": len(world.tokens),
        "seconds": LOAD_SECONDS,
        "clients": LOAD_FEED_CLIENTS + LOAD_PLAN_CLIENTS,
        "feed_polls": feeds,
        "plan_submissions": plans,
        "plan_share": round(plans["requests"] / max(1, feeds["requests"] + plans["requests"]), 4),
        "plans_created_told": told,
        "plans_created_stored": stored,
        "solve_running_throughout": state == "running",
        "bars": {
            "feed_p99_below_500ms": p99 is not None and p99 < 500,
            "no_failed_requests": all(
                r["non_2xx_3xx"] == 0 and r["socket_errors"] == 0 for r in (feeds, plans)
            ),
            # Stored beyond what was told: at most the one request each connection had in
            # flight when wrk stopped (or timed out).
            "every_accepted_plan_stored": (
                0 < told <= stored <= told + LOAD_PLAN_CLIENTS + plans["socket_errors"]
            ),
            "solve_running_throughout": state == "running",
        },
    }


def print_figures(lo: dict[str, Any], echo: Echo) -> None:
    for name, label in (("feed_polls", "订阅拉取"), ("plan_submissions", "计划提交")):
        r = lo[name]
        echo(
            f"负载 {label}: {r['requests']:,} 次, {r['requests_per_second']:.0f} 次/秒, "
            f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, 失败 {r['non_2xx_3xx'] + r['socket_errors']}"
        )
    echo(
        f"负载 计划: 告知已创建 {lo['plans_created_told']:,}, 库中 {lo['plans_created_stored']:,}; "
        f"计划占比 {lo['plan_share']:.1%}; 求解全程运行 {lo['solve_running_throughout']}"
    )
