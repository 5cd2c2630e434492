"""The `quietday` command: solve, check, generate, demo, serve, db, keys, audit, calendar and codes
(typer).

The web and database stacks and the service's settings are imported inside the commands that
use them: they would add about 1.5 s to every `quietday solve` (the settings alone 0.1 s), whose
wall time is what a planner waits for.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from quietday.errors import InputError, QuietdayError
from quietday.generate import GeneratorConfig, HorizonKind
from quietday.planning import check_files, generate_file, solve_file, summary_lines
from quietday.solver import DEFAULT_PART_SIZE, Method, Progress, SolverConfig, for_solving

if TYPE_CHECKING:
    from quietday.config import Settings
    from quietday.persistence import Session
    from quietday.planning.calendar import DisturbedVisit
    from quietday.planning.province import DemoReport


def _settings(**given: Any) -> Settings:
    """The service's settings (pydantic-settings, imported here: 0.1 s a solve does not need)."""
    from quietday.config import Settings

    return Settings(**given)


class _ChineseHelp:
    """`--help` says what it does in Chinese (typer's own words for it are English)."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = "显示本帮助并退出"
        return option


class ChineseCommand(_ChineseHelp, TyperCommand):
    pass


class ChineseGroup(_ChineseHelp, TyperGroup):
    pass


app = typer.Typer(
    cls=ChineseGroup,
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


@app.command(cls=ChineseCommand)
def solve(
    instance: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="quietday.instance/1 文件(.json 或 .json.gz)"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="写出 quietday.solution/1 的路径")],
    time_limit: Annotated[
        float,
        typer.Option(
            min=0.1, help="总时限(秒,含建模);确定性模式下为确定性时间单位(本机约 2-10 秒/单位)"
        ),
    ] = 60.0,
    workers: Annotated[int, typer.Option(min=1, help="CP-SAT 线程数")] = 2,
    seed: Annotated[int, typer.Option(help="随机种子")] = 0,
    deterministic: Annotated[
        bool, typer.Option(help="确定性模式: 同一实例与参数得到逐字节相同的解")
    ] = False,
    method: Annotated[str, typer.Option(help="cpsat 或 greedy")] = "cpsat",
    processes: Annotated[int, typer.Option(min=1, help="并行求解的进程数(默认: 本机核数)")] = len(
        os.sched_getaffinity(0)
    ),
    part_size: Annotated[
        int, typer.Option(min=1, help="超过此检查数的问题按联通块/县区切分求解")
    ] = DEFAULT_PART_SIZE,
) -> None:
    """为一个实例排期,写出其解。"""
    for_solving()
    if method not in ("cpsat", "greedy"):
        raise typer.BadParameter("method 应为 cpsat 或 greedy", param_hint="--method")
    chosen: Method = "cpsat" if method == "cpsat" else "greedy"
    config = SolverConfig(
        time_limit=time_limit,
        workers=workers,
        seed=seed,
        deterministic=deterministic,
        method=chosen,
        processes=processes,
        part_size=part_size,
    )
    if out.is_dir() or not out.parent.is_dir():
        raise typer.BadParameter(f"无法写入 {out}: 目录不存在或目标是一个目录", param_hint="--out")
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
    extra = result.solution.stats.extra if result.solution.stats else {}
    if "decomposition" in extra:
        d = extra["decomposition"]
        print(
            f"分解求解: {d['parts']} 个部分, {d['quarters']} 个季度, {d['processes']} 个进程; "
            f"主进程峰值内存 {extra.get('peak_rss_mib')} MiB"
        )
    ratio = result.metrics.visits / result.visits_lower_bound if result.visits_lower_bound else 1.0
    print(f"入企次数下界 {result.visits_lower_bound:,}(实际/下界 = {ratio:.3f})")
    if extra.get("objective_gap") is not None:
        print(f"目标值与 CP-SAT 证明的界相差 {extra['objective_gap']:.2%}")
    print(f"状态 {result.status.value}, 用时 {time.monotonic() - started:.1f} 秒, 解已写入 {out}")
    if report.violations:
        for v in report.violations[:20]:
            _err(f"违规 {v}")
        raise typer.Exit(EXIT_VIOLATIONS)


@app.command(cls=ChineseCommand)
def check(
    instance: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="quietday.instance/1(可为 .json.gz)")
    ],
    solution: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="quietday.solution/1(可为 .json.gz)")
    ],
) -> None:
    """按每一条硬性规则检查一个解;有任何违规时退出码为 1。"""
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


@app.command(cls=ChineseCommand)
def generate(
    out: Annotated[Path, typer.Option("--out", help="写出实例的路径")],
    enterprises: Annotated[int, typer.Option(min=1, help="企业数")] = 10_000,
    seed: Annotated[int, typer.Option(help="随机种子")] = 1,
    horizon: Annotated[str, typer.Option(help="quarter 或 year")] = "quarter",
    year: Annotated[int, typer.Option(help="年份")] = 2026,
    quarter: Annotated[int, typer.Option(min=1, max=4, help="季度(horizon=quarter 时)")] = 3,
    counties: Annotated[int | None, typer.Option(min=1, max=100, help="只用前 N 个县区")] = None,
    plan_rate: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="计划密度(1.0 约每企业每季度 1.8 项)")
    ] = 1.0,
) -> None:
    """生成一个类似江西省的全省实例。"""
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
        plan_rate=plan_rate,
    )
    started = time.monotonic()
    inst = generate_file(
        cfg, out, on_step=lambda m: _err(f"[{time.monotonic() - started:6.1f}s] {m}")
    )
    print(
        f"已生成 {inst.name}: 企业 {len(inst.enterprises):,} 家, 检查计划 {len(inst.inspections):,} 项 -> {out}"
    )


@app.command(cls=ChineseCommand)
def demo(
    out: Annotated[Path, typer.Option("--out", help="演示文件目录")] = Path("out/demo"),
    enterprises: Annotated[int, typer.Option(min=1, help="企业数")] = 3_000,
    # 3 s gave the demo's quarters the priority and visits 8 s gave (42,611 / 42,603 and
    # 42,878 / 42,872 priority placed), 7 s sooner.
    time_limit: Annotated[float, typer.Option(min=1, help="每次排期运行的时限(秒)")] = 3.0,
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="监听端口")] = 8000,
    serve: Annotated[bool, typer.Option(help="最后启动 API")] = True,
    today: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="以此日期为今天(默认: 北京时间今天)"),
    ] = None,
) -> None:
    """演示: 建一个 SQLite 数据库,含一个省,本季度与下季度已排期并发布,然后启动 API。"""
    _err(f"建立演示数据库 {out / 'quietday.db'} ……")
    from quietday.cli.support import write_run_files
    from quietday.planning.feeds import today_in_china
    from quietday.planning.province import run_demo

    day = today.date() if today is not None else today_in_china(datetime.now(UTC))
    report, engine = run_demo(
        out, enterprises=enterprises, time_limit=time_limit, on_step=_err, today=day
    )
    print("== quietday 演示 ==")
    base = f"http://{host}:{port}"
    violations = 0
    for run, prefix in zip(report.runs, ("current-", ""), strict=True):
        inst_path, sol_path = out / f"{prefix}instance.json", out / f"{prefix}solution.json"
        write_run_files(engine, run.run_id, instance=inst_path, solution=sol_path)
        checked = check_files(inst_path, sol_path)
        violations += len(checked.violations)
        calendar = (
            f"暂定日历({'、'.join(map(str, run.provisional_years))} 年尚无国务院节假日安排)"
            if run.provisional_years
            else "正式日历"
        )
        print(f"-- 排期运行 {run.run_id}: {run.start} 至 {run.end}, {calendar}")
        for line in summary_lines(checked.instance, checked.metrics):
            print(line)
        verdict = (
            "未发现违规" if not checked.violations else f"发现 {len(checked.violations)} 处违规"
        )
        print(f"已发布: {run.published:,} 项检查进入已发布的入企")
        print(f"独立检查(quietday check): {verdict}")
        print(f"复查: quietday check {inst_path} {sol_path}")
    ahead = report.runs[-1]
    if ahead.provisional_years:
        print(
            f"导入 {ahead.provisional_years[0]} 年的国务院节假日安排(holiday-cn JSON 或 CSV)后,"
            f"落在非工作日的已发布入企会列出: quietday calendar import {ahead.provisional_years[0]} 文件"
        )
    print(f"数据库: {report.database_url}")
    print(f"API 文档: {base}/docs")
    print(f"监督看板: {base}/dashboard(用下面的监督密钥登录)")
    print(f"节假日安排: {base}/dashboard/calendar")
    print(f"监督密钥(司法行政): {report.supervisor_key}")
    print(f"部门密钥({report.agency_name} {report.agency_id}): {report.agency_key}")
    print(f"审批密钥({report.approver_agency_id} 负责人): {report.approver_key}")
    print(f"专项检查计划公示: {base}/public/special-plans")
    _print_door(base, report)
    feeds_file = out / "feeds.txt"
    feeds_file.write_text(
        "".join(
            f"{kind}\t{subject}\t{base}/feeds/{token}.ics\n"
            for kind, subject, token in report.feeds
        ),
        encoding="utf-8",
    )
    sample = next(token for kind, _, token in report.feeds if kind == "enterprise")
    agency_feed = next(token for kind, _, token in report.feeds if kind == "agency")
    print(f"企业日历订阅页: {base}/feeds/{sample}")
    print(f"部门日历(iCalendar): {base}/feeds/{agency_feed}.ics")
    print(f"全部 {len(report.feeds):,} 个订阅地址: {feeds_file}")
    print("示例:")
    print(
        f'  curl -H "Authorization: Bearer {report.agency_key}" "{base}/api/v1/plans?status=published&limit=5"'
    )
    print(
        f'  curl -H "Authorization: Bearer {report.supervisor_key}" "{base}/api/v1/runs/{ahead.run_id}"'
    )
    engine.dispose()
    if violations:
        raise typer.Exit(EXIT_VIOLATIONS)
    if serve:
        _serve(_settings(database_url=report.database_url), host=host, port=port)


def _print_door(base: str, report: DemoReport) -> None:
    """The demo's pages at the door and afterwards."""
    print(f"执法人员入企(手机,部门密钥登录后选择执法人员、扫企业监督码): {base}/door")
    if report.sample_code and report.sample_enterprise_code:
        print(f"检查码核验页(企业扫执法人员出示的检查码): {base}/v/{report.sample_code}")
        print(f"企业监督码页面(张贴在企业门口): {base}/e/{report.sample_enterprise_code}")
    print(
        f"企业评价 {report.ratings:,} 条、投诉 {report.complaints:,} 件: "
        f"{base}/dashboard/complaints, 各部门月度监督: {base}/dashboard/supervision"
    )
    print(f"批量打印企业监督码: {base}/dashboard/enterprise-codes")
    print(
        f"随机选派({report.agency_name}): 抽定检查组 {report.crews[0]:,} 次、人员不足 "
        f"{report.crews[1]:,} 次, 部门页面 {base}/agency/month"
    )
    print(f"双随机抽查批次(监督看板): {base}/dashboard/sampling")
    for r in report.rounds:
        print(
            f"  批次 {r.round_id}「{r.name}」公示(种子、抽取记录、抽查结果): {base}/public/sampling/{r.round_id}"
        )
    print(f"双随机抽查结果已录入 {report.results:,} 条, 窗口结束后公开")


