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
from quietday.domain.model import KindName
from quietday.domain.status import PlanStatus
from quietday.errors import InputError
from quietday.persistence.plans import PlanFilter
from quietday.persistence.tables import PlanRow
from quietday.planning import idempotency
from quietday.planning.filing import approval_note
from quietday.planning.imports import (
    example_row,
    import_plans,
    marked_sheet,
    template_csv,
    template_xlsx,
)
from quietday.planning.keys import Actor
from quietday.planning.plans import (
    PlanInput,
    cancel_plan,
    create_plans,
    get_plan,
    list_plans,
    update_plan,
)
from quietday.planning.risk import remote_note

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
    return PlanPublic.model_validate(
        {
            **row.model_dump(),
            "draft": draft,
            "approval_note": approval_note(row),
            "remote_note": remote_note(row),
        }
    )


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
    summary="提交检查计划",
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
    """提交一条检查计划。"""
    fp, replay = _idempotent(request, session, actor, key, body.model_dump_json().encode())
    if replay is not None:
        return replay
    ((row, created),) = create_plans(session, actor, [_input(body)], today=today)
    status = 201 if created else 200
    return _answer(
        session, actor, key=key, fp=fp, status=status, body=public(row).model_dump(mode="json")
    )


@router.post(
    "/batch",
    summary="批量提交检查计划",
    status_code=201,
    response_model=BatchResult,
    responses=problem_responses(409),
)
def create_batch(
    request: Request,
    body: list[PlanCreate],
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
    key: IdemKey = None,
) -> JSONResponse:
    """一次提交多条检查计划:要么全部接受,要么全部不接受并列出每一条错误。"""
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
    summary="导入检查计划表格",
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
    """导入中文表头的 CSV 或 XLSX 检查计划表格,要么全部导入,要么全部不导入。"""
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
    "/template.csv",
    summary="导入模板(CSV)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def csv_template(session: SessionDep, actor: ActorDep, today: TodayDep) -> Response:
    """CSV 格式的导入模板(UTF-8 带 BOM,Excel 可直接打开);示例行可原样导入:登记册中的企业,今天之后的下一个季度。"""
    return Response(
        template_csv(example_row(session, actor, today=today)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=plans-template.csv"},
    )


@router.get(
    "/template.xlsx",
    summary="导入模板(XLSX)",
    response_class=Response,
    responses={200: {"content": {_XLSX: {}}}},
)
def xlsx_template(session: SessionDep, actor: ActorDep, today: TodayDep) -> Response:
    """XLSX 格式的导入模板(示例行相同)。"""
    return Response(
        template_xlsx(example_row(session, actor, today=today)),
        media_type=_XLSX,
        headers={"Content-Disposition": "attachment; filename=plans-template.xlsx"},
    )


@router.get("", summary="检查计划列表", response_model=PlanPage)
def list_(
    session: SessionDep,
    actor: ActorDep,
    status: Annotated[PlanStatus | None, Query(description="按状态筛选")] = None,
    enterprise_id: Annotated[SafeStr | None, Query(max_length=18)] = None,
    kind: Annotated[KindName | None, Query(description="按检查类型筛选")] = None,
    window_from: Annotated[Day | None, Query(description="窗口与此日期之后有交集")] = None,
    window_to: Annotated[Day | None, Query(description="窗口与此日期之前有交集")] = None,
    agency_id: Annotated[SafeStr | None, Query(max_length=64, description="仅监督密钥可用")] = None,
    cursor: Annotated[SafeStr | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    remote: Annotated[
        bool | None, Query(description="true 只看非现场检查,false 只看现场检查")
    ] = None,
) -> PlanPage:
    """列出检查计划(执法部门只看到自己的),按提交先后排列,附下一页的游标。"""
    flt = PlanFilter(
        agency_id=agency_id if actor.is_supervisor else None,
        status=status,
        enterprise_id=enterprise_id,
        kind=kind,
        window_from=window_from,
        window_to=window_to,
        remote=remote,
    )
    page = list_plans(session, actor, flt, cursor=cursor, limit=limit)
    return PlanPage(items=[public(r) for r in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{plan_id}",
    summary="一条检查计划",
    response_model=PlanPublic,
    responses=problem_responses(404),
)
def read(plan_id: PlanId, session: SessionDep, actor: ActorDep) -> PlanPublic:
    """一条检查计划及其排期状态;未排上时附原因。"""
    return public(get_plan(session, actor, plan_id))


@router.patch(
    "/{plan_id}",
    summary="修改检查计划",
    response_model=PlanPublic,
    responses=problem_responses(404, 409),
)
def update(
    plan_id: PlanId, body: PlanUpdate, session: SessionDep, actor: ActorDep, today: TodayDep
) -> PlanPublic:
    """修改检查计划;已发布的计划若改了窗口、类型、豁免或检查方式,等下一次排期运行再排(改为非现场的不再排期)。"""
    changes = body.model_dump(exclude_unset=True)
    return public(update_plan(session, actor, plan_id, changes, today=today))


@router.post(
    "/{plan_id}/cancel",
    summary="撤销检查计划",
    response_model=PlanPublic,
    responses=problem_responses(404, 409),
)
def cancel(plan_id: PlanId, session: SessionDep, actor: ActorDep, today: TodayDep) -> PlanPublic:
    """撤销检查计划;已发布的计划退出其入企(今天以前的已成记录,不退出)。"""
    return public(cancel_plan(session, actor, plan_id, today=today))
