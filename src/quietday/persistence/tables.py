"""The database tables (SQLModel). Rows stay in this package; the rest of quietday sees domain
objects or plain values. The schema is created and changed only by Alembic migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from quietday.domain.status import (
    ComplaintStatus,
    PartState,
    PlanStatus,
    RunStatus,
    VisitStatus,
)

__all__ = [
    "AgencyCapacityRow",
    "AgencyRow",
    "AgencyUploadRow",
    "ApiKeyRow",
    "AuditHeadRow",
    "AuditRollupRow",
    "AuditRow",
    "CheckInFlagRow",
    "CheckInRow",
    "CodeAttemptRow",
    "ComplaintRow",
    "DashboardSessionRow",
    "EnterpriseRow",
    "FeedRenderRow",
    "FeedTokenRow",
    "HistoryRow",
    "IdempotencyRow",
    "InspectionCodeRow",
    "InspectorConflictRow",
    "InspectorRow",
    "NoticeRow",
    "OfficialYearRow",
    "PlanRow",
    "PolicyRow",
    "RatingRow",
    "RegionRow",
    "RunPartRow",
    "RunPlanRow",
    "RunRow",
    "SamplingDrawRow",
    "SamplingRoundRow",
    "SamplingTaskAgencyRow",
    "SamplingTaskRow",
    "SettingRow",
    "UTCDateTime",
    "VisitInspectorRow",
    "VisitRow",
    "WebhookAttemptRow",
    "WebhookDeliveryRow",
    "WebhookEndpointRow",
    "WebhookEventRow",
    "metadata",
    "utcnow",
]

metadata = SQLModel.metadata


def _json(**kw: Any) -> Any:
    return Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False), **kw)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps in UTC, aware on the way out on every database (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _stamp(nullable: bool = False) -> Any:
    column: sa.Column[datetime] = sa.Column(UTCDateTime(), nullable=nullable)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(default_factory=utcnow, sa_column=column)


class RegionRow(SQLModel, table=True):
    """行政区划: province, city (4-digit code) or county (6-digit code)."""

    __tablename__ = "region"
    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=100)
    parent_code: str | None = Field(default=None, foreign_key="region.code", max_length=12)
    level: str = Field(max_length=16)
    # 备案: working days a routine or special plan is filed ahead of its earliest date; null:
    # as the parent region says (none anywhere: no lead time).
    filing_lead_days: int | None = None


class PolicyRow(SQLModel, table=True):
    """企业安静日 policy: day-of-month ranges, ISO weekdays and explicit dates."""

    __tablename__ = "quiet_policy"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    month_days: list[list[int]] = _json_list()
    weekdays: list[int] = _json_list()
    dates: list[str] = _json_list()


class SettingRow(SQLModel, table=True):
    """Province-wide settings by key: `caps` (default frequency caps), `calendar` (overrides)."""

    __tablename__ = "setting"
    key: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] = _json()


class OfficialYearRow(SQLModel, table=True):
    """A year's official calendar (the State Council's notice): its days off and its weekend
    working days (调休), each by ISO date with the notice's name, and where it came from
    (`holidays-<version>` for the package's seed, `holiday-cn` or `csv` for an import)."""

    __tablename__ = "official_year"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    holidays: dict[str, str] = _json()
    workdays: dict[str, str] = _json()
    papers: list[str] = _json_list()
    source: str = Field(max_length=32)
    imported_at: datetime | None = _stamp()
    imported_by: str = Field(max_length=200)


class AgencyRow(SQLModel, table=True):
    __tablename__ = "agency"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    region_code: str = Field(foreign_key="region.code", max_length=12, index=True)
    daily_capacity: int
    active: bool = True
    contact: str = Field(default="", max_length=200)
    # 检查依据 shown on the public verification page of its codes (empty: the general laws).
    legal_basis: str = Field(default="", max_length=500)


class AgencyCapacityRow(SQLModel, table=True):
    """A date on which an agency can visit a different number of enterprises than usual."""

    __tablename__ = "agency_capacity"
    agency_id: str = Field(foreign_key="agency.id", primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    capacity: int


class InspectorRow(SQLModel, table=True):
    """执法人员 with an enforcement certificate (执法证号)."""

    __tablename__ = "inspector"
    id: int | None = Field(default=None, primary_key=True)
    agency_id: str = Field(foreign_key="agency.id", max_length=64, index=True)
    name: str = Field(max_length=100)
    certificate_no: str = Field(max_length=64, unique=True)
    active: bool = True
    # The last day the certificate holds (None: no expiry); after it the inspector is not sent.
    certified_until: date | None = None


class EnterpriseRow(SQLModel, table=True):
    """An enterprise by its 统一社会信用代码."""

    __tablename__ = "enterprise"
    id: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=200)
    region_code: str = Field(foreign_key="region.code", max_length=12, index=True)
    quiet_policy_id: str = Field(foreign_key="quiet_policy.id", max_length=64)
    whitelisted: bool = False
    blackout: list[str] = _json_list()
    cap_overrides: dict[str, Any] = _json()
    # The pinyin initials of the name (`浙江` -> `zj`), set whenever the row is written
    # (`persistence.names`), for the search by initials.
    name_initials: str = Field(default="", max_length=200, index=True)
    # The credit-risk class (信用风险分类 A-D, A the lowest risk) and the day it was given;
    # None until a classification is imported.
    risk_class: str | None = Field(default=None, max_length=1, index=True)
    risk_classified_on: date | None = None
    # 无感监管: a low-risk enterprise, checked remotely where the policy says so.
    low_risk: bool = False
    # The trade (行业), e.g. 食品 or a GB/T 4754 code: sampling populations are drawn by it.
    industry: str = Field(default="", max_length=64, index=True)


class PlanRow(SQLModel, table=True):
    """A planned inspection (检查计划) and what scheduling made of it."""

    __tablename__ = "plan"
    __table_args__ = (
        sa.UniqueConstraint("agency_id", "external_ref", name="uq_plan_agency_external_ref"),
        sa.Index("ix_plan_window", "earliest", "latest"),
    )
    id: int | None = Field(default=None, primary_key=True)
    agency_id: str = Field(foreign_key="agency.id", max_length=64, index=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18, index=True)
    kind: str = Field(max_length=16)
    items: list[str] = _json_list()
    earliest: date
    latest: date
    priority: int = 1
    exempt_reason: str | None = Field(default=None, max_length=200)
    unannounced: bool = False
    # 非现场: a document or video review, which opens no door and never becomes a visit.
    remote: bool = False
    external_ref: str | None = Field(default=None, max_length=100)
    status: str = Field(default=PlanStatus.SUBMITTED, max_length=16, index=True)
    version: int = 1
    draft_run_id: int | None = Field(default=None, foreign_key="run.id")
    draft_date: date | None = None
    reason: str | None = Field(default=None, max_length=32)
    detail: str | None = None
    published_date: date | None = None
    # The visit the plan is in (published plans only).
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    # The visit a cancelled plan was taken out of: its agency and inspectors still see that
    # visit, marked cancelled, until its date.
    cancelled_visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    # What triggered a case (`domain.filing.TRIGGER_LABELS`); null for the other kinds.
    trigger: str | None = Field(default=None, max_length=16)
    # A special plan's approval by its agency's head (`domain.filing.Approval`); null for the
    # other kinds. Only an approved special plan is given to runs.
    approval: str | None = Field(default=None, max_length=16)
    approval_comment: str | None = Field(default=None, max_length=500)
    approval_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    approval_at: datetime | None = _stamp(nullable=True)
    created_at: datetime | None = _stamp()
    updated_at: datetime | None = _stamp()


class HistoryRow(SQLModel, table=True):
    """An inspection that already happened (imported), counted toward caps."""

    __tablename__ = "history"
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18, index=True)
    agency_id: str = Field(foreign_key="agency.id", max_length=64)
    day: date
    kind: str = Field(max_length=16)