def _ready(url: str) -> None:
    """Stop with a clear word, before anything else, if the database is not migrated."""
    from quietday.persistence import schema_behind

    behind = schema_behind(url)
    if behind is not None:
        _err(behind)
        raise typer.Exit(2)


def _webhook_deliverer(settings: Settings) -> Callable[[], None]:
    """Deliver webhooks in a thread of this process until the returned function is called:
    in `quietday worker` (any number side by side on PostgreSQL) and, when no worker runs
    (SQLite, or runs solved in the API's own processes), in `quietday serve`'s main process."""
    import threading

    from quietday.persistence import make_engine
    from quietday.planning.webhooks import Deliverer

    engine = make_engine(settings.database_url)
    deliverer = Deliverer(engine, settings)
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run, args=(stop,), name="webhooks", daemon=True)
    thread.start()

    def end() -> None:
        stop.set()
        thread.join(timeout=settings.webhook_timeout_seconds * 3)
        deliverer.close()
        engine.dispose()

    return end


def _serve(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:

    problem = settings.serving_problem()
    if problem is not None:
        _err(problem)
        raise typer.Exit(2)
    _ready(settings.database_url)
    # Development: links point at this server itself (never at a request's Host header).
    settings = settings.model_copy(
        update={"public_url": settings.base_url(f"http://{host}:{port}")}
    )
    end = _webhook_deliverer(settings) if settings.runner != "queue" else None
    try:
        _uvicorn(settings, host=host, port=port, workers=workers)
    finally:
        if end is not None:
            end()


def _uvicorn(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers == 1:
        from quietday.api import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    # Several processes need the app by import path; each builds it from the environment.
    os.environ["QUIETDAY_DATABASE_URL"] = settings.database_url
    os.environ["QUIETDAY_PUBLIC_URL"] = settings.base_url()
    uvicorn.run(
        "quietday.api.app:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@app.command(cls=ChineseCommand)
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="监听端口")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="进程数(每核一个)")] = 1,
) -> None:
    """只启动 API(数据库取自 QUIETDAY_DATABASE_URL)。"""
    _serve(_settings(), host=host, port=port, workers=workers)


