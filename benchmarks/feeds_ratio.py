"""feeds-ratio (`make bench-feeds`): quietday's feed polls side by side with a bare FastAPI
endpoint answering the same bytes from memory (`benchmarks/bare_feed.py`), same uvicorn worker
count, same wrk run (-t2 -c64, 10 s, two rounds): full answers and 304s, on a SQLite file and
on PostgreSQL, each with 10,000 enterprise subscriptions over a county. Target: quietday at
0.8 of the bare endpoint or better."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import (
    Echo,
    _port,
    eve,
    fresh_database,
    postgres_reachable,
    server,
    settle,
    wrk_field,
)
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import make_engine, session_scope
from quietday.planning.feeds import issue_enterprise_tokens
from quietday.planning.keys import Actor, create_key
from quietday.planning.province import CLI, load_province
from quietday.planning.runs import RunRequest, create_run, execute_run, publish_run

# The quarter after the wall clock's (feeds show the year ahead): 10,000 enterprises, one county.
WORKERS = 2
TARGET = 0.8
ROUNDS = 2
SECONDS = 10
SUBSCRIPTIONS = 10_000
DB_NAME = "quietday_bench_feeds"
WRK_SCRIPT = """
local rows = {}
for line in io.lines(os.getenv("QD_FEEDS")) do
  local path, etag = line:match("([^\\t]+)\\t(.*)")
  rows[#rows + 1] = {path, etag}
end
local conditional = os.getenv("QD_MODE") == "304"
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) math.randomseed(id * 7919 + 1) end
function request()
  local row = rows[math.random(#rows)]
  if conditional then return wrk.format("GET", row[1], {["If-None-Match"] = row[2]}) end
  return wrk.format("GET", row[1])
end
"""


def _province() -> GeneratorConfig:
    today = time.gmtime()
    quarter = (today.tm_mon - 1) // 3 + 2
    year = today.tm_year + (quarter > 4)
    return GeneratorConfig(
        enterprises=SUBSCRIPTIONS,
        seed=3,
        horizon="quarter",
        year=year,
        quarter=(quarter - 1) % 4 + 1,
        counties=1,
    )


def _load(url: str, progress: Echo) -> list[str]:
    """The county loaded, a quarter solved and published, a subscription per enterprise."""
    instance = generate(_province())
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=CLI) as session:
            load_province(session, instance, counties=1)
            supervisor, _ = create_key(session, role="supervisor", label="bench")
            actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
            request = RunRequest(
                horizon_start=instance.horizon.start, horizon_end=instance.horizon.end,
                time_limit=10,
            )  # fmt: skip
            today = eve(instance.horizon)
            run = create_run(
                session, actor, request, today=today, max_time_limit=3600, max_workers=8
            )
        progress(f"  求解并发布 ({url.split(':', 1)[0]})……")
        execute_run(engine, int(run.id or 0))
        with session_scope(engine, actor=CLI) as session:
            publish_run(session, int(run.id or 0), today=today)
            ids = sorted(instance.enterprises)
            tokens = issue_enterprise_tokens(session, actor, ids, label="bench")
    finally:
        engine.dispose()
    return [t for _, t in tokens]


def _warm(base: str, tokens: list[str]) -> dict[str, tuple[str, str, str]]:
    """Every feed polled once (rendered and stored): token -> (ETag, Last-Modified, body)."""

    def get(token: str) -> tuple[str, str, str]:
        answer = http.get(f"/feeds/{token}.ics")
        answer.raise_for_status()
        h = answer.headers
        return h["etag"], h["last-modified"], answer.content.decode("latin-1")

    with httpx.Client(base_url=base, timeout=120) as http, ThreadPoolExecutor(8) as pool:
        return dict(zip(tokens, pool.map(get, tokens), strict=True))


@contextmanager
def _bare(feeds: Path) -> Iterator[str]:
    port = _port()
    cmd = [sys.executable, "-m", "benchmarks.bare_feed", str(feeds), "--port", str(port),
           "--workers", str(WORKERS)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/docs", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _load_average() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def _wrk(base: str, rows: Path, script: Path, mode: str) -> dict[str, Any]:
    env = {**os.environ, "QD_FEEDS": str(rows), "QD_MODE": mode}
    cmd = ["wrk", "-t2", "-c64", f"-d{SECONDS}s", "-s", str(script), base]
    load = _load_average()
    text = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return {
        "requests_per_second": float(wrk_field(r"Requests/sec:\s+([\d.]+)", text) or 0),
        "errors": int(wrk_field(r"Non-2xx or 3xx responses: (\d+)", text) or 0)
        + int(wrk_field(r"Socket errors: connect (\d+)", text) or 0),
        "load_before": float(load),
    }


def _side_by_side(url: str, out: Path, label: str, progress: Echo) -> dict[str, Any]:
    tokens = _load(url, progress)
    progress(f"  {label}: 每个订阅拉取一次(渲染并保存)……")
    script = out / "feeds-ratio.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    results: dict[str, Any] = {"subscriptions": len(tokens), "rounds": []}
    with server(url, workers=WORKERS) as (base, _):
        t0 = time.perf_counter()
        feeds = _warm(base, tokens)
        results["warm_seconds"] = round(time.perf_counter() - t0, 1)
        bare_feeds = out / f"feeds-bare-{label}.json"
        bare_feeds.write_text(json.dumps(feeds), encoding="utf-8")
        rows = out / f"feeds-ratio-{label}.tsv"
        shuffled = random.Random(1).sample(tokens, k=len(tokens))
        rows.write_text("".join(f"/feeds/{t}.ics\t{feeds[t][0]}\n" for t in shuffled), "utf-8")
        if not url.startswith("sqlite"):
            settle(DB_NAME)
        with _bare(bare_feeds) as bare:
            # Not counted: every process polls every feed once more. Renders were changes
            # (stored), so what each process keeps starts empty; calendar clients poll the same
            # URLs again and again, and the rounds measure that steady state.
            progress(f"  {label} 预热(不计)……")
            results["warm_up"] = {"quietday": _wrk(base, rows, script, "full"),
                                  "bare": _wrk(bare, rows, script, "full")}  # fmt: skip
            for k in range(ROUNDS):
                for mode in ("full", "304"):
                    progress(f"  {label} 第 {k + 1} 轮 {mode}……")
                    q = _wrk(base, rows, script, mode)
                    b = _wrk(bare, rows, script, mode)
                    results["rounds"].append({"mode": mode, "quietday": q, "bare": b})
    for mode in ("full", "304"):
        mine = [r for r in results["rounds"] if r["mode"] == mode]
        q = sum(r["quietday"]["requests_per_second"] for r in mine) / len(mine)
        b = sum(r["bare"]["requests_per_second"] for r in mine) / len(mine)
        results[mode] = {"quietday": round(q), "bare": round(b), "ratio": round(q / b, 2)}
    return results


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk 未安装: apt-get install -y wrk")
    results: dict[str, Any] = {"workers": WORKERS, "target": TARGET}
    progress(f"SQLite: {SUBSCRIPTIONS} 个订阅……")
    results["sqlite"] = _side_by_side(
        fresh_database(out, DB_NAME, pg=False), out, "sqlite", progress
    )
    if postgres_reachable():
        progress(f"PostgreSQL: {SUBSCRIPTIONS} 个订阅……")
        results["postgresql"] = _side_by_side(
            fresh_database(out, DB_NAME, pg=True), out, "postgresql", progress
        )
    results["bars"] = {
        f"{db}_{mode}_ratio_at_least_{TARGET}": results[db][mode]["ratio"] >= TARGET
        for db in ("sqlite", "postgresql")
        if db in results
        for mode in ("full", "304")
    } | {
        f"{db}_no_errors": all(
            r[side]["errors"] == 0 for r in results[db]["rounds"] for side in ("quietday", "bare")
        )
        for db in ("sqlite", "postgresql")
        if db in results
    }
    return results


def print_figures(f: dict[str, Any], echo: Echo) -> None:
    echo(f"订阅 (uvicorn {f['workers']} 个进程, wrk -t2 -c64 -d{SECONDS}s, {ROUNDS} 轮):")
    for db in ("sqlite", "postgresql"):
        if db not in f:
            continue
        for r in f[db]["rounds"]:
            q, b = r["quietday"], r["bare"]
            echo(
                f"  {db} {r['mode']:>4}: quietday {q['requests_per_second']:.0f}/s "
                f"(负载 {q['load_before']:.2f}), 裸 FastAPI {b['requests_per_second']:.0f}/s "
                f"(负载 {b['load_before']:.2f})"
            )
        for mode in ("full", "304"):
            m = f[db][mode]
            echo(
                f"  {db} {mode:>4} 平均: quietday {m['quietday']}/s, 裸 {m['bare']}/s, "
                f"比值 {m['ratio']:.2f} (目标 ≥ {f['target']})"
            )
