"""`python -m benchmarks`: the chosen benchmarks run in a fixed order (feeds before dashboard,
which reads its province), their figures printed and written to <out>/bench.json."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from benchmarks import (
    api,
    audit,
    county,
    dashboard,
    distributed,
    feeds,
    feeds_ratio,
    imports,
    load,
    sampling,
    scale,
    webhooks,
)
from benchmarks.harness import COUNTY, Echo, write_results

BENCHMARKS = ("county", "import", "api", "feeds", "audit", "dashboard")
# Not in the default run: `make bench-scale` (year solve 15-20 min), `make bench-load` (API processes, a
# worker and wrk at once), `make bench-distributed` (the 100k quarter on one worker, then two),
# `make bench-sampling` (双随机 draws coordinated against independent, each solved).
SCALE_BENCHMARKS = ("scale", "scale-quarter-100k", "scale-year-1m")
LOAD_BENCHMARKS = ("load", "distributed", "webhooks", "feeds-ratio")
SAMPLING_BENCHMARKS = ("sampling",)

app = typer.Typer(add_completion=False)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_benchmarks(
    out: Path, *, which: tuple[str, ...], time_limit: float, echo: Echo, progress: Echo
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": {"cpus": len(os.sched_getaffinity(0))},
        "time_limit": time_limit,
        "county_generator": asdict(COUNTY),
    }
    sizes = tuple(
        name for name, _, _ in scale.SCALE if f"scale-{name}" in which or "scale" in which
    )
    steps: tuple[tuple[str, ModuleType, dict[str, Any]], ...] = (
        ("county", county, {"time_limit": time_limit}),
        ("import", imports, {}),
        ("feeds", feeds, {}),
        ("feeds-ratio", feeds_ratio, {}),
        ("load", load, {}),
        ("distributed", distributed, {}),
        ("audit", audit, {}),
        ("scale", scale, {"sizes": sizes}),
        ("dashboard", dashboard, {}),
        ("api", api, {"time_limit": time_limit}),
        ("webhooks", webhooks, {}),
        ("sampling", sampling, {}),
    )
    for name, module, options in steps:
        if bool(sizes) if name == "scale" else name in which:
            results[name] = module.measure(out, progress=progress, **options)
            module.print_figures(results[name], echo)
    write_results(out, results, echo)
    return results


@app.command()
def main(
    out: Annotated[Path, typer.Option("--out", help="基准结果目录")] = Path("out/bench"),
    only: Annotated[
        str,
        typer.Option(
            help="逗号分隔: county,import,api,feeds,audit,dashboard; "
            "scale(或 scale-quarter-100k、scale-year-1m); load; distributed; webhooks; feeds-ratio; "
            "sampling"
        ),
    ] = ",".join(BENCHMARKS),
    time_limit: Annotated[float, typer.Option(min=1, help="county 与 api 的求解时限(秒)")] = 60.0,
) -> None:
    """运行基准: 打印各项数字, 并写入 <out>/bench.json。"""
    which = tuple(w.strip() for w in only.split(",") if w.strip())
    unknown = sorted(
        set(which)
        - set(BENCHMARKS)
        - set(SCALE_BENCHMARKS)
        - set(LOAD_BENCHMARKS)
        - set(SAMPLING_BENCHMARKS)
    )
    if unknown:
        raise typer.BadParameter(f"未知的基准: {', '.join(unknown)}", param_hint="--only")
    run_benchmarks(out, which=which, time_limit=time_limit, echo=print, progress=_err)


if __name__ == "__main__":
    app()
