"""Request and response bodies (schema families `XCreate`/`XUpdate`/`XPublic`), apart from rows."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from quietday.domain.filing import (
    MAX_APPROVAL_COMMENT,
    MAX_FILING_LEAD_DAYS,
    Approval,
    TriggerName,
)
from quietday.domain.limits import (
    FIRST_DAY,
    LAST_DAY,
    MAX_AGENCY_ID,
    MAX_ENTERPRISE_ID,
    MAX_EXEMPT_REASON,
    MAX_EXTERNAL_REF,
    MAX_ITEM,
    MAX_ITEMS,
    MAX_PRIORITY,
    YEARS,
)
from quietday.domain.model import KindName
from quietday.domain.status import CheckOutcome, PlanStatus, RunStage, RunStatus, VisitStatus
from quietday.domain.text import text_problem
from quietday.planning.registry import AGENCY_ID_PATTERN

__all__ = [
    "AgencyCreate",
    "AgencyPublic",
    "AgencyUpdate",
    "ApprovalDecision",
    "AuditEntryPublic",
    "AuditPage",
    "BatchResult",
    "CalendarDay",
    "CalendarImportResult",
    "CalendarYearDetail",
    "CalendarYearPublic",
    "CampaignPublic",
    "CampaignRegionPublic",
    "CapacityPut",
    "CapsPublic",
    "CertifiedUntilPut",
    "CheckInCreate",
    "CheckInFlag",
    "CheckInPage",
    "CheckInPublic",
    "ComplaintClose",
    "ComplaintCreate",
    "ComplaintOwnPublic",
    "ComplaintPage",
    "ComplaintPublic",
    "ConflictCreate",
    "ConflictDeclared",
    "ConflictPublic",
    "Day",
    "DisturbedPage",
    "DisturbedVisitPublic",
    "Draft",
    "DrawnTeam",
    "EnterpriseCreate",
    "EnterprisePage",
    "EnterprisePublic",
    "EnterpriseUpdate",
    "FeedTokenCreate",
    "FeedTokenCreated",
    "FeedTokenPublic",
    "FrequencyPagePublic",
    "FrequencyRowPublic",
    "ImportResult",
    "InspectorCertified",
    "InspectorCreate",
    "InspectorDrawCreate",
    "InspectorDrawPublic",
    "InspectorPublic",
    "InspectorsPut",
    "KeyCreate",
    "KeyCreated",
    "KeyPublic",
    "NoticePage",
    "NoticePublic",
    "PlanCreate",
    "PlanPage",
    "PlanPublic",
    "PlanUpdate",
    "PolicyPublic",
    "PolicyPut",
    "PublicSpecialPlans",
    "PublishResult",
    "RatingMonthPublic",
    "RatingPublic",
    "RatingPut",
    "RatingSummaryPublic",
    "RegionPublic",
    "ReleasedVisit",
    "RunCreate",
    "RunPage",
    "RunPublic",
    "SafeStr",
    "SafeText",
    "SkippedPlan",
    "SupervisionPublic",
    "SupervisionRowPublic",
    "UnplacedVisit",
    "VisitPage",
    "VisitPublic",
]


def _line(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _lines(value: str) -> str:
    problem = text_problem(value, multiline=True)
    if problem is not None:
        raise ValueError(problem)
    return value


# Every string from outside passes the one text rule (`domain.text`): SafeStr is one line,
# SafeText free text that keeps line breaks (a rating's comment, an exemption's reason).
SafeStr = Annotated[str, AfterValidator(_line)]
SafeText = Annotated[str, AfterValidator(_lines)]
Id64 = Annotated[SafeStr, Field(min_length=1, max_length=MAX_AGENCY_ID)]
Name = Annotated[SafeStr, Field(min_length=1, max_length=200)]
Item = Annotated[SafeStr, Field(min_length=1, max_length=MAX_ITEM)]


# JSON has no dates: a date (or time) is a string, parsed as such in strict bodies.
def _date_text(value: object) -> object:
    """A date is written YYYY-MM-DD (not a number of seconds, which pydantic would read)."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("应为 YYYY-MM-DD 格式的日期")


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Day = Annotated[
    date,
    BeforeValidator(_date_text),
    Field(ge=FIRST_DAY, le=LAST_DAY, strict=False),
]


def _in_years(value: datetime) -> datetime:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"超出 {YEARS[0]}-{YEARS[1]} 年")
    return value


def _moment_text(value: object) -> object:
    """A time is written as ISO 8601 text (not a number of seconds, which pydantic would read)."""
    if isinstance(value, datetime | str) and not str(value).strip().lstrip("-").isdigit():
        return value
    raise ValueError("应为带时区的 ISO 8601 时间,如 2026-07-24T09:30:00+08:00")


Moment = Annotated[datetime, BeforeValidator(_moment_text), AfterValidator(_in_years)]
RegionCode = Annotated[str, Field(pattern=r"^[0-9]{2}([0-9]{2}){0,2}$")]
RiskClass = Literal["A", "B", "C", "D"]
Industry = Annotated[SafeStr, Field(max_length=64, description="行业,如 食品 或 GB/T 4754 代码")]


