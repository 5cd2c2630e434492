"""Benchmarks that print a table and write JSON; speed targets live here, not in timed tests.

- county: 10,000 enterprises in one county, one quarter, solved by separate `quietday solve`
  processes (greedy and CP-SAT), so the wall time is what a user waits for and the peak memory
  is the process's own;
- import: CSV uploads of 2,000 and 10,000 plans to a running `quietday serve` (SQLite, and
  PostgreSQL when reachable), timed per request, with the server's peak memory growth;
- api: the county instance loaded into a database, one run started, solved and published
  through the HTTP API, the published schedule re-checked;
- feeds: 100,000 enterprises in PostgreSQL, a quarter solved and published, a subscription per
  enterprise; `wrk` against `quietday serve --workers 2`: first polls (rendering), repeated
  polls (the stored body) and polls answered 304, with p50/p99 latency;
- audit: 100,000 enterprises in PostgreSQL with a synthetic year of published visits and
  check-ins (flagged by the core checker); pages of the frequency audit over HTTP per
  enterprise, agency, county and city, timed request by request.
- scale: a province solved by the decomposed solver in one `quietday solve` process tree (its
  worker processes included in the peak memory, sampled from /proc): 100,000 enterprises for a
  quarter, and 1,000,000 enterprises with about 2 million inspections for a year; the greedy of
  the same instance beside it, and `quietday check` of the answer;
- distributed: the 100,000-enterprise quarter in PostgreSQL solved as a deterministic run by one
  `quietday worker`, then by two (each on its own copy of the database); its largest part solved
  alone and as two copies at once, for what the machine gives two processes;
- dashboard: the feeds benchmark's province copied, `quietday serve` over it, the overview opened
  in headless Chromium (Debian's, by Playwright) until its charts are drawn, and until the pairs
  near their cap have come; the enterprise and agency pages.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from playwright.sync_api import sync_playwright

from quietday.domain.check import find_violations
from quietday.domain.model import (
    AgencyId,
    EnterpriseId,
    Horizon,
    Inspection,
    Instance,
    Kind,
)
from quietday.formats import parse_instance, parse_solution
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import Engine, make_engine, session_scope, upgrade
from quietday.persistence.frequency import BulkLoader
from quietday.persistence.jobs import JobRepository, PartRepository
from quietday.persistence.registry import EnterpriseRepository
from quietday.persistence.runs import RunRepository
from quietday.persistence.tables import CheckInFlagRow, CheckInRow, PlanRow, VisitRow
from quietday.persistence.visits import VisitRepository
from quietday.planning import check_files, generate_file
from quietday.planning.checkins import ENTRY_FLAGS, entry_id, rule_flags
from quietday.planning.feeds import issue_enterprise_tokens, today_in_china
from quietday.planning.frequency import rebuild_rollups
from quietday.planning.imports import COLUMNS, next_quarter
from quietday.planning.keys import Actor, create_key
from quietday.planning.parts import WORKER_QUEUES
from quietday.planning.province import CLI, load_province
from quietday.planning.runner import QueueRunner
from quietday.planning.runs import RunRequest, create_run, execute_run, publish_run
from quietday.solver import DEFAULT_PART_SIZE, SolverConfig
from quietday.solver.jobs import PartJob, solve_part
from quietday.solver.partition import plan_parts, slice_of

__all__ = ["run_benchmarks"]

COUNTY = GeneratorConfig(
    enterprises=10_000, seed=1, horizon="quarter", year=2026, quarter=3, counties=1
)
Echo = Callable[[str], None]


def _measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, peak RSS in MiB, stderr) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024, stderr


def county(out: Path, *, time_limit: float, progress: Echo) -> dict[str, Any]:
    instance = out / "county-10000-2026q3.json"
    progress("生成县级实例(10,000 家企业,一个季度)……")
    t0 = time.perf_counter()
    generate_file(COUNTY, instance)
    rows: dict[str, dict[str, Any]] = {
        "generate": {"wall_seconds": round(time.perf_counter() - t0, 2)}
    }
    for method in ("greedy", "cpsat"):
        progress(f"quietday solve --method {method} ……")
        solution = out / f"county-{method}.json"
        cmd = [sys.executable, "-m", "quietday", "solve", str(instance), "--out", str(solution),
               "--method", method, "--time-limit", str(time_limit)]  # fmt: skip
        code, wall, rss, stderr = _measured(cmd)
        if code != 0:
            raise RuntimeError(f"quietday solve --method {method} failed:\n{stderr[-2000:]}")
        checked = check_files(instance, solution)
        m = checked.metrics
        stats = checked.solution.stats
        lower = int(stats.extra.get("visits_lower_bound", 0)) if stats else 0
        rows[method] = {
            "wall_seconds": round(wall, 2),
            "peak_rss_mib": round(rss),
            "status": stats.status.value if stats else None,
            "timings": dict(stats.extra.get("timings") or {}) if stats else {},
            "inspections": m.inspections,
            "scheduled": m.scheduled,
            "total_priority": m.total_priority,
            "visits": m.visits,
            "joint_visits": m.joint_visits,
            "moved": m.moved,
            "violations": len(checked.violations),
            "visits_lower_bound": lower,
            "visits_over_bound": round(m.visits / lower, 4) if lower else None,
        }
    greedy, cpsat = rows["greedy"], rows["cpsat"]
    rows["bars"] = {
        "cpsat_wall_at_most_60s": cpsat["wall_seconds"] <= 60.0,
        "zero_violations": greedy["violations"] == 0 and cpsat["violations"] == 0,
        "priority_at_least_greedy": cpsat["total_priority"] >= greedy["total_priority"],
        "visits_at_most_greedy": cpsat["visits"] <= greedy["visits"],
    }
    return rows


SCALE = (
    ("quarter-100k", GeneratorConfig(enterprises=100_000, seed=1, horizon="quarter"), 95.0),
    (
        "year-1m",
        GeneratorConfig(enterprises=1_000_000, seed=1, horizon="year", plan_rate=0.28),
        900.0,
    ),
)


def _tree_rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants now, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            statm = Path(entry.path, "statm").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = int(statm.split()[1]) * page
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total / 2**20


def _measured_tree(cmd: list[str]) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, peak RSS of the whole process tree in MiB, stderr), the tree
    sampled twice a second (a peak shorter than that can be missed)."""
    started = time.perf_counter()
    with subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        lines: list[str] = []
        reader = ThreadPoolExecutor(1).submit(lambda: lines.extend(proc.stderr or ()))
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mib(proc.pid))
            time.sleep(0.5)
        reader.result()
    return proc.returncode, time.perf_counter() - started, peak, "".join(lines)