@app.command(cls=ChineseCommand)
def worker(
    # The host's name too: containers of one image (`--scale worker=4`) share their process ids.
    name: Annotated[
        str, typer.Option(help="进程名(日志与任务记录中显示)")
    ] = f"worker-{socket.gethostname()}-{os.getpid()}",
) -> None:
    """从 PostgreSQL 任务队列取排期运行求解,并投递 Webhook,直到被停止(数据库取自 QUIETDAY_DATABASE_URL)。"""
    from quietday.persistence import is_sqlite

    settings = _settings()
    if is_sqlite(settings.database_url):
        _err(
            "quietday worker 需要 PostgreSQL(QUIETDAY_DATABASE_URL);SQLite 的运行在 API 进程内求解"
        )
        raise typer.Exit(2)
    _ready(settings.database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    os.nice(settings.worker_nice)
    end = _webhook_deliverer(settings)
    try:
        _work(settings, name)
    finally:
        end()


def _work(settings: Settings, name: str) -> None:
    from quietday.cli.support import redact
    from quietday.planning.queue import run_worker

    run_worker(
        settings.database_url,
        name=name,
        heartbeat_seconds=settings.worker_heartbeat_seconds,
        stalled_seconds=settings.worker_stalled_seconds,
        part_size=settings.part_size,
        on_ready=lambda: print(
            f"{name} 已连接 {redact(settings.database_url)},等待排期运行", flush=True
        ),
    )


db_app = typer.Typer(cls=ChineseGroup, help="数据库", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade", cls=ChineseCommand)
def db_upgrade() -> None:
    """创建或迁移数据库结构(数据库取自 QUIETDAY_DATABASE_URL)。"""
    from quietday.cli.support import redact
    from quietday.persistence import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print(f"数据库已升级到最新版本: {redact(settings.database_url)}")


@db_app.command("load-registry", cls=ChineseCommand)
def db_load_registry(
    instance: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="quietday generate 写出的实例文件"),
    ],
) -> None:
    """载入实例中的行政区划、安静日政策、频次上限、执法部门与企业(不含检查计划与历史),
    用于新部署;检查计划之后经 API 提交。"""
    from quietday.formats import load_instance
    from quietday.planning.province import CLI, load_registry

    inst = load_instance(instance)
    try:
        with _database(actor=CLI) as session:
            load_registry(session, inst)
    except InputError as exc:
        raise _bad_input(exc) from None
    print(
        f"已载入 {inst.name}: 执法部门 {len(inst.agencies):,} 个, 企业 {len(inst.enterprises):,} 家"
    )


