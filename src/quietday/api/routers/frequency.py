"""The frequency audit (频次监督) for supervisors: JSON pages, and CSV and XLSX exports."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from quietday.api.deps import SessionDep, SupervisorDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import FrequencyPagePublic, FrequencyRowPublic, SafeStr
from quietday.planning.frequency import export_csv, export_xlsx, frequency_page

router = APIRouter(
    prefix="/api/v1/audit/frequency", tags=["audit"], responses=problem_responses(401, 403, 422)
)
By = Annotated[
    Literal["enterprise", "agency", "county", "city"],
    Query(description="按企业、部门、县(区)或市汇总"),
]
PeriodQ = Annotated[SafeStr, Query(max_length=7, description="期间: 2026、2026-Q3 或 2026-07")]
RegionQ = Annotated[
    str | None, Query(pattern=r"^[0-9]{2,6}$", description="只看这个行政区划(代码前缀)")
]
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("", summary="检查频次审计", response_model=FrequencyPagePublic)
def page(
    session: SessionDep,
    actor: SupervisorDep,
    period: PeriodQ,
    by: By = "enterprise",
    region: RegionQ = None,
    after: Annotated[
        SafeStr | None, Query(max_length=64, description="上一页的 next_cursor")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FrequencyPagePublic:
    """计划与实际入企次数、按类型的检查数、联合检查率、少开的门、非现场检查数(另计,不算入企)、违规与频次上限余量;每个对象一行,分页返回。"""
    result = frequency_page(session, dim=by, period=period, after=after, limit=limit, region=region)
    return FrequencyPagePublic(
        dimension=result.dimension,
        period=result.period.label,
        first=result.period.first,
        last=result.period.last,
        items=[FrequencyRowPublic.model_validate(asdict(r)) for r in result.rows],
        next_cursor=result.next_cursor,
    )


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename={name}"}


@router.get(
    ".csv",
    summary="导出审计(CSV)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def csv_export(
    session: SessionDep,
    actor: SupervisorDep,
    period: PeriodQ,
    by: By = "enterprise",
    region: RegionQ = None,
) -> Response:
    """整份审计导出为 CSV,中文表头(UTF-8 带 BOM)。"""
    return Response(
        export_csv(session, dim=by, period=period, region=region),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(f"frequency-{by}-{period}.csv"),
    )


@router.get(
    ".xlsx",
    summary="导出审计(XLSX)",
    response_class=Response,
    responses={200: {"content": {_XLSX: {}}}},
)
def xlsx_export(
    session: SessionDep,
    actor: SupervisorDep,
    period: PeriodQ,
    by: By = "enterprise",
    region: RegionQ = None,
) -> Response:
    """整份审计导出为 XLSX,中文表头。"""
    return Response(
        export_xlsx(session, dim=by, period=period, region=region),
        media_type=_XLSX,
        headers=_attachment(f"frequency-{by}-{period}.xlsx"),
    )
