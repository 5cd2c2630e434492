"""import: CSV uploads of 2,000 and 10,000 plans to a running `quietday serve` (SQLite, and
PostgreSQL when reachable), timed per request, with the server's peak memory growth."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import (
    COUNTY,
    Echo,
    fresh_database,
    peak_rss_mib,
    postgres_reachable,
    registry,
    server,
)
from quietday.domain.model import Instance
from quietday.generate import generate
from quietday.planning.feeds import today_in_china
from quietday.planning.imports import COLUMNS, next_quarter

KINDS = {
    "routine": "日常检查",
    "special": "专项检查",
    "case": "个案检查",
    "requested": "应企业申请",
}


def _csv(instance: Instance, rows: int, prefix: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([h for h, _, _ in COLUMNS])
    for k, i in enumerate(instance.inspections[:rows]):
        writer.writerow(
            [
                f"{prefix}-{k}",
                i.agency,
                i.enterprise,
                KINDS[i.kind.value],
                "、".join(i.items),
                i.earliest.isoformat(),
                i.latest.isoformat(),
                i.priority,
                i.exempt_reason or "",
                "否",
            ]
        )
    return out.getvalue().encode("utf-8")


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    # The county's plans, in the quarter after today: a window already past is refused.
    start, _ = next_quarter(today_in_china(datetime.now(UTC)))
    instance = generate(replace(COUNTY, year=start.year, quarter=(start.month + 2) // 3))
    results: dict[str, Any] = {}
    backends = ["sqlite", *(["postgresql"] if postgres_reachable() else [])]
    for backend in backends:
        url = fresh_database(out, "bench_import", backend == "postgresql")
        key = registry(url, instance, plans=False)
        for rows in (2_000, 10_000):
            body = _csv(instance, rows, f"R{rows}")
            progress(f"导入 {rows:,} 行 CSV({backend})……")
            with server(url) as (base, pid):
                before, _ = peak_rss_mib(pid)
                t0 = time.perf_counter()
                r = httpx.post(
                    f"{base}/api/v1/plans/import",
                    files={"file": ("plans.csv", body)},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=600,
                )
                wall = time.perf_counter() - t0
                _, peak = peak_rss_mib(pid)
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


def print_figures(results: dict[str, Any], echo: Echo) -> None:
    for name, row in results.items():
        if name != "bars":
            echo(
                f"导入 {name}: {row['request_seconds']} 秒, {row['rows_per_second']} 行/秒, 服务进程内存增长 {row['server_rss_growth_mib']} MiB"
            )
