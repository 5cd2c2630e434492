"""The published schedule as visits (一次入企): who comes to which enterprise on which day."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quietday.api.deps import ActorDep, SessionDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import Day, SafeStr, VisitPage, VisitPublic
from quietday.planning.plans import list_visits

router = APIRouter(prefix="/api/v1/visits", tags=["visits"], responses=problem_responses(401, 422))


@router.get("", summary="入企列表", response_model=VisitPage)
def list_(
    session: SessionDep,
    actor: ActorDep,
    date_from: Annotated[Day | None, Query(description="起始日期(含)")] = None,
    date_to: Annotated[Day | None, Query(description="截止日期(含)")] = None,
    enterprise_id: Annotated[SafeStr | None, Query(max_length=18)] = None,
    after: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="上一页最后一个入企编号")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> VisitPage:
    """已发布的入企;执法部门看到自己参加的。"""
    views, cursor = list_visits(
        session,
        actor,
        day_from=date_from,
        day_to=date_to,
        enterprise_id=enterprise_id,
        after=after,
        limit=limit,
    )
    items = [
        VisitPublic.model_validate(
            {
                **v.visit.model_dump(),
                "date": v.visit.day,
                "agencies": v.agencies,
                "plan_ids": v.plan_ids,
            }
        )
        for v in views
    ]
    return VisitPage(items=items, next_cursor=cursor)
