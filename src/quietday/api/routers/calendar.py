"""The official calendar: each year's State Council notice (or its provisional calendar), the
import of a notice, and the published visits it leaves on days off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Request, UploadFile

from quietday.api.deps import ActorDep, SessionDep, SupervisorDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    CalendarDay,
    CalendarImportResult,
    CalendarYearDetail,
    CalendarYearPublic,
    DisturbedPage,
    DisturbedVisitPublic,
)
from quietday.planning import calendar
from quietday.planning.feeds import today_in_china

router = APIRouter(
    prefix="/api/v1/calendar", tags=["calendar"], responses=problem_responses(401, 422)
)
Year = Annotated[int, Path(ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR, description="年份")]


def _year(listing: calendar.YearListing) -> CalendarYearPublic:
    return CalendarYearPublic.model_validate(listing, from_attributes=True)


def _page(page: calendar.DisturbedPage) -> DisturbedPage:
    return DisturbedPage(
        year=page.year,
        total=page.total,
        next_cursor=page.next_cursor,
        items=[
            DisturbedVisitPublic(
                visit_id=d.visit.visit_id,
                date=d.visit.day,
                why=d.why,
                enterprise_id=d.visit.enterprise_id,
                enterprise_name=d.visit.enterprise_name,
                lead_agency_id=d.visit.lead_agency_id,
                lead_agency_name=d.visit.lead_agency_name,
                plans=d.visit.plans,
            )
            for d in page.items
        ],
    )


@router.get("/years", summary="节假日安排年份", response_model=list[CalendarYearPublic])
def years(request: Request, session: SessionDep, actor: ActorDep) -> list[CalendarYearPublic]:
    """每年的节假日安排: 正式(国务院通知)或暂定(尚无通知),来源与受影响的入企数,新年份在前。"""
    today = today_in_china(request.app.state.clock())
    return [_year(y) for y in calendar.list_years(session, today=today)]


@router.get("/years/{year}", summary="一年的节假日安排", response_model=CalendarYearDetail)
def year(year: Year, session: SessionDep, actor: ActorDep) -> CalendarYearDetail:
    """一年的放假日与调休上班日。"""
    listing, lines = calendar.year_days(session, year)
    return CalendarYearDetail(
        **_year(listing).model_dump(),
        days=[
            CalendarDay(date=line.day, kind="休" if line.off else "班", name=line.name)
            for line in lines
        ],
    )


@router.post(
    "/years/{year}/import",
    summary="导入节假日安排",
    response_model=CalendarImportResult,
    responses=problem_responses(403, 409),
)
def import_notice(
    year: Year,
    session: SessionDep,
    actor: SupervisorDep,
    file: Annotated[
        UploadFile,
        File(
            description="holiday-cn 格式的 JSON,或 UTF-8 CSV(表头 date,kind,name;kind 为 休 或 班)"
        ),
    ],
) -> CalendarImportResult:
    """导入一年的国务院节假日安排(替换该年原有的),记入审计日志;答复列出现在落在非工作日的已发布入企。"""
    report = calendar.import_notice(session, year=year, data=file.file.read(calendar.MAX_BYTES + 1))
    return CalendarImportResult(
        year=report.year,
        source=report.source.value,
        holidays=report.holidays,
        workdays=report.workdays,
        replaced=report.replaced,
        changed_days=report.changed,
        disturbed=_page(report.disturbed),
    )


@router.get("/disturbed", summary="受节假日影响的入企", response_model=DisturbedPage)
def disturbed(
    session: SessionDep,
    actor: SupervisorDep,
    year: Annotated[int, Query(ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR, description="年份")],
    after: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="上一页最后一个入企编号")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DisturbedPage:
    """一年中落在非工作日的已发布入企(下一次覆盖其日期的排期运行会改排)。"""
    return _page(calendar.disturbed_visits(session, year=year, after=after, limit=limit))
