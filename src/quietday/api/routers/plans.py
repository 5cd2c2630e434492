"""Plans: submit one, a batch or a spreadsheet; list, read, change and cancel them."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from quietday.api.deps import ActorDep, SessionDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    BatchResult,
    Draft,
    ImportResult,
    PlanCreate,
    PlanPage,
    PlanPublic,
    PlanUpdate,
    SafeStr,
)
from quietday.persistence.repositories import PlanFilter
from quietday.persistence.tables import PlanRow
from quietday.planning import idempotency
from quietday.planning.access import Actor
from quietday.planning.imports import import_plans, template_csv, template_xlsx
from quietday.planning.plans import (
    KINDS,
    PlanInput,
    cancel_plan,
    create_plans,
    get_plan,
    list_plans,
    update_plan,
)

router = APIRouter(prefix="/api/v1/plans", tags=["plans"], responses=problem_responses(401, 422))
PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="检查计划编号")]
IdemKey = Annotated[
    SafeStr | None,
    Header(alias="Idempotency-Key", max_length=200, description="重复提交同一请求时返回首次的结果"),
]


def public(row: PlanRow) -> PlanPublic:
    draft = (
        Draft(run_id=row.draft_run_id, date=row.draft_date, reason=row.reason, detail=row.detail)
        if row.draft_run_id is not None
        else None
    )
    return PlanPublic.model_validate({**row.model_dump(), "draft": draft})


def _input(body: PlanCreate) -> PlanInput:
    data = body.model_dump()
    data["items"] = tuple(data["items"])
    return PlanInput(**data)


def _idempotent(
    request: Request, session: SessionDep, actor: Actor, key: str | None, payload: bytes
) -> tuple[str | None, JSONResponse | None]:
    if key is None:
        return None, None
    fp = idempotency.fingerprint(request.method, request.url.path, payload)
    hit = idempotency.recall(session, actor, key, fp)
    if hit is not None:
        return fp, JSONResponse(
            hit.body, status_code=hit.status_code, headers={"Idempotent-Replayed": "true"}
        )
    return fp, None


def _digest_file(file: UploadFile) -> bytes:
    """The upload's SHA-256, read in blocks (the file may be large), rewound afterwards."""
    digest = hashlib.sha256()
    for block in iter(lambda: file.file.read(1 << 20), b""):
        digest.update(block)
    file.file.seek(0)
    return digest.digest()


def _answer(
    session: SessionDep,
    actor: Actor,
    *,
    key: str | None,
    fp: str | None,
    status: int,
    body: dict[str, Any],
) -> JSONResponse:
    if key is not None and fp is not None:
        idempotency.remember(session, actor, key=key, request=fp, status_code=status, body=body)
    return JSONResponse(body, status_code=status)


@router.post(
    "",
    status_code=201,
    response_model=PlanPublic,
    responses={
        200: {"model": PlanPublic, "description": "已有相同 external_ref 且内容相同的计划"},
        **problem_responses(409),
    },
)
def create_plan(
    request: Request, body: PlanCreate, session: SessionDep, actor: ActorDep, key: IdemKey = None
) -> JSONResponse:
    """Submit one planned inspection."""
    fp, replay = _idempotent(request, session, actor, key, body.model_dump_json().encode())
    if replay is not None:
        return replay
    ((row, created),) = create_plans(session, actor, [_input(body)])
    status = 201 if created else 200
    return _answer(
        session, actor, key=key, fp=fp, status=status, body=public(row).model_dump(mode="json")
    )


@router.post(
    "/batch", status_code=201, response_model=BatchResult, responses=problem_responses(409)
)
def create_batch(
    request: Request,
    body: list[PlanCreate],
    session: SessionDep,
    actor: ActorDep,
    key: IdemKey = None,
) -> JSONResponse:
    """Submit many plans at once: all are accepted, or none and every bad one is listed."""
    payload = b"\n".join(b.model_dump_json().encode() for b in body)
    fp, replay = _idempotent(request, session, actor, key, payload)
    if replay is not None:
        return replay
    rows = create_plans(session, actor, [_input(b) for b in body], path="plans")
    result = BatchResult(
        created=sum(1 for _, c in rows if c),
        unchanged=sum(1 for _, c in rows if not c),
        items=[public(r) for r, _ in rows],
    )
    return _answer(session, actor, key=key, fp=fp, status=201, body=result.model_dump(mode="json"))


