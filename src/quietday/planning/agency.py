"""The agency's workbench (科室工作台, `/agency`): what a clerk of an agency does every day.

A clerk signs in with the agency's key through the door pages' seam (`door.door_actor`, the
single sign-on's place) into a session of `planning.signin` (its own cookie path); uploads a plan
sheet (imported whole or not at all by `imports.import_plans`; a refused sheet comes back marked
by `imports.marked_sheet`, kept a day for the download); reads the agency's plans with what
became of each (date, partners of a joint visit, the lead agency and its contact, the reason it
could not be placed), changes or cancels them through `planning.plans`; sees its month of visits
and sends inspectors on them through `feeds.assign_inspectors` (audit-logged there).
"""

from __future__ import annotations

import calendar
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any

from quietday.domain.model import Kind
from quietday.domain.status import PlanStatus, VisitStatus
from quietday.errors import ForbiddenError, InputError, NotFoundError, Problem
from quietday.persistence import Session
from quietday.persistence.agency import AgencyUploadRepository, EnterpriseSearch, inspectors_on
from quietday.persistence.keys import ApiKeyRepository
from quietday.persistence.plans import PlanFilter, PlanRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
)
from quietday.persistence.tables import (
    AgencyUploadRow,
    EnterpriseRow,
    InspectorRow,
    PlanRow,
    VisitRow,
)
from quietday.persistence.visits import VisitRepository
from quietday.planning.checkins import MIN_INSPECTORS
from quietday.planning.door import door_actor
from quietday.planning.feeds import assign_inspectors, unfit_inspectors
from quietday.planning.imports import HEADERS, import_plans, marked_sheet
from quietday.planning.keys import Actor
from quietday.planning.plans import list_plans
from quietday.planning.signin import DashboardSession, open_session, sign_out, start_session
from quietday.planning.spreadsheets import xlsx_bytes

__all__ = [
    "EXPORT_HEADERS",
    "KIND_LABELS",
    "MAX_EXPORT",
    "STATUS_LABELS",
    "Desk",
    "MonthVisit",
    "PlanLine",
    "ProblemLine",
    "assign",
    "desk_actor",
    "export_xlsx",
    "find_enterprises",
    "inspectors",
    "month_weeks",
    "open_desk",
    "plan_lines",
    "problem_lines",
    "refusals",
    "sign_in",
    "sign_out",
    "upload",
    "upload_of",
    "visit_of",
]

