"""scale: a province solved by the decomposed solver in one `quietday solve` process tree (its
worker processes included in the peak memory, sampled from /proc): 100,000 enterprises for a
quarter, and 1,000,000 enterprises with about 2 million inspections for a year; the greedy of
the same instance beside it, and `quietday check` of the answer."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.harness import Echo, measured_tree
from quietday.generate import GeneratorConfig

SCALE = (
    ("quarter-100k", GeneratorConfig(enterprises=100_000, seed=1, horizon="quarter"), 95.0),
    (
        "year-1m",
        GeneratorConfig(enterprises=1_000_000, seed=1, horizon="year", plan_rate=0.28),
        900.0,
    ),
)


def measure(out: Path, *, sizes: tuple[str, ...], progress: Echo) -> dict[str, Any]:
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
            cmd = [sys.executable, "-m", "quietday", "generate", "--out", str(instance)]
            cmd += ["--enterprises", str(cfg.enterprises), "--horizon", cfg.horizon]
            cmd += ["--seed", str(cfg.seed), "--plan-rate", str(cfg.plan_rate)]
            code, wall, rss, stderr = measured_tree(cmd)
            if code != 0:
                raise RuntimeError(f"quietday generate failed:\n{stderr[-2000:]}")
            row["generate"] = {"wall_seconds": round(wall, 1), "peak_rss_mib": round(rss)}
        for method in ("cpsat", "greedy"):
            progress(f"{name}: quietday solve --method {method} ……")
            solution = out / f"scale-{name}-{method}.json"
            cmd = [sys.executable, "-m", "quietday", "solve", str(instance), "--out", str(solution)]
            cmd += ["--method", method, "--time-limit", str(time_limit)]
            code, wall, rss, stderr = measured_tree(cmd)
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
        code, wall, rss, stderr = measured_tree(
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


def print_figures(rows: dict[str, Any], echo: Echo) -> None:
    for name, row in rows.items():
        for method in ("cpsat", "greedy"):
            r = row[method]
            echo(
                f"{name} {method}: {r['wall_seconds']} 秒, 峰值内存 {r['peak_rss_mib']} MiB, "
                f"已排 {r['scheduled']:,}(优先级 {r['total_priority']:,}), 入企 {r['visits']:,} 次, "
                f"下界 {r['visits_lower_bound']:,}(比 {r['visits_over_bound']})"
            )
        echo(f"{name} check: 退出码 {row['check']['exit_code']}, {row['check']['wall_seconds']} 秒")
