"""Codes at the door: the inspection codes (检查码) agencies show, the enterprise codes (监督码)
inspectors scan, and the public keys that verify both offline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from quietday.api.deps import ActorDep, KeyringDep, SessionDep, SettingsDep, SupervisorDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    Day,
    EnterpriseCodePublic,
    InspectionCodePublic,
    PublicKeySet,
    SafeStr,
)
from quietday.config import Settings
from quietday.persistence.registry import EnterpriseRepository
from quietday.planning.codes import (
    CodeView,
    agency_codes,
    code_url,
    enterprise_token,
    enterprise_url,
    visit_codes,
)

router = APIRouter(prefix="/api/v1", tags=["codes"], responses=problem_responses(401, 422))
keys = APIRouter(prefix="/api/v1/codes", tags=["codes"])

VisitId = Annotated[int, Path(ge=1, le=2**31 - 1, description="入企编号")]
EnterpriseId = Annotated[SafeStr, Path(min_length=1, max_length=18, description="统一社会信用代码")]


def _public(settings: Settings, view: CodeView) -> InspectionCodePublic:
    return InspectionCodePublic(
        id=view.id,
        visit_id=view.visit_id,
        agency_id=view.agency_id,
        enterprise_id=view.enterprise_id,
        date=view.day,
        short_code=view.short_code,
        token=view.token,
        url=code_url(settings.base_url(), view.token),
        triggered=view.triggered,
        issued_at=view.issued_at,
    )


@keys.get("/keys", summary="检查码验证公钥", response_model=PublicKeySet)
def public_keys(ring: KeyringDep) -> PublicKeySet:
    """验证检查码和监督码签名的公钥(JWK Set,Ed25519),无需密钥即可获取,用于离线核验。"""
    return PublicKeySet.model_validate(ring.jwks())


@router.get(
    "/codes",
    summary="本部门某日的检查码",
    response_model=list[InspectionCodePublic],
    responses=problem_responses(403),
)
def of_day(
    session: SessionDep,
    actor: ActorDep,
    ring: KeyringDep,
    settings: SettingsDep,
    today: TodayDep,
    day: Annotated[Day | None, Query(alias="date", description="日期,默认今天")] = None,
) -> list[InspectionCodePublic]:
    """执法部门某日各次入企的检查码(没有时签发);暗访、个案等不提前告知的检查,当天起才有检查码。"""
    views = agency_codes(session, ring, actor, day or today, today=today)
    return [_public(settings, v) for v in views]


@router.get(
    "/visits/{visit_id}/codes",
    summary="一次入企的检查码",
    response_model=list[InspectionCodePublic],
    responses=problem_responses(404),
)
def of_visit(
    visit_id: VisitId,
    session: SessionDep,
    actor: ActorDep,
    ring: KeyringDep,
    settings: SettingsDep,
    today: TodayDep,
) -> list[InspectionCodePublic]:
    """一次入企的检查码:执法部门看到本部门的,监督部门看到各部门的。"""
    return [_public(settings, v) for v in visit_codes(session, ring, actor, visit_id, today=today)]


@router.get(
    "/enterprises/{enterprise_id}/code",
    summary="企业监督码",
    response_model=EnterpriseCodePublic,
    responses=problem_responses(403, 404),
)
def of_enterprise(
    enterprise_id: EnterpriseId,
    session: SessionDep,
    actor: SupervisorDep,
    ring: KeyringDep,
    settings: SettingsDep,
) -> EnterpriseCodePublic:
    """企业的监督码(张贴在企业门口,执法人员入企时扫码登记)。"""
    EnterpriseRepository(session).get_or_raise(enterprise_id)
    token = enterprise_token(ring, enterprise_id)
    return EnterpriseCodePublic(
        enterprise_id=enterprise_id, token=token, url=enterprise_url(settings.base_url(), token)
    )