class RunRow(SQLModel, table=True):
    """One solve: what it was asked, its progress, the exact instance and solution (gzip JSON)."""

    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=RunStatus.QUEUED, max_length=16, index=True)
    scope: str | None = Field(default=None, max_length=12)
    horizon_start: date
    horizon_end: date
    time_limit: float
    workers: int
    seed: int
    deterministic: bool = False
    # A correction of the record: its horizon may start before tomorrow.
    correction: bool = False
    # The day in China the run was asked for: what is dated on or before it is the record.
    asked_on: date | None = None
    progress: float = 0.0
    message: str = ""
    # Where the run is (`RunStage`): queued, build, solve, check, store, done.
    stage: str = Field(default="queued", max_length=16)
    cancel_requested: bool = False
    requested_by: int | None = Field(default=None, foreign_key="api_key.id")
    created_at: datetime | None = _stamp()
    started_at: datetime | None = _stamp(nullable=True)
    finished_at: datetime | None = _stamp(nullable=True)
    published_at: datetime | None = _stamp(nullable=True)
    summary: dict[str, Any] = _json()
    # The years the run planned on the provisional calendar (no notice yet), empty when none.
    provisional_years: list[int] = _json_list()
    # Published plans of its horizon the rules no longer allowed on their day: the run placed
    # them anew, and publishing may move them (those still after today, without a check-in).
    freed_plans: list[int] = _json_list()
    error: str | None = None
    instance_gz: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True)
    )
    solution_gz: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True)
    )