@router.post(
    "/import", status_code=201, response_model=ImportResult, responses=problem_responses(409)
)
def import_file(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    file: Annotated[UploadFile, File(description="CSV(UTF-8 或 GB18030)或 XLSX,列名见模板")],
    key: IdemKey = None,
) -> JSONResponse:
    """Import a CSV or XLSX of plans with Chinese column headers, all or nothing."""
    fp, replay = _idempotent(request, session, actor, key, _digest_file(file))
    if replay is not None:
        return replay
    report = import_plans(session, actor, file.file, filename=file.filename or "")
    body = ImportResult(rows=report.rows, created=report.created, unchanged=report.unchanged)
    return _answer(session, actor, key=key, fp=fp, status=201, body=body.model_dump(mode="json"))


@router.get(
    "/template.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def csv_template(actor: ActorDep) -> Response:
    """The import template as CSV (UTF-8 with BOM, so Excel opens it right)."""
    return Response(
        template_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=plans-template.csv"},
    )


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/template.xlsx", response_class=Response, responses={200: {"content": {_XLSX: {}}}})
def xlsx_template(actor: ActorDep) -> Response:
    """The import template as XLSX."""
    return Response(
        template_xlsx(),
        media_type=_XLSX,
        headers={"Content-Disposition": "attachment; filename=plans-template.xlsx"},
    )


@router.get("", response_model=PlanPage)
def list_(
    session: SessionDep,
    actor: ActorDep,
    status: Annotated[
        str | None,
        Query(pattern="^(submitted|published|unscheduled|cancelled)$", description="按状态筛选"),
    ] = None,
    enterprise_id: Annotated[SafeStr | None, Query(max_length=18)] = None,
    kind: Annotated[str | None, Query(pattern=f"^({'|'.join(KINDS)})$")] = None,
    window_from: Annotated[date | None, Query(description="窗口与此日期之后有交集")] = None,
    window_to: Annotated[date | None, Query(description="窗口与此日期之前有交集")] = None,
    agency_id: Annotated[SafeStr | None, Query(max_length=64, description="仅监督密钥可用")] = None,
    cursor: Annotated[SafeStr | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PlanPage:
    """List plans (an agency sees only its own), newest last, with a cursor for the next page."""
    flt = PlanFilter(
        agency_id=agency_id if actor.is_supervisor else None,
        status=status,
        enterprise_id=enterprise_id,
        kind=kind,
        window_from=window_from,
        window_to=window_to,
    )
    page = list_plans(session, actor, flt, cursor=cursor, limit=limit)
    return PlanPage(items=[public(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{plan_id}", response_model=PlanPublic, responses=problem_responses(404))
def read(plan_id: PlanId, session: SessionDep, actor: ActorDep) -> PlanPublic:
    """One plan with its scheduling state and, when unscheduled, the reason."""
    return public(get_plan(session, actor, plan_id))


@router.patch("/{plan_id}", response_model=PlanPublic, responses=problem_responses(404, 409))
def update(
    plan_id: PlanId, body: PlanUpdate, session: SessionDep, actor: ActorDep, today: TodayDep
) -> PlanPublic:
    """Change a plan; a published one whose window, kind or exemption changes waits for the next run."""
    changes = body.model_dump(exclude_unset=True)
    return public(update_plan(session, actor, plan_id, changes, today=today))


@router.post("/{plan_id}/cancel", response_model=PlanPublic, responses=problem_responses(404, 409))
def cancel(plan_id: PlanId, session: SessionDep, actor: ActorDep, today: TodayDep) -> PlanPublic:
    """Cancel a plan; a published one leaves its visit (not one of the record: dated before today)."""
    return public(cancel_plan(session, actor, plan_id, today=today))