def scale(out: Path, *, sizes: tuple[str, ...], progress: Echo) -> dict[str, Any]:
    """Generate (or reuse) each province, solve it with CP-SAT parts and with the greedy,
    check the answer."""
    rows: dict[str, Any] = {}
    for name, cfg, time_limit in SCALE:
        if name not in sizes:
            continue
        instance = out / f"scale-{name}-s{cfg.seed}.json"
        row: dict[str, Any] = {"generator": asdict(cfg), "time_limit": time_limit}
        if not instance.exists():
            progress(f"生成 {name} ……")
            cmd = [sys.executable, "-m", "quietday", "generate", "--out", str(instance),
                   "--enterprises", str(cfg.enterprises), "--horizon", cfg.horizon,
                   "--seed", str(cfg.seed), "--plan-rate", str(cfg.plan_rate)]  # fmt: skip
            code, wall, rss, stderr = _measured_tree(cmd)
            if code != 0:
                raise RuntimeError(f"quietday generate failed:\n{stderr[-2000:]}")
            row["generate"] = {"wall_seconds": round(wall, 1), "peak_rss_mib": round(rss)}
        for method in ("cpsat", "greedy"):
            progress(f"{name}: quietday solve --method {method} ……")
            solution = out / f"scale-{name}-{method}.json"
            cmd = [sys.executable, "-m", "quietday", "solve", str(instance), "--out",
                   str(solution), "--method", method, "--time-limit", str(time_limit)]  # fmt: skip
            code, wall, rss, stderr = _measured_tree(cmd)
            (out / f"scale-{name}-{method}.log").write_text(stderr, encoding="utf-8")
            if code != 0:
                raise RuntimeError(f"quietday solve failed:\n{stderr[-2000:]}")
            doc = json.loads(solution.read_bytes())
            stats = doc["stats"]
            row[method] = {
                "wall_seconds": round(wall, 1),
                "peak_rss_mib": round(rss),
                "status": stats["status"],
                "scheduled": stats["scheduled"],
                "total_priority": stats["total_priority"],
                "visits": stats["visits"],
                "visits_lower_bound": stats["visits_lower_bound"],
                "visits_over_bound": round(stats["visits"] / stats["visits_lower_bound"], 4),
                "joint_visits": stats["joint_visits"],
                "moved": stats["moved"],
                "timings": stats.get("timings"),
                "decomposition": stats.get("decomposition"),
                "slowest_parts": sorted(
                    stats.get("parts", []), key=lambda f: -(f.get("seconds") or 0)
                )[:5],
                "largest_part_rss_mib": max(
                    (f.get("peak_rss_mib") or 0 for f in stats.get("parts", [])), default=None
                ),
            }
            del doc
        progress(f"{name}: quietday check ……")
        code, wall, rss, stderr = _measured_tree(
            [
                sys.executable,
                "-m",
                "quietday",
                "check",
                str(instance),
                str(out / f"scale-{name}-cpsat.json"),
            ]
        )
        row["check"] = {
            "exit_code": code,
            "wall_seconds": round(wall, 1),
            "peak_rss_mib": round(rss),
        }
        cp, gr = row["cpsat"], row["greedy"]
        wall_bar = 120.0 if cfg.horizon == "quarter" else 1200.0
        row["bars"] = {
            f"cpsat_wall_at_most_{wall_bar:.0f}s": cp["wall_seconds"] <= wall_bar,
            "zero_violations": code == 0,
            "priority_at_least_greedy": cp["total_priority"] >= gr["total_priority"],
            "visits_at_most_greedy": cp["visits"] <= gr["visits"],
        }
        if cfg.horizon == "year":
            row["bars"]["peak_rss_at_most_12gb"] = cp["peak_rss_mib"] <= 12 * 1024
        rows[name] = row
    return rows


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a live process, from /proc."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@contextmanager
def _server(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **(env or {}),
        "QUIETDAY_DATABASE_URL": database_url,
        "QUIETDAY_PUBLIC_URL": base,
    }
    cmd = [
        sys.executable,
        "-m",
        "quietday",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _fresh_database(out: Path, name: str, pg: bool) -> str:
    if pg:
        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    else:
        path = out / f"{name}.db"
        for stale in (path, path.with_suffix(".db-wal"), path.with_suffix(".db-shm")):
            stale.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    upgrade(url)
    return url


def _settle(name: str) -> None:
    """After bulk writes: statistics and dead rows done, dirty pages flushed, so that the
    measurement is of a server in its steady state, not of autovacuum and checkpoints."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _registry(url: str, instance: Instance, *, plans: bool) -> str:
    """Load the county (without plans unless asked); a supervisor key."""
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=CLI) as session:
            shown = instance if plans else Instance(
                name=instance.name, horizon=instance.horizon, calendar=instance.calendar,
                quiet_policies=instance.quiet_policies, caps=instance.caps, agencies=instance.agencies,
                enterprises=instance.enterprises, inspections=(),
            )  # fmt: skip
            load_province(session, shown, counties=1)
            _, key = create_key(session, role="supervisor", label="bench")
        return key
    finally:
        engine.dispose()


def _csv(instance: Instance, rows: int, prefix: str) -> bytes:
    kinds = {
        "routine": "日常检查",
        "special": "专项检查",
        "case": "个案检查",
        "requested": "应企业申请",
    }
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([h for h, _, _ in COLUMNS])
    for k, i in enumerate(instance.inspections[:rows]):
        writer.writerow([f"{prefix}-{k}", i.agency, i.enterprise, kinds[i.kind.value], "、".join(i.items),
                         i.earliest.isoformat(), i.latest.isoformat(), i.priority, i.exempt_reason or "", "否"])  # fmt: skip
    return out.getvalue().encode("utf-8")


def imports(out: Path, *, progress: Echo) -> dict[str, Any]:
    # The county's plans, in the quarter after today: a window already past is refused.
    start, _ = next_quarter(today_in_china(datetime.now(UTC)))
    instance = generate(replace(COUNTY, year=start.year, quarter=(start.month + 2) // 3))
    results: dict[str, Any] = {}
    backends = ["sqlite", *(["postgresql"] if _postgres_reachable() else [])]
    for backend in backends:
        url = _fresh_database(out, "bench_import", backend == "postgresql")
        key = _registry(url, instance, plans=False)
        for rows in (2_000, 10_000):
            body = _csv(instance, rows, f"R{rows}")
            progress(f"导入 {rows:,} 行 CSV({backend})……")
            with _server(url) as (base, pid):
                before, _ = _peak_rss_mib(pid)
                t0 = time.perf_counter()
                r = httpx.post(f"{base}/api/v1/plans/import", files={"file": ("plans.csv", body)},
                               headers={"Authorization": f"Bearer {key}"}, timeout=600)  # fmt: skip
                wall = time.perf_counter() - t0
                _, peak = _peak_rss_mib(pid)
            if r.status_code != 201:
                raise RuntimeError(
                    f"import of {rows} rows answered {r.status_code}: {r.text[:500]}"
                )
            results[f"{backend}_{rows}"] = {
                "rows": rows,
                "request_seconds": round(wall, 2),
                "rows_per_second": round(rows / wall),
                "server_rss_growth_mib": round(peak - before, 1),
                "created": r.json()["created"],
            }
    big = [v for k, v in results.items() if k.endswith("_10000")]
    results["bars"] = {
        "import_10000_rows_at_most_10s": all(v["request_seconds"] <= 10 for v in big)
    }
    return results


def api_run(out: Path, *, time_limit: float, progress: Echo) -> dict[str, Any]:
    instance = generate(COUNTY)
    url = _fresh_database(out, "bench_api", pg=False)
    progress("县级实例写入数据库……")
    t0 = time.perf_counter()
    key = _registry(url, instance, plans=True)
    load_seconds = time.perf_counter() - t0
    headers = {"Authorization": f"Bearer {key}"}
    progress("通过 API 运行并发布排期……")
    with (
        _server(url) as (base, _),
        httpx.Client(base_url=base, headers=headers, timeout=600) as http,
    ):
        t0 = time.perf_counter()
        # The county's quarter may be past by the wall clock: planned again as a correction.
        run = http.post("/api/v1/runs", json={"horizon_start": instance.horizon.start.isoformat(),
                                              "horizon_end": instance.horizon.end.isoformat(),
                                              "time_limit": time_limit, "correction": True}).json()  # fmt: skip
        while (state := http.get(f"/api/v1/runs/{run['id']}").json())["status"] in (
            "queued",
            "running",
        ):
            time.sleep(0.5)
        solved = time.perf_counter() - t0
        if state["status"] != "succeeded":
            raise RuntimeError(f"run ended {state['status']}: {state.get('error')}")
        t1 = time.perf_counter()
        report = http.post(f"/api/v1/runs/{run['id']}/publish").json()
        published = time.perf_counter() - t1
        inst = parse_instance(http.get(f"/api/v1/runs/{run['id']}/instance").content)
        sol = parse_solution(http.get(f"/api/v1/runs/{run['id']}/solution").content)
    return {
        "load_seconds": round(load_seconds, 2),
        "run_seconds": round(solved, 2),
        "publish_seconds": round(published, 2),
        "published_plans": report["published"],
        "visits": report["visits"],
        "unscheduled": report["unscheduled"],
        "summary": state["summary"],
        "violations": len(find_violations(inst, sol)),
        "bars": {
            "solved_and_published": report["published"] > 0,
            "zero_violations": not find_violations(inst, sol),
        },
    }


FEEDS = GeneratorConfig(enterprises=100_000, seed=7, horizon="quarter", year=2026, quarter=4)
FEEDS_DB = "bench_feeds"
_WRK_SCRIPT = """
local rows = {}
for line in io.lines(os.getenv("QD_FEEDS")) do
  local path, etag = line:match("([^\\t]+)\\t?(.*)")
  rows[#rows + 1] = {path, etag}
end
local mode = os.getenv("QD_MODE")
local counter, step = 0, 1
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) math.randomseed(id * 7919 + 1); n = id end
local pause = tonumber(os.getenv("QD_PAUSE_MS") or "0")
if pause > 0 then
  function delay() return math.random(math.floor(pause / 2), math.floor(pause * 3 / 2)) end
end
function request()
  local row
  if mode == "first" then n = n + 2; row = rows[(n % #rows) + 1] else row = rows[math.random(#rows)] end
  if mode == "304" or (mode == "mixed" and math.random(3) > 1) then
    return wrk.format("GET", row[1], {["If-None-Match"] = row[2]})
  end
  return wrk.format("GET", row[1])
end
"""


def _wrk(base: str, rows_file: Path, mode: str, seconds: int, script: Path) -> dict[str, Any]:
    env = {**os.environ, "QD_FEEDS": str(rows_file), "QD_MODE": mode}
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(script), base]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    text = done.stdout
    non2xx = _read(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests_per_second": float(_read(r"Requests/sec:\s+([\d.]+)", text) or 0),
        "p50": _read(r"50%\s+([\d.]+\w+)", text),
        "p99": _read(r"99%\s+([\d.]+\w+)", text),
        "errors": int(non2xx or 0) + int(_read(r"Socket errors: connect (\d+)", text) or 0),
        "seconds": seconds,
    }


def _read(pattern: str, text: str) -> str:
    """The first group of `pattern` in a wrk report, or "" when it is not there."""
    found = re.search(pattern, text)
    return found.group(1) if found else ""


def _warm(base: str, tokens: list[str]) -> list[str]:
    """HEAD every feed once (eight at a time, one connection pool); their ETags in order."""
    with httpx.Client(base_url=base, timeout=120) as http, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda t: str(http.head(f"/feeds/{t}.ics").headers["etag"]), tokens))


def feeds(out: Path, *, progress: Echo) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk 未安装: apt-get install -y wrk")
    if not _postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    progress("生成 100,000 家企业的省份并写入 PostgreSQL……")
    instance = generate(FEEDS)
    url = _fresh_database(out, FEEDS_DB, pg=True)
    t0 = time.perf_counter()
    engine = make_engine(url)
    with session_scope(engine, actor=CLI) as session:
        load_province(session, instance)
        supervisor, _ = create_key(session, role="supervisor", label="bench")
        actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
        run = create_run(session, actor, RunRequest(horizon_start=instance.horizon.start, horizon_end=instance.horizon.end,
                         time_limit=60), today=_eve(instance.horizon), max_time_limit=3600, max_workers=8)  # fmt: skip
        run_id = int(run.id or 0)
    load_seconds = time.perf_counter() - t0
    progress("求解并发布一个季度……")
    t0 = time.perf_counter()
    execute_run(engine, run_id)
    with session_scope(engine, actor=CLI) as session:
        report = publish_run(session, run_id, today=_eve(instance.horizon))
        visited = sorted(
            {v.enterprise_id for v in VisitRepository(session).page(after=None, limit=10**9)}
        )
        tokens = issue_enterprise_tokens(session, actor, visited, label="bench")
    publish_seconds = time.perf_counter() - t0
    with session_scope(engine, actor=CLI) as session:
        enterprises = len(EnterpriseRepository(session).existing(e for e in instance.enterprises))
    engine.dispose()
    sample = random.Random(1).sample(tokens, k=min(10_000, len(tokens)))
    script = out / "feeds.lua"
    script.write_text(_WRK_SCRIPT, encoding="utf-8")
    rows_file = out / "feeds-rows.tsv"
    results: dict[str, Any] = {
        "enterprises": enterprises, "subscriptions": len(tokens), "published_plans": report.published,
        "visits": report.visits, "load_seconds": round(load_seconds, 1), "solve_publish_seconds": round(publish_seconds, 1),
        "sample": len(sample),
    }  # fmt: skip
    _settle(FEEDS_DB)
    with _server(url, workers=2) as (base, _):
        rows_file.write_text("".join(f"/feeds/{t}.ics\n" for _, t in sample), encoding="utf-8")
        progress("首次拉取(需要渲染)……")
        results["first_polls"] = _wrk(base, rows_file, "first", 20, script)
        progress("其余订阅各拉取一次(渲染并保存)……")
        t0 = time.perf_counter()
        etags = _warm(base, [t for _, t in sample])
        results["warm_all_seconds"] = round(time.perf_counter() - t0, 1)
        _settle(FEEDS_DB)
        progress("重复拉取(完整内容)……")
        results["repeat_polls_full"] = _wrk(base, rows_file, "full", 20, script)
        rows_file.write_text(
            "".join(f"/feeds/{t}.ics\t{e}\n" for (_, t), e in zip(sample, etags, strict=True)),
            encoding="utf-8",
        )
        progress("带 If-None-Match 的拉取(304)……")
        results["polls_304"] = _wrk(base, rows_file, "304", 20, script)
    results["bars"] = {
        "full_at_least_1000_per_s": results["repeat_polls_full"]["requests_per_second"] >= 1000,
        "not_modified_at_least_3000_per_s": results["polls_304"]["requests_per_second"] >= 3000,
        "no_errors": all(
            results[k]["errors"] == 0 for k in ("first_polls", "repeat_polls_full", "polls_304")
        ),
    }
    return results


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
    cmd = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{LOAD_SECONDS}s", "--latency",
           "--timeout", "10s", "-s", str(script), base]  # fmt: skip
    return subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wrk_figures(text: str) -> dict[str, Any]:
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "requests": int(_read(r"(\d+) requests in", text) or 0),
        "requests_per_second": float(_read(r"Requests/sec:\s+([\d.]+)", text) or 0),
        "p50_ms": _ms(_read(r"50%\s+([\d.]+\w+)", text)),
        "p99_ms": _ms(_read(r"99%\s+([\d.]+\w+)", text)),
        "non_2xx_3xx": int(_read(r"Non-2xx or 3xx responses: (\d+)", text) or 0),
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
    url = _fresh_database(out, LOAD_DB, pg=True)
    engine = make_engine(url)
    busiest = max(
        instance.agencies, key=lambda a: sum(1 for i in instance.inspections if i.agency == a)
    )
    with session_scope(engine, actor=CLI) as session:
        load_province(session, instance)
        supervisor, supervisor_key = create_key(session, role="supervisor", label="bench")
        _, agency_key = create_key(session, role="agency", agency_id=busiest, label="bench")
        actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
        run = create_run(session, actor, RunRequest(horizon_start=published.start, horizon_end=published.end,
                         time_limit=30), today=_eve(published), max_time_limit=3600, max_workers=8)  # fmt: skip
        run_id = int(run.id or 0)
    execute_run(engine, run_id)
    with session_scope(engine, actor=CLI) as session:
        publish_run(session, run_id, today=_eve(published))
        visited = sorted(
            {v.enterprise_id for v in VisitRepository(session).page(after=None, limit=10**9)}
        )
        tokens = [t for _, t in issue_enterprise_tokens(session, actor, visited, label="bench")]
    engine.dispose()
    ents = sorted({i.enterprise for i in instance.inspections if i.agency == busiest})
    (out / "load-enterprises.txt").write_text("".join(f"{e}\n" for e in ents), encoding="utf-8")
    (out / "load-feeds.lua").write_text(_WRK_SCRIPT, encoding="utf-8")
    (out / "load-plans.lua").write_text(_WRK_PLANS, encoding="utf-8")
    _settle(LOAD_DB)
    return _LoadWorld(url, instance.horizon, tokens, supervisor_key, agency_key)


def _under_load(base: str, world: _LoadWorld, out: Path, progress: Echo) -> tuple[str, str, str]:
    """Start a run (a worker solves it), put the load on, and say whether the run was still
    solving when the load ended: (feeds wrk output, plans wrk output, the run's status)."""
    etags = _warm(base, world.tokens)
    rows = out / "load-feeds.tsv"
    rows.write_text(
        "".join(f"/feeds/{t}.ics\t{e}\n" for t, e in zip(world.tokens, etags, strict=True)),
        encoding="utf-8",
    )
    auth = {"Authorization": f"Bearer {world.supervisor_key}"}
    # The world's quarter may be past by the wall clock: planned again as a correction.
    body = {"horizon_start": world.horizon.start.isoformat(), "correction": True,
            "horizon_end": world.horizon.end.isoformat(), "time_limit": 3 * LOAD_SECONDS}  # fmt: skip
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
    feeds_wrk = _wrk_run(base, out / "load-feeds.lua", clients=LOAD_FEED_CLIENTS, threads=2,
                         env={"QD_FEEDS": str(rows), "QD_MODE": "mixed", "QD_PAUSE_MS": str(LOAD_FEED_PAUSE_MS)})  # fmt: skip
    plans_wrk = _wrk_run(base, out / "load-plans.lua", clients=LOAD_PLAN_CLIENTS, threads=1,
                         env={"QD_ENTERPRISES": str(out / "load-enterprises.txt"), "QD_KEY": world.agency_key,
                              "QD_PAUSE_MS": str(LOAD_PLAN_PAUSE_MS)})  # fmt: skip
    feeds_out, _ = feeds_wrk.communicate(timeout=LOAD_SECONDS + 60)
    plans_out, _ = plans_wrk.communicate(timeout=LOAD_SECONDS + 60)
    state = str(httpx.get(status, headers=auth).json()["status"])
    httpx.post(f"{status}/cancel", headers=auth, timeout=30)
    return feeds_out, plans_out, state


def load(out: Path, *, progress: Echo) -> dict[str, Any]:
    """Feed polls (two in three with If-None-Match) and plan submissions from 200 paced clients
    for a minute against two API processes on PostgreSQL, while a `quietday worker` solves a
    run; then the plans the clients were told were created are counted in the database."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk 未安装: apt-get install -y wrk")
    if not _postgres_reachable():
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
        with _server(world.url, workers=2, env=queue) as (base, _):
            feeds_out, plans_out, state = _under_load(base, world, out, progress)
    finally:
        worker.terminate()
        worker.wait(timeout=120)
    created = re.search(r"created (\d+)", plans_out)
    told = int(created.group(1)) if created else 0
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{LOAD_DB}") as conn:
        row = conn.execute("SELECT count(*) FROM plan WHERE external_ref LIKE 'load-%'").fetchone()
    stored = int(row[0]) if row else 0
    feeds_, plans = _wrk_figures(feeds_out), _wrk_figures(plans_out)
    p99 = feeds_["p99_ms"]
    return {
        "enterprises": LOAD.enterprises, "subscriptions": len(world.tokens), "seconds": LOAD_SECONDS,
        "clients": LOAD_FEED_CLIENTS + LOAD_PLAN_CLIENTS, "feed_polls": feeds_, "plan_submissions": plans,
        "plan_share": round(plans["requests"] / max(1, feeds_["requests"] + plans["requests"]), 4),
        "plans_created_told": told, "plans_created_stored": stored, "solve_running_throughout": state == "running",
        "bars": {
            "feed_p99_below_500ms": p99 is not None and p99 < 500,
            "no_failed_requests": all(r["non_2xx_3xx"] == 0 and r["socket_errors"] == 0 for r in (feeds_, plans)),
            # Stored beyond what was told: at most the one request each connection had in
            # flight when wrk stopped (or timed out).
            "every_accepted_plan_stored": 0 < told <= stored <= told + LOAD_PLAN_CLIENTS + plans["socket_errors"],
            "solve_running_throughout": state == "running",
        },
    }  # fmt: skip


AUDIT = GeneratorConfig(enterprises=100_000, seed=11, horizon="quarter", year=2026, quarter=1)
AUDIT_DB = "bench_audit"
AUDIT_YEAR = Horizon(date(2026, 1, 1), date(2026, 12, 31))
_VISITS_PER_YEAR = ((0, 10), (1, 25), (2, 30), (3, 20), (4, 10), (6, 5))
_AGENCIES_PER_VISIT = ((1, 70), (2, 22), (3, 8))
_KINDS = (("routine", 70), ("special", 15), ("case", 10), ("requested", 5))
_STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def _pick(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


@dataclass
class _Year:
    """Rows of a synthetic year; plans and entries refer to their visit by index (-1: none)."""

    visits: list[dict[str, Any]] = field(default_factory=list)
    plans: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _entry(
    agency: str, enterprise: str, day: date, kind: str, exempt: str | None
) -> dict[str, Any]:
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
    return {"agency_id": agency, "enterprise_id": enterprise, "at": at, "day": day, "kind": kind,
            "exempt_reason": exempt, "certificates": [], "created_at": _STAMP}  # fmt: skip


def _audit_year(instance: Instance, rng: random.Random) -> _Year:
    """A year of published visits (random, not solved: the audit reads whatever was
    published; 10 % fall on a quiet day with an exempt reason) and of check-ins: 92 % on the
    day, 3 % a day late, 5 % missed, and unplanned routine entries at 1 % of enterprises."""
    working = instance.calendar.working_days(AUDIT_YEAR.start, AUDIT_YEAR.end)
    open_days = {
        pid: [d for d in working if not policy.is_quiet(d)]
        for pid, policy in instance.quiet_policies.items()
    }
    local: dict[str, list[str]] = {}
    for known in sorted(instance.agencies.values(), key=lambda a: a.id):
        local.setdefault(known.region, []).append(known.id)
    year = _Year()
    for ent in sorted(instance.enterprises.values(), key=lambda e: e.id):
        choices = local.get(ent.region, []) + local.get(ent.region[:4], [])
        days = set(rng.sample(open_days[ent.quiet_policy] or working, _pick(rng, _VISITS_PER_YEAR)))
        days = {rng.choice(working) if rng.random() < 0.1 else d for d in days}
        for day in sorted(days):
            crew = rng.sample(choices, min(len(choices), _pick(rng, _AGENCIES_PER_VISIT)))
            index = len(year.visits)
            year.visits.append({"enterprise_id": ent.id, "day": day, "lead_agency_id": crew[0],
                                "status": "published", "sequence": 0,
                                "created_at": _STAMP, "updated_at": _STAMP})  # fmt: skip
            quiet = instance.is_quiet(ent.id, day) or day in ent.blackout
            for agency in crew:
                kind = _pick(rng, _KINDS)
                exempt = "投诉举报" if kind == "case" or quiet else None
                year.plans.append((index, {"agency_id": agency, "enterprise_id": ent.id,
                    "kind": kind, "items": ["日常监督检查"], "earliest": day, "latest": day,
                    "priority": 1, "exempt_reason": exempt, "unannounced": False,
                    "status": "published", "version": 1, "published_date": day,
                    "created_at": _STAMP, "updated_at": _STAMP}))  # fmt: skip
                roll = rng.random()
                if roll >= 0.05:
                    on = day + timedelta(days=1) if roll < 0.08 else day
                    year.entries.append((index, _entry(agency, ent.id, on, kind, exempt)))
        if choices and rng.random() < 0.01:
            day = rng.choice(working)
            year.entries.append((-1, _entry(rng.choice(choices), ent.id, day, "routine", None)))
    return year


def _flags(
    instance: Instance, year: _Year, visit_days: list[date], entry_ids: list[int]
) -> list[dict[str, Any]]:
    """Flags of the synthetic entries: unplanned and another day, and the core checker's
    (`flag_entries`, enterprise by enterprise, as `planning.checkins` does)."""
    entries = [
        Inspection(id=entry_id(cid), agency=AgencyId(e["agency_id"]),
                   enterprise=EnterpriseId(e["enterprise_id"]), kind=Kind(e["kind"]),
                   earliest=e["day"], latest=e["day"], exempt_reason=e["exempt_reason"])
        for cid, (_, e) in zip(entry_ids, year.entries, strict=True)
    ]  # fmt: skip
    actual = Instance(
        name="bench-actuals", horizon=AUDIT_YEAR, calendar=instance.calendar,
        quiet_policies=instance.quiet_policies, caps=instance.caps,
        agencies={a: replace(x, daily_capacity=10**6) for a, x in instance.agencies.items()},
        enterprises=instance.enterprises, inspections=tuple(entries),
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    by_enterprise: dict[str, dict[int, date]] = {}
    for cid, (index, e) in zip(entry_ids, year.entries, strict=True):
        by_enterprise.setdefault(e["enterprise_id"], {})[cid] = e["day"]
        if index < 0:
            rows.append(
                {"check_in_id": cid, "code": "unplanned", "detail": ENTRY_FLAGS["unplanned"]}
            )
        elif visit_days[index] != e["day"]:
            code = "different_day"
            rows.append({"check_in_id": cid, "code": code, "detail": ENTRY_FLAGS[code]})
    for days in by_enterprise.values():
        rows += [flag.model_dump() for flag in rule_flags(actual, days)]
    return rows


def _load_audit_year(url: str, instance: Instance, year: _Year) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=CLI) as session:
            load_province(session, replace(instance, inspections=(), history=()))
            bulk = BulkLoader(session)
            visit_ids = bulk.insert(VisitRow, year.visits)
            bulk.insert(PlanRow, [{**p, "visit_id": visit_ids[i]} for i, p in year.plans])
            entry_ids = bulk.insert(
                CheckInRow,
                [{**e, "visit_id": visit_ids[i] if i >= 0 else None} for i, e in year.entries],
            )
            flags = _flags(instance, year, [v["day"] for v in year.visits], entry_ids)
            bulk.insert_plain(CheckInFlagRow, flags)
            _, key = create_key(session, role="supervisor", label="bench")
        # Rows written past the application need their monthly rollups built once.
        t0 = time.perf_counter()
        with session_scope(engine, actor=CLI) as session:
            rebuild_rollups(session, AUDIT_YEAR.start, AUDIT_YEAR.end)
        rollup_seconds = time.perf_counter() - t0
    finally:
        engine.dispose()
    return {"visits": len(year.visits), "plans": len(year.plans), "check_ins": len(year.entries),
            "flags": len(flags), "rollup_build_seconds": round(rollup_seconds, 1), "key": key}  # fmt: skip


def _timed_get(client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    r = client.get(path, params=params)
    seconds = time.perf_counter() - t0
    r.raise_for_status()
    return seconds, r.json() if "json" in r.headers["content-type"] else r.content


def audit(out: Path, *, progress: Echo) -> dict[str, Any]:
    if not _postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    progress(f"生成 {AUDIT.enterprises:,} 家企业和一年的入企、扫码入企记录并写入 PostgreSQL……")
    instance = generate(AUDIT)
    instance = replace(
        instance, horizon=AUDIT_YEAR, inspections=(), history=(), pinned=(), previous={}
    )
    t0 = time.perf_counter()
    year = _audit_year(instance, random.Random(AUDIT.seed))
    url = _fresh_database(out, AUDIT_DB, pg=True)
    loaded = _load_audit_year(url, instance, year)
    key = str(loaded.pop("key"))
    results: dict[str, Any] = {"enterprises": len(instance.enterprises), **loaded,
                               "load_seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
    _settle(AUDIT_DB)
    pages: dict[str, Any] = {}
    middle = sorted(instance.enterprises)[len(instance.enterprises) // 2]
    with (
        _server(url) as (base, _),
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as client,
    ):
        progress("逐页查询频次监督(全年)……")
        for dim, period, after in [
            ("enterprise", "2026", None), ("enterprise", "2026", middle),
            ("enterprise", "2026-Q3", middle), ("enterprise", "2026-07", middle),
            ("agency", "2026", None), ("county", "2026", None), ("city", "2026", None),
        ]:  # fmt: skip
            params: dict[str, Any] = {"by": dim, "period": period, "limit": 100}
            if after is not None:
                params["after"] = after
            times = []
            for _ in range(3):
                seconds, body = _timed_get(client, "/api/v1/audit/frequency", params)
                times.append(seconds)
            name = f"{dim}/{period}/{'middle' if after else 'first'}"
            pages[name] = {"seconds": [round(t, 3) for t in times], "rows": len(body["items"])}
            if body["next_cursor"] is not None:
                seconds, _ = _timed_get(
                    client, "/api/v1/audit/frequency", {**params, "after": body["next_cursor"]}
                )
                pages[name]["next_page_seconds"] = round(seconds, 3)
        progress("导出全部部门(CSV)……")
        seconds, body = _timed_get(
            client, "/api/v1/audit/frequency.csv", {"by": "agency", "period": "2026"}
        )
        results["export_agencies_csv_seconds"] = round(seconds, 2)
    results["pages"] = pages
    slowest = max(max(p["seconds"] + [p.get("next_page_seconds", 0)]) for p in pages.values())
    results["slowest_page_seconds"] = round(slowest, 3)
    results["bars"] = {"page_at_most_2_seconds": slowest <= 2.0}
    return results


DASHBOARD_DB = "bench_dashboard"
_DRAWN = """() => { const els = document.querySelectorAll('[data-chart]');
  return els.length > 0 && Array.from(els).every(el => el.querySelector('canvas')); }"""


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2], 3)


def dashboard(out: Path, *, progress: Echo) -> dict[str, Any]:
    """Page times of the dashboard in Chromium over the feeds benchmark's province."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        raise RuntimeError("chromium 未安装: apt-get install -y chromium fonts-noto-cjk")
    if not _postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (FEEDS_DB,)).fetchone()
            is None
        ):
            raise RuntimeError(
                "先运行 feeds 基准(它建立 10 万家企业的省份): --only feeds,dashboard"
            )
    progress("复制 feeds 基准的省份数据库……")
    url = _copy_database(FEEDS_DB, DASHBOARD_DB)
    engine = make_engine(url)
    with session_scope(engine, actor=CLI) as session:
        _, key = create_key(session, role="supervisor", label="bench dashboard")
        enterprises = EnterpriseRepository(session).count()
    engine.dispose()
    _settle(DASHBOARD_DB)
    times: dict[str, list[float]] = {
        "overview": [],
        "overview_with_caps": [],
        "enterprise": [],
        "agency": [],
    }
    with _server(url) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        page.goto(f"{base}/dashboard/login")
        page.fill("#key", key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/dashboard")
        page.wait_for_selector("[data-caps] table", timeout=120_000)
        progress("总览页(5 次)……")
        for _ in range(5):
            started = time.perf_counter()
            page.goto(f"{base}/dashboard")
            page.wait_for_function(_DRAWN, timeout=120_000)
            times["overview"].append(time.perf_counter() - started)
            page.wait_for_selector("[data-caps] table", timeout=120_000)
            times["overview_with_caps"].append(time.perf_counter() - started)
        links = {
            "enterprise": page.locator("a[href^='/dashboard/enterprises/']").first.get_attribute(
                "href"
            ),
            "agency": page.locator("a[href^='/dashboard/agencies/']").first.get_attribute("href"),
        }
        for name, link in links.items():
            for _ in range(3):
                started = time.perf_counter()
                page.goto(f"{base}{link}")
                page.wait_for_function(_DRAWN, timeout=120_000)
                times[name].append(time.perf_counter() - started)
        page.goto(f"{base}/dashboard")
        page.wait_for_selector("[data-caps] table", timeout=120_000)
        page.screenshot(path=str(out / "dashboard-overview.png"), full_page=True)
        browser.close()
    medians = {f"{name}_seconds": _median(values) for name, values in times.items()}
    return {
        "enterprises": enterprises,
        **medians,
        "bars": {"overview_at_most_3_s": medians["overview_seconds"] <= 3.0},
    }


DISTRIBUTED = SCALE[0][1]
DISTRIBUTED_DB = "bench_distributed"
# Deterministic time for the whole run (as `quietday solve --deterministic --time-limit`): the
# work is fixed, so the schedule is the same whatever the number of workers, and so is quality.
DISTRIBUTED_LIMIT = 60.0


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


def _eve(horizon: Horizon) -> date:
    """The day before a horizon: the benchmarks plan as if on it (their quarters are fixed)."""
    return horizon.start - timedelta(days=1)


def _queued_run(engine: Engine, horizon: Horizon) -> dict[str, Any]:
    """One deterministic run on the queue, from its start by a worker to its end."""
    with session_scope(engine, actor=CLI) as session:
        supervisor, _ = create_key(session, role="supervisor", label="bench")
        actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
        request = RunRequest(horizon_start=horizon.start, horizon_end=horizon.end, workers=1,
                             time_limit=DISTRIBUTED_LIMIT, deterministic=True)  # fmt: skip
        run = create_run(
            session, actor, request, today=_eve(horizon), max_time_limit=3600, max_workers=8
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


def _copy_database(source: str, name: str) -> str:
    """A copy of database `source` (no connections to it may be open) as `name`."""
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


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


def distributed(out: Path, *, progress: Echo) -> dict[str, Any]:
    """The 100,000-enterprise quarter in PostgreSQL, solved as a deterministic run on the queue
    by one `quietday worker`, then by two: wall time from the run's start to its end. Each
    solves its own copy of the loaded database: a finished run leaves its schedule as the
    plans' drafts, which the next run's instance would carry as `previous`."""
    if not _postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    progress(f"生成 {DISTRIBUTED.enterprises:,} 家企业的季度并写入 PostgreSQL……")
    instance = generate(DISTRIBUTED)
    url = _fresh_database(out, DISTRIBUTED_DB, pg=True)
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=CLI) as session:
            load_province(session, instance)
    finally:
        engine.dispose()
    _settle(DISTRIBUTED_DB)
    runs: dict[str, Any] = {}
    for count in (1, 2):
        copy = f"{DISTRIBUTED_DB}_{count}"
        url = _copy_database(DISTRIBUTED_DB, copy)
        _settle(copy)
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
            "two_workers_at_least_1_6x": speedup >= 1.6,
            "same_schedule": one["schedule_sha256"] == two["schedule_sha256"],
            "zero_violations": one["violations"] == 0 and two["violations"] == 0,
        },
    }


def run_benchmarks(
    out: Path, *, which: tuple[str, ...], time_limit: float, echo: Echo, progress: Echo
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": {"cpus": len(os.sched_getaffinity(0))}, "time_limit": time_limit,
                               "county_generator": asdict(COUNTY)}  # fmt: skip
    if "county" in which:
        results["county"] = county(out, time_limit=time_limit, progress=progress)
        _county_table(results["county"], echo)
    if "import" in which:
        results["import"] = imports(out, progress=progress)
        for name, row in results["import"].items():
            if name != "bars":
                echo(
                    f"导入 {name}: {row['request_seconds']} 秒, {row['rows_per_second']} 行/秒, 服务进程内存增长 {row['server_rss_growth_mib']} MiB"
                )
    if "feeds" in which:
        results["feeds"] = feeds(out, progress=progress)
        f = results["feeds"]
        for mode, label in (
            ("first_polls", "首次拉取"),
            ("repeat_polls_full", "重复拉取(完整)"),
            ("polls_304", "304"),
        ):
            r = f[mode]
            echo(
                f"订阅 {label}: {r['requests_per_second']:.0f} 次/秒, p50 {r['p50']}, p99 {r['p99']}, 错误 {r['errors']}"
            )
    if "load" in which:
        results["load"] = load(out, progress=progress)
        lo = results["load"]
        for name, label in (("feed_polls", "订阅拉取"), ("plan_submissions", "计划提交")):
            r = lo[name]
            echo(f"负载 {label}: {r['requests']:,} 次, {r['requests_per_second']:.0f} 次/秒, "
                 f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, 失败 {r['non_2xx_3xx'] + r['socket_errors']}")  # fmt: skip
        echo(f"负载 计划: 告知已创建 {lo['plans_created_told']:,}, 库中 {lo['plans_created_stored']:,}; "
             f"计划占比 {lo['plan_share']:.1%}; 求解全程运行 {lo['solve_running_throughout']}")  # fmt: skip
    if "distributed" in which:
        results["distributed"] = distributed(out, progress=progress)
        _distributed_lines(results["distributed"], echo)
    if "audit" in which:
        results["audit"] = audit(out, progress=progress)
        au = results["audit"]
        echo(f"频次监督: 企业 {au['enterprises']:,} 家, 入企 {au['visits']:,} 次, 扫码入企 {au['check_ins']:,} 条, "
             f"标记 {au['flags']:,} 个; 最慢一页 {au['slowest_page_seconds']} 秒")  # fmt: skip
        for name, page in au["pages"].items():
            echo(f"  {name}: {page['seconds']} 秒, 下一页 {page.get('next_page_seconds', '-')} 秒")
    scale_sizes = tuple(
        name for name, _, _ in SCALE if f"scale-{name}" in which or "scale" in which
    )
    if scale_sizes:
        results["scale"] = scale(out, sizes=scale_sizes, progress=progress)
        for name, row in results["scale"].items():
            for method in ("cpsat", "greedy"):
                r = row[method]
                echo(f"{name} {method}: {r['wall_seconds']} 秒, 峰值内存 {r['peak_rss_mib']} MiB, "
                     f"已排 {r['scheduled']:,}(优先级 {r['total_priority']:,}), 入企 {r['visits']:,} 次, "
                     f"下界 {r['visits_lower_bound']:,}(比 {r['visits_over_bound']})")  # fmt: skip
            echo(
                f"{name} check: 退出码 {row['check']['exit_code']}, {row['check']['wall_seconds']} 秒"
            )
    if "dashboard" in which:
        results["dashboard"] = dashboard(out, progress=progress)
        d = results["dashboard"]
        echo(f"监督看板(企业 {d['enterprises']:,} 家): 总览 {d['overview_seconds']} 秒(图表绘出), "
             f"含上限统计 {d['overview_with_caps_seconds']} 秒, 企业页 {d['enterprise_seconds']} 秒, "
             f"部门页 {d['agency_seconds']} 秒")  # fmt: skip
    if "api" in which:
        results["api"] = api_run(out, time_limit=time_limit, progress=progress)
        a = results["api"]
        echo(f"API 端到端: 入库 {a['load_seconds']} 秒, 运行 {a['run_seconds']} 秒, 发布 {a['publish_seconds']} 秒, "
             f"发布 {a['published_plans']:,} 项 / 入企 {a['visits']:,} 次, 违规 {a['violations']}")  # fmt: skip
    for section in (
        "county",
        "import",
        "api",
        "feeds",
        "load",
        "distributed",
        "audit",
        "dashboard",
    ):
        for name, row in results.get("scale", {}).items():
            if section == "county":
                for bar, ok in row["bars"].items():
                    echo(f"{'通过' if ok else '未通过'}  scale.{name}.{bar}")
        for name, ok in results.get(section, {}).get("bars", {}).items():
            echo(f"{'通过' if ok else '未通过'}  {section}.{name}")
    path = out / "bench.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    echo(f"结果已写入 {path}")
    return results


def _distributed_lines(di: dict[str, Any], echo: Echo) -> None:
    for count in (1, 2):
        r = di[f"workers_{count}"]
        echo(f"分布式 {count} 个求解进程: {r['run_seconds']} 秒, 任务 {r['jobs']} 个 {r['jobs_by_worker']}, "
             f"已排 {r['scheduled']:,}(优先级 {r['total_priority']:,}), 入企 {r['visits']:,} 次")  # fmt: skip
        tl = r["timeline"]
        spans = ", ".join(
            f"{j['label']}@{j['worker']} {j['started']}–{j['ended']}" for j in tl["jobs"]
        )
        echo(f"  时间线(秒): {spans}; 结束 {tl['finished']}")
    pr = di["pair_probe"]
    echo(f"分布式 同一部分 {pr['part']}({pr['inspections']:,} 项): 单独 {pr['alone_seconds']} 秒, "
         f"两个同时 {pr['pair_seconds']} 秒; 两进程吞吐 {pr['two_process_throughput']} 倍")  # fmt: skip
    echo(f"分布式 串行 {di['serial_seconds']} 秒; 本机加速比上限 {di['speedup_ceiling']}")
    echo(f"分布式 加速比 {di['speedup']}; 排期相同 {di['bars']['same_schedule']}")


def _county_table(rows: dict[str, Any], echo: Echo) -> None:
    keys = [("wall_seconds", "墙钟秒数"), ("peak_rss_mib", "峰值内存MiB"), ("status", "状态"),
            ("scheduled", "已排检查"), ("total_priority", "优先级合计"), ("visits", "入企次数"),
            ("joint_visits", "联合检查"), ("visits_lower_bound", "入企下界"), ("visits_over_bound", "入企/下界"),
            ("moved", "草稿改动"), ("violations", "违规")]  # fmt: skip
    echo(f"{'县级实例':<12}{'greedy':>14}{'cpsat':>14}")
    for key, label in keys:
        echo(f"{label:<12}{rows['greedy'].get(key)!s:>14}{rows['cpsat'].get(key)!s:>14}")
    echo("cpsat 各阶段秒数: " + ", ".join(f"{k} {v}" for k, v in rows["cpsat"]["timings"].items()))
