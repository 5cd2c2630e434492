"""api: the county instance loaded into a database, one run started, solved and published
through the HTTP API, the published schedule re-checked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import COUNTY, Echo, fresh_database, registry, server
from quietday.domain.check import find_violations
from quietday.formats import parse_instance, parse_solution
from quietday.generate import generate


def measure(out: Path, *, time_limit: float, progress: Echo) -> dict[str, Any]:
    instance = generate(COUNTY)
    url = fresh_database(out, "bench_api", pg=False)
    progress("县级实例写入数据库……")
    t0 = time.perf_counter()
    key = registry(url, instance, plans=True)
    load_seconds = time.perf_counter() - t0
    headers = {"Authorization": f"Bearer {key}"}
    progress("通过 API 运行并发布排期……")
    with (
        server(url) as (base, _),
        httpx.Client(base_url=base, headers=headers, timeout=600) as http,
    ):
        t0 = time.perf_counter()
        # The county's quarter may be past by the wall clock: planned again as a correction.
        body = {
            "horizon_start": instance.horizon.start.isoformat(),
            "horizon_end": instance.horizon.end.isoformat(),
            "time_limit": time_limit,
            "correction": True,
        }
        run = http.post("/api/v1/runs", json=body).json()
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


def print_figures(a: dict[str, Any], echo: Echo) -> None:
    echo(
        f"API 端到端: 入库 {a['load_seconds']} 秒, 运行 {a['run_seconds']} 秒, 发布 {a['publish_seconds']} 秒, "
        f"发布 {a['published_plans']:,} 项 / 入企 {a['visits']:,} 次, 违规 {a['violations']}"
    )
