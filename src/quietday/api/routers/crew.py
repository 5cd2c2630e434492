"""随机选派 over the API: an agency's inspectors drawn for its visits of a month, declared
conflicts (回避) and the validity of certificates. An agency key acts for its own agency (any
other is the same 404 as a missing one), a supervisor for every agency; certificates' validity
and withdrawing a 回避 are the supervisors' alone (403 for an agency key)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Response

from quietday.api.deps import ActorDep, SessionDep, SupervisorDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    CertifiedUntilPut,
    ConflictCreate,
    ConflictDeclared,
    ConflictPublic,
    DrawnTeam,
    InspectorCertified,
    InspectorDrawCreate,
    InspectorDrawPublic,
    ReleasedVisit,
    UnplacedVisit,
)
from quietday.persistence.tables import InspectorConflictRow
from quietday.planning import crew, registry

router = APIRouter(
    prefix="/api/v1/agencies/{agency_id}",
    tags=["registry"],
    responses=problem_responses(401, 403, 404, 422),
)
AgencyId = Annotated[str, Path(min_length=1, max_length=64, pattern=registry.AGENCY_ID_PATTERN)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _conflict(row: InspectorConflictRow) -> ConflictPublic:
    return ConflictPublic.model_validate(row.model_dump())


def _released(released: list[crew.Released]) -> list[ReleasedVisit]:
    return [
        ReleasedVisit(
            visit_id=r.visit_id,
            day=r.day,
            enterprise_id=r.enterprise_id,
            inspector_ids=list(r.left),
            needs_team=r.needs_team,
        )
        for r in released
    ]


@router.post(
    "/inspector-draws",
    summary="随机选派本月执法人员",
    response_model=InspectorDrawPublic,
)
def draw(
    agency_id: AgencyId,
    body: InspectorDrawCreate,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
) -> InspectorDrawPublic:
    """为本部门一个月中尚未到期、未扫码入企的入企随机抽取执法人员(双随机):只抽在岗、
    入企当天执法证有效、未申报回避该企业的人员,本月入企次数少者优先,同等者按种子随机。
    已指派 2 名以上且都符合条件的入企保留(redraw 为 true 时重新抽取)。相同输入与种子得出相同结果;每次抽取连同
    种子、输入与结果记入审计日志。"""
    outcome = crew.draw_month(
        session,
        actor,
        agency_id=agency_id,
        month=date.fromisoformat(f"{body.month}-01"),
        today=today,
        team_size=body.team_size,
        per_day=body.per_day,
        redraw=body.redraw,
    )
    visits = outcome.visits
    return InspectorDrawPublic(
        agency_id=outcome.agency_id,
        month=outcome.month,
        seed=outcome.seed,
        inputs_digest=outcome.digest,
        teams=[
            DrawnTeam(
                visit_id=k,
                day=visits[k].day,
                enterprise_id=visits[k].enterprise_id,
                inspector_ids=list(team),
            )
            for k, team in outcome.teams.items()
        ],
        kept=list(outcome.kept),
        unplaced=[
            UnplacedVisit(
                visit_id=k, day=visits[k].day, enterprise_id=visits[k].enterprise_id, reason=why
            )
            for k, why in outcome.unplaced.items()
        ],
    )


@router.get(
    "/inspector-conflicts",
    summary="执法人员回避申报列表",
    response_model=list[ConflictPublic],
)
def conflicts(agency_id: AgencyId, session: SessionDep, actor: ActorDep) -> list[ConflictPublic]:
    """本部门执法人员申报的回避企业。"""
    return [_conflict(r) for r in crew.conflicts_of(session, actor, agency_id)]


@router.post(
    "/inspector-conflicts",
    summary="申报回避",
    status_code=201,
    response_model=ConflictDeclared,
    responses=problem_responses(409),
)
def declare(
    agency_id: AgencyId,
    body: ConflictCreate,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
) -> ConflictDeclared:
    """申报本部门一名执法人员须回避某企业(亲属关系、曾任职等);此后不会选派其检查该企业。
    此人即从该企业今天起尚未扫码的入企中撤出(released 列出,needs_team 为 true 的须重新随机选派或指派)。"""
    declared = crew.declare_conflict(
        session,
        actor,
        agency_id=agency_id,
        inspector_id=body.inspector_id,
        enterprise_id=body.enterprise_id,
        reason=body.reason,
        today=today,
    )
    return ConflictDeclared(
        **_conflict(declared.conflict).model_dump(), released=_released(declared.released)
    )


@router.delete(
    "/inspector-conflicts/{conflict_id}",
    summary="撤回回避申报(仅监督密钥)",
    status_code=204,
)
def remove(
    agency_id: AgencyId, conflict_id: RowId, session: SessionDep, actor: ActorDep
) -> Response:
    """撤回一条回避申报。回避登记由司法行政(监督)部门掌握,与执法证有效期一样:执法部门可以申报,
    撤回须用监督密钥(执法部门的密钥得到 403),以免申报回避、重新抽取、再撤回来挑选人员。"""
    crew.remove_conflict(session, actor, agency_id=agency_id, conflict_id=conflict_id)
    return Response(status_code=204)


@router.put(
    "/inspectors/{inspector_id}/certified-until",
    summary="登记执法证有效期",
    response_model=InspectorCertified,
)
def certified_until(
    agency_id: AgencyId,
    inspector_id: RowId,
    body: CertifiedUntilPut,
    session: SessionDep,
    actor: SupervisorDep,
    today: TodayDep,
) -> InspectorCertified:
    """登记一名执法人员执法证的有效期截止日(含);此后的入企不再指派或抽取此人。此人即从截止日之后
    (今天起)尚未扫码的入企中撤出(released 列出,needs_team 为 true 的须重新随机选派或指派)。"""
    done = crew.set_certified_until(
        session,
        actor,
        agency_id=agency_id,
        inspector_id=inspector_id,
        until=body.certified_until,
        today=today,
    )
    return InspectorCertified(**done.inspector.model_dump(), released=_released(done.released))
