"""The web application: `create_app(settings)` wires settings, database, runner and routers."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from quietday import __version__
from quietday.api import errors
from quietday.api.limits import BodyLimit
from quietday.api.routers import (
    agency,
    audit,
    calendar,
    checkins,
    codes,
    complaints,
    crew,
    dashboard,
    docs,
    door,
    feeds,
    filing,
    frequency,
    keys,
    plans,
    registry,
    run_controls,
    runs,
    sampling,
    verify,
    visits,
    webhooks,
)
from quietday.api.routers import risk as risk_classes
from quietday.config import Settings
from quietday.persistence import Engine, is_sqlite, make_engine, make_reader, ping
from quietday.planning.feeds import FeedCache, feed_cache
from quietday.planning.runner import ProcessRunner, QueueRunner, Runner, ThreadRunner

__all__ = ["RedactFeedTokens", "create_app", "from_environment"]

DESCRIPTION = """企业安静日检查排期服务。执法部门提交检查计划(单条、批量或表格导入),
监督部门(司法行政)运行排期、发布联合检查。所有错误以 `application/problem+json` 返回,
`detail` 为中文说明,`code` 为稳定的错误代码。认证: `Authorization: Bearer <API 密钥>`。"""


# The groups of /docs, in the order a reader meets them.
TAGS = [
    {
        "name": "plans",
        "description": "检查计划: 执法部门提交(单条、批量或表格导入)、查询、修改与撤销",
    },
    {"name": "runs", "description": "排期运行: 监督部门启动、查看、发布或取消"},
    {"name": "visits", "description": "入企: 已发布的联合检查安排"},
    {"name": "check-ins", "description": "入企登记: 执法部门扫码登记,企业评价"},
    {"name": "feeds", "description": "日历订阅: 企业、执法部门与执法人员的 iCalendar 订阅地址"},
    {"name": "calendar", "description": "节假日安排: 国务院通知与暂定日历"},
    {"name": "registry", "description": "登记册: 行政区划、安静日政策、频次上限、执法部门与企业"},
    {"name": "audit", "description": "审计: 检查频次统计与审计日志"},
    {"name": "keys", "description": "API 密钥: 签发、查看与吊销"},
    {"name": "filing", "description": "备案与审批: 专项检查计划的审批与公示,个案检查的检查通知"},
    {"name": "meta", "description": "服务状态: 存活与就绪检查"},
    {"name": "sampling", "description": "双随机抽查: 抽查批次与任务、抽取与复核、检查结果"},
]
# FastAPI's own wording for a route's success answer, in the language of the rest of /docs.
_SUCCESS = {"Successful Response": "成功"}


class Health(BaseModel):
    status: str
    version: str


# A feed path however it is spelt (`//feeds/`, `/FEEDS/`), and a token wherever it stands (a
# query value, another route's parameter).
_FEED_PATH = re.compile(r"/+feeds/+[^/?\s\"]+", re.IGNORECASE)
_TOKEN = re.compile(r"icsf_[^/?&\s\"]+", re.IGNORECASE)


def _redacted(text: str) -> str:
    return _TOKEN.sub("icsf_***", _FEED_PATH.sub("/feeds/***", text))


class RedactFeedTokens(logging.Filter):
    """Logs never carry a feed token: `/feeds/<token>` is logged as `/feeds/***`, and a token
    anywhere else as `icsf_***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _redacted(record.msg)
        return True


# The loggers that name a request's path: uvicorn's access log and ours of failed requests (a
# logger's filter sees only what is logged on it, not on its children).
_REDACTED_LOGGERS = ("uvicorn.access", errors.log.name)


def _redact_logs() -> None:
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFeedTokens) for f in logger.filters):
            logger.addFilter(RedactFeedTokens())


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _runner(settings: Settings, engine: Engine) -> Runner:
    if settings.runner == "thread":
        return ThreadRunner(engine, settings.part_size)
    if settings.runner == "queue":
        if is_sqlite(settings.database_url):
            raise ValueError("QUIETDAY_RUNNER=queue 需要 PostgreSQL 数据库(SQLite 没有任务队列)")
        return QueueRunner()
    return ProcessRunner(engine, settings.database_url, settings.part_size)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    runner: Runner | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> FastAPI:
    settings = settings or Settings()
    own_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    if runner is None:
        runner = _runner(settings, engine)
    reader = make_reader(engine)
    cache: FeedCache[feeds.Answer] = feed_cache(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.recover()
        cache.start()
        yield
        cache.stop()
        runner.shutdown()
        if reader is not engine:
            reader.dispose()
        if own_engine:
            engine.dispose()

    # /docs and /redoc are served with their assets from here (routers/docs.py), not a CDN.
    app = FastAPI(
        title="quietday 企业安静日检查排期",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.reader = reader
    app.state.runner = runner
    app.state.clock = clock
    app.state.feed_cache = cache
    errors.install(app)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        larger={
            "/api/v1/plans/import": settings.max_upload_bytes,
            agency.UPLOAD_PATH: settings.max_upload_bytes,
            risk_classes.UPLOAD_PATH: settings.max_upload_bytes,
        },
    )
    # Outermost: a poll whose answer this process holds is answered before anything else.
    app.add_middleware(feeds.FeedPolls, cache=cache, clock=clock)
    _redact_logs()
    # Feed polls are most of the traffic: their routes come first in Starlette's linear match.
    for router in (
        feeds.router,
        checkins.feed_router,
        plans.uploads,
        plans.router,
        visits.router,
        codes.router,
        codes.keys,
        verify.api,
        verify.router,
        run_controls.api,
        runs.router,
        calendar.router,
        registry.router,
        keys.router,
        checkins.router,
        frequency.router,
        feeds.tokens,
        audit.router,
        complaints.router,
        run_controls.router,
        dashboard.router,
        door.router,
        door.api,
        filing.router,
        agency.router,
        webhooks.router,
        webhooks.pages,
        crew.router,
        sampling.api,
        sampling.public,
        sampling.pages,
        risk_classes.uploads,
        risk_classes.router,
    ):
        # Any route that reads or writes the database answers 503 while it is unreachable.
        app.include_router(router, responses=errors.problem_responses(503))

    app.include_router(docs.router)
    app.add_exception_handler(dashboard.SignInRequired, dashboard.sign_in_page)
    app.add_exception_handler(door.DoorSignInRequired, door.sign_in_page)
    app.add_exception_handler(door.DoorCrewRequired, door.crew_page)
    app.add_exception_handler(agency.AgencySignInRequired, agency.sign_in_page)

    @app.get("/healthz", summary="存活检查", response_model=Health, tags=["meta"])
    def healthz() -> Health:
        """存活检查: 进程能应答。"""
        return Health(status="ok", version=__version__)

    @app.get("/readyz", summary="就绪检查", response_model=Health, tags=["meta"],
             responses=errors.problem_responses(503))  # fmt: skip
    def readyz() -> Health:
        """就绪检查: 数据库能应答(不能应答时返回 503 `database_unavailable`)。"""
        ping(app.state.reader)
        return Health(status="ready", version=__version__)

    app.openapi = _chinese_openapi(app)  # type: ignore[method-assign]
    return app


def _chinese_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` with FastAPI's default English response descriptions put in Chinese."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        spec = build()  # FastAPI keeps it in app.openapi_schema: translated once
        if fresh:
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    for answer in operation.get("responses", {}).values():
                        text = answer.get("description")
                        answer["description"] = _SUCCESS.get(text, text)
        return spec

    return openapi


def from_environment() -> FastAPI:
    """The app configured from the environment, for `uvicorn --factory` with several workers."""
    settings = Settings()
    problem = settings.serving_problem()
    if problem is not None:
        raise ValueError(problem)
    return create_app(settings)
