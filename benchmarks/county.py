"""county: 10,000 enterprises in one county, one quarter, solved by separate `quietday solve`
processes (greedy and CP-SAT), so the wall time is what a user waits for and the peak memory
is the process's own."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import COUNTY, Echo, measured
from quietday.planning import check_files, generate_file


def measure(out: Path, *, time_limit: float, progress: Echo) -> dict[str, Any]:
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
        cmd = [sys.executable, "-m", "quietday", "solve", str(instance), "--out", str(solution)]
        cmd += ["--method", method, "--time-limit", str(time_limit)]
        code, wall, rss, stderr = measured(cmd)
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


LABELS = {
    "wall_seconds": "墙钟秒数",
    "peak_rss_mib": "峰值内存MiB",
    "status": "状态",
    "scheduled": "已排检查",
    "total_priority": "优先级合计",
    "visits": "入企次数",
    "joint_visits": "联合检查",
    "visits_lower_bound": "入企下界",
    "visits_over_bound": "入企/下界",
    "moved": "草稿改动",
    "violations": "违规",
}


def print_figures(rows: dict[str, Any], echo: Echo) -> None:
    echo(f"{'县级实例':<12}{'greedy':>14}{'cpsat':>14}")
    for key, label in LABELS.items():
        echo(f"{label:<12}{rows['greedy'].get(key)!s:>14}{rows['cpsat'].get(key)!s:>14}")
    echo("cpsat 各阶段秒数: " + ", ".join(f"{k} {v}" for k, v in rows["cpsat"]["timings"].items()))
