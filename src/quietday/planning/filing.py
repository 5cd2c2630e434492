"""Filing (备案) and approval (审批): the lead time of planned checks, the notice (检查通知) of each
triggered check, the approval of special plans by the agency's head, and their public listing
(公示), as Shanghai's 2026 rules require of special inspection plans.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from quietday.domain.calendar import WorkingCalendar
from quietday.domain.filing import (
    FILED_KINDS,
    TRIGGER_LABELS,
    Approval,
    first_filing_day,
)
from quietday.errors import ConflictError, ForbiddenError, InputError, Problem
from quietday.persistence import Session
from quietday.persistence.filing import (
    NoticeRepository,
    approval_moments,
    filing_leads,
    public_special_plans,
)
from quietday.persistence.plans import PlanRepository
from quietday.persistence.tables import NoticeRow, PlanRow, utcnow
from quietday.planning.audit import record
from quietday.planning.calendar import working_calendar
from quietday.planning.feeds import CHINA, today_in_china
from quietday.planning.keys import Actor

__all__ = [
    "Campaign",
    "FilingRules",
    "PublicListing",
    "approval_note",
    "decide",
    "issue_notice",
    "list_notices",
    "public_listing",
]


@dataclass
class FilingRules:
    """The filing lead times as of `today` (in China), read once per intake: a region's own
    value, else its city's, else its province's (none: no lead time)."""

    session: Session
    today: date
    _leads: dict[str, tuple[int, str]] | None = None
    _calendar: WorkingCalendar | None = None

    def lead_of(self, region_code: str) -> tuple[int, str] | None:
        """(working days, the region that sets them) for an agency of `region_code`."""
        if self._leads is None:
            self._leads = filing_leads(self.session)
        for k in range(len(region_code), 0, -2):
            found = self._leads.get(region_code[:k])
            if found is not None:
                return found
        return None

    def first_day(self, lead: int) -> date:
        if self._calendar is None:
            # A lead of at most 60 working days reaches into the next year, never beyond.
            self._calendar = working_calendar(self.session, (self.today.year, self.today.year + 1))[
                0
            ]
        return first_filing_day(self.today, lead, self._calendar.is_working_day)

    def problem(
        self, *, kind: str, earliest: date, region_code: str, path: str, own: str
    ) -> Problem | None:
        """A routine or special plan starting before its region's lead time allows: refused,
        with the first date it could start. `own` names the field in the message (empty for a
        spreadsheet, whose messages name the row and column)."""
        if kind not in FILED_KINDS:
            return None
        rule = self.lead_of(region_code)
        if rule is None or rule[0] == 0:
            return None
        lead, name = rule
        first = self.first_day(lead)
        if earliest >= first:
            return None
        return Problem(
            "filing_too_late",
            path,
            f"{own}须不早于 {first}:{name}要求至少提前 {lead} 个工作日备案(今天是 {self.today})",
        )


def issue_notice(session: Session, plan: PlanRow, *, reason: str | None, today: date) -> NoticeRow:
    """The 检查通知 of a triggered check, numbered per agency and the year of `today` (in China)."""
    repo = NoticeRepository(session)
    year = today.year
    repo.lock_agency(plan.agency_id)
    seq = repo.last_seq(plan.agency_id, year) + 1
    trigger = str(plan.trigger)
    row = repo.add(
        NoticeRow(
            number=f"{plan.agency_id}-{year}-{seq:06d}",
            agency_id=plan.agency_id,
            year=year,
            seq=seq,
            plan_id=int(plan.id or 0),
            enterprise_id=plan.enterprise_id,
            trigger=trigger,
            reason=reason or TRIGGER_LABELS[trigger],
            issued_at=utcnow(),
        )
    )
    record(
        session,
        "notice.issue",
        f"notice:{row.id}",
        {"number": row.number, "plan_id": row.plan_id, "trigger": trigger, "reason": row.reason},
    )
    return row


def list_notices(
    session: Session, actor: Actor, *, plan_id: int | None, after: int | None, limit: int
) -> tuple[list[NoticeRow], int | None]:
    rows = list(
        NoticeRepository(session).page(
            agency_id=actor.own_agency, plan_id=plan_id, after=after, limit=limit + 1
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1].id or 0) if more and rows else None)


def approval_note(row: PlanRow) -> str | None:
    """Why a special plan waits (Chinese), or None when it does not."""
    if row.kind != "special" or row.approval == Approval.APPROVED:
        return None
    if row.approval == Approval.REJECTED:
        return f"专项检查计划未获批准({row.approval_comment}),不参加排期;修改后重新报批"
    return "专项检查计划待本部门负责人审批,批准前不参加排期"


def decide(
    session: Session,
    actor: Actor,
    plan_id: int,
    *,
    approve: bool,
    comment: str | None,
    now: datetime,
) -> PlanRow:
    """An approver of the plan's own agency approves or rejects a pending special plan (a
    rejection says why) at `now`, from which an approved one is listed publicly. Supervisors
    and agency keys may not: separation of duties."""
    if actor.role != "approver":
        raise ForbiddenError("只有本部门的审批密钥可以审批专项检查计划")
    text = (comment or "").strip()
    if not approve and not text:
        raise InputError([Problem("missing_comment", "comment", "不予批准须填写意见")])
    repo = PlanRepository(session)
    row = repo.get_for(plan_id, actor.agency_id)
    if row.kind != "special":
        raise ConflictError(f"检查计划 {plan_id} 不是专项检查,无需审批", code="not_special")
    if row.status == "cancelled":
        raise ConflictError(f"检查计划 {plan_id} 已取消,不能审批", code="plan_cancelled")
    if row.approval != Approval.PENDING:
        raise ConflictError(
            f"检查计划 {plan_id} 已审批({row.approval});修改后才能重新审批", code="already_decided"
        )
    row.approval = Approval.APPROVED if approve else Approval.REJECTED
    row.approval_comment = text or None
    row.approval_key_id = actor.key_id
    row.approval_at = now
    row.updated_at = utcnow()
    repo.add(row)
    record(
        session,
        "plan.approve" if approve else "plan.reject",
        f"plan:{plan_id}",
        {"approval": row.approval, "comment": row.approval_comment},
    )
    return row


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    enterprises: int


@dataclass(frozen=True, slots=True)
class Campaign:
    """One special campaign as the public sees it: an agency, its items and its period, and
    where (counties, how many enterprises); never which enterprises."""

    agency_id: str
    agency_name: str
    items: tuple[str, ...]
    earliest: date
    latest: date
    approved_on: date
    enterprises: int
    regions: tuple[Region, ...]
    # It also holds inspections not announced beforehand (暗访): counted nowhere.
    withheld: bool


@dataclass(frozen=True, slots=True)
class PublicListing:
    month: date
    months: list[date]
    campaigns: list[Campaign] = field(default_factory=list)


def _month_start(day: date) -> datetime:
    return datetime.combine(day.replace(day=1), time(), tzinfo=CHINA).astimezone(UTC)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def public_listing(session: Session, *, month: date | None, today: date) -> PublicListing:
    """The approved special plans of a month of approval (default: the latest month with any,
    else this month), one campaign per agency, items and period."""
    months = sorted({today_in_china(at).replace(day=1) for at in approval_moments(session)})
    shown = (month or (months[-1] if months else today)).replace(day=1)
    facts = public_special_plans(
        session, since=_month_start(shown), before=_month_start(_next_month(shown))
    )
    groups: dict[tuple[str, tuple[str, ...], date, date], list[int]] = defaultdict(list)
    for k, f in enumerate(facts):
        groups[(f.agency_id, tuple(f.items), f.earliest, f.latest)].append(k)
    campaigns = []
    for (agency_id, items, earliest, latest), members in groups.items():
        counties: dict[tuple[str, str], set[str]] = defaultdict(set)
        announced = [k for k in members if not facts[k].hidden]
        for k in announced:
            counties[(facts[k].county_code, facts[k].county_name)].add(facts[k].enterprise_id)
        campaigns.append(
            Campaign(
                agency_id=agency_id,
                agency_name=facts[members[0]].agency_name,
                items=items,
                earliest=earliest,
                latest=latest,
                approved_on=min(today_in_china(facts[k].approval_at) for k in members),
                enterprises=len({facts[k].enterprise_id for k in announced}),
                regions=tuple(
                    Region(code, name, len(ents)) for (code, name), ents in sorted(counties.items())
                ),
                withheld=len(announced) < len(members),
            )
        )
    campaigns.sort(key=lambda c: (c.agency_id, c.earliest, c.items))
    # The month shown is always one the picker offers, whether it has any plan or not.
    return PublicListing(month=shown, months=sorted({*months, shown}), campaigns=campaigns)