keys_app = typer.Typer(cls=ChineseGroup, help="API 密钥", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create", cls=ChineseCommand)
def keys_create(
    supervisor: Annotated[bool, typer.Option("--supervisor", help="监督(司法行政)密钥")] = False,
    agency: Annotated[str | None, typer.Option("--agency", help="部门密钥: 部门编码")] = None,
    approver: Annotated[
        bool, typer.Option("--approver", help="与 --agency 同用: 该部门负责人的审批密钥")
    ] = False,
    label: Annotated[str, typer.Option(help="备注")] = "",
) -> None:
    """创建一个 API 密钥;密钥只显示这一次。"""
    if supervisor == (agency is not None):
        raise typer.BadParameter("请指定 --supervisor 或 --agency ID 之一")
    if approver and agency is None:
        raise typer.BadParameter("--approver 须与 --agency ID 同用")
    from quietday.cli.support import create_key_now

    url = _settings().database_url
    _ready(url)
    try:
        key = create_key_now(url, agency=agency, approver=approver, label=label)
    except InputError as exc:
        raise _bad_input(exc) from None
    print(key)
    _err("密钥只显示这一次,请妥善保存。")


audit_app = typer.Typer(cls=ChineseGroup, help="审计日志", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify", cls=ChineseCommand)
def audit_verify(
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", help="此前记下的锚点 序号:哈希(quietday audit head 的输出)"),
    ] = None,
) -> None:
    """检查审计链: 每一条、每一环、链头与锚点;有问题时退出码为 1。"""
    from quietday.planning.audit import verify_database

    url = _settings().database_url
    _ready(url)
    try:
        report = verify_database(url, anchor)
    except InputError as exc:
        raise _bad_input(exc) from None
    for problem in report.problems:
        print(f"问题 [{problem.code}] 第 {problem.seq} 条: {problem.message}")
    if report.omitted:
        print(f"另有 {report.omitted:,} 处问题未列出。")
    if report.problems:
        print(f"共 {len(report.problems) + report.omitted:,} 处问题: 审计日志被改动过。")
        raise typer.Exit(EXIT_VIOLATIONS)
    print(
        f"审计日志完好: 共 {report.entries:,} 条, 链头 第 {report.head_seq} 条 {report.head_hash}"
    )


@audit_app.command("head", cls=ChineseCommand)
def audit_head() -> None:
    """打印链头(序号:哈希),记下作为以后检查用的锚点。"""
    from quietday.planning.audit import head_of

    url = _settings().database_url
    _ready(url)
    seq, digest = head_of(url)
    print(f"{seq}:{digest}")
    _err("请在日志之外记下这个锚点;日后用 quietday audit verify --anchor 序号:哈希 核对。")


@audit_app.command("actuals", cls=ChineseCommand)
def audit_actuals(
    year: Annotated[int, typer.Option("--year", min=2000, max=2100, help="年份")],
    out: Annotated[Path, typer.Option("--out", help="输出目录")] = Path("out/actuals"),
) -> None:
    """把一年的入企登记写成一个实例与一个解,供 `quietday check` 判定。"""
    from quietday.planning.checkins import write_actuals

    url = _settings().database_url
    _ready(url)
    instance, solution, entries = write_actuals(url, year, out)
    print(f"{year} 年扫码入企记录 {entries:,} 条 -> {instance}、{solution}")
    print(f"复查: quietday check {instance} {solution}")


calendar_app = typer.Typer(
    cls=ChineseGroup, help="节假日安排(国务院通知): 导入、查看、受影响的入企", no_args_is_help=True
)
app.add_typer(calendar_app, name="calendar")


@contextmanager
def _database(actor: str | None = None) -> Iterator[Session]:
    """One unit of work on QUIETDAY_DATABASE_URL, committed when the block ends."""
    from quietday.persistence import make_engine, session_scope

    url = _settings().database_url
    _ready(url)
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=actor) as session:
            yield session
    finally:
        engine.dispose()