class _In(BaseModel):
    """A request body: no unknown fields, and strict JSON types (`priority: true` or `"5"` is
    refused, not read as 1 or 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PlanCreate(_In):
    enterprise_id: Annotated[
        SafeStr, Field(min_length=1, max_length=MAX_ENTERPRISE_ID, description="统一社会信用代码")
    ]
    kind: KindName = Field(
        description="routine 日常检查, special 专项检查, case 个案检查, requested 应企业申请"
    )
    earliest: Day
    latest: Day
    items: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS, description="检查事项")
    priority: int = Field(1, ge=1, le=MAX_PRIORITY)
    exempt_reason: Annotated[SafeText, Field(max_length=MAX_EXEMPT_REASON)] | None = Field(
        None, description="豁免事由: 可在安静日检查"
    )
    unannounced: bool = Field(False, description="不提前告知(暗访等): 不出现在企业日历中")
    external_ref: Annotated[SafeStr, Field(min_length=1, max_length=MAX_EXTERNAL_REF)] | None = (
        Field(None, description="部门系统中的编号;同一部门内唯一,重复提交不产生重复计划")
    )
    agency_id: Id64 | None = Field(None, description="监督密钥提交时必填;部门密钥默认为本部门")
    trigger: TriggerName | None = Field(
        None,
        description="个案检查的触发事由(个案检查必填,其他类型不填): complaint 投诉举报, "
        "referral 转办交办, data_lead 数据监测, emergency 突发事件;"
        "不填时取 exempt_reason 中写明的事由",
    )
    remote: bool = Field(
        False,
        description="非现场检查(书面或视频核查):不入企、不参加排期,无需入企事前报备;"
        "无感监管企业的日常检查按信用风险分类监管政策自动改为非现场",
    )


class PlanUpdate(_In):
    kind: KindName | None = None
    earliest: Day | None = None
    latest: Day | None = None
    items: list[Item] | None = Field(None, max_length=MAX_ITEMS)
    priority: int | None = Field(None, ge=1, le=MAX_PRIORITY)
    exempt_reason: Annotated[SafeText, Field(max_length=200)] | None = None
    unannounced: bool | None = None
    trigger: TriggerName | None = None
    remote: bool | None = Field(None, description="改为非现场(true)或现场(false)检查")


class Draft(BaseModel):
    run_id: int
    date: date | None
    reason: str | None
    detail: str | None


class PlanPublic(BaseModel):
    id: int
    agency_id: str
    enterprise_id: str
    kind: str
    items: list[str]
    earliest: date
    latest: date
    priority: int
    exempt_reason: str | None
    unannounced: bool
    external_ref: str | None
    status: PlanStatus
    version: int
    published_date: date | None
    visit_id: int | None = Field(description="所在的入企(已发布的计划)")
    cancelled_visit_id: int | None = Field(description="取消时所在的入企(已取消的计划)")
    reason: str | None = Field(description="未排期原因(spec 的 reason)")
    detail: str | None = Field(description="未排期说明")
    draft: Draft | None = Field(description="最近一次排期运行的草稿结果")
    trigger: TriggerName | None = Field(description="个案检查的触发事由")
    approval: Approval | None = Field(
        description="专项检查的审批: pending 待审批、approved 已批准、rejected 未批准;"
        "只有已批准的专项检查参加排期"
    )
    approval_comment: str | None = Field(description="审批意见")
    approval_at: datetime | None = Field(description="审批时间")
    approval_note: str | None = Field(description="为何不参加排期(待审批或未获批准时)")
    remote: bool = Field(description="非现场检查:不入企,不参加排期")
    remote_note: str | None = Field(description="非现场检查的说明")
    created_at: datetime
    updated_at: datetime


class PlanPage(BaseModel):
    items: list[PlanPublic]
    next_cursor: str | None


class BatchResult(BaseModel):
    created: int
    unchanged: int
    items: list[PlanPublic]


class ImportResult(BaseModel):
    rows: int
    created: int
    unchanged: int


class RunCreate(_In):
    horizon_start: Day
    horizon_end: Day
    scope: RegionCode | None = Field(
        None, description="行政区划码前缀(省 2 位、市 4 位、县 6 位);空为全部"
    )
    # The most a run may ask for is the server's (QUIETDAY_MAX_TIME_LIMIT, QUIETDAY_MAX_WORKERS):
    # `create_run` holds it, so that raising the setting raises what the API takes.
    time_limit: float = Field(60.0, gt=0, description="求解时限(秒),不超过服务器设定的上限")
    workers: int = Field(2, ge=1, description="CP-SAT 线程数,不超过服务器设定的上限")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    deterministic: bool = False
    correction: bool = Field(
        False,
        description="更正历史记录: 仅此时排期范围可从今天或更早开始(已发布、已入企的安排仍不改动)",
    )


class RunPublic(BaseModel):
    id: int
    status: RunStatus
    scope: str | None
    horizon_start: date
    horizon_end: date
    time_limit: float
    workers: int
    seed: int
    deterministic: bool
    correction: bool
    progress: float
    message: str
    stage: RunStage = Field(
        description="进行到哪一步: queued 排队、build 构建实例、solve 求解、check 校验、store 保存、done 结束"
    )
    summary: dict[str, Any]
    provisional_years: list[int] = Field(
        description="按暂定日历排期的年份(该年尚无国务院节假日安排;不含调休),空为正式日历"
    )
    freed_plans: list[int] = Field(
        description="本次运行重新安排的已发布计划(所在日期已不合规则,如新设的停检日或新的节假日安排);发布时会移到新的日期"
    )
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    published_at: datetime | None


class RunPage(BaseModel):
    items: list[RunPublic]
    next_cursor: int | None


class SkippedPlan(BaseModel):
    plan_id: int
    why: Literal["cancelled", "changed", "published", "checked_in"]
    detail: str


class PublishResult(BaseModel):
    run_id: int
    published: int
    visits: int
    unscheduled: int
    skipped: list[SkippedPlan]


class VisitPublic(BaseModel):
    id: int
    enterprise_id: str
    date: date
    lead_agency_id: str
    status: VisitStatus
    sequence: int
    agencies: list[str] = Field(description="参加的执法部门(联合检查时多于一个)")
    plan_ids: list[int] = Field(description="本次入企的检查计划(部门密钥只见本部门的)")
    updated_at: datetime


class VisitPage(BaseModel):
    items: list[VisitPublic]
    next_cursor: int | None


class FeedTokenCreate(_In):
    kind: Literal["enterprise", "agency", "inspector"]
    subject_id: Annotated[
        SafeStr, Field(min_length=1, max_length=64, description="企业代码、部门编码或执法人员编号")
    ]
    label: Annotated[SafeStr, Field(max_length=200, description="订阅者(便于识别)")] = ""


class FeedTokenPublic(BaseModel):
    id: int
    kind: str
    subject_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


class FeedTokenCreated(FeedTokenPublic):
    token: str = Field(description="只显示这一次;服务端只保存其哈希")
    feed_url: str
    page_url: str


class InspectorsPut(_In):
    inspector_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(max_length=50)


class RegionPublic(BaseModel):
    code: str
    name: str
    parent_code: str | None
    level: str
    filing_lead_days: int | None = Field(
        description="日常、专项检查计划须提前备案的工作日数;null 按上级行政区划"
    )


class RegionPut(_In):
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)] = Field(
        description="名称,如 东湖区"
    )
    filing_lead_days: int | None = Field(
        None,
        ge=0,
        le=MAX_FILING_LEAD_DAYS,
        description="日常、专项检查计划须在最早日期前至少几个工作日备案;null 按上级行政区划;"
        "不传则保持不变",
    )


class PolicyPut(_In):
    name: Annotated[SafeStr, Field(max_length=200)] = ""
    month_days: list[
        Annotated[list[Annotated[int, Field(ge=1, le=31)]], Field(min_length=2, max_length=2)]
    ] = Field(default_factory=list, max_length=12)
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=list, max_length=7)
    dates: list[Day] = Field(default_factory=list, max_length=400)


class PolicyPublic(BaseModel):
    id: str
    name: str
    month_days: list[list[int]]
    weekdays: list[int]
    dates: list[str]


class CapsPublic(_In):
    agency_enterprise_per_year: int | None = Field(None, ge=0, le=366)
    enterprise_per_month: int | None = Field(None, ge=0, le=31)
    enterprise_per_year: int | None = Field(None, ge=0, le=366)
    min_gap_days: int | None = Field(0, ge=0, le=366)


LegalBasis = Annotated[
    SafeStr,
    Field(max_length=500, description="检查依据(企业扫检查码时看到;不填则显示通用的法律依据)"),
]


class AgencyCreate(_In):
    id: Annotated[Id64, Field(pattern=AGENCY_ID_PATTERN, description="如 360102-SCJG")]
    name: Name
    region_code: RegionCode
    daily_capacity: int = Field(ge=0, le=10_000)
    contact: Annotated[SafeStr, Field(max_length=200, description="联系方式(出现在企业日历中)")] = (
        ""
    )
    legal_basis: LegalBasis = ""


class AgencyUpdate(_In):
    name: Name | None = None
    region_code: RegionCode | None = None
    daily_capacity: int | None = Field(None, ge=0, le=10_000)
    active: bool | None = None
    contact: Annotated[SafeStr, Field(max_length=200)] | None = None
    legal_basis: LegalBasis | None = None


class AgencyPublic(BaseModel):
    id: str
    name: str
    region_code: str
    daily_capacity: int
    active: bool
    contact: str
    legal_basis: str
    capacity_by_date: dict[str, int] = Field(default_factory=dict)


class CapacityPut(_In):
    capacity: int | None = Field(
        ge=0, le=10_000, description="当日可检查企业数;null 恢复为 daily_capacity"
    )


class InspectorCreate(_In):
    name: Name
    certificate_no: Annotated[SafeStr, Field(min_length=1, max_length=64)]
    certified_until: Day | None = Field(
        None, description="执法证有效期截止日(含);null 表示长期有效"
    )


class InspectorPublic(BaseModel):
    id: int
    agency_id: str
    name: str
    certificate_no: str
    active: bool
    certified_until: date | None = None


class EnterpriseCreate(_In):
    id: Annotated[SafeStr, Field(min_length=18, max_length=18, description="统一社会信用代码")]
    name: Name
    region_code: RegionCode
    quiet_policy_id: Id64
    whitelisted: bool = False
    blackout: list[Day] = Field(default_factory=list, max_length=400)
    cap_overrides: CapsPublic | None = None
    risk_class: RiskClass | None = Field(None, description="信用风险分类 A-D(A 风险最低)")
    risk_classified_on: Day | None = Field(None, description="分类日期")
    low_risk: bool = Field(False, description="列入无感监管名单")
    industry: Industry = ""


class EnterpriseUpdate(_In):
    name: Name | None = None
    region_code: RegionCode | None = None
    quiet_policy_id: Id64 | None = None
    whitelisted: bool | None = None
    blackout: list[Day] | None = Field(None, max_length=400)
    cap_overrides: CapsPublic | None = None
    risk_class: RiskClass | None = Field(None, description="信用风险分类;null 表示未分类")
    risk_classified_on: Day | None = None
    low_risk: bool | None = None
    industry: Industry | None = None


class EnterprisePublic(BaseModel):
    id: str
    name: str
    region_code: str
    quiet_policy_id: str
    whitelisted: bool
    blackout: list[str]
    cap_overrides: dict[str, int | None]
    risk_class: RiskClass | None = Field(description="信用风险分类 A-D;null 表示未分类")
    risk_classified_on: date | None
    low_risk: bool = Field(description="无感监管")
    industry: str


class EnterprisePage(BaseModel):
    items: list[EnterprisePublic]
    next_cursor: str | None


class KeyCreate(_In):
    role: Literal["supervisor", "agency", "approver"] = Field(
        description="supervisor 监督、agency 执法部门、approver 部门负责人(审批专项检查计划)"
    )
    agency_id: Id64 | None = None
    label: Annotated[SafeStr, Field(max_length=200)] = ""


class KeyPublic(BaseModel):
    id: int
    prefix: str
    role: str
    agency_id: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="只显示这一次;服务端只保存其哈希")


class CheckInCreate(_In):
    enterprise_id: Annotated[SafeStr, Field(min_length=1, max_length=18)] | None = Field(
        default=None, description="企业的统一社会信用代码;扫码登记时可不填,改填 enterprise_code"
    )
    certificates: list[Annotated[SafeStr, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=20, description="入企执法人员的执法证号(至少两名)"
    )
    at: Moment = Field(strict=False, description="入企时间,须带时区,如 2026-07-24T09:30:00+08:00")
    visit_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="对应的已发布入企;不填时按企业、部门和日期匹配"
    )
    kind: KindName | None = Field(default=None, description="不填时取所执行计划的检查类型")
    exempt_reason: Annotated[SafeText, Field(max_length=200)] | None = None
    enterprise_code: Annotated[SafeStr, Field(min_length=1, max_length=1000)] | None = Field(
        default=None,
        description="扫到的企业监督码:其地址(…/e/<令牌>)或令牌本身;经验签后确定企业",
    )
    scanned_at: Moment | None = Field(
        default=None,
        strict=False,
        description="扫码时间,须带时区;不填时为入企时间(先行检查时为现在)",
    )
    late: bool = Field(
        default=False, description="紧急情况先行检查、离开前扫码(深圳监督码规定);须填事由"
    )
    late_reason: Annotated[SafeText, Field(max_length=200)] | None = Field(
        default=None, description="先行检查的事由(late 为 true 时必填)"
    )


class CheckInFlag(BaseModel):
    code: str
    detail: str


class RatingPublic(BaseModel):
    score: int
    comment: str
    updated_at: datetime


class CheckInPublic(BaseModel):
    id: int
    agency_id: str
    enterprise_id: str
    at: datetime
    date: date
    kind: str
    exempt_reason: str | None
    certificates: list[str]
    visit_id: int | None
    scanned: bool = Field(description="是否扫了企业监督码")
    scanned_at: datetime | None = Field(description="扫码时间")
    late_reason: str | None = Field(description="先行检查的事由(离开前才扫码)")
    flags: list[CheckInFlag]
    rating: RatingPublic | None = Field(
        default=None, description="企业的评价(只有监督密钥可见;执法部门只见汇总)"
    )


class CheckInPage(BaseModel):
    items: list[CheckInPublic]
    next_cursor: int | None


class RatingPut(_In):
    score: int = Field(ge=1, le=5, description="1 至 5 分")
    comment: Annotated[SafeText, Field(max_length=500)] = ""


class RatingMonthPublic(BaseModel):
    month: str = Field(description="评价给出的月份 YYYY-MM(北京时间)")
    count: int
    average: float | None = Field(description="平均分;不足 5 条时不提供")


class RatingSummaryPublic(BaseModel):
    """以往各月(不含本月)收到的评价;不足 5 条的不给平均分,以免推知某家企业的评分。"""

    agency_id: str
    count: int
    average: float | None = Field(description="以往各月的平均分;不足 5 条时不提供")
    months: list[RatingMonthPublic]


class FrequencyRowPublic(BaseModel):
    subject: str = Field(description="企业代码、部门编码或行政区划代码")
    name: str
    period: str
    planned_visits: int = Field(description="已发布的入企次数")
    planned_inspections: int
    planned_routine: int
    planned_special: int
    planned_case: int
    planned_requested: int
    planned_normal: int = Field(description="落实安静期要求的检查(无豁免事由)")
    planned_special_case: int = Field(description="特殊情形检查(有豁免事由)")
    planned_joint_visits: int
    planned_joint_rate: float | None = Field(description="综合查一次率")
    planned_saved: float = Field(description="与各部门分别入企相比减少的入企次数")
    planned_remote: int = Field(
        description="计划的非现场检查(按检查窗口结束的月份;不入企,不计入入企次数)"
    )
    actual_visits: int = Field(description="扫码入企的次数(同一企业同一天算一次)")
    actual_inspections: int
    actual_routine: int
    actual_special: int
    actual_case: int
    actual_requested: int
    actual_normal: int
    actual_special_case: int
    actual_joint_visits: int
    actual_joint_rate: float | None
    actual_saved: float
    actual_remote: int = Field(description="已录入结果的非现场检查(按结果日期;不入企)")
    violations: int = Field(description="违规的入企记录(超频次、安静日、计划外等,每条只算一次)")
    over_cap: int
    quiet_day: int
    unplanned: int
    cap_enterprise_year: int | None
    used_enterprise_year: int | None
    headroom_enterprise_year: int | None
    cap_agency_year: int | None
    max_agency_days: int | None
    headroom_agency_year: int | None
    flags: dict[str, int] = Field(description="各类标记的入企记录数")


class FrequencyPagePublic(BaseModel):
    dimension: str
    period: str
    first: date
    last: date
    items: list[FrequencyRowPublic]
    next_cursor: str | None


class AuditEntryPublic(BaseModel):
    """一条审计日志: `hash` 为其余字段规范 JSON 的 SHA-256。"""

    seq: int
    at: datetime
    actor: str = Field(description="谁: supervisor:key 3、agency:部门 key 7、cli、runner……")
    action: str = Field(description="做了什么: plan.update、run.publish……")
    subject: str = Field(description="对象: plan:123、run:4……")
    changes: dict[str, Any] = Field(description="改动(前后值),批量操作为摘要与 SHA-256")
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    next_cursor: int | None = Field(description="下一页的 after 值")


class CalendarYearPublic(BaseModel):
    year: int
    provisional: bool = Field(
        description="true: 尚无国务院节假日安排,按《全国年节及纪念日放假办法》推算(不含调休)"
    )
    source: str = Field(description="holidays-<版本>(初始数据)、holiday-cn、csv 或 推算")
    holidays: int = Field(description="放假日数(含周末)")
    workdays: int = Field(description="调休上班日数")
    imported_at: datetime | None
    imported_by: str | None
    papers: list[str] = Field(description="国务院文件网址")
    disturbed: int = Field(description="落在非工作日的已发布入企次数")


class CalendarDay(BaseModel):
    date: date
    kind: Literal["休", "班"]
    name: str


class CalendarYearDetail(CalendarYearPublic):
    days: list[CalendarDay]


class DisturbedVisitPublic(BaseModel):
    visit_id: int
    date: date
    why: str = Field(description="该日为何不是工作日: 节日名称或周六、周日")
    enterprise_id: str
    enterprise_name: str
    lead_agency_id: str
    lead_agency_name: str
    plans: int = Field(description="本次入企已发布的检查计划数")


class DisturbedPage(BaseModel):
    year: int
    total: int
    items: list[DisturbedVisitPublic]
    next_cursor: int | None = Field(description="下一页的 after")


class CalendarImportResult(BaseModel):
    year: int
    source: Literal["holiday-cn", "csv"]
    holidays: int
    workdays: int
    replaced: str | None = Field(description="被替换的原安排的来源")
    changed_days: list[date] = Field(description="工作日与否发生变化的日期")
    disturbed: DisturbedPage = Field(
        description="现在落在非工作日的已发布入企(前 200 次;其余见 /api/v1/calendar/disturbed)"
    )


# Codes at the door (检查码、监督码)


class InspectionCodePublic(BaseModel):
    id: int
    visit_id: int
    agency_id: str
    enterprise_id: str
    date: date
    short_code: str = Field(description="手工输入用的短码,仅在入企当天、对该企业有效")
    token: str = Field(description="签名的检查码(JWS,EdDSA),可用公钥离线验证")
    url: str = Field(description="检查码二维码中的核验地址")
    triggered: bool = Field(description="触发式检查(投诉举报等),否则为计划检查")
    issued_at: datetime


class EnterpriseCodePublic(BaseModel):
    enterprise_id: str
    token: str = Field(description="签名的企业监督码")
    url: str = Field(description="监督码二维码中的企业页面地址")


class PublicKey(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="公钥(base64url)")
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class PublicKeySet(BaseModel):
    keys: list[PublicKey] = Field(description="验证检查码与监督码签名的公钥,第一个为当前签名密钥")


# At the door (亮码 / 扫码入企): the inspectors' side.
class DoorVisitPublic(BaseModel):
    visit_id: int
    enterprise_id: str
    enterprise_name: str
    agencies: list[str] = Field(description="参加此次入企的部门(联合检查时不止一个)")
    items: list[str] = Field(description="本部门的检查事项")
    kinds: list[str] = Field(description="本部门计划的检查类型")
    triggered: bool = Field(description="是否为触发式检查(投诉举报等个案、应企业申请)")
    code: str = Field(description="检查码短码(8 位,供口头或手工输入)")
    url: str = Field(description="检查码地址(二维码内容,企业扫码可见检查任务与人员)")


# Complaints (投诉) of enterprises and the supervision view per agency and month.


class ComplaintCreate(_In):
    reason: Annotated[SafeStr, Field(min_length=1, max_length=16)] = Field(
        description="投诉事由: no_code 未出示检查码、quiet_day 安静日检查、repeated 重复检查、"
        "conduct 态度作风、demands 索要财物或指定服务、other 其他"
    )
    text: Annotated[SafeText, Field(max_length=500)] = Field(default="", description="补充说明")
    check_in_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="所投诉的入企记录(本企业的)"
    )


class ComplaintClose(_In):
    reply: Annotated[SafeText, Field(min_length=1, max_length=1000)] = Field(
        description="给企业的答复(企业可见)"
    )


class ComplaintOwnPublic(BaseModel):
    """企业看到的自己的投诉: 事由、状态与监督部门的答复。"""

    id: int
    check_in_id: int | None
    agency_id: str | None
    reason: str
    reason_label: str
    text: str
    status: str = Field(description="pending 待处理、handling 处理中、closed 已办结")
    status_label: str
    reply: str | None
    created_at: datetime
    closed_at: datetime | None


class ComplaintPublic(ComplaintOwnPublic):
    """监督部门看到的投诉(执法部门看不到任何投诉)。"""

    enterprise_id: str
    visit_id: int | None
    channel: str = Field(description="subscribe 订阅页面、verify 检查码核验页面")
    handled_by: int | None = Field(description="受理或办结的监督密钥编号")
    accepted_at: datetime | None


class ComplaintPage(BaseModel):
    items: list[ComplaintPublic]
    next_cursor: int | None = Field(description="下一页的 after 值")


class SupervisionRowPublic(BaseModel):
    agency_id: str
    agency_name: str
    entries: int = Field(description="扫码入企登记数")
    no_code: int = Field(description="未出示检查码的入企(标记 no_code)")
    late_scan: int = Field(description="补扫码的入企(标记 late_scan)")
    complaints_filed: int = Field(description="本月收到的投诉")
    complaints_closed: int = Field(description="本月办结的投诉")
    median_hours: float | None = Field(description="本月办结投诉的处理时长中位数(小时)")
    mean_hours: float | None = Field(description="本月办结投诉的平均处理时长(小时)")
    at_cap: int = Field(description="本年已达到单部门年度上限的企业数(截至本月底)")
    one_below_cap: int = Field(description="本年距单部门年度上限只差一次的企业数")


class SupervisionPublic(BaseModel):
    month: str
    agencies: list[SupervisionRowPublic]
    unattributed_complaints: int = Field(description="本月未指明执法部门的投诉")


# Filing and approval (备案、审批): notices of triggered checks, approving special plans, and the
# public listing of approved special plans (公示).


class ApprovalDecision(_In):
    comment: Annotated[SafeText, Field(max_length=MAX_APPROVAL_COMMENT)] | None = Field(
        None, description="审批意见(不予批准时必填)"
    )


class NoticePublic(BaseModel):
    id: int
    number: str = Field(description="通知编号: 部门编码-年份-序号")
    agency_id: str
    plan_id: int
    enterprise_id: str
    trigger: TriggerName
    reason: str
    issued_at: datetime


class NoticePage(BaseModel):
    items: list[NoticePublic]
    next_cursor: int | None = Field(description="下一页的 after 值")


class CampaignRegionPublic(BaseModel):
    code: str
    name: str
    enterprises: int


class CampaignPublic(BaseModel):
    agency_id: str
    agency_name: str
    items: list[str]
    earliest: date
    latest: date
    approved_on: date
    enterprises: int = Field(description="涉及企业数(不公开企业名单;不含不预先告知的检查)")
    regions: list[CampaignRegionPublic]
    withheld: bool = Field(description="另含不预先告知的检查(暗访等),其范围不公开")


class PublicSpecialPlans(BaseModel):
    month: str = Field(description="批准月份 YYYY-MM")
    months: list[str] = Field(description="有公示内容的月份")
    campaigns: list[CampaignPublic]


# The public verification of codes (检查码核验)


class CodeInspector(BaseModel):
    name: str
    certificate_no: str = Field(description="执法证号")


class CodeWarning(BaseModel):
    code: Literal["revoked", "not_yet", "past", "over_cap", "quiet_day"]
    message: str


class CodeVerification(BaseModel):
    valid: bool = Field(description="检查码仍然有效(未被撤销);有效时仍须看 warnings")
    today: date = Field(description="核验时的日期(北京时间)")
    date: date
    enterprise_id: str
    enterprise_name: str
    agency_id: str
    agency_name: str
    partner_agencies: list[str] = Field(description="联合检查的其他部门(检查日前只列可提前告知的)")
    items: list[str] = Field(description="本部门的检查事项")
    kinds: list[str] = Field(description="检查类型")
    legal_basis: str = Field(description="检查依据")
    inspectors: list[CodeInspector] = Field(description="本部门参加本次检查的执法人员")
    triggered: bool = Field(description="触发式检查(投诉举报等),否则为计划检查")
    trigger_reason: str | None
    warnings: list[CodeWarning]
    revoked_reason: str | None


class CodeRating(_In):
    token: Annotated[SafeStr, Field(min_length=1, max_length=1024)] = Field(
        description="检查码(二维码中的签名令牌)"
    )
    score: int = Field(ge=1, le=5, description="评分 1 至 5")
    comment: Annotated[SafeText, Field(max_length=500)] = Field(default="", description="意见")


class CodeRatingPublic(BaseModel):
    check_in_id: int
    score: int
    comment: str


class CodeComplaint(_In):
    token: Annotated[SafeStr, Field(min_length=1, max_length=1024)] = Field(
        description="检查码(二维码中的签名令牌)"
    )
    reason: Annotated[SafeStr, Field(min_length=1, max_length=16)] = Field(
        description="投诉事由: no_code 未出示检查码、quiet_day 安静日检查、repeated 重复检查、"
        "conduct 态度作风、demands 索要财物或指定服务、other 其他"
    )
    text: Annotated[SafeText, Field(max_length=500)] = Field(default="", description="补充说明")


# Run controls: the preview of a run before it is published.


class PreviewPlan(BaseModel):
    plan_id: int
    enterprise_id: str
    enterprise_name: str
    agency_id: str
    agency_name: str
    kind: str
    announceable: bool = Field(description="企业可事先知晓(非案件、非豁免、非暗访)")
    date_from: date | None = Field(description="现在的日期(已发布的计划),否则为空")
    date_to: date | None = Field(description="发布后的日期,未排上或跳过为空")
    reason: str | None = Field(
        description="未排上的原因代码,或跳过的原因: cancelled、changed、published、checked_in"
    )
    reason_label: str | None = Field(description="原因的中文说明")
    detail: str | None


class PreviewSubject(BaseModel):
    id: str
    name: str


class PreviewFeed(BaseModel):
    kind: str = Field(description="enterprise 企业、agency 执法部门、inspector 执法人员")
    subject_id: str
    name: str
    subscriptions: int = Field(description="该对象有效的日历订阅数")


class PreviewTotals(BaseModel):
    placed: int
    moved: int
    unscheduled: int
    skipped: int
    enterprises: int
    agencies: int
    feeds: int


class RunPreview(BaseModel):
    run_id: int
    status: RunStatus
    refusal: str | None = Field(description="现在不能发布的原因(中文),可以发布时为空")
    refusal_code: str | None
    staying: int = Field(description="已发布且保持不变的计划数")
    totals: PreviewTotals
    placed: list[PreviewPlan] = Field(description="新排上的计划")
    moved: list[PreviewPlan] = Field(description="改期的已发布计划(从 date_from 到 date_to)")
    unscheduled: list[PreviewPlan] = Field(description="未排上的计划及原因")
    skipped: list[PreviewPlan] = Field(description="发布时跳过的计划(运行开始后修改或撤销等)")
    enterprises: list[PreviewSubject] = Field(description="涉及的企业")
    agencies: list[PreviewSubject] = Field(description="涉及的执法部门")
    feeds: list[PreviewFeed] = Field(description="内容会变化的日历订阅对象")


# -- webhooks -------------------------------------------------------------------------------

WebhookEventType = Literal["visit.published", "visit.changed", "visit.cancelled", "run.published"]
WebhookUrl = Annotated[SafeStr, Field(min_length=1, max_length=2000)]


class WebhookCreate(_In):
    url: WebhookUrl = Field(description="接收地址,须为 https(不能是内网、本机或链路本地地址)")
    event_types: list[WebhookEventType] = Field(
        default_factory=list,
        max_length=4,
        description="订阅的事件类型;空表示全部(run.published 只发给不属于部门的端点)",
    )
    description: Annotated[SafeStr, Field(max_length=200)] = ""
    agency_id: Id64 | None = Field(
        default=None, description="监督密钥可指定所属部门;部门密钥的端点总属于本部门"
    )
    active: bool = True


class WebhookUpdate(_In):
    url: WebhookUrl | None = None
    event_types: list[WebhookEventType] | None = Field(default=None, max_length=4)
    description: Annotated[SafeStr, Field(max_length=200)] | None = None
    active: bool | None = None


class WebhookPublic(BaseModel):
    id: int
    url: str
    agency_id: str | None
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="签名密钥(whsec_…),只显示这一次")


class WebhookDeliveryPublic(BaseModel):
    id: int
    webhook_id: str = Field(description="webhook-id 请求头,每次重试和重新投递都相同")
    event_id: int
    event_type: str
    endpoint_id: int
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


# 随机选派: declared conflicts (回避), certificates' validity, the draw of a month.


class CertifiedUntilPut(_In):
    certified_until: Day | None = Field(description="执法证有效期截止日(含);null 表示长期有效")


class ConflictCreate(_In):
    inspector_id: int = Field(ge=1, le=2**31 - 1, description="本部门执法人员编号")
    enterprise_id: Annotated[
        SafeStr, Field(min_length=18, max_length=18, pattern=r"^[0-9A-Z]+$")
    ] = Field(description="须回避企业的统一社会信用代码")
    reason: Annotated[SafeStr, Field(min_length=1, max_length=200)] = Field(
        description="回避事由,如 亲属关系、曾任职"
    )


class ConflictPublic(BaseModel):
    id: int
    inspector_id: int
    enterprise_id: str
    reason: str
    declared_at: datetime
    declared_by: str


class InspectorDrawCreate(_In):
    month: Annotated[str, Field(pattern=r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")] = Field(
        description="月份 YYYY-MM"
    )
    team_size: int = Field(2, ge=2, le=10, description="每次入企的执法人员数")
    per_day: int | None = Field(None, ge=1, le=20, description="每人每天最多入企次数;null 表示不限")
    redraw: bool = Field(False, description="true: 已指派的入企也重新抽取")


class DrawnTeam(BaseModel):
    visit_id: int
    day: date
    enterprise_id: str
    inspector_ids: list[int]


class UnplacedVisit(BaseModel):
    visit_id: int
    day: date
    enterprise_id: str
    reason: str = Field(description="未能选派的原因")


class InspectorDrawPublic(BaseModel):
    agency_id: str
    month: str
    seed: int = Field(description="抽取种子:发布这些入企的排期运行的种子、部门与月份的 SHA-256")
    inputs_digest: str = Field(description="抽取输入的 SHA-256;相同输入与种子得出相同结果")
    teams: list[DrawnTeam] = Field(description="本次抽取的入企及执法人员")
    kept: list[int] = Field(description="保留原指派的入企")
    unplaced: list[UnplacedVisit] = Field(description="符合条件的执法人员不足、未能选派的入企")


# -- sampling (双随机、一公开) ----------------------------------------------------------------

ClassKey = Annotated[SafeStr, Field(min_length=1, max_length=8)]


class SamplingRoundCreate(_In):
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)] = Field(
        description="批次名称,如「2026年第三季度 南昌市」"
    )
    draw_at: Moment = Field(
        strict=False, description="公布的抽取时间(带时区);此前只公开随机种子的承诺值"
    )
    coordination: Literal["coordinated", "independent"] = Field(
        "coordinated",
        description="coordinated 各部门用同一组永久随机数(抽中的企业尽量重合,便于联合检查);"
        "independent 各部门各用一组(对照)",
    )
    window_start: float = Field(
        0.0, ge=0.0, lt=1.0, description="抽样窗口起点 [0, 1),不同期间取不同起点以轮换"
    )


class SamplingTaskCreate(_In):
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)] = Field(description="任务名称")
    agencies: list[Id64] = Field(
        default_factory=list,
        max_length=10,
        description="实施部门;多个为联合抽查(每个部门检查每家抽中的企业)。部门密钥默认为本部门",
    )
    region_prefix: RegionCode = Field(description="抽查范围: 行政区划代码(含下级)")
    industries: list[Annotated[SafeStr, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50, description="行业;空为全部行业"
    )
    classes: list[ClassKey] = Field(
        default_factory=lambda: ["A", "B", "C", "D", "U"],
        max_length=10,
        description="信用风险类别 A、B、C、D,U 为未分类",
    )
    ratios: dict[ClassKey, float] = Field(
        default_factory=dict, max_length=10, description="各类别的抽查比例 0 至 1"
    )
    items: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS, description="检查事项")
    earliest: Day
    latest: Day
    unannounced: bool = Field(False, description="不提前告知")


class SamplingTaskPublic(BaseModel):
    id: int
    round_id: int
    name: str
    agencies: list[str] = Field(description="实施部门,第一个为牵头部门")
    region_prefix: str
    industries: list[str]
    classes: list[str]
    ratios: dict[str, float]
    items: list[str]
    earliest: date
    latest: date
    unannounced: bool
    population: int | None = Field(description="抽取时的抽查对象数(抽取前为空)")
    drawn: dict[str, int] = Field(description="各部门抽中的企业数")


class SamplingRoundPublic(BaseModel):
    id: int
    name: str
    commitment: str = Field(description="随机种子的承诺值 SHA-256,抽取前公布")
    seed: str | None = Field(
        description="随机种子;抽取后公开(含不预先告知的任务时,待其检查期结束后公开)"
    )
    coordination: str
    window_start: float
    draw_at: datetime
    drawn_at: datetime | None
    population_digest: str | None = Field(description="抽查对象快照的 SHA-256")
    tasks: list[SamplingTaskPublic]


class SamplingDrawResult(BaseModel):
    round: int
    seed: str
    commitment: str
    population_digest: str
    population: dict[str, int] = Field(description="各任务的抽查对象数")
    counts: dict[str, dict[str, int]] = Field(description="各部门、各类别抽中的企业数")
    plans: int = Field(description="生成的检查计划数")


class SamplingVerification(BaseModel):
    equal: bool = Field(description="重新抽取的结果与保存的结果一致,且种子与快照都对得上")
    commitment_ok: bool
    digest_ok: bool
    same_sample: bool
    expected: int
    stored: int
    differences: list[str]


class CheckResultCreate(_In):
    outcome: CheckOutcome = Field(strict=False, description="检查结果")
    day: Day = Field(description="检查日期")
    note: Annotated[SafeText, Field(max_length=500)] = ""


class CheckResultPublic(BaseModel):
    plan_id: int
    outcome: CheckOutcome
    outcome_label: str
    day: date
    note: str
    recorded_at: datetime | None


# Credit-risk classes (信用风险分类): the per-class policy and SAMR's monthly reclassification.
class RiskClassPolicy(_In):
    risk_class: RiskClass = Field(description="信用风险分类 A-D")
    sampling_ratio: float = Field(ge=0, le=1, description="双随机抽查任务的默认抽查比例")
    agency_enterprise_per_year: int | None = Field(
        ge=0, le=366, description="同一部门对同一企业每年检查次数上限;null 表示不设上限"
    )
    remote_routine: bool = Field(
        description="本类无感监管企业的日常检查是否在提交时自动改为非现场检查"
    )


class RiskPolicyPut(_In):
    classes: list[RiskClassPolicy] = Field(
        min_length=4, max_length=4, description="A、B、C、D 四类各一条"
    )


class RiskPolicyPublic(BaseModel):
    classes: list[RiskClassPolicy]
    note: str = Field(description="说明")


class RiskOlderPublic(BaseModel):
    row: int = Field(description="文件中的行号(表头为第 1 行)")
    enterprise_id: str
    classified_on: date = Field(description="文件中的分类日期")
    stored_on: date = Field(description="已登记的分类日期(较新,未被覆盖)")


class RiskImportResult(BaseModel):
    rows: int = Field(description="数据行数")
    updated: int = Field(description="更新了分类的企业数")
    unchanged: int = Field(description="分类未变的企业数")
    skipped_older: int = Field(description="分类日期早于已登记日期、未覆盖的行数")
    older: list[RiskOlderPublic] = Field(description="未覆盖的行(最多列出 100 行)")
    note: str | None = Field(description="有未覆盖的行时的说明")


class ReleasedVisit(BaseModel):
    visit_id: int
    day: date
    enterprise_id: str
    inspector_ids: list[int] = Field(description="本部门仍在这次入企中的执法人员")
    needs_team: bool = Field(description="不足 2 名执法人员,须重新随机选派或指派")


class ConflictDeclared(ConflictPublic):
    released: list[ReleasedVisit] = Field(
        description="此人被撤出的该企业今后(今天起、尚未扫码)的入企"
    )


class InspectorCertified(InspectorPublic):
    released: list[ReleasedVisit] = Field(
        description="此人被撤出的执法证有效期截止日之后(今天起、尚未扫码)的入企"
    )
