"""Plans: submit one, a batch or a spreadsheet; list, read, change and cancel them."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from quietday.api.deps import ActorDep, SessionDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    BatchResult,
    Day,
    Draft,
    ImportResult,
    PlanCreate,
    PlanPage,
    PlanPublic,
    PlanUpdate,
    SafeStr,
)
from quietday.errors import InputError
from quietday.persistence.plans import PlanFilter
from quietday.persistence.tables import PlanRow
from quietday.planning import idempotency
from quietday.planning.imports import (
    example_row,
    import_plans,
    marked_sheet,
    template_csv,
    template_xlsx,
)
from quietday.planning.keys import Actor
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
# The upload route, apart: the app includes it with the larger body limit of uploads.
uploads = APIRouter(prefix="/api/v1/plans", tags=["plans"], responses=problem_responses(401))
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
    request: Request,
    body: PlanCreate,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
    key: IdemKey = None,
) -> JSONResponse:
    """Submit one planned inspection."""
    fp, replay = _idempotent(request, session, actor, key, body.model_dump_json().encode())
    if replay is not None:
        return replay
    ((row, created),) = create_plans(session, actor, [_input(body)], today=today)
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
    today: TodayDep,
    key: IdemKey = None,
) -> JSONResponse:
    """Submit many plans at once: all are accepted, or none and every bad one is listed."""
    payload = b"\n".join(b.model_dump_json().encode() for b in body)
    fp, replay = _idempotent(request, session, actor, key, payload)
    if replay is not None:
        return replay
    rows = create_plans(session, actor, [_input(b) for b in body], today=today, path="plans")
    result = BatchResult(
        created=sum(1 for _, c in rows if c),
        unchanged=sum(1 for _, c in rows if not c),
        items=[public(r) for r, _ in rows],
    )
    return _answer(session, actor, key=key, fp=fp, status=201, body=result.model_dump(mode="json"))


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_IMPORT_422: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "输入无效: 一次列出每一行的每一处错误(第 N 行「列名」…);"
        "marked=true 时返回标注了错误单元格的 XLSX",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}},
            _XLSX: {},
        },
    }
}


@uploads.post(
    "/import",
    status_code=201,
    response_model=ImportResult,
    responses={**problem_responses(409, 413), **_IMPORT_422},
)
def import_file(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
    file: Annotated[UploadFile, File(description="CSV(UTF-8 或 GB18030)或 XLSX,列名见模板")],
    marked: Annotated[
        bool,
        Query(
            description="有错误时返回上传的表格(XLSX):错误单元格标红并附批注,另附问题清单;"
            "CSV 也以 XLSX 返回"
        ),
    ] = False,
    key: IdemKey = None,
) -> Response:
    """Import a CSV or XLSX of plans with Chinese column headers, all or nothing."""
    fp, replay = _idempotent(request, session, actor, key, _digest_file(file))
    if replay is not None:
        return replay
    name = file.filename or ""
    try:
        report = import_plans(session, actor, file.file, filename=name, today=today)
    except InputError as exc:
        if not marked:
            raise
        # Nothing of a refused import is kept: the rows checked so far are rolled back.
        session.rollback()
        file.file.seek(0)
        stem = name.rsplit(".", 1)[0] or "plans"
        return Response(
            marked_sheet(file.file, filename=name, problems=exc.problems),
            status_code=422,
            media_type=_XLSX,
            headers={
                "Content-Disposition": "attachment; filename=plans-marked.xlsx; "
                f"filename*=UTF-8''{quote(stem + '-标注.xlsx')}"
            },
        )
    body = ImportResult(rows=report.rows, created=report.created, unchanged=report.unchanged)
    return _answer(session, actor, key=key, fp=fp, status=201, body=body.model_dump(mode="json"))


@router.get(
    "/template.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def csv_template(session: SessionDep, actor: ActorDep, today: TodayDep) -> Response:
    """The import template as CSV (UTF-8 with BOM, so Excel opens it right); its example row
    imports as it is: an enterprise of the registry, in the quarter after today."""
    return Response(
        template_csv(example_row(session, actor, today=today)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=plans-template.csv"},
    )


@router.get("/template.xlsx", response_class=Response, responses={200: {"content": {_XLSX: {}}}})
def xlsx_template(session: SessionDep, actor: ActorDep, today: TodayDep) -> Response:
    """The import template as XLSX (the same example row)."""
    return Response(
        template_xlsx(example_row(session, actor, today=today)),
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
    window_from: Annotated[Day | None, Query(description="窗口与此日期之后有交集")] = None,
    window_to: Annotated[Day | None, Query(description="窗口与此日期之前有交集")] = None,
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