def _print_disturbed(visits: Iterable[DisturbedVisit]) -> int:
    count = 0
    for d in visits:
        v = d.visit
        print(
            f"  入企 {v.visit_id}  {v.day} {d.why}  {v.enterprise_name}({v.enterprise_id})"
            f"  牵头 {v.lead_agency_name}({v.lead_agency_id})  检查 {v.plans} 项"
        )
        count += 1
    return count


@calendar_app.command("list", cls=ChineseCommand)
def calendar_list() -> None:
    """列出各年的节假日安排: 正式(已导入国务院通知)或暂定(按放假办法推算),来源,受影响的入企。"""
    from quietday.planning.calendar import list_years
    from quietday.planning.feeds import today_in_china

    with _database() as session:
        years = list_years(session, today=today_in_china(datetime.now(UTC)))
    for y in years:
        status = "暂定" if y.provisional else "正式"
        when = f" {y.imported_at:%Y-%m-%d} {y.imported_by}" if y.imported_at else ""
        print(
            f"{y.year} {status} 来源 {y.source}{when}: 放假 {y.holidays} 天, "
            f"调休上班 {y.workdays} 天, 落在非工作日的已发布入企 {y.disturbed} 次"
        )


@calendar_app.command("show", cls=ChineseCommand)
def calendar_show(year: Annotated[int, typer.Argument(min=2000, max=2100, help="年份")]) -> None:
    """列出一年的放假日与调休上班日。"""
    from quietday.planning.calendar import year_days

    with _database() as session:
        listing, lines = year_days(session, year)
    print(f"{year} 年 {'暂定' if listing.provisional else '正式'}(来源 {listing.source})")
    for line in lines:
        print(f"{line.day} {line.weekday} {'休' if line.off else '班'} {line.name}")