class RunPartRow(SQLModel, table=True):
    """One job of a run solved on the queue (a part of a quarter, or a unit's last stage): the
    job and its result as gzip pickles, which the run's own worker wrote and reads back; both
    are cleared once the result is read, the rest stays as the record of who solved what."""

    __tablename__ = "run_part"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    kind: str = Field(max_length=8)
    label: str = Field(max_length=64)
    inspections: int
    state: str = Field(default=PartState.TODO, max_length=16)
    queue_job_id: int | None = None
    worker: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    error: str | None = None
    created_at: datetime | None = _stamp()
    started_at: datetime | None = _stamp(nullable=True)
    finished_at: datetime | None = _stamp(nullable=True)
    seconds: float | None = None
    job_gz: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True))
    result_gz: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True)
    )


class RunPlanRow(SQLModel, table=True):
    """A plan as a run saw it (its version when the run started) and what the run made of it."""

    __tablename__ = "run_plan"
    run_id: int = Field(foreign_key="run.id", primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", primary_key=True, index=True)
    version: int
    day: date | None = None
    reason: str | None = Field(default=None, max_length=32)
    detail: str | None = None


class VisitRow(SQLModel, table=True):
    """A published visit (一次入企): one enterprise, one date, one or more plans."""

    __tablename__ = "visit"
    __table_args__ = (sa.UniqueConstraint("enterprise_id", "day", name="uq_visit_enterprise_day"),)
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18)
    day: date = Field(index=True)
    lead_agency_id: str = Field(foreign_key="agency.id", max_length=64)
    status: str = Field(default=VisitStatus.PUBLISHED, max_length=16)
    sequence: int = 0
    # What the enterprise may see of the visit before its date, made of its announceable plans
    # alone (`planning.visits.public_view`): null until one is published in it; its own
    # sequence and stamps move only when that view changes.
    public_view: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON(none_as_null=True), nullable=True)
    )
    public_sequence: int = 0
    public_created_at: datetime | None = _stamp(nullable=True)
    public_updated_at: datetime | None = _stamp(nullable=True)
    run_id: int | None = Field(default=None, foreign_key="run.id")
    created_at: datetime | None = _stamp()
    updated_at: datetime | None = _stamp()


class VisitInspectorRow(SQLModel, table=True):
    """An inspector sent on a visit (at least two per agency, by the enforcement rules)."""

    __tablename__ = "visit_inspector"
    visit_id: int = Field(foreign_key="visit.id", primary_key=True)
    inspector_id: int = Field(foreign_key="inspector.id", primary_key=True, index=True)


class FeedTokenRow(SQLModel, table=True):
    """A calendar subscription: a secret URL token (stored only as its SHA-256) for one feed."""

    __tablename__ = "feed_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=16)
    subject_id: str = Field(max_length=64, index=True)
    label: str = Field(default="", max_length=200)
    created_by: int | None = Field(default=None, foreign_key="api_key.id")
    created_at: datetime | None = _stamp()
    revoked_at: datetime | None = _stamp(nullable=True)


