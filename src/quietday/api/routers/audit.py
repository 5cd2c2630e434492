"""The audit log, read by supervisors: every state change with actor, time and what changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quietday.api.deps import SessionDep, SupervisorDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import AuditEntryPublic, AuditPage, SafeStr
from quietday.planning.audit import page

router = APIRouter(
    prefix="/api/v1/audit", tags=["audit"], responses=problem_responses(401, 403, 422)
)


@router.get("/log", summary="审计日志", response_model=AuditPage)
def log(
    session: SessionDep,
    actor: SupervisorDep,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="上一页最后一条的序号")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    action: Annotated[
        SafeStr | None, Query(max_length=64, description="按操作前缀筛选,如 plan. 或 run.publish")
    ] = None,
    subject: Annotated[
        SafeStr | None, Query(max_length=200, description="按对象筛选,如 plan:123")
    ] = None,
) -> AuditPage:
    """按顺序列出审计日志条目(仅监督部门),分页返回。"""
    rows, cursor = page(session, after=after, limit=limit, action=action, subject=subject)
    return AuditPage(
        items=[AuditEntryPublic.model_validate(r.model_dump()) for r in rows], next_cursor=cursor
    )