@calendar_app.command("import", cls=ChineseCommand)
def calendar_import(
    year: Annotated[int, typer.Argument(min=2000, max=2100, help="年份")],
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="holiday-cn 格式的 JSON,或 CSV(表头 date,kind,name;kind 为 休 或 班)",
        ),
    ],
) -> None:
    """导入一年的国务院节假日安排(替换该年原有的安排),记入审计日志;列出工作日有变的日期,
    以及每一次现在落在非工作日的已发布入企(下一次排期运行会改排)。"""
    from quietday.planning.calendar import every_disturbed, import_notice
    from quietday.planning.province import CLI

    try:
        with _database(actor=CLI) as session:
            report = import_notice(session, year=year, data=file.read_bytes())
            disturbed = list(every_disturbed(session, year=year))
    except InputError as exc:
        raise _bad_input(exc) from None
    replaced = f",替换了原来的安排(来源 {report.replaced})" if report.replaced else ""
    print(
        f"已导入 {year} 年节假日安排(来源 {report.source}): 放假 {report.holidays} 天, "
        f"调休上班 {report.workdays} 天{replaced}"
    )
    if report.changed:
        print(f"工作日有变的日期 {len(report.changed)} 天: " + "、".join(map(str, report.changed)))
    print(f"落在非工作日的已发布入企 {len(disturbed):,} 次(下一次覆盖这些日期的排期运行会改排)")
    _print_disturbed(disturbed)


@calendar_app.command("disturbed", cls=ChineseCommand)
def calendar_disturbed(
    year: Annotated[int, typer.Option("--year", min=2000, max=2100, help="年份")],
) -> None:
    """列出一年中每一次落在非工作日的已发布入企。"""
    from quietday.planning.calendar import every_disturbed

    with _database() as session:
        count = _print_disturbed(every_disturbed(session, year=year))
    print(f"{year} 年落在非工作日的已发布入企 {count:,} 次。")


codes_app = typer.Typer(
    cls=ChineseGroup, help="检查码与监督码的签名密钥: 更换、公钥", no_args_is_help=True
)
app.add_typer(codes_app, name="codes")


