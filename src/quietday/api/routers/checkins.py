"""Check-ins (扫码入企) by agencies, and ratings of them by enterprises through their feed token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from quietday.api.deps import ActorDep, KeyringDep, SessionDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    CheckInCreate,
    CheckInFlag,
    CheckInPage,
    CheckInPublic,
    Day,
    RatingMonthPublic,
    RatingPublic,
    RatingPut,
    RatingSummaryPublic,
    SafeStr,
)
from quietday.persistence.tables import RatingRow
from quietday.planning.checkins import (
    ENTRY_FLAGS,
    RULE_FLAGS,
    CheckInFilter,
    CheckInInput,
    CheckInView,
    get_check_in,
    list_check_ins,
    list_for_token,
    rate_check_in,
    rating_summary,
    record_check_in,
)
from quietday.planning.door import resolve_enterprise

router = APIRouter(
    prefix="/api/v1/check-ins", tags=["check-ins"], responses=problem_responses(401, 422)
)
feed_router = APIRouter(
    prefix="/feeds/{token}/check-ins", tags=["check-ins"], responses=problem_responses(422)
)
CheckInId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Token = Annotated[str, Path(min_length=1, max_length=100, description="企业的订阅令牌")]
FLAGS = tuple(sorted(set(ENTRY_FLAGS) | RULE_FLAGS))


def _rating(row: RatingRow) -> RatingPublic:
    return RatingPublic(score=row.score, comment=row.comment, updated_at=row.updated_at)


def public(view: CheckInView) -> CheckInPublic:
    row, rating = view.row, view.rating
    return CheckInPublic(
        id=int(row.id or 0),
        agency_id=row.agency_id,
        enterprise_id=row.enterprise_id,
        at=row.at,
        date=row.day,
        kind=row.kind,
        exempt_reason=row.exempt_reason,
        certificates=list(row.certificates),
        visit_id=row.visit_id,
        scanned=row.enterprise_code is not None,
        scanned_at=row.scanned_at,
        late_reason=row.late_reason,
        flags=[CheckInFlag(code=f.code, detail=f.detail) for f in view.flags],
        rating=(
            RatingPublic(score=rating.score, comment=rating.comment, updated_at=rating.updated_at)
            if rating is not None and rating.updated_at is not None
            else None
        ),
    )


@router.post(
    "",
    summary="登记入企",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckInPublic,
    responses=problem_responses(403, 422),
)
def create(
    request: Request, session: SessionDep, actor: ActorDep, ring: KeyringDep, body: CheckInCreate
) -> CheckInPublic:
    """登记一次入企(执法部门密钥):与已发布的入企匹配或标记异常,并按规则判定。扫码登记时填
    enterprise_code(企业监督码的地址或令牌)代替 enterprise_id;紧急情况先行检查、离开前扫码的,
    填 late 与事由,入企时间 at 早于扫码时间 scanned_at,并标记 late_scan。本部门当日没有该企业
    有效检查码的入企标记 no_code。"""
    enterprise_id, token = resolve_enterprise(
        session, ring, enterprise_id=body.enterprise_id, code=body.enterprise_code
    )
    view = record_check_in(
        session,
        actor,
        CheckInInput(
            enterprise_id=enterprise_id,
            certificates=tuple(body.certificates),
            at=body.at,
            visit_id=body.visit_id,
            kind=body.kind,
            exempt_reason=body.exempt_reason,
            enterprise_code=token,
            scanned_at=body.scanned_at,
            late=body.late,
            late_reason=body.late_reason,
        ),
        now=request.app.state.clock(),
    )
    return public(view)


@router.get("", summary="入企登记列表", response_model=CheckInPage)
def list_(
    session: SessionDep,
    actor: ActorDep,
    enterprise_id: Annotated[SafeStr | None, Query(max_length=18)] = None,
    agency_id: Annotated[SafeStr | None, Query(max_length=64)] = None,
    date_from: Annotated[Day | None, Query(description="起始日期(含)")] = None,
    date_to: Annotated[Day | None, Query(description="截止日期(含)")] = None,
    flag: Annotated[
        SafeStr | None, Query(description=f"只列带此标记的: {', '.join(FLAGS)}")
    ] = None,
    after: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="上一页最后一条入企记录的编号")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CheckInPage:
    """按编号列出入企登记;执法部门只看到自己的(不含评价)。"""
    views = list_check_ins(
        session,
        actor,
        CheckInFilter(
            agency_id=agency_id,
            enterprise_id=enterprise_id,
            day_from=date_from,
            day_to=date_to,
            flag=flag,
        ),
        after=after,
        limit=limit,
    )
    items = [public(v) for v in views]
    return CheckInPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get(
    "/ratings",
    summary="部门评价汇总",
    response_model=RatingSummaryPublic,
    responses=problem_responses(403),
)
def ratings(session: SessionDep, actor: ActorDep, request: Request) -> RatingSummaryPublic:
    """一个执法部门收到的评价汇总:以往各月(不含本月)的条数与平均分;不足 5 条的不给平均分,不显示谁给了哪一条。"""
    summary = rating_summary(session, actor, now=request.app.state.clock())
    return RatingSummaryPublic(
        agency_id=actor.agency_id or "",
        count=summary.count,
        average=summary.average,
        months=[RatingMonthPublic(month=m, count=n, average=avg) for m, n, avg in summary.months],
    )


@router.get(
    "/{check_in_id}",
    summary="一条入企登记",
    response_model=CheckInPublic,
    responses=problem_responses(404),
)
def read(session: SessionDep, actor: ActorDep, check_in_id: CheckInId) -> CheckInPublic:
    """一条入企登记及其判定。"""
    return public(get_check_in(session, actor, check_in_id))


@feed_router.get(
    "",
    summary="企业的入企登记",
    response_model=list[CheckInPublic],
    responses=problem_responses(404),
)
def of_token(session: SessionDep, token: Token) -> list[CheckInPublic]:
    """企业最近的入企登记及其自己的评价(仅限企业的订阅令牌)。"""
    return [public(v) for v in list_for_token(session, token)]


@feed_router.put(
    "/{check_in_id}/rating",
    summary="评价入企",
    response_model=RatingPublic,
    responses=problem_responses(404, 422),
)
def rate(
    session: SessionDep, token: Token, check_in_id: CheckInId, body: RatingPut, request: Request
) -> RatingPublic:
    """企业为自己的一次入企打分(1–5 分)并可留言;再次提交即替换。"""
    now = request.app.state.clock()
    return _rating(
        rate_check_in(session, token, check_in_id, score=body.score, comment=body.comment, now=now)
    )