class FeedRenderRow(SQLModel, table=True):
    """The latest rendering of a feed, shared by every API process: a poll whose feed has not
    changed is answered from here without rendering again."""

    __tablename__ = "feed_render"
    kind: str = Field(max_length=16, primary_key=True)
    subject_id: str = Field(max_length=64, primary_key=True)
    uid_domain: str = Field(max_length=200, primary_key=True)
    version: str = Field(max_length=200)
    etag: str = Field(max_length=80)
    last_modified: datetime | None = _stamp()
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class CheckInRow(SQLModel, table=True):
    """扫码入企: inspectors of an agency entered an enterprise (what happened, not what was planned)."""

    __tablename__ = "check_in"
    __table_args__ = (sa.Index("ix_check_in_enterprise_day", "enterprise_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    agency_id: str = Field(foreign_key="agency.id", max_length=64, index=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18)
    at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # The date in China (Asia/Shanghai) on which the entry took place.
    day: date = Field(index=True)
    kind: str = Field(max_length=16)
    exempt_reason: str | None = Field(default=None, max_length=200)
    certificates: list[str] = _json_list()
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="api_key.id")
    created_at: datetime | None = _stamp()
    # The enterprise's 监督码 as scanned (a signed token), when it was scanned, and why, if the
    # check began before the scan (emergency: scanned before leaving, as Shenzhen allows).
    enterprise_code: str | None = Field(default=None, max_length=1000)
    scanned_at: datetime | None = _stamp(nullable=True)
    late_reason: str | None = Field(default=None, max_length=200)


class CheckInFlagRow(SQLModel, table=True):
    """Something a check-in did against the rules or the plan (one row per code)."""

    __tablename__ = "check_in_flag"
    check_in_id: int = Field(foreign_key="check_in.id", primary_key=True)
    code: str = Field(max_length=40, primary_key=True)
    detail: str


class RatingRow(SQLModel, table=True):
    """An enterprise's rating of a check-in, given through its feed token. The inspecting agency
    sees only aggregates; supervisors see each rating."""

    __tablename__ = "check_in_rating"
    check_in_id: int = Field(foreign_key="check_in.id", primary_key=True)
    score: int
    comment: str = Field(default="", max_length=500)
    # The enterprise's feed token it rated through; none from the verification page.
    feed_token_id: int | None = Field(default=None, foreign_key="feed_token.id")
    # "subscribe" (its subscribe page or the API with its token) or "verify" (the page an
    # inspection code opens, after the entry).
    channel: str = Field(default="subscribe", max_length=16)
    created_at: datetime = _stamp()
    updated_at: datetime = _stamp()


class AuditRollupRow(SQLModel, table=True):
    """The frequency audit of one agency or county in one month, kept current in the same
    transaction as every change it depends on (publishing, plans leaving visits, check-ins,
    enterprises moving), so that a province's year adds up from a few thousand rows."""

    __tablename__ = "audit_rollup"
    dim: str = Field(max_length=16, primary_key=True)
    subject: str = Field(max_length=64, primary_key=True)
    month: date = Field(primary_key=True)
    planned_visits: int = 0
    planned_joint_visits: int = 0
    planned_saved: float = 0.0
    planned_routine: int = 0
    planned_special: int = 0
    planned_case: int = 0
    planned_requested: int = 0
    planned_special_case: int = 0
    actual_visits: int = 0
    actual_joint_visits: int = 0
    actual_saved: float = 0.0
    actual_routine: int = 0
    actual_special: int = 0
    actual_case: int = 0
    actual_requested: int = 0
    actual_special_case: int = 0
    violations: int = 0
    flags: dict[str, Any] = _json()
    # 非现场检查: remote plans by the month of their window's end, and their results by day;
    # never visits nor door-openings.
    planned_remote: int = 0
    actual_remote: int = 0


class ApiKeyRow(SQLModel, table=True):
    """An API key, stored as its SHA-256; `prefix` finds it without revealing it."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16, unique=True)
    hash: str = Field(max_length=64)
    role: str = Field(max_length=16)
    agency_id: str | None = Field(default=None, foreign_key="agency.id", max_length=64)
    label: str = Field(default="", max_length=200)
    created_at: datetime | None = _stamp()
    revoked_at: datetime | None = _stamp(nullable=True)


class DashboardSessionRow(SQLModel, table=True):
    """A live sign-in to the dashboard (a supervisor key) or the door pages (an agency key):
    its signed cookie names `id`; signing out deletes the row, so a copy of the cookie stops
    working everywhere."""

    __tablename__ = "dashboard_session"
    id: str = Field(primary_key=True, max_length=64)
    key_id: int = Field(foreign_key="api_key.id", index=True)
    created_at: datetime | None = _stamp()
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    # At the door (an agency key): the inspectors who signed in on this phone (ids, >= 2).
    inspector_ids: list[int] = _json_list()


class IdempotencyRow(SQLModel, table=True):
    """The answer given to a request with an `Idempotency-Key`, replayed on a retry."""

    __tablename__ = "idempotency"
    __table_args__ = (sa.UniqueConstraint("api_key_id", "key", name="uq_idempotency_key"),)
    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(foreign_key="api_key.id")
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    body: dict[str, Any] = _json()
    created_at: datetime | None = _stamp()


class AuditRow(SQLModel, table=True):
    """One entry of the append-only audit log: who changed what, when, chained by SHA-256 to the
    entry before it. `seq` is given by the head (head + 1), never by a sequence, so that a
    transaction rolled back leaves no gap."""

    __tablename__ = "audit_log"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    subject: str = Field(max_length=200, index=True)
    changes: dict[str, Any] = _json()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHeadRow(SQLModel, table=True):
    """The head of the audit chain (one row, id 1): the last entry's seq and hash. Appending
    updates it first, which serialises appenders until they commit."""

    __tablename__ = "audit_head"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int
    hash: str = Field(max_length=64)


class InspectionCodeRow(SQLModel, table=True):
    """检查码: the signed code of one agency's plans in one published visit, shown at the door.
    `digest` names those plans (ids and versions) and the day: a code whose digest is no longer
    the visit's is revoked. `short_code` is what a person types (8 characters); `token` the JWS
    the QR carries."""

    __tablename__ = "inspection_code"
    __table_args__ = (
        sa.Index("ix_inspection_code_visit_agency", "visit_id", "agency_id"),
        sa.Index("ix_inspection_code_enterprise_day", "enterprise_id", "day"),
    )
    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id")
    agency_id: str = Field(foreign_key="agency.id", max_length=64)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18)
    day: date
    short_code: str = Field(max_length=16, unique=True)
    digest: str = Field(max_length=64)
    triggered: bool = False
    token: str = Field(default="", max_length=1024)
    issued_at: datetime | None = _stamp()
    revoked_at: datetime | None = _stamp(nullable=True)
    revoked_reason: str | None = Field(default=None, max_length=200)


class ComplaintRow(SQLModel, table=True):
    """An enterprise's complaint (投诉), about an entry, a visit or an agency, from its subscribe
    page or the check-in's verification page. Only supervisors see it: they accept (处理中)
    and close it with a reply (已办结), which the enterprise sees."""

    __tablename__ = "complaint"
    __table_args__ = (
        sa.Index("ix_complaint_status_created", "status", "created_at"),
        sa.Index("ix_complaint_enterprise_created", "enterprise_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18)
    check_in_id: int | None = Field(default=None, foreign_key="check_in.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id")
    agency_id: str | None = Field(default=None, foreign_key="agency.id", max_length=64, index=True)
    reason: str = Field(max_length=16)
    text: str = Field(default="", max_length=500)
    channel: str = Field(max_length=16)
    feed_token_id: int | None = Field(default=None, foreign_key="feed_token.id")
    status: str = Field(default=ComplaintStatus.PENDING, max_length=16)
    reply: str | None = Field(default=None, max_length=1000)
    handled_by: int | None = Field(default=None, foreign_key="api_key.id")
    created_at: datetime = _stamp()
    accepted_at: datetime | None = _stamp(nullable=True)
    closed_at: datetime | None = _stamp(nullable=True)


class NoticeRow(SQLModel, table=True):
    """检查通知: the notice a triggered check (a case) gets when it is filed, numbered per agency
    and year (`360102-SCJG-2026-000001`). Never shown to the enterprise before the check."""

    __tablename__ = "inspection_notice"
    __table_args__ = (sa.UniqueConstraint("agency_id", "year", "seq", name="uq_notice_number"),)
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=100, unique=True)
    agency_id: str = Field(foreign_key="agency.id", max_length=64, index=True)
    year: int
    seq: int
    plan_id: int = Field(foreign_key="plan.id", unique=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18)
    trigger: str = Field(max_length=16)
    reason: str = Field(max_length=200)
    issued_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class CodeAttemptRow(SQLModel, table=True):
    """Failed attempts at typing a short inspection code on an enterprise's page, counted per
    key (`enterprise:<id>` or `ip:<address>`) and hour, so that every API process applies the
    same limit."""

    __tablename__ = "code_attempt"
    key: str = Field(primary_key=True, max_length=100)
    hour: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    failures: int = 0


class AgencyUploadRow(SQLModel, table=True):
    """A plan sheet an agency uploaded on its pages (`/agency/upload`): what became of it (counts,
    or every problem as [row, Chinese column, message]) and, when refused, the sheet back with
    its bad cells marked, for the uploader to download. Kept a day."""

    __tablename__ = "agency_upload"
    id: str = Field(primary_key=True, max_length=64)
    agency_id: str = Field(foreign_key="agency.id", max_length=64, index=True)
    filename: str = Field(max_length=200)
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    problems: list[Any] = _json_list()
    marked: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True))
    created_at: datetime | None = _stamp()
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))


class WebhookEndpointRow(SQLModel, table=True):
    """A webhook subscription: where events are POSTed (signed with `secret`, the Standard
    Webhooks scheme), which types, for whom: an agency (the visits its plans are in, only its
    own plans) or, with no agency, a supervisor's integrator (everything). `previous_secret`
    also signs until `previous_until` after a rotation. Deleted endpoints are kept (their
    deliveries' log), marked `deleted_at`."""

    __tablename__ = "webhook_endpoint"
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_until: datetime | None = _stamp(nullable=True)
    agency_id: str | None = Field(default=None, foreign_key="agency.id", max_length=64, index=True)
    event_types: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    description: str = Field(default="", max_length=200)
    active: bool = True
    created_at: datetime = _stamp()
    updated_at: datetime = _stamp()
    deleted_at: datetime | None = _stamp(nullable=True)


class WebhookEventRow(SQLModel, table=True):
    """The outbox: an event, written in the transaction of the change it tells of. `data` is
    the whole visit (every plan, hidden or not, with its agency); each endpoint is sent what its
    owner may see of it. `agencies`: the agencies it concerns (plans in the visit, or that left)."""

    __tablename__ = "webhook_event"
    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=32)
    occurred_at: datetime = _stamp()
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    run_id: int | None = Field(default=None, foreign_key="run.id")
    agencies: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    data: dict[str, Any] = _json()


class WebhookDeliveryRow(SQLModel, table=True):
    """One event to one endpoint, written with the event. `attempts` counts the attempts taken
    (a deliverer takes one by raising it from the value it read: no two take the same attempt);
    while one is under way `next_attempt_at` is its lease. `round_start`: the attempts before the
    latest re-delivery, where the back-off schedule starts again."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="webhook_event.id", index=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", index=True)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    round_start: int = 0
    next_attempt_at: datetime = _stamp()
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = _stamp(nullable=True)
    created_at: datetime = _stamp()


class WebhookAttemptRow(SQLModel, table=True):
    """The log of one attempt of a delivery: its HTTP status or error, duration and the start
    of the answer."""

    __tablename__ = "webhook_attempt"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    number: int
    started_at: datetime = _stamp()
    duration_ms: int = 0
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    response: str = Field(default="", max_length=500)


class CheckResultRow(SQLModel, table=True):
    """What an inspection found (抽查结果, one `CheckOutcome`), on the day it was carried out: at
    the door, or remotely (非现场) for a remote plan. Published under 一公开 for drawn plans."""

    __tablename__ = "check_result"
    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    outcome: str = Field(max_length=32)
    day: date = Field(index=True)
    note: str = Field(default="", max_length=500)
    recorded_by: int | None = Field(default=None, foreign_key="api_key.id")
    recorded_at: datetime | None = _stamp()


class InspectorConflictRow(SQLModel, table=True):
    """A declared 回避: an inspector who must not inspect an enterprise (亲属关系, 曾任职…)."""

    __tablename__ = "inspector_conflict"
    __table_args__ = (
        sa.UniqueConstraint(
            "inspector_id", "enterprise_id", name="uq_inspector_conflict_inspector_enterprise"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    inspector_id: int = Field(foreign_key="inspector.id", index=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18, index=True)
    reason: str = Field(max_length=200)
    declared_at: datetime = _stamp()
    # Who declared it, as the audit log names actors.
    declared_by: str = Field(max_length=100)


class SamplingRoundRow(SQLModel, table=True):
    """A sampling round (抽查批次): tasks drawn together with one seed, fixed at creation and
    kept secret (only its `commitment` is shown) until it is revealed after the draw. `snapshot`
    is the drawn populations (gzip of canonical JSON), `snapshot_digest` its SHA-256."""

    __tablename__ = "sampling_round"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    seed: str = Field(max_length=64)
    commitment: str = Field(max_length=64)
    coordination: str = Field(max_length=16)
    window_start: float = 0.0
    draw_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    created_by: int | None = Field(default=None, foreign_key="api_key.id")
    created_at: datetime = _stamp()
    drawn_at: datetime | None = _stamp(nullable=True)
    drawn_by: int | None = Field(default=None, foreign_key="api_key.id")
    snapshot: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True))
    snapshot_digest: str | None = Field(default=None, max_length=64)


class SamplingTaskRow(SQLModel, table=True):
    """A sampling task (抽查任务) of a round: its population (enterprises of a region, of some
    trades, of some credit-risk classes; `U` the unclassified), the share of each class drawn,
    the items checked, the window and whether the checks are announced."""

    __tablename__ = "sampling_task"
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="sampling_round.id", index=True)
    name: str = Field(max_length=100)
    region_prefix: str = Field(max_length=12)
    industries: list[str] = _json_list()
    classes: list[str] = _json_list()
    ratios: dict[str, Any] = _json()
    items: list[str] = _json_list()
    earliest: date
    latest: date
    unannounced: bool = False
    created_at: datetime = _stamp()


class SamplingTaskAgencyRow(SQLModel, table=True):
    """An agency of a task; several make a joint task (联合抽查), `position` 0 leads."""

    __tablename__ = "sampling_task_agency"
    task_id: int = Field(foreign_key="sampling_task.id", primary_key=True)
    agency_id: str = Field(foreign_key="agency.id", primary_key=True, max_length=64, index=True)
    position: int = 0


class SamplingDrawRow(SQLModel, table=True):
    """One enterprise drawn for one agency of a task, its permanent random number and the plan
    the draw filed for it."""

    __tablename__ = "sampling_draw"
    __table_args__ = (
        sa.UniqueConstraint("task_id", "agency_id", "enterprise_id", name="uq_sampling_draw"),
    )
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="sampling_task.id", index=True)
    agency_id: str = Field(foreign_key="agency.id", max_length=64)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=18)
    number: float
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)


class RiskClassPolicyRow(SQLModel, table=True):
    """What one credit-risk class (A-D) means here: the default sampling ratio of 双随机
    tasks, the yearly cap per agency and enterprise (None: no cap), and whether routine plans
    of the class's 无感监管 (low-risk) enterprises become remote (非现场). Local configuration."""

    __tablename__ = "risk_class_policy"
    risk_class: str = Field(max_length=1, primary_key=True)
    sampling_ratio: float
    agency_enterprise_per_year: int | None = None
    remote_routine: bool = False
