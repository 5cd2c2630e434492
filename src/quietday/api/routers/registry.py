"""The registry: regions, quiet-day policies, caps, agencies (capacity, inspectors), enterprises
(统一社会信用代码 checked, whitelist, blackout dates, caps). Any key reads; supervisors change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from quietday.api.deps import ActorDep, SessionDep, SupervisorDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    AgencyCreate,
    AgencyPublic,
    AgencyUpdate,
    CapacityPut,
    CapsPublic,
    Day,
    EnterpriseCreate,
    EnterprisePage,
    EnterprisePublic,
    EnterpriseUpdate,
    InspectorCreate,
    InspectorPublic,
    PolicyPublic,
    PolicyPut,
    RegionPublic,
    RegionPut,
    SafeStr,
)
from quietday.errors import NotFoundError
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
    PolicyRepository,
    RegionRepository,
)
from quietday.persistence.tables import AgencyRow
from quietday.planning import registry

router = APIRouter(prefix="/api/v1", tags=["registry"], responses=problem_responses(401, 403, 422))
AgencyId = Annotated[str, Path(min_length=1, max_length=64, pattern=registry.AGENCY_ID_PATTERN)]
EnterpriseId = Annotated[str, Path(min_length=1, max_length=18, pattern=r"^[0-9A-Z]+$")]
PolicyId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


@router.get("/regions", response_model=list[RegionPublic])
def regions(session: SessionDep, actor: ActorDep) -> list[RegionPublic]:
    """行政区划 (province, cities, counties)."""
    return [RegionPublic.model_validate(r.model_dump()) for r in RegionRepository(session).list()]


@router.put("/regions/{code}", response_model=RegionPublic)
def put_region(
    code: Annotated[str, Path(pattern=r"^[0-9]{2}([0-9]{2}){0,2}$", description="行政区划码")],
    body: RegionPut,
    session: SessionDep,
    actor: SupervisorDep,
) -> RegionPublic:
    """Create or rename a region: a province, then its cities, then their counties."""
    row = registry.put_region(session, code=code, name=body.name)
    return RegionPublic.model_validate(row.model_dump())


@router.get("/quiet-policies", response_model=list[PolicyPublic])
def policies(session: SessionDep, actor: ActorDep) -> list[PolicyPublic]:
    """企业安静日 policies."""
    return [PolicyPublic.model_validate(p.model_dump()) for p in PolicyRepository(session).list()]


@router.put("/quiet-policies/{policy_id}", response_model=PolicyPublic)
def put_policy(
    policy_id: PolicyId, body: PolicyPut, session: SessionDep, actor: SupervisorDep
) -> PolicyPublic:
    """Create or replace a quiet-day policy."""
    row = registry.put_policy(
        session,
        policy_id=policy_id,
        name=body.name,
        month_days=body.month_days,
        weekdays=body.weekdays,
        dates=body.dates,
    )
    return PolicyPublic.model_validate(row.model_dump())


@router.get("/caps", response_model=CapsPublic)
def get_caps(session: SessionDep, actor: ActorDep) -> CapsPublic:
    """Default frequency caps (频次上限); null means no cap."""
    return CapsPublic.model_validate(registry.get_caps(session))


@router.put("/caps", response_model=CapsPublic)
def put_caps(body: CapsPublic, session: SessionDep, actor: SupervisorDep) -> CapsPublic:
    """Replace the default frequency caps."""
    return CapsPublic.model_validate(registry.set_caps(session, body.model_dump()))


def _agency(session: SessionDep, row: AgencyRow) -> AgencyPublic:
    overrides = {
        c.day.isoformat(): c.capacity for c in AgencyRepository(session).capacity_overrides(row.id)
    }
    return AgencyPublic.model_validate({**row.model_dump(), "capacity_by_date": overrides})


@router.get("/agencies", response_model=list[AgencyPublic])
def agencies(
    session: SessionDep,
    actor: ActorDep,
    region: Annotated[
        str | None, Query(pattern=r"^[0-9]{2,6}$", description="行政区划码前缀")
    ] = None,
) -> list[AgencyPublic]:
    """Enforcement agencies (执法部门)."""
    return [
        AgencyPublic.model_validate(a.model_dump())
        for a in AgencyRepository(session).list(region_prefix=region)
    ]


@router.post(
    "/agencies", status_code=201, response_model=AgencyPublic, responses=problem_responses(409)
)
def create_agency(body: AgencyCreate, session: SessionDep, actor: SupervisorDep) -> AgencyPublic:
    """Register an agency with its daily capacity (enterprises per working day)."""
    row = registry.create_agency(
        session,
        agency_id=body.id,
        name=body.name,
        region_code=body.region_code,
        daily_capacity=body.daily_capacity,
        contact=body.contact,
    )
    return _agency(session, row)


@router.get("/agencies/{agency_id}", response_model=AgencyPublic, responses=problem_responses(404))
def agency(agency_id: AgencyId, session: SessionDep, actor: ActorDep) -> AgencyPublic:
    """One agency with its capacity overrides by date."""
    return _agency(session, AgencyRepository(session).get_or_raise(agency_id))


@router.patch(
    "/agencies/{agency_id}", response_model=AgencyPublic, responses=problem_responses(404)
)
def update_agency(
    agency_id: AgencyId, body: AgencyUpdate, session: SessionDep, actor: SupervisorDep
) -> AgencyPublic:
    """Change an agency."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return _agency(session, registry.update_agency(session, agency_id, changes))


