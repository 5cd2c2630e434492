"""Credit-risk classes: SAMR's monthly reclassification imported into the registry, and the
per-class policy (sampling ratio, yearly cap, remote routine checks). Supervisors only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from quietday.api.deps import SessionDep, SupervisorDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import (
    RiskClassPolicy,
    RiskImportResult,
    RiskOlderPublic,
    RiskPolicyPublic,
    RiskPolicyPut,
)
from quietday.persistence.tables import RiskClassPolicyRow
from quietday.planning.risk import get_policy, put_policy
from quietday.planning.risk_import import import_risk_classes

router = APIRouter(prefix="/api/v1", tags=["registry"], responses=problem_responses(401, 403, 422))
# The upload route, apart: the app gives it the larger body limit of uploads.
uploads = APIRouter(prefix="/api/v1", tags=["registry"], responses=problem_responses(401, 403))
UPLOAD_PATH = "/api/v1/enterprises/risk-classes"
POLICY_NOTE = (
    "各类的抽查比例、频次上限和是否改为非现场检查是本地配置,不是全国统一的数字;"
    "企业自己的频次上限(cap_overrides)优先于所属类别的上限。"
)


def _policy(rows: list[RiskClassPolicyRow]) -> RiskPolicyPublic:
    return RiskPolicyPublic(
        classes=[RiskClassPolicy.model_validate(r.model_dump()) for r in rows], note=POLICY_NOTE
    )


@uploads.post(
    "/enterprises/risk-classes",
    summary="导入信用风险分类",
    response_model=RiskImportResult,
    responses=problem_responses(413, 422),
)
def import_classes(
    session: SessionDep,
    actor: SupervisorDep,
    today: TodayDep,
    file: Annotated[
        UploadFile,
        File(
            description="CSV(UTF-8 或 GB18030),列:统一社会信用代码、风险分类、分类日期、无感监管(可选)"
        ),
    ],
) -> RiskImportResult:
    """导入市场监管部门按月发布的企业信用风险分类(A-D),要么全部导入,要么全部不导入,并列出每一行的每一处错误。
    分类日期不能晚于今天;早于已登记日期的行不覆盖已登记的分类,在回答中列出;无感监管列为空时保持不变。"""
    report = import_risk_classes(session, file.file, filename=file.filename or "", today=today)
    note = (
        f"有 {report.skipped_older} 行的分类日期早于该企业已登记的分类日期,未覆盖已登记的分类"
        if report.skipped_older
        else None
    )
    return RiskImportResult(
        rows=report.rows,
        updated=report.updated,
        unchanged=report.unchanged,
        skipped_older=report.skipped_older,
        older=[
            RiskOlderPublic(
                row=o.row,
                enterprise_id=o.enterprise_id,
                classified_on=o.classified_on,
                stored_on=o.stored_on,
            )
            for o in report.older
        ],
        note=note,
    )


@router.get("/risk-policy", summary="信用风险分类监管政策", response_model=RiskPolicyPublic)
def risk_policy(session: SessionDep, actor: SupervisorDep) -> RiskPolicyPublic:
    """各信用风险分类的默认抽查比例、同一部门对同一企业的年度检查上限,以及无感监管企业的日常检查是否改为非现场检查。"""
    return _policy(get_policy(session))


@router.put("/risk-policy", summary="替换信用风险分类监管政策", response_model=RiskPolicyPublic)
def put_risk_policy(
    body: RiskPolicyPut, session: SessionDep, actor: SupervisorDep
) -> RiskPolicyPublic:
    """替换 A、B、C、D 四类的监管政策(每类恰好一条),记入审计日志。"""
    return _policy(put_policy(session, [c.model_dump() for c in body.classes]))
