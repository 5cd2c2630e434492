"""The `quietday` command: solve, check, generate, demo and bench (typer)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from quietday.bench import run_county_bench
from quietday.errors import InputError
from quietday.generate import GeneratorConfig, HorizonKind
from quietday.planning import check_files, generate_file, solve_file, summary_lines
from quietday.solver import Method, Progress, SolverConfig

app = typer.Typer(
    help="quietday: 企业安静日检查排期(合并联合检查、避开安静日、遵守频次上限)",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _progress(p: Progress) -> None:
    _err(f"[{p.seconds:6.1f}s] {p.message}")


def _bad_input(exc: InputError) -> typer.Exit:
    for problem in exc.problems:
        _err(f"错误 [{problem.code}] {problem}")
    _err(f"共 {len(exc.problems)} 处错误,未做任何处理。")
    return typer.Exit(EXIT_BAD_INPUT)


@app.command()
def solve(
    instance: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="quietday.instance/1 文件")
    ],
    out: Annotated[Path, typer.Option("--out", help="写出 quietday.solution/1 的路径")],
    time_limit: Annotated[float, typer.Option(min=0.1, help="总时限(秒,含建模)")] = 60.0,
    workers: Annotated[int, typer.Option(min=1, help="CP-SAT 线程数")] = 2,
    seed: Annotated[int, typer.Option(help="随机种子")] = 0,
    deterministic: Annotated[
        bool, typer.Option(help="确定性模式: 同一实例与参数得到逐字节相同的解")
    ] = False,
    method: Annotated[str, typer.Option(help="cpsat 或 greedy")] = "cpsat",
) -> None:
    """Schedule an instance and write its solution."""
    if method not in ("cpsat", "greedy"):
        raise typer.BadParameter("method 应为 cpsat 或 greedy", param_hint="--method")
    chosen: Method = "cpsat" if method == "cpsat" else "greedy"
    config = SolverConfig(
        time_limit=time_limit,
        workers=workers,
        seed=seed,
        deterministic=deterministic,
        method=chosen,
    )
    started = time.monotonic()
    try:
        report = solve_file(instance, out, config, on_progress=_progress)
    except InputError as exc:
        raise _bad_input(exc) from None
    result = report.result
    for line in summary_lines(report.instance, result.metrics):
        print(line)
    if result.greedy_metrics is not None:
        g = result.greedy_metrics
        print(
            f"贪心基线: 已排 {g.scheduled:,} 项(优先级 {g.total_priority:,}), 入企 {g.visits:,} 次"
        )
    ratio = result.metrics.visits / result.visits_lower_bound if result.visits_lower_bound else 1.0
    print(f"入企次数下界 {result.visits_lower_bound:,}(实际/下界 = {ratio:.3f})")
    print(f"状态 {result.status.value}, 用时 {time.monotonic() - started:.1f} 秒, 解已写入 {out}")
    if report.violations:
        for v in report.violations[:20]:
            _err(f"违规 {v}")
        raise typer.Exit(EXIT_VIOLATIONS)


@app.command()
def check(
    instance: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    solution: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
) -> None:
    """Check a solution against every hard rule; exit 1 on any violation."""
    try:
        report = check_files(instance, solution)
    except InputError as exc:
        raise _bad_input(exc) from None
    for v in report.violations:
        print(f"违规 [{v.code}] {v.message}")
    for line in summary_lines(report.instance, report.metrics):
        print(line)
    if report.violations:
        print(f"共 {len(report.violations)} 处违规。")
        raise typer.Exit(EXIT_VIOLATIONS)
    print("未发现违规。")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="写出实例的路径")],
    enterprises: Annotated[int, typer.Option(min=1, help="企业数")] = 10_000,
    seed: Annotated[int, typer.Option(help="随机种子")] = 1,
    horizon: Annotated[str, typer.Option(help="quarter 或 year")] = "quarter",
    year: Annotated[int, typer.Option(help="年份")] = 2026,
    quarter: Annotated[int, typer.Option(min=1, max=4, help="季度(horizon=quarter 时)")] = 3,
    counties: Annotated[int | None, typer.Option(min=1, max=100, help="只用前 N 个县区")] = None,
) -> None:
    """Generate a Jiangxi-like province instance."""
    if horizon not in ("quarter", "year"):
        raise typer.BadParameter("horizon 应为 quarter 或 year", param_hint="--horizon")
    kind: HorizonKind = "year" if horizon == "year" else "quarter"
    cfg = GeneratorConfig(
        enterprises=enterprises,
        seed=seed,
        horizon=kind,
        year=year,
        quarter=quarter,
        counties=counties,
    )
    started = time.monotonic()
    inst = generate_file(
        cfg, out, on_step=lambda m: _err(f"[{time.monotonic() - started:6.1f}s] {m}")
    )
    print(
        f"已生成 {inst.name}: 企业 {len(inst.enterprises):,} 家, 检查计划 {len(inst.inspections):,} 项 -> {out}"
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="演示文件目录")] = Path("out/demo"),
    enterprises: Annotated[int, typer.Option(min=1)] = 5_000,
    time_limit: Annotated[float, typer.Option(min=1)] = 30.0,
) -> None:
    """Generate a demo province, solve it, check it and summarise it in Chinese."""
    out.mkdir(parents=True, exist_ok=True)
    inst_path, sol_path = out / "instance.json", out / "solution.json"
    _err(f"生成演示省份(企业 {enterprises:,} 家)……")
    generate_file(GeneratorConfig(enterprises=enterprises, seed=2026), inst_path)
    _err("求解……")
    report = solve_file(
        inst_path, sol_path, SolverConfig(time_limit=time_limit), on_progress=_progress
    )
    checked = check_files(inst_path, sol_path)
    print("== quietday 演示 ==")
    for line in summary_lines(checked.instance, checked.metrics):
        print(line)
    g = report.result.greedy_metrics
    if g is not None:
        print(f"对照: 贪心排期入企 {g.visits:,} 次, 本次 {checked.metrics.visits:,} 次")
    verdict = "未发现违规" if not checked.violations else f"发现 {len(checked.violations)} 处违规"
    print(f"独立检查(quietday check): {verdict}")
    print(f"实例: {inst_path}")
    print(f"排期: {sol_path}")
    print(f"复查: quietday check {inst_path} {sol_path}")
    if checked.violations:
        raise typer.Exit(EXIT_VIOLATIONS)


@app.command()
def bench(
    out: Annotated[Path, typer.Option("--out", help="基准结果目录")] = Path("out/bench"),
    time_limit: Annotated[float, typer.Option(min=1)] = 60.0,
) -> None:
    """Run the county-scale benchmark: print a table and write JSON."""
    run_county_bench(out, time_limit=time_limit, echo=print, progress=_err)
