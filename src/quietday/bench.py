"""Benchmarks that print a table and write JSON; speed targets live here, not in timed tests.

County scale (issue 2): 10,000 enterprises in one county, one quarter. Each method runs as a
separate `quietday solve` process, so the wall time is what a user waits for (reading and
writing included) and the peak memory is the process's own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from quietday.formats import load_solution
from quietday.generate import GeneratorConfig
from quietday.planning import check_files, generate_file

__all__ = ["run_county_bench"]

COUNTY = GeneratorConfig(
    enterprises=10_000, seed=1, horizon="quarter", year=2026, quarter=3, counties=1
)


def _solve(instance: Path, out: Path, method: str, time_limit: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "quietday", "solve", str(instance), "--out", str(out),
           "--method", method, "--time-limit", str(time_limit)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"quietday solve --method {method} failed:\n{done.stderr[-2000:]}")
    stats = load_solution(out).stats
    return {
        "wall_seconds": round(wall, 2),
        "status": stats.status.value if stats else None,
        "timings": dict(stats.extra.get("timings") or {}) if stats else {},
        # ru_maxrss of children is the largest child so far, in KiB on Linux
        "peak_rss_mib_so_far": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def run_county_bench(
    out: Path,
    *,
    time_limit: float,
    echo: Callable[[str], None],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    instance = out / "county-10000-2026q3.json"
    progress("生成县级实例(10,000 家企业,一个季度)……")
    t0 = time.perf_counter()
    generate_file(COUNTY, instance)
    generate_seconds = time.perf_counter() - t0
    rows: dict[str, dict[str, Any]] = {}
    for method in ("greedy", "cpsat"):
        progress(f"quietday solve --method {method} ……")
        solution = out / f"county-{method}.json"
        row = _solve(instance, solution, method, time_limit)
        checked = check_files(instance, solution)
        m = checked.metrics
        stats = checked.solution.stats
        lower = int(stats.extra.get("visits_lower_bound", 0)) if stats else 0
        row.update(
            inspections=m.inspections,
            scheduled=m.scheduled,
            total_priority=m.total_priority,
            visits=m.visits,
            joint_visits=m.joint_visits,
            moved=m.moved,
            violations=len(checked.violations),
            visits_lower_bound=lower,
            visits_over_bound=round(m.visits / lower, 4) if lower else None,
        )
        rows[method] = row
    greedy, cpsat = rows["greedy"], rows["cpsat"]
    bars = {
        "cpsat_wall_at_most_60s": cpsat["wall_seconds"] <= 60.0,
        "zero_violations": greedy["violations"] == 0 and cpsat["violations"] == 0,
        "priority_at_least_greedy": cpsat["total_priority"] >= greedy["total_priority"],
        "visits_at_most_greedy": cpsat["visits"] <= greedy["visits"],
    }
    result = {
        "benchmark": "county",
        "instance": {"path": str(instance), "generator": asdict(COUNTY)},
        "generate_seconds": round(generate_seconds, 2),
        "time_limit": time_limit,
        "machine": {"cpus": len(os.sched_getaffinity(0))},
        "runs": rows,
        "bars": bars,
    }
    (out / "bench.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    _table(rows, bars, echo)
    echo(f"结果已写入 {out / 'bench.json'}")
    return result


def _table(
    rows: dict[str, dict[str, Any]], bars: dict[str, bool], echo: Callable[[str], None]
) -> None:
    keys = [
        ("wall_seconds", "墙钟秒数"),
        ("status", "状态"),
        ("scheduled", "已排检查"),
        ("total_priority", "优先级合计"),
        ("visits", "入企次数"),
        ("joint_visits", "联合检查"),
        ("visits_lower_bound", "入企下界"),
        ("visits_over_bound", "入企/下界"),
        ("moved", "草稿改动"),
        ("violations", "违规"),
        ("peak_rss_mib_so_far", "峰值内存MiB"),
    ]
    echo(f"{'指标':<12}{'greedy':>14}{'cpsat':>14}")
    for key, label in keys:
        echo(f"{label:<12}{rows['greedy'].get(key)!s:>14}{rows['cpsat'].get(key)!s:>14}")
    timings = rows["cpsat"].get("timings", {})
    echo("cpsat 各阶段秒数: " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    for name, ok in bars.items():
        echo(f"{'通过' if ok else '未通过'}  {name}")