STATUS_LABELS = {
    PlanStatus.SUBMITTED.value: "待排期",
    PlanStatus.PUBLISHED.value: "已排定",
    PlanStatus.UNSCHEDULED.value: "未排上",
    PlanStatus.CANCELLED.value: "已撤销",
}
KIND_LABELS = {k.value: k.label for k in Kind}
UPLOAD_HOURS = 24
MAX_EXPORT = 20_000
SHEET_SUFFIXES = (".csv", ".xlsx")
# A remote plan is never scheduled: it waits for its result (非现场检查结果), not for a run.
REMOTE_WAITING = "待录入结果(非现场)"
EXPORT_HEADERS = (
    "计划编号", "外部编号", "统一社会信用代码", "企业名称", "检查类型", "检查事项", "最早日期",
    "最晚日期", "优先级", "状态", "排定日期", "联合检查部门", "牵头部门", "牵头部门联系方式",
    "未排上原因", "检查方式",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Desk:
    """A live sign-in to the agency pages."""

    claims: DashboardSession
    actor: Actor
    agency_id: str
    agency_name: str


def desk_actor(session: Session, presented: str) -> Actor:
    """The agency's actor for these credentials (the door's seam); a supervisor or an approver
    key is refused in Chinese."""
    try:
        actor = door_actor(session, presented)
    except ForbiddenError:
        raise ForbiddenError("科室工作台须用执法部门的密钥登录;监督密钥请登录监督看板") from None
    if actor.role != "agency":
        raise ForbiddenError("审批密钥只用于审批专项检查计划,不能登录科室工作台")
    return actor


def sign_in(session: Session, presented: str, *, secret: bytes, now: datetime) -> str:
    """The cookie value of a new session of the agency's key."""
    value, _ = start_session(session, desk_actor(session, presented), secret=secret, now=now)
    return value


def open_desk(session: Session, value: str | None, *, secret: bytes, now: datetime) -> Desk | None:
    """The session a cookie carries, for a live agency key; else None."""
    claims = open_session(session, value, secret=secret, now=now, role="agency")
    if claims is None:
        return None
    key = ApiKeyRepository(session).get(claims.key_id)
    if key is None or key.agency_id is None:
        return None
    actor = Actor(key_id=claims.key_id, role="agency", agency_id=key.agency_id)
    agency = AgencyRepository(session).get(key.agency_id)
    session.info["actor"] = f"{actor.name} agency-pages"
    return Desk(
        claims=claims,
        actor=actor,
        agency_id=key.agency_id,
        agency_name=agency.name if agency is not None else key.agency_id,
    )


# ---- uploads ----


@dataclass(frozen=True, slots=True)
class ProblemLine:
    """One problem of a sheet: its spreadsheet row (None: the file as a whole), the Chinese
    column and the message."""

    line: int | None
    column: str
    message: str


def _located(problem: Problem) -> list[Any]:
    """[row, Chinese column, message] of a problem as `import_plans` words it."""
    path = problem.path
    if path.startswith("rows[") and "]." in path:
        index, _, name = path[5:].partition("].")
        if index.isdigit():
            line, header = int(index) + 2, HEADERS.get(name, name)
            prefix = f"第 {line} 行「{header}」"
            message = problem.message.removeprefix(prefix)
            return [line, header, message]
    return [None, "整个文件", problem.message]


def upload(
    session: Session,
    desk: Desk,
    stream: IO[bytes],
    *,
    filename: str,
    today: date,
    now: datetime,
) -> AgencyUploadRow:
    """Import a plan sheet whole, or nothing of it: the upload's record holds the counts, or
    every problem and the sheet back with its bad cells marked."""
    name = filename.strip()[:200]
    if not name.lower().endswith(SHEET_SUFFIXES):
        raise InputError([Problem("bad_file_type", "file", "只能上传 CSV 或 XLSX 表格")])
    row = AgencyUploadRow(
        id=secrets.token_urlsafe(24),
        agency_id=desk.agency_id,
        filename=name,
        expires_at=now + timedelta(hours=UPLOAD_HOURS),
    )
    try:
        report = import_plans(session, desk.actor, stream, filename=name, today=today)
    except InputError as exc:
        # Nothing of a refused sheet is kept: the rows checked so far are rolled back.
        session.rollback()
        stream.seek(0)
        row.problems = [_located(p) for p in exc.problems]
        row.marked = marked_sheet(stream, filename=name, problems=exc.problems)
    else:
        row.rows, row.created, row.unchanged = report.rows, report.created, report.unchanged
    uploads = AgencyUploadRepository(session)
    uploads.end_expired(now)
    return uploads.add(row)


def upload_of(session: Session, desk: Desk, upload_id: str, *, now: datetime) -> AgencyUploadRow:
    """An upload of the desk's agency that has not expired."""
    row = AgencyUploadRepository(session).get(upload_id)
    if row is None or row.agency_id != desk.agency_id or row.expires_at <= now:
        raise NotFoundError("没有这次上传的记录(记录保留 24 小时)")
    return row


def problem_lines(row: AgencyUploadRow) -> list[ProblemLine]:
    return [ProblemLine(line=p[0], column=str(p[1]), message=str(p[2])) for p in row.problems]


# ---- plans ----


@dataclass(frozen=True, slots=True)
class PlanLine:
    """A plan as the agency reads it: what became of it."""

    plan: PlanRow
    enterprise_name: str
    status: str
    kind: str
    day: date | None
    partners: list[str]
    lead: str | None
    lead_contact: str | None
    reason: str | None


def plan_lines(session: Session, rows: Sequence[PlanRow]) -> list[PlanLine]:
    """Each plan with its enterprise, its date (published, else the latest run's draft), the other
    agencies of its visit and the visit's lead agency with its contact, and the reason it could
    not be placed."""
    visit_ids = {r.visit_id for r in rows if r.visit_id is not None}
    visits = {int(v.id or 0): v for v in VisitRepository(session).by_ids(visit_ids)}
    members = [
        p for p in PlanRepository(session).in_visits(visit_ids) if p.status == PlanStatus.PUBLISHED
    ]
    agency_ids = {p.agency_id for p in members} | {v.lead_agency_id for v in visits.values()}
    agencies = {a.id: a for a in AgencyRepository(session).by_ids(agency_ids)}
    names = {
        e.id: e.name for e in EnterpriseRepository(session).by_ids({r.enterprise_id for r in rows})
    }
    out: list[PlanLine] = []
    for r in rows:
        visit = visits.get(r.visit_id) if r.visit_id is not None else None
        partners: list[str] = []
        lead = contact = None
        if visit is not None:
            others = dict.fromkeys(
                p.agency_id
                for p in members
                if p.visit_id == r.visit_id and p.agency_id != r.agency_id
            )
            partners = [agencies[a].name if a in agencies else a for a in others]
            found = agencies.get(visit.lead_agency_id)
            lead = found.name if found is not None else visit.lead_agency_id
            contact = found.contact if found is not None else None
        out.append(
            PlanLine(
                plan=r,
                enterprise_name=names.get(r.enterprise_id, r.enterprise_id),
                status=REMOTE_WAITING
                if r.remote and r.status == PlanStatus.SUBMITTED
                else STATUS_LABELS.get(r.status, r.status),
                kind=KIND_LABELS.get(r.kind, r.kind),
                day=r.published_date if r.status == PlanStatus.PUBLISHED else r.draft_date,
                partners=partners,
                lead=lead,
                lead_contact=contact or None,
                reason=r.detail if r.status == PlanStatus.UNSCHEDULED else None,
            )
        )
    return out


def export_xlsx(session: Session, desk: Desk, flt: PlanFilter) -> bytes:
    """The plans the filter finds (up to `MAX_EXPORT`), as XLSX with Chinese headers."""
    lines: list[PlanLine] = []
    cursor: str | None = None
    while len(lines) < MAX_EXPORT:
        page = list_plans(session, desk.actor, flt, cursor=cursor, limit=500)
        lines.extend(plan_lines(session, page.items))
        cursor = page.next_cursor
        if cursor is None:
            break
    rows = [
        (
            int(x.plan.id or 0),
            x.plan.external_ref or "",
            x.plan.enterprise_id,
            x.enterprise_name,
            x.kind,
            "、".join(x.plan.items),
            x.plan.earliest.isoformat(),
            x.plan.latest.isoformat(),
            x.plan.priority,
            x.status,
            x.day.isoformat() if x.day else "",
            "、".join(x.partners),
            x.lead or "",
            x.lead_contact or "",
            x.reason or "",
            "非现场" if x.plan.remote else "现场",
        )
        for x in lines[:MAX_EXPORT]
    ]
    return xlsx_bytes(title="检查计划", header=EXPORT_HEADERS, rows=rows)


# ---- the month ----


@dataclass(frozen=True, slots=True)
class MonthVisit:
    visit: VisitRow
    enterprise_name: str
    agencies: list[str]
    joint: bool
    # The agency's own plans still in the visit (none: its plans were cancelled out of it).
    own_plans: list[PlanRow]
    crew: list[InspectorRow]

    @property
    def cancelled(self) -> bool:
        return self.visit.status == VisitStatus.CANCELLED or not self.own_plans


def _month_visits(session: Session, desk: Desk, visits: Iterable[VisitRow]) -> list[MonthVisit]:
    rows = list(visits)
    ids = [int(v.id or 0) for v in rows]
    plans = [p for p in PlanRepository(session).in_visits(ids) if p.status == PlanStatus.PUBLISHED]
    agencies = {
        a.id: a.name for a in AgencyRepository(session).by_ids({p.agency_id for p in plans})
    }
    names = {
        e.id: e.name for e in EnterpriseRepository(session).by_ids({v.enterprise_id for v in rows})
    }
    sent = inspectors_on(session, ids)
    own = {int(i.id or 0): i for i in InspectorRepository(session).list(agency_id=desk.agency_id)}
    out = []
    for v, vid in zip(rows, ids, strict=True):
        members = dict.fromkeys(p.agency_id for p in plans if p.visit_id == vid)
        out.append(
            MonthVisit(
                visit=v,
                enterprise_name=names.get(v.enterprise_id, v.enterprise_id),
                agencies=[agencies.get(a, a) for a in members],
                joint=len(members) > 1,
                own_plans=[p for p in plans if p.visit_id == vid and p.agency_id == desk.agency_id],
                crew=[own[i] for i in sent.get(vid, []) if i in own],
            )
        )
    return out


def month_weeks(
    session: Session, desk: Desk, first: date, *, inspector_id: int | None = None
) -> list[list[tuple[date, list[MonthVisit]]]]:
    """The month of `first` as weeks from Monday, each day with the agency's visits (those of
    one of its inspectors, when given)."""
    weeks = calendar.Calendar().monthdatescalendar(first.year, first.month)
    last = weeks[-1][-1]
    rows = VisitRepository(session).of_subject("agency", desk.agency_id, weeks[0][0], last)
    visits = _month_visits(session, desk, rows)
    if inspector_id is not None:
        visits = [v for v in visits if any(i.id == inspector_id for i in v.crew)]
    by_day: dict[date, list[MonthVisit]] = {}
    for v in visits:
        by_day.setdefault(v.visit.day, []).append(v)
    return [[(d, by_day.get(d, [])) for d in week] for week in weeks]


def inspectors(session: Session, desk: Desk) -> list[InspectorRow]:
    """The agency's inspectors, the active ones first, by name."""
    rows = InspectorRepository(session).list(agency_id=desk.agency_id)
    return sorted(rows, key=lambda r: (not r.active, r.name, r.certificate_no))


def visit_of(session: Session, desk: Desk, visit_id: int) -> MonthVisit:
    """One visit the agency takes (or took) part in."""
    mine = VisitRepository(session).page(after=visit_id - 1, limit=1, agency_id=desk.agency_id)
    if not mine or mine[0].id != visit_id:
        raise NotFoundError(f"入企 {visit_id} 不存在")
    return _month_visits(session, desk, mine)[0]


def refusals(session: Session, desk: Desk, found: MonthVisit) -> dict[int, str]:
    """Why each of the agency's inspectors who may not go on the visit may not (inactive,
    uncertified on its day, 回避); those who may are absent."""
    return unfit_inspectors(
        session,
        day=found.visit.day,
        enterprise_id=found.visit.enterprise_id,
        inspectors=inspectors(session, desk),
    )


def assign(session: Session, desk: Desk, visit_id: int, inspector_ids: Sequence[int]) -> list[int]:
    """Send at least two of the agency's active inspectors, certified on the day and not 回避,
    on one of its visits (the enforcement rules); `feeds.assign_inspectors` checks the
    certificates and conflicts and audit-logs the change."""
    found = visit_of(session, desk, visit_id)
    if found.cancelled:
        raise InputError([Problem("visit_cancelled", "inspectors", "本部门已不在这次入企中")])
    wanted = list(dict.fromkeys(inspector_ids))
    active = {int(i.id or 0) for i in inspectors(session, desk) if i.active}
    problems = [
        Problem("unknown_inspector", "inspectors", f"执法人员 {i} 不是本部门在岗的持证人员")
        for i in wanted
        if i not in active
    ]
    if len(wanted) < MIN_INSPECTORS:
        problems.append(
            Problem(
                "too_few_inspectors",
                "inspectors",
                f"每次入企须指派至少 {MIN_INSPECTORS} 名执法人员",
            )
        )
    if problems:
        raise InputError(problems)
    return assign_inspectors(session, desk.actor, visit_id, wanted)


# ---- enterprises ----


def find_enterprises(session: Session, text: str, *, limit: int = 10) -> list[EnterpriseRow]:
    """Enterprises by part of the name, the start of the code, or pinyin initials."""
    query = text.strip()
    if not query:
        return []
    return list(EnterpriseSearch(session).find(query, limit=limit))
