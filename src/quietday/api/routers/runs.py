"""Solve runs: start one (202 at once), follow it, download its instance and solution, publish."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from quietday.api.deps import RunnerDep, SessionDep, SettingsDep, SupervisorDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import PublishResult, RunCreate, RunPage, RunPublic, SafeStr
from quietday.persistence.runs import RunRepository
from quietday.persistence.tables import RunRow
from quietday.planning import idempotency
from quietday.planning.runs import RunRequest, cancel_run, create_run, publish_run, run_document

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=problem_responses(401, 403, 422))
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="排期运行编号")]


def public(row: RunRow) -> RunPublic:
    return RunPublic.model_validate(row.model_dump(exclude={"instance_gz", "solution_gz"}))


@router.post(
    "",
    summary="开始排期运行",
    status_code=202,
    response_model=RunPublic,
    responses=problem_responses(409),
)
def start(
    request: Request,
    body: RunCreate,
    session: SessionDep,
    actor: SupervisorDep,
    settings: SettingsDep,
    runner: RunnerDep,
    today: TodayDep,
    key: Annotated[SafeStr | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> JSONResponse:
    """开始一次排期运行;立即排队,在请求之外运行。"""
    fp = idempotency.fingerprint(request.url.path, body.model_dump_json()) if key else None
    if key is not None and fp is not None:
        hit = idempotency.recall(session, actor, key, fp)
        if hit is not None:
            return JSONResponse(
                hit.body, status_code=hit.status_code, headers={"Idempotent-Replayed": "true"}
            )
    run = create_run(
        session,
        actor,
        RunRequest(**body.model_dump()),
        today=today,
        max_time_limit=settings.max_time_limit,
        max_workers=settings.max_workers,
    )
    answer = public(run).model_dump(mode="json")
    if key is not None and fp is not None:
        idempotency.remember(session, actor, key=key, request=fp, status_code=202, body=answer)
    runner.submit(session, int(run.id or 0))
    return JSONResponse(answer, status_code=202, headers={"Location": f"/api/v1/runs/{run.id}"})


@router.get("", summary="排期运行列表", response_model=RunPage)
def list_(
    session: SessionDep,
    actor: SupervisorDep,
    before: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="上一页最后一个运行编号")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    """排期运行,新的在前。"""
    rows = list(RunRepository(session).list(limit=limit + 1, after=before))
    more = len(rows) > limit
    rows = rows[:limit]
    return RunPage(
        items=[public(r) for r in rows],
        next_cursor=int(rows[-1].id or 0) if more and rows else None,
    )


@router.get(
    "/{run_id}", summary="一次排期运行", response_model=RunPublic, responses=problem_responses(404)
)
def read(run_id: RunId, session: SessionDep, actor: SupervisorDep) -> RunPublic:
    """一次排期运行的状态、进度与摘要。"""
    return public(RunRepository(session).get_or_raise(run_id))


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """RFC 9110: the client lists gzip (or else `*`) with a weight above 0. No header at all
    (curl without --compressed) counts as no: a saved download must be the JSON itself."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, *params = (p.strip() for p in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.lower()] = weight
    for coding in ("gzip", "x-gzip", "*"):
        if coding in weights:
            return weights[coding] > 0
    return False


def _gunzipped(blob: bytes, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The JSON inside a stored document, a megabyte at a time (a province's is large)."""
    inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    data = blob
    while data:
        yield inflate.decompress(data, chunk)
        data = inflate.unconsumed_tail
    yield inflate.flush()


def _document(request: Request, session: SessionDep, run_id: int, which: str) -> Response:
    blob = run_document(session, run_id, which)
    headers = {
        "Content-Disposition": f"attachment; filename=run-{run_id}-{which}.json",
        "Vary": "Accept-Encoding",
    }
    if _accepts_gzip(request.headers.get("accept-encoding")):
        return Response(blob, media_type="application/json", headers={
            **headers, "Content-Encoding": "gzip"})  # fmt: skip
    return StreamingResponse(_gunzipped(blob), media_type="application/json", headers=headers)


_DOC = {
    200: {
        "content": {"application/json": {}},
        "description": "JSON;客户端接受 gzip(Accept-Encoding)时以 gzip 压缩传输",
    },
    **problem_responses(404, 409),
}


@router.get("/{run_id}/instance", summary="运行的排期实例", response_class=Response, responses=_DOC)
def instance(
    run_id: RunId, request: Request, session: SessionDep, actor: SupervisorDep
) -> Response:
    """该运行求解的 quietday.instance/1 实例原样返回(可用 `quietday check` 复核)。"""
    return _document(request, session, run_id, "instance")


@router.get("/{run_id}/solution", summary="运行的排期结果", response_class=Response, responses=_DOC)
def solution(
    run_id: RunId, request: Request, session: SessionDep, actor: SupervisorDep
) -> Response:
    """该运行的 quietday.solution/1 结果。"""
    return _document(request, session, run_id, "solution")


@router.post(
    "/{run_id}/publish",
    summary="发布排期",
    response_model=PublishResult,
    responses=problem_responses(404, 409),
)
def publish(
    run_id: RunId, session: SessionDep, actor: SupervisorDep, today: TodayDep
) -> PublishResult:
    """把该运行的入企发布为正式排期,在一个事务中完成。"""
    report = publish_run(session, run_id, today=today)
    return PublishResult.model_validate(asdict(report))


@router.post(
    "/{run_id}/cancel",
    summary="取消排期运行",
    response_model=RunPublic,
    responses=problem_responses(404),
)
def cancel(run_id: RunId, session: SessionDep, actor: SupervisorDep) -> RunPublic:
    """取消排队中或运行中的排期运行(运行中的保留已找到的结果)。"""
    return public(cancel_run(session, run_id))
