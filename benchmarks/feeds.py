"""feeds: 100,000 enterprises in PostgreSQL, a quarter solved and published, a subscription per
enterprise; `wrk` against `quietday serve --workers 2`: first polls (rendering), repeated
polls (the stored body) and polls answered 304, with p50/p99 latency."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import (
    Echo,
    eve,
    fresh_database,
    postgres_reachable,
    server,
    settle,
    wrk_field,
)
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import make_engine, session_scope
from quietday.persistence.registry import EnterpriseRepository
from quietday.persistence.visits import VisitRepository
from quietday.planning.feeds import issue_enterprise_tokens
from quietday.planning.keys import Actor, create_key
from quietday.planning.province import CLI, load_province
from quietday.planning.runs import RunRequest, create_run, execute_run, publish_run

FEEDS = GeneratorConfig(enterprises=100_000, seed=7, horizon="quarter", year=2026, quarter=4)
FEEDS_DB = "bench_feeds"
WRK_SCRIPT = """
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
    non2xx = wrk_field(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests_per_second": float(wrk_field(r"Requests/sec:\s+([\d.]+)", text) or 0),
        "p50": wrk_field(r"50%\s+([\d.]+\w+)", text),
        "p99": wrk_field(r"99%\s+([\d.]+\w+)", text),
        "errors": int(non2xx or 0) + int(wrk_field(r"Socket errors: connect (\d+)", text) or 0),
        "seconds": seconds,
    }


def warm(base: str, tokens: list[str]) -> list[str]:
    """HEAD every feed once (eight at a time, one connection pool); their ETags in order."""
    with httpx.Client(base_url=base, timeout=120) as http, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda t: str(http.head(f"/feeds/{t}.ics").headers["etag"]), tokens))


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk 未安装: apt-get install -y wrk")
    if not postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    progress("生成 100,000 家企业的省份并写入 PostgreSQL……")
    instance = generate(FEEDS)
    url = fresh_database(out, FEEDS_DB, pg=True)
    t0 = time.perf_counter()
    engine = make_engine(url)
    with session_scope(engine, actor=CLI) as session:
        load_province(session, instance)
        supervisor, _ = create_key(session, role="supervisor", label="bench")
        actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
        request = RunRequest(
            horizon_start=instance.horizon.start, horizon_end=instance.horizon.end, time_limit=60
        )
        run = create_run(
            session, actor, request, today=eve(instance.horizon), max_time_limit=3600, max_workers=8
        )
        run_id = int(run.id or 0)
    load_seconds = time.perf_counter() - t0
    progress("求解并发布一个季度……")
    t0 = time.perf_counter()
    execute_run(engine, run_id)
    with session_scope(engine, actor=CLI) as session:
        report = publish_run(session, run_id, today=eve(instance.horizon))
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
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    rows_file = out / "feeds-rows.tsv"
    results: dict[str, Any] = {
        "enterprises": enterprises,
        "subscriptions": len(tokens),
        "published_plans": report.published,
        "visits": report.visits,
        "load_seconds": round(load_seconds, 1),
        "solve_publish_seconds": round(publish_seconds, 1),
        "sample": len(sample),
    }
    settle(FEEDS_DB)
    with server(url, workers=2) as (base, _):
        rows_file.write_text("".join(f"/feeds/{t}.ics\n" for _, t in sample), encoding="utf-8")
        progress("首次拉取(需要渲染)……")
        results["first_polls"] = _wrk(base, rows_file, "first", 20, script)
        progress("其余订阅各拉取一次(渲染并保存)……")
        t0 = time.perf_counter()
        etags = warm(base, [t for _, t in sample])
        results["warm_all_seconds"] = round(time.perf_counter() - t0, 1)
        settle(FEEDS_DB)
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


def print_figures(f: dict[str, Any], echo: Echo) -> None:
    for mode, label in (
        ("first_polls", "首次拉取"),
        ("repeat_polls_full", "重复拉取(完整)"),
        ("polls_304", "304"),
    ):
        r = f[mode]
        echo(
            f"订阅 {label}: {r['requests_per_second']:.0f} 次/秒, p50 {r['p50']}, p99 {r['p99']}, 错误 {r['errors']}"
        )