@codes_app.command("rotate-key", cls=ChineseCommand)
def codes_rotate_key() -> None:
    """更换数据库中保存的签名密钥;旧公钥继续受信任,已打印的检查码和监督码仍可核验。"""
    from quietday.planning.codes import rotate_stored_key
    from quietday.planning.province import CLI

    settings = _settings()
    if settings.code_key_pem() is not None:
        _err(
            "签名密钥由配置提供(QUIETDAY_CODE_SIGNING_KEY 或 QUIETDAY_CODE_SIGNING_KEY_FILE),"
            "不能在数据库中更换。更换方法: 把新私钥放入该配置,把旧密钥的公钥(PEM)追加到 "
            "QUIETDAY_CODE_RETIRED_PUBLIC_KEYS,然后重启各 API 进程;"
            "旧公钥留在其中期间,旧密钥签发的码仍可核验。"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    with _database(actor=CLI) as session:
        kid = rotate_stored_key(session)
    print(f"已更换签名密钥,新密钥编号 {kid};旧密钥的公钥继续受信任。")


@codes_app.command("public-keys", cls=ChineseCommand)
def codes_public_keys() -> None:
    """打印验证签名的公钥(JWK Set,JSON),可发给省级平台离线核验检查码与监督码。"""
    import json

    from quietday.planning.codes import keyring

    settings = _settings()
    with _database() as session:
        ring = keyring(session, settings.code_key_pem(), settings.code_retired_public_keys)
        print(json.dumps(ring.jwks(), ensure_ascii=False, indent=2))


webhooks_app = typer.Typer(cls=ChineseGroup, help="Webhook: 投递", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("deliver", cls=ChineseCommand)
def webhooks_deliver(
    once: Annotated[bool, typer.Option("--once", help="只投递一轮到期的,然后退出")] = False,
) -> None:
    """投递到期的 Webhook,直到被停止(SQLite 只运行一个;PostgreSQL 可以多个并行)。"""
    import signal
    import threading

    from quietday.persistence import make_engine
    from quietday.planning.webhooks import Deliverer

    settings = _settings()
    _ready(settings.database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = make_engine(settings.database_url)
    deliverer = Deliverer(engine, settings)
    try:
        if once:
            total = 0
            while done := deliverer.run_once():
                total += done
            print(f"已尝试投递 {total} 次")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print("正在投递 Webhook(Ctrl-C 停止)", flush=True)
        deliverer.run(stop)
    finally:
        deliverer.close()
        engine.dispose()


sampling_app = typer.Typer(cls=ChineseGroup, help="双随机抽查", no_args_is_help=True)
app.add_typer(sampling_app, name="sampling")


@sampling_app.command("verify", cls=ChineseCommand)
def sampling_verify(
    target: Annotated[
        str,
        typer.Argument(
            metavar="ROUND",
            help="抽查批次编号(读数据库),或公示页面下载的抽取记录 JSON 文件(draw.json)",
        ),
    ],
) -> None:
    """用记录的随机种子和抽查对象快照重新抽取,与保存的结果比较;不一致时退出码为 1。"""
    import json

    from quietday.planning.sampling import Verification, verify_document, verify_round

    found: Verification
    try:
        if target.isascii() and target.isdigit() and not Path(target).exists():
            with _database() as session:
                found = verify_round(session, int(target))
        else:
            path = Path(target)
            if not path.is_file():
                raise typer.BadParameter(f"找不到文件 {target}")
            try:
                document = json.loads(path.read_bytes())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                _err(f"错误 [bad_json] {target} 不是 JSON: {exc}")
                raise typer.Exit(EXIT_BAD_INPUT) from None
            found = verify_document(document)
    except InputError as exc:
        raise _bad_input(exc) from None
    except QuietdayError as exc:
        _err(f"错误 [{exc.code}] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    print(f"种子与承诺值{'相符' if found.commitment_ok else '不符'}")
    print(f"抽查对象快照与摘要{'相符' if found.digest_ok else '不符'}")
    print(f"重新抽取 {found.expected:,} 家次,保存 {found.stored:,} 家次")
    for line in found.differences:
        print(line)
    if not found.equal:
        print("不一致: 抽取结果与记录的种子和抽查对象不符。")
        raise typer.Exit(EXIT_VIOLATIONS)
    print("一致: 重新抽取的结果与保存的结果相同。")


registry_app = typer.Typer(cls=ChineseGroup, help="登记册: 企业信用风险分类", no_args_is_help=True)
app.add_typer(registry_app, name="registry")


@registry_app.command("import-risk", cls=ChineseCommand)
def registry_import_risk(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV(UTF-8 或 GB18030),列:统一社会信用代码、风险分类、分类日期、无感监管(可选)",
        ),
    ],
) -> None:
    """导入市场监管部门按月发布的企业信用风险分类(A-D),要么全部导入,要么全部不导入,记入审计日志;
    分类日期不能晚于今天;早于已登记日期的行不覆盖已登记的分类。"""
    from quietday.planning.feeds import today_in_china
    from quietday.planning.province import CLI
    from quietday.planning.risk_import import import_risk_classes

    today = today_in_china(datetime.now(UTC))
    try:
        with _database(actor=CLI) as session, file.open("rb") as stream:
            report = import_risk_classes(session, stream, filename=file.name, today=today)
    except InputError as exc:
        raise _bad_input(exc) from None
    print(
        f"已导入 {report.rows:,} 行: 更新 {report.updated:,} 家, 未变 {report.unchanged:,} 家, "
        f"分类日期较早而未覆盖 {report.skipped_older:,} 行"
    )
    for o in report.older:
        print(f"  第 {o.row} 行 {o.enterprise_id}: {o.classified_on} 早于已登记的 {o.stored_on}")
