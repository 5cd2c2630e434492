"""Filing and approval: an approver approves or rejects its agency's special plans, agencies
read the notices (检查通知) of their triggered checks, and anyone reads the approved special
plans (公示), as a page and as JSON, without signing in."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import ActorDep, SessionDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.routers.dashboard import CSP
from quietday.api.routers.plans import PlanId, public
from quietday.api.schemas import (
    ApprovalDecision,
    CampaignPublic,
    NoticePage,
    NoticePublic,
    PlanPublic,
    PublicSpecialPlans,
)
from quietday.persistence.filing import NoticeRepository
from quietday.planning.filing import PublicListing, decide, list_notices, public_listing

router = APIRouter(tags=["filing"], responses=problem_responses(422))
_pages = Environment(
    loader=PackageLoader("quietday.api", "templates/public"),
    autoescape=select_autoescape(["html"]),
)
_CSS = FilePath(__file__).resolve().parents[1] / "static" / "public.css"
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "public, max-age=300",
}
_MONTH = re.compile(r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")
Month = Annotated[
    str | None, Query(pattern=_MONTH.pattern, description="批准月份 YYYY-MM;默认最近有公示的月份")
]
_DECIDE = problem_responses(401, 403, 404, 409)


def _now(request: Request) -> datetime:
    """The app's clock (tests set it): an approval's moment decides its month on the page."""
    now: datetime = request.app.state.clock()
    return now


@router.post(
    "/api/v1/plans/{plan_id}/approve",
    summary="批准专项检查计划",
    response_model=PlanPublic,
    responses=_DECIDE,
)
def approve(
    request: Request,
    plan_id: PlanId,
    session: SessionDep,
    actor: ActorDep,
    body: ApprovalDecision | None = None,
) -> PlanPublic:
    """本部门负责人(审批密钥)批准一条待审批的专项检查计划;批准后参加排期并公示。"""
    comment = body.comment if body is not None else None
    row = decide(session, actor, plan_id, approve=True, comment=comment, now=_now(request))
    return public(row)


@router.post(
    "/api/v1/plans/{plan_id}/reject",
    summary="不予批准专项检查计划",
    response_model=PlanPublic,
    responses=_DECIDE,
)
def reject(
    request: Request, plan_id: PlanId, body: ApprovalDecision, session: SessionDep, actor: ActorDep
) -> PlanPublic:
    """本部门负责人(审批密钥)不予批准一条待审批的专项检查计划,须附意见。"""
    row = decide(session, actor, plan_id, approve=False, comment=body.comment, now=_now(request))
    return public(row)


def _notice(row: object) -> NoticePublic:
    return NoticePublic.model_validate(row, from_attributes=True)


@router.get(
    "/api/v1/notices",
    summary="检查通知列表",
    response_model=NoticePage,
    responses=problem_responses(401),
)
def notices(
    session: SessionDep,
    actor: ActorDep,
    plan_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="按检查计划筛选")] = None,
    after: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="上一页最后一个编号")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> NoticePage:
    """个案检查的检查通知(执法部门只看到自己的)。"""
    rows, cursor = list_notices(session, actor, plan_id=plan_id, after=after, limit=limit)
    return NoticePage(items=[_notice(r) for r in rows], next_cursor=cursor)


@router.get(
    "/api/v1/notices/{notice_id}",
    summary="一份检查通知",
    response_model=NoticePublic,
    responses=problem_responses(401, 404),
)
def notice(
    notice_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="检查通知编号")],
    session: SessionDep,
    actor: ActorDep,
) -> NoticePublic:
    """一份检查通知。"""
    return _notice(NoticeRepository(session).get_for(notice_id, actor.own_agency))


def _listing(session: SessionDep, month: str | None, today: date) -> PublicListing:
    first = date.fromisoformat(f"{month}-01") if month is not None else None
    return public_listing(session, month=first, today=today)


def _json(listing: PublicListing) -> PublicSpecialPlans:
    return PublicSpecialPlans(
        month=f"{listing.month:%Y-%m}",
        months=[f"{m:%Y-%m}" for m in listing.months],
        campaigns=[
            CampaignPublic.model_validate(c, from_attributes=True) for c in listing.campaigns
        ],
    )


@router.get(
    "/api/v1/public/special-plans",
    summary="专项检查计划公示",
    response_model=PublicSpecialPlans,
)
def public_json(session: SessionDep, today: TodayDep, month: Month = None) -> PublicSpecialPlans:
    """已批准的专项检查计划(无需密钥):部门、事项、期间、范围(县区与企业数,不公开企业名单)。"""
    return _json(_listing(session, month, today))


@router.get("/public/special-plans", include_in_schema=False, response_class=HTMLResponse)
def public_page(session: SessionDep, today: TodayDep, month: Month = None) -> HTMLResponse:
    """The public listing as a page (公示)."""
    listing = _listing(session, month, today)
    html = _pages.get_template("special_plans.html").render(listing=listing)
    return HTMLResponse(html, headers=_HEADERS)


@router.get("/static/public.css", include_in_schema=False)
def stylesheet() -> FileResponse:
    """The public pages' style sheet."""
    return FileResponse(
        _CSS,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