@router.put(
    "/agencies/{agency_id}/capacity/{day}",
    response_model=AgencyPublic,
    responses=problem_responses(404),
)
def put_capacity(
    agency_id: AgencyId,
    day: Annotated[Day, Path(description="日期 YYYY-MM-DD")],
    body: CapacityPut,
    session: SessionDep,
    actor: SupervisorDep,
) -> AgencyPublic:
    """Capacity on one date (0 closes the day; null restores the usual capacity)."""
    registry.set_agency_capacity(session, agency_id, day, body.capacity)
    return _agency(session, AgencyRepository(session).get_or_raise(agency_id))


@router.get(
    "/agencies/{agency_id}/inspectors",
    response_model=list[InspectorPublic],
    responses=problem_responses(404),
)
def inspectors(agency_id: AgencyId, session: SessionDep, actor: ActorDep) -> list[InspectorPublic]:
    """An agency's certified inspectors (an agency key sees only its own)."""
    if not actor.is_supervisor and actor.agency_id != agency_id:
        raise NotFoundError(f"执法部门 {agency_id} 不存在")
    AgencyRepository(session).get_or_raise(agency_id)
    return [
        InspectorPublic.model_validate(i.model_dump())
        for i in InspectorRepository(session).list(agency_id=agency_id)
    ]


@router.post(
    "/agencies/{agency_id}/inspectors",
    status_code=201,
    response_model=InspectorPublic,
    responses=problem_responses(404, 409),
)
def add_inspector(
    agency_id: AgencyId, body: InspectorCreate, session: SessionDep, actor: SupervisorDep
) -> InspectorPublic:
    """Register an inspector and the enforcement certificate (执法证号)."""
    row = registry.create_inspector(
        session, agency_id=agency_id, name=body.name, certificate_no=body.certificate_no
    )
    return InspectorPublic.model_validate(row.model_dump())


@router.get("/enterprises", response_model=EnterprisePage)
def enterprises(
    session: SessionDep,
    actor: ActorDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{2,6}$")] = None,
    cursor: Annotated[
        SafeStr | None, Query(max_length=18, description="上一页最后一个企业代码")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EnterprisePage:
    """Enterprises by code, a page at a time."""
    rows = list(
        EnterpriseRepository(session).page(after=cursor, limit=limit + 1, region_prefix=region)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return EnterprisePage(
        items=[EnterprisePublic.model_validate(r.model_dump()) for r in rows],
        next_cursor=rows[-1].id if more and rows else None,
    )


@router.post(
    "/enterprises",
    status_code=201,
    response_model=EnterprisePublic,
    responses=problem_responses(409),
)
def create_enterprise(
    body: EnterpriseCreate, session: SessionDep, actor: SupervisorDep
) -> EnterprisePublic:
    """Register an enterprise; its 统一社会信用代码 must pass GB 32100-2015."""
    row = registry.create_enterprise(
        session,
        enterprise_id=body.id,
        name=body.name,
        region_code=body.region_code,
        quiet_policy_id=body.quiet_policy_id,
        whitelisted=body.whitelisted,
        blackout=body.blackout,
        cap_overrides=body.cap_overrides.model_dump(exclude_unset=True)
        if body.cap_overrides
        else None,
    )
    return EnterprisePublic.model_validate(row.model_dump())


@router.get(
    "/enterprises/{enterprise_id}",
    response_model=EnterprisePublic,
    responses=problem_responses(404),
)
def enterprise(
    enterprise_id: EnterpriseId, session: SessionDep, actor: ActorDep
) -> EnterprisePublic:
    """One enterprise."""
    return EnterprisePublic.model_validate(
        EnterpriseRepository(session).get_or_raise(enterprise_id).model_dump()
    )


@router.patch(
    "/enterprises/{enterprise_id}",
    response_model=EnterprisePublic,
    responses=problem_responses(404),
)
def update_enterprise(
    enterprise_id: EnterpriseId, body: EnterpriseUpdate, session: SessionDep, actor: SupervisorDep
) -> EnterprisePublic:
    """Change an enterprise: policy, whitelist (白名单), blackout dates, caps."""
    changes = body.model_dump(exclude_unset=True)
    if body.cap_overrides is not None:
        changes["cap_overrides"] = body.cap_overrides.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k == "cap_overrides"}
    return EnterprisePublic.model_validate(
        registry.update_enterprise(session, enterprise_id, changes).model_dump()
    )
