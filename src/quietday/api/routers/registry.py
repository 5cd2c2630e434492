"""The registry: regions, quiet-day policies, caps, agencies (capacity, inspectors), enterprises
(统一社会信用代码 checked, whitelist, blackout dates, caps). Any key reads; supervisors change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from quietday.api.deps import ActorDep, SessionDep, SupervisorDep, TodayDep
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
from quietday.planning.agency import find_enterprises

router = APIRouter(prefix="/api/v1", tags=["registry"], responses=problem_responses(401, 403, 422))
AgencyId = Annotated[str, Path(min_length=1, max_length=64, pattern=registry.AGENCY_ID_PATTERN)]
EnterpriseId = Annotated[str, Path(min_length=1, max_length=18, pattern=r"^[0-9A-Z]+$")]
PolicyId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


@router.get("/regions", summary="行政区划列表", response_model=list[RegionPublic])
def regions(session: SessionDep, actor: ActorDep) -> list[RegionPublic]:
    """行政区划(省、市、县)。"""
    return [RegionPublic.model_validate(r.model_dump()) for r in RegionRepository(session).list()]


@router.put("/regions/{code}", summary="新建或改名行政区划", response_model=RegionPublic)
def put_region(
    code: Annotated[str, Path(pattern=r"^[0-9]{2}([0-9]{2}){0,2}$", description="行政区划码")],
    body: RegionPut,
    session: SessionDep,
    actor: SupervisorDep,
) -> RegionPublic:
    """新建或改名一个行政区划:先省,再市,再县;可设备案提前工作日数(不传则不变)。"""
    given = body.model_dump(exclude_unset=True)
    row = registry.put_region(
        session, code=code, name=body.name, filing_lead_days=given.get("filing_lead_days", ...)
    )
    return RegionPublic.model_validate(row.model_dump())


@router.get("/quiet-policies", summary="企业安静日政策列表", response_model=list[PolicyPublic])
def policies(session: SessionDep, actor: ActorDep) -> list[PolicyPublic]:
    """企业安静日政策。"""
    return [PolicyPublic.model_validate(p.model_dump()) for p in PolicyRepository(session).list()]


@router.put(
    "/quiet-policies/{policy_id}", summary="新建或替换安静日政策", response_model=PolicyPublic
)
def put_policy(
    policy_id: PolicyId, body: PolicyPut, session: SessionDep, actor: SupervisorDep
) -> PolicyPublic:
    """新建或替换一项企业安静日政策。"""
    row = registry.put_policy(
        session,
        policy_id=policy_id,
        name=body.name,
        month_days=body.month_days,
        weekdays=body.weekdays,
        dates=body.dates,
    )
    return PolicyPublic.model_validate(row.model_dump())


@router.get("/caps", summary="默认频次上限", response_model=CapsPublic)
def get_caps(session: SessionDep, actor: ActorDep) -> CapsPublic:
    """默认的频次上限;null 表示不设上限。"""
    return CapsPublic.model_validate(registry.get_caps(session))


@router.put("/caps", summary="替换默认频次上限", response_model=CapsPublic)
def put_caps(body: CapsPublic, session: SessionDep, actor: SupervisorDep) -> CapsPublic:
    """替换默认的频次上限。"""
    return CapsPublic.model_validate(registry.set_caps(session, body.model_dump()))


def _agency(session: SessionDep, row: AgencyRow) -> AgencyPublic:
    overrides = {
        c.day.isoformat(): c.capacity for c in AgencyRepository(session).capacity_overrides(row.id)
    }
    return AgencyPublic.model_validate({**row.model_dump(), "capacity_by_date": overrides})


@router.get("/agencies", summary="执法部门列表", response_model=list[AgencyPublic])
def agencies(
    session: SessionDep,
    actor: ActorDep,
    region: Annotated[
        str | None, Query(pattern=r"^[0-9]{2,6}$", description="行政区划码前缀")
    ] = None,
) -> list[AgencyPublic]:
    """执法部门。"""
    return [
        AgencyPublic.model_validate(a.model_dump())
        for a in AgencyRepository(session).list(region_prefix=region)
    ]


@router.post(
    "/agencies",
    summary="登记执法部门",
    status_code=201,
    response_model=AgencyPublic,
    responses=problem_responses(409),
)
def create_agency(body: AgencyCreate, session: SessionDep, actor: SupervisorDep) -> AgencyPublic:
    """登记一个执法部门及其每日承载量(每个工作日可入企数)。"""
    row = registry.create_agency(
        session,
        agency_id=body.id,
        name=body.name,
        region_code=body.region_code,
        daily_capacity=body.daily_capacity,
        contact=body.contact,
        legal_basis=body.legal_basis,
    )
    return _agency(session, row)


@router.get(
    "/agencies/{agency_id}",
    summary="一个执法部门",
    response_model=AgencyPublic,
    responses=problem_responses(404),
)
def agency(agency_id: AgencyId, session: SessionDep, actor: ActorDep) -> AgencyPublic:
    """一个执法部门及其按日期调整的承载量。"""
    return _agency(session, AgencyRepository(session).get_or_raise(agency_id))


@router.patch(
    "/agencies/{agency_id}",
    summary="修改执法部门",
    response_model=AgencyPublic,
    responses=problem_responses(404),
)
def update_agency(
    agency_id: AgencyId, body: AgencyUpdate, session: SessionDep, actor: SupervisorDep
) -> AgencyPublic:
    """修改一个执法部门。"""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return _agency(session, registry.update_agency(session, agency_id, changes))


@router.put(
    "/agencies/{agency_id}/capacity/{day}",
    summary="设置某日承载量",
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
    """设置某一天的承载量(0 表示当天不安排;null 恢复平常的承载量)。"""
    registry.set_agency_capacity(session, agency_id, day, body.capacity)
    return _agency(session, AgencyRepository(session).get_or_raise(agency_id))


@router.get(
    "/agencies/{agency_id}/inspectors",
    summary="执法人员列表",
    response_model=list[InspectorPublic],
    responses=problem_responses(404),
)
def inspectors(agency_id: AgencyId, session: SessionDep, actor: ActorDep) -> list[InspectorPublic]:
    """一个执法部门的持证执法人员(执法部门密钥只能看自己的)。"""
    if not actor.is_supervisor and actor.agency_id != agency_id:
        raise NotFoundError(f"执法部门 {agency_id} 不存在")
    AgencyRepository(session).get_or_raise(agency_id)
    return [
        InspectorPublic.model_validate(i.model_dump())
        for i in InspectorRepository(session).list(agency_id=agency_id)
    ]


@router.post(
    "/agencies/{agency_id}/inspectors",
    summary="登记执法人员",
    status_code=201,
    response_model=InspectorPublic,
    responses=problem_responses(404, 409),
)
def add_inspector(
    agency_id: AgencyId, body: InspectorCreate, session: SessionDep, actor: SupervisorDep
) -> InspectorPublic:
    """登记一名执法人员及其执法证号。"""
    row = registry.create_inspector(
        session,
        agency_id=agency_id,
        name=body.name,
        certificate_no=body.certificate_no,
        certified_until=body.certified_until,
    )
    return InspectorPublic.model_validate(row.model_dump())


@router.get("/enterprises", summary="企业列表", response_model=EnterprisePage)
def enterprises(
    session: SessionDep,
    actor: ActorDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{2,6}$")] = None,
    cursor: Annotated[
        SafeStr | None, Query(max_length=18, description="上一页最后一个企业代码")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    q: Annotated[
        SafeStr | None,
        Query(
            min_length=1,
            max_length=50,
            description="按名称中的文字、代码开头或名称拼音首字母(如 jxcs)查找,最多返回 limit 家",
        ),
    ] = None,
) -> EnterprisePage:
    """按代码排列的企业,分页返回;给出 q 时按名称、代码或拼音首字母查找。"""
    if q is not None:
        found = find_enterprises(session, q, limit=limit)
        return EnterprisePage(
            items=[EnterprisePublic.model_validate(r.model_dump()) for r in found],
            next_cursor=None,
        )
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
    summary="登记企业",
    status_code=201,
    response_model=EnterprisePublic,
    responses=problem_responses(409),
)
def create_enterprise(
    body: EnterpriseCreate, session: SessionDep, actor: SupervisorDep, today: TodayDep
) -> EnterprisePublic:
    """登记一家企业;其统一社会信用代码须符合 GB 32100-2015;分类日期不能晚于今天。"""
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
        risk_class=body.risk_class,
        risk_classified_on=body.risk_classified_on,
        low_risk=body.low_risk,
        industry=body.industry,
        today=today,
    )
    return EnterprisePublic.model_validate(row.model_dump())


@router.get(
    "/enterprises/{enterprise_id}",
    summary="一家企业",
    response_model=EnterprisePublic,
    responses=problem_responses(404),
)
def enterprise(
    enterprise_id: EnterpriseId, session: SessionDep, actor: ActorDep
) -> EnterprisePublic:
    """一家企业。"""
    return EnterprisePublic.model_validate(
        EnterpriseRepository(session).get_or_raise(enterprise_id).model_dump()
    )


@router.patch(
    "/enterprises/{enterprise_id}",
    summary="修改企业",
    response_model=EnterprisePublic,
    responses=problem_responses(404),
)
def update_enterprise(
    enterprise_id: EnterpriseId,
    body: EnterpriseUpdate,
    session: SessionDep,
    actor: SupervisorDep,
    today: TodayDep,
) -> EnterprisePublic:
    """修改一家企业:安静日政策、白名单、不可入企日期、频次上限、信用风险分类及其日期(null 表示未分类,
    不能晚于今天)、无感监管、行业。"""
    changes = body.model_dump(exclude_unset=True)
    if body.cap_overrides is not None:
        changes["cap_overrides"] = body.cap_overrides.model_dump(exclude_unset=True)
    nullable = ("cap_overrides", "risk_class", "risk_classified_on")
    changes = {k: v for k, v in changes.items() if v is not None or k in nullable}
    return EnterprisePublic.model_validate(
        registry.update_enterprise(session, enterprise_id, changes, today=today).model_dump()
    )
