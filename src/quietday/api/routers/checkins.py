"""Check-ins (扫码入企) by agencies, and ratings of them by enterprises through their feed token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from quietday.api.deps import ActorDep, SessionDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    CheckInCreate,
    CheckInFlag,
    CheckInPage,
    CheckInPublic,
    Day,
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

router = APIRouter(
    prefix="/api/v1/check-ins", tags=["check-ins"], responses=problem_responses(401, 422)
)
feed_router = APIRouter(prefix="/feeds/{token}/check-ins", tags=["check-ins"])
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
        flags=[CheckInFlag(code=f.code, detail=f.detail) for f in view.flags],
        rating=(
            RatingPublic(score=rating.score, comment=rating.comment, updated_at=rating.updated_at)
            if rating is not None and rating.updated_at is not None
            else None
        ),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckInPublic,
    responses=problem_responses(403, 422),
)
def create(
    request: Request, session: SessionDep, actor: ActorDep, body: CheckInCreate
) -> CheckInPublic:
    """Record an entry (agency keys): matched to a published visit or flagged, judged by the rules."""
    view = record_check_in(
        session,
        actor,
        CheckInInput(
            enterprise_id=body.enterprise_id,
            certificates=tuple(body.certificates),
            at=body.at,
            visit_id=body.visit_id,
            kind=body.kind,
            exempt_reason=body.exempt_reason,
        ),
        now=request.app.state.clock(),
    )
    return public(view)


@router.get("", response_model=CheckInPage)
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
    """Check-ins by id; an agency sees its own (without ratings)."""
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


@router.get("/ratings", response_model=RatingSummaryPublic, responses=problem_responses(403))
def ratings(session: SessionDep, actor: ActorDep) -> RatingSummaryPublic:
    """An agency's ratings in total: how many and their average, never who gave which."""
    summary = rating_summary(session, actor)
    return RatingSummaryPublic(
        agency_id=actor.agency_id or "", count=summary.count, average=summary.average
    )


@router.get("/{check_in_id}", response_model=CheckInPublic, responses=problem_responses(404))
def read(session: SessionDep, actor: ActorDep, check_in_id: CheckInId) -> CheckInPublic:
    return public(get_check_in(session, actor, check_in_id))


@feed_router.get("", response_model=list[CheckInPublic], responses=problem_responses(404))
def of_token(session: SessionDep, token: Token) -> list[CheckInPublic]:
    """The enterprise's latest check-ins and its own ratings (enterprise feed tokens only)."""
    return [public(v) for v in list_for_token(session, token)]


@feed_router.put(
    "/{check_in_id}/rating",
    response_model=RatingPublic,
    responses=problem_responses(404, 422),
)
def rate(
    session: SessionDep, token: Token, check_in_id: CheckInId, body: RatingPut
) -> RatingPublic:
    """The enterprise rates one of its check-ins, 1–5 with a comment (again: replaces it)."""
    return _rating(
        rate_check_in(session, token, check_in_id, score=body.score, comment=body.comment)
    )
