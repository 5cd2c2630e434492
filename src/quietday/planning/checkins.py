"""Check-ins (扫码入企): what inspectors actually did, matched to the published schedule and
judged by the same rules as the schedule.

An agency records that two or more of its certified inspectors entered an enterprise. The entry
is matched to a published visit holding that agency's plans (the same day, else one whose plan
window holds the day) or flagged `unplanned`. Then every check-in of the enterprise is judged
again by the core rule checker (`domain.flag_entries`): quiet days, working days, the whitelist,
caps and gaps count what happened, not what was planned. The other flags (inspectors, plan
match) are facts of the entry itself.

An enterprise rates a check-in through its feed token. The inspecting agency sees only its count
and average of ratings; supervisors see each rating.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from quietday.domain.calendar import WorkingCalendar
from quietday.domain.check import Violation
from quietday.domain.entries import flag_entries
from quietday.domain.model import (
    KINDS,
    Agency,
    AgencyId,
    EnterpriseId,
    HistoryEntry,
    Horizon,
    Inspection,
    InspectionId,
    Instance,
    Kind,
    PolicyId,
    Solution,
    SolveStats,
    Status,
    Visit,
)
from quietday.domain.text import text_problem
from quietday.errors import ForbiddenError, InputError, NotFoundError, Problem
from quietday.formats import dump_instance, dump_solution
from quietday.persistence import Session, make_engine, session_scope
from quietday.persistence.checkins import (
    CheckInFilter,
    CheckInRepository,
    RatingRepository,
)
from quietday.persistence.crew import InspectorConflictRepository
from quietday.persistence.mapping import (
    CAPS_SETTING,
    caps_from_setting,
    enterprise_from_row,
    history_from_row,
    policy_from_row,
)
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
    PolicyRepository,
)
from quietday.persistence.risk import ClassCaps
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import (
    CheckInFlagRow,
    CheckInRow,
    InspectorRow,
    PlanRow,
    RatingRow,
    VisitRow,
    utcnow,
)
from quietday.planning.audit import RowDigest, diff, feed_actor, record
from quietday.planning.calendar import stored_years, working_calendar
from quietday.planning.codes import current_code
from quietday.planning.feeds import CHINA, live_token
from quietday.planning.frequency import refresh_rollups
from quietday.planning.keys import Actor

__all__ = [
    "ENTRY_FLAGS",
    "MIN_RATINGS",
    "RULE_FLAGS",
    "CheckInFilter",
    "CheckInInput",
    "CheckInView",
    "RatingSummary",
    "actuals_documents",
    "actuals_instance",
    "agency_names",
    "entry_id",
    "get_check_in",
    "judge_enterprise",
    "list_check_ins",
    "list_for_token",
    "put_rating",
    "rate_check_in",
    "rating_summary",
    "record_check_in",
    "record_check_ins",
    "rule_flags",
    "write_actuals",
]

MIN_INSPECTORS = 2
MAX_CERTIFICATES = 20
# Flags that are facts of one entry, set when it is recorded.
ENTRY_FLAGS = {
    "unplanned": "没有与之对应的已发布入企计划",
    "different_day": "与计划日期不同",
    "too_few_inspectors": f"执法人员少于 {MIN_INSPECTORS} 名",
    "inspector_not_certified": "有执法证号未登记或已停用",
    "certificate_expired": "有执法人员的执法证在入企当天已过期",
    "inspector_conflict": "有执法人员已申报回避该企业",
    "inspector_other_agency": "有执法人员不属于本部门",
    "late_scan": "先行检查,离开前才扫企业监督码(紧急情况)",
    "no_code": "入企时本部门没有该企业当日有效的检查码(先赋码、再凭码检查)",
}
# Flags from the core rule checker (codes of `domain.check`), recomputed over the enterprise's
# entries whenever one is added.
RULE_FLAGS = frozenset(
    {
        "not_working_day",
        "quiet_day",
        "whitelisted",
        "cap_agency_enterprise_year",
        "cap_enterprise_month",
        "cap_enterprise_year",
        "min_gap",
    }
)
# A busy day is not a breach: the entries' instance gives every agency room for all of them.
_UNBOUNDED = 1_000_000
_ENTRY_PREFIX = "C-"
_FUTURE_SLACK = timedelta(minutes=10)
# A scan this much after the stated entry time is still the entry's own scan; later, the entry
# must be declared an emergency (checked first, scanned before leaving) with its reason.
SCAN_GRACE = timedelta(minutes=10)


def entry_id(check_in_id: int) -> InspectionId:
    return InspectionId(f"{_ENTRY_PREFIX}{check_in_id}")


@dataclass(frozen=True, slots=True)
class CheckInInput:
    enterprise_id: str
    certificates: tuple[str, ...]
    at: datetime
    visit_id: int | None = None
    kind: str | None = None
    exempt_reason: str | None = None
    # A scan of the enterprise's 监督码 (its verified token), when it was scanned (default: the
    # entry time; for a late scan, now), and whether the check began first, and why.
    enterprise_code: str | None = None
    scanned_at: datetime | None = None
    late: bool = False
    late_reason: str | None = None


@dataclass(frozen=True, slots=True)
class CheckInView:
    row: CheckInRow
    flags: list[CheckInFlagRow]
    rating: RatingRow | None


def _validate(session: Session, inp: CheckInInput, now: datetime) -> list[Problem]:
    problems: list[Problem] = []
    if EnterpriseRepository(session).get(inp.enterprise_id) is None:
        problems.append(
            Problem("unknown_enterprise", "enterprise_id", f"企业 {inp.enterprise_id} 不存在")
        )
    if inp.at.tzinfo is None:
        problems.append(Problem("time_zone_missing", "at", "入企时间须带时区,如 +08:00"))
    elif inp.at > now + _FUTURE_SLACK:
        problems.append(Problem("future_check_in", "at", "入企时间不能晚于现在"))
    if not inp.certificates:
        problems.append(Problem("missing_inspectors", "certificates", "须列出执法人员的执法证号"))
    elif len(inp.certificates) > MAX_CERTIFICATES:
        problems.append(
            Problem("too_many_inspectors", "certificates", f"执法证号不超过 {MAX_CERTIFICATES} 个")
        )
    for i, number in enumerate(inp.certificates):
        if not number.strip() or len(number) > 64:
            problems.append(
                Problem("bad_certificate", f"certificates[{i}]", "执法证号应为 1 至 64 个字符")
            )
    if inp.kind is not None and inp.kind not in KINDS:
        problems.append(Problem("unknown_kind", "kind", f"检查类型应为 {'、'.join(KINDS)} 之一"))
    if inp.exempt_reason is not None and len(inp.exempt_reason) > 200:
        problems.append(Problem("too_long", "exempt_reason", "豁免事由不超过 200 个字符"))
    if inp.at.tzinfo is not None:
        problems += _scan_problems(inp, now)
    return problems


def scanned_at(inp: CheckInInput, now: datetime) -> datetime | None:
    """When the 监督码 was scanned: as given, else at entry, or now for a late scan."""
    if inp.enterprise_code is None:
        return None
    return inp.scanned_at or (now if inp.late else inp.at)


def _scan_problems(inp: CheckInInput, now: datetime) -> list[Problem]:
    """A scan is the entry's own (within `SCAN_GRACE` of it), or a declared late scan the same
    day, after the entry, with its reason."""
    problems: list[Problem] = []
    reason = (inp.late_reason or "").strip()
    if inp.late_reason is not None and len(inp.late_reason) > 200:
        problems.append(Problem("too_long", "late_reason", "先行检查事由不超过 200 个字符"))
    if inp.late and not reason:
        problems.append(Problem("missing_reason", "late_reason", "先行检查须说明事由"))
    if not inp.late and inp.late_reason is not None:
        problems.append(
            Problem("unexpected_field", "late_reason", "只有先行检查(late 为 true)才填写事由")
        )
    if inp.enterprise_code is None:
        if inp.late or inp.scanned_at is not None:
            problems.append(
                Problem("missing_scan", "enterprise_code", "须扫描企业监督码(离开前扫码)")
            )
        return problems
    scan = scanned_at(inp, now)
    assert scan is not None
    if scan.tzinfo is None:
        problems.append(Problem("time_zone_missing", "scanned_at", "扫码时间须带时区,如 +08:00"))
        return problems
    if scan > now + _FUTURE_SLACK:
        problems.append(Problem("future_check_in", "scanned_at", "扫码时间不能晚于现在"))
    if inp.late:
        if scan <= inp.at:
            problems.append(Problem("scan_before_entry", "at", "先行检查的入企时间须早于扫码时间"))
        elif scan.astimezone(CHINA).date() != inp.at.astimezone(CHINA).date():
            problems.append(
                Problem("scan_other_day", "scanned_at", "先行检查须在入企当日离开前扫码")
            )
    elif abs(scan - inp.at) > SCAN_GRACE:
        minutes = int(SCAN_GRACE.total_seconds() // 60)
        problems.append(
            Problem(
                "late_scan_undeclared",
                "late",
                f"扫码与入企时间相差超过 {minutes} 分钟:须登记为先行检查(late)并说明事由",
            )
        )
    return problems


def _match(
    session: Session, agency_id: str, inp: CheckInInput, day: date
) -> tuple[VisitRow | None, PlanRow | None]:
    """The published visit this entry carries out, and the agency's first plan in it."""
    candidates = CheckInRepository(session).published_visits_with(inp.enterprise_id, agency_id)
    if inp.visit_id is not None:
        for visit, plans in candidates:
            if visit.id == inp.visit_id:
                return visit, plans[0]
        raise InputError([Problem("unknown_visit", "visit_id", f"本部门没有入企 {inp.visit_id}")])
    for visit, plans in candidates:
        if visit.day == day:
            return visit, plans[0]
    near = [
        (abs((visit.day - day).days), int(visit.id or 0), visit, plans[0])
        for visit, plans in candidates
        if any(p.earliest <= day <= p.latest for p in plans)
    ]
    if near:
        _, _, visit, plan = min(near, key=lambda t: (t[0], t[1]))
        return visit, plan
    return None, None


def _inspector_flags(
    session: Session, agency_id: str, certificates: Sequence[str], *, day: date, enterprise_id: str
) -> dict[str, str]:
    """The entry's flags about who entered on `day`: too few of the agency's inspectors whose
    certificate held that day, unknown or inactive numbers, another agency's inspectors, a
    certificate lapsed by then, an inspector with a declared 回避 for the enterprise."""
    inspectors = InspectorRepository(session)
    valid: set[str] = set()
    unknown: list[str] = []
    foreign: list[str] = []
    expired: list[str] = []
    own: list[InspectorRow] = []
    for number in dict.fromkeys(c.strip() for c in certificates):
        row = inspectors.by_certificate(number)
        if row is None or not row.active:
            unknown.append(number)
        elif row.agency_id != agency_id:
            foreign.append(number)
        elif row.certified_until is not None and row.certified_until < day:
            expired.append(f"{row.name}({number},有效期至 {row.certified_until})")
        else:
            valid.add(number)
            own.append(row)
    conflicts = InspectorConflictRepository(session).pairs(int(r.id or 0) for r in own)
    barred = [
        f"{r.name}({r.certificate_no},{conflicts[int(r.id or 0), enterprise_id]})"
        for r in own
        if (int(r.id or 0), enterprise_id) in conflicts
    ]
    flags: dict[str, str] = {}
    if len(valid) < MIN_INSPECTORS:
        flags["too_few_inspectors"] = f"本部门持证执法人员 {len(valid)} 名,少于 {MIN_INSPECTORS} 名"
    if unknown:
        flags["inspector_not_certified"] = f"执法证号未登记或已停用: {'、'.join(unknown)}"
    if foreign:
        flags["inspector_other_agency"] = f"执法人员不属于本部门: {'、'.join(foreign)}"
    if expired:
        flags["certificate_expired"] = f"{day} 入企时执法证已过期: {'、'.join(expired)}"
    if barred:
        flags["inspector_conflict"] = f"已申报回避企业 {enterprise_id}: {'、'.join(barred)}"
    return flags


def record_check_in(
    session: Session, actor: Actor, inp: CheckInInput, *, now: datetime | None = None
) -> CheckInView:
    """Record one entry of `actor`'s agency and judge the enterprise's entries again."""
    row = _record(session, actor, inp, now or utcnow())
    _judge(session, [inp.enterprise_id])
    view = _view(session, row, with_rating=False)
    record(session, "check_in.create", f"check_in:{row.id}", _content(view))
    return view


def record_check_ins(
    session: Session, actor: Actor, inputs: Sequence[CheckInInput], *, now: datetime | None = None
) -> list[int]:
    """Record many entries of `actor`'s agency, then judge each enterprise once: their ids."""
    return record_batches(session, [(actor, inputs)], now=now)[0]


def record_batches(
    session: Session,
    batches: Sequence[tuple[Actor, Sequence[CheckInInput]]],
    *,
    now: datetime | None = None,
) -> list[list[int]]:
    """Record the entries of several agencies (each batch its agency's actor, each audit-logged
    as its batch), then judge each enterprise once for all of them: the ids, batch by batch."""
    moment = now or utcnow()
    made = [
        (actor, [_record(session, actor, inp, moment) for inp in inputs])
        for actor, inputs in batches
    ]
    _judge(session, {r.enterprise_id for _, rows in made for r in rows})
    flags = CheckInRepository(session).flags_of(int(r.id or 0) for _, rows in made for r in rows)
    for actor, rows in made:
        digest = RowDigest()
        digest.add_all(
            (r.id, _content(CheckInView(r, flags.get(int(r.id or 0), []), None))) for r in rows
        )
        record(session, "check_in.batch", f"agency:{actor.agency_id}", digest.summary())
    return [[int(r.id or 0) for r in rows] for _, rows in made]


def _content(view: CheckInView) -> dict[str, Any]:
    """What the audit log keeps of a check-in: the entry and its flags when recorded."""
    row = view.row
    return {
        "agency_id": row.agency_id,
        "enterprise_id": row.enterprise_id,
        "at": row.at.isoformat(),
        "kind": row.kind,
        "exempt_reason": row.exempt_reason,
        "certificates": list(row.certificates),
        "visit_id": row.visit_id,
        "scanned": row.enterprise_code is not None,
        "scanned_at": row.scanned_at.isoformat() if row.scanned_at is not None else None,
        "late_reason": row.late_reason,
        "flags": sorted(f.code for f in view.flags),
    }


def _judge(session: Session, enterprise_ids: Iterable[str]) -> None:
    """Judge the enterprises' check-ins again and bring the audit rollups of every month they
    have entries in up to date (a late entry can move a flag to another month)."""
    months: dict[date, tuple[set[str], set[str]]] = {}
    regions = {e.id: e.region_code for e in EnterpriseRepository(session).by_ids(enterprise_ids)}
    for entry in judge_enterprises(session, sorted(regions)):
        counties, agencies = months.setdefault(entry.day.replace(day=1), (set(), set()))
        counties.add(regions[entry.enterprise_id])
        agencies.add(entry.agency_id)
    for month, (counties, agencies) in sorted(months.items()):
        refresh_rollups(session, [month], counties=counties, agencies=agencies)


def _record(session: Session, actor: Actor, inp: CheckInInput, now: datetime) -> CheckInRow:
    if actor.agency_id is None or actor.is_supervisor:
        raise ForbiddenError("入企记录须由执法部门的密钥提交")
    actor.require_filer()
    problems = _validate(session, inp, now)
    if problems:
        raise InputError(problems)
    repo = CheckInRepository(session)
    repo.lock_enterprise(inp.enterprise_id)
    day = inp.at.astimezone(CHINA).date()
    visit, plan = _match(session, actor.agency_id, inp, day)
    if inp.kind is not None:
        kind, exempt = inp.kind, inp.exempt_reason
    elif plan is not None:
        kind, exempt = plan.kind, inp.exempt_reason or plan.exempt_reason
    else:
        kind, exempt = Kind.ROUTINE.value, inp.exempt_reason
    row = repo.add(
        CheckInRow(
            agency_id=actor.agency_id,
            enterprise_id=inp.enterprise_id,
            at=inp.at,
            day=day,
            kind=kind,
            exempt_reason=exempt or None,
            certificates=[c.strip() for c in inp.certificates],
            visit_id=visit.id if visit is not None else None,
            created_by=actor.key_id,
            enterprise_code=inp.enterprise_code,
            scanned_at=scanned_at(inp, now),
            late_reason=(inp.late_reason or "").strip() if inp.late else None,
        )
    )
    facts = _inspector_flags(
        session, actor.agency_id, row.certificates, day=day, enterprise_id=inp.enterprise_id
    )
    if visit is None:
        facts["unplanned"] = ENTRY_FLAGS["unplanned"]
    elif visit.day != day:
        facts["different_day"] = f"计划在 {visit.day},实际在 {day}"
    if current_code(session, actor.agency_id, inp.enterprise_id, day) is None:
        facts["no_code"] = f"本部门没有 {day} 对该企业有效的检查码"
    if inp.late and row.scanned_at is not None:
        entered, scanned = (t.astimezone(CHINA).strftime("%H:%M") for t in (inp.at, row.scanned_at))
        facts["late_scan"] = f"先行检查,{entered} 入企,{scanned} 扫码;事由:{row.late_reason}"
    cid = int(row.id or 0)
    repo.replace_flags(
        [cid], (), [CheckInFlagRow(check_in_id=cid, code=c, detail=d) for c, d in facts.items()]
    )
    return row


def _calendar(session: Session, years: Iterable[int]) -> WorkingCalendar:
    """The stored notices only: an entry is a fact, judged on the provisional calendar never."""
    return working_calendar(session, years, provisional=False)[0]


def actuals_instance(
    session: Session,
    entries: Sequence[CheckInRow],
    *,
    horizon: Horizon,
    earlier: Sequence[CheckInRow] = (),
) -> Instance:
    """The entries as a `quietday.instance/1` problem whose inspections took place on their
    dates: `find_violations` on it (with each entry placed on its day) judges what happened.
    Imported history and `earlier` entries (before the horizon) count as history; every agency
    has room for all its entries (capacity plans the schedule; it is no rule of entering)."""
    ent_ids = sorted({e.enterprise_id for e in entries} | {e.enterprise_id for e in earlier})
    class_caps = ClassCaps(session)
    enterprises = {
        EnterpriseId(e.id): class_caps.apply(enterprise_from_row(e), e.risk_class)
        for e in EnterpriseRepository(session).by_ids(ent_ids)
    }
    policies = {
        PolicyId(p.id): policy_from_row(p)
        for p in PolicyRepository(session).by_ids(e.quiet_policy for e in enterprises.values())
    }
    history = [history_from_row(h) for h in CheckInRepository(session).history_of(ent_ids)]
    history += [
        HistoryEntry(EnterpriseId(e.enterprise_id), AgencyId(e.agency_id), e.day, Kind(e.kind))
        for e in earlier
    ]
    history.sort(key=lambda h: (h.date, h.enterprise, h.agency, h.kind.value))
    agency_ids = {e.agency_id for e in entries} | {h.agency for h in history}
    agencies = {
        AgencyId(a.id): Agency(AgencyId(a.id), a.name, a.region_code, _UNBOUNDED)
        for a in sorted(AgencyRepository(session).by_ids(agency_ids), key=lambda a: a.id)
    }
    return Instance(
        name=f"actuals-{horizon.start}-{horizon.end}",
        horizon=horizon,
        calendar=_calendar(session, range(horizon.start.year, horizon.end.year + 1)),
        quiet_policies=dict(sorted(policies.items())),
        caps=caps_from_setting(SettingRepository(session).value(CAPS_SETTING)),
        agencies=agencies,
        enterprises=dict(sorted(enterprises.items())),
        inspections=tuple(
            Inspection(
                id=entry_id(int(e.id or 0)),
                agency=AgencyId(e.agency_id),
                enterprise=EnterpriseId(e.enterprise_id),
                kind=Kind(e.kind),
                earliest=e.day,
                latest=e.day,
                exempt_reason=e.exempt_reason,
            )
            for e in entries
        ),
        history=tuple(history),
    )


def actuals_documents(session: Session, year: int) -> tuple[str, str]:
    """A year's check-ins as an instance and a solution that places each on its day, so that
    `quietday check` judges what happened; the year before counts as history."""
    repo = CheckInRepository(session)
    horizon = Horizon(date(year, 1, 1), date(year, 12, 31))
    entries = repo.between(horizon.start, horizon.end)
    earlier = repo.between(date(year - 1, 1, 1), date(year - 1, 12, 31))
    instance = actuals_instance(session, entries, horizon=horizon, earlier=earlier)
    doors: dict[tuple[str, date], list[CheckInRow]] = {}
    for e in entries:
        doors.setdefault((e.enterprise_id, e.day), []).append(e)
    visits = tuple(
        Visit(
            enterprise=EnterpriseId(ent),
            date=day,
            inspections=tuple(entry_id(int(e.id or 0)) for e in group),
            lead_agency=AgencyId(min(e.agency_id for e in group)),
        )
        for (ent, day), group in sorted(doors.items())
    )
    solution = Solution(
        instance=instance.name,
        visits=visits,
        unscheduled=(),
        stats=SolveStats(status=Status.FEASIBLE, scheduled=len(entries), visits=len(visits)),
    )
    return dump_instance(instance), dump_solution(solution)


def _judging_horizon(session: Session, first: date, last: date) -> Horizon:
    """The years of the entries whose working days are known. An entry in a year without an
    official calendar (nor overrides) is judged by every rule but the working day; if no year
    of the entries is known, the latest official year carries the instance."""
    years = range(first.year, last.year + 1)
    calendar = _calendar(session, years)
    known = [y for y in years if calendar.covers(y)] or [max(stored_years(session))]
    return Horizon(date(min(known), 1, 1), date(max(known), 12, 31))


def write_actuals(database_url: str, year: int, out: Path) -> tuple[Path, Path, int]:
    """`actuals_documents` written to `out` (`quietday audit actuals`): the two paths and the
    number of check-ins."""
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            instance_text, solution_text = actuals_documents(session, year)
            entries = len(CheckInRepository(session).between(date(year, 1, 1), date(year, 12, 31)))
    finally:
        engine.dispose()
    out.mkdir(parents=True, exist_ok=True)
    instance, solution = (
        out / f"actuals-{year}-instance.json",
        out / f"actuals-{year}-solution.json",
    )
    instance.write_text(instance_text, encoding="utf-8")
    solution.write_text(solution_text, encoding="utf-8")
    return instance, solution, entries


def judge_enterprise(session: Session, enterprise_id: str) -> list[CheckInRow]:
    """Flag every check-in of the enterprise again by the core rules (a late-recorded entry can
    change which later one broke a cap); the check-ins."""
    return judge_enterprises(session, [enterprise_id])


def judge_enterprises(session: Session, enterprise_ids: Sequence[str]) -> list[CheckInRow]:
    """`judge_enterprise` for many enterprises at once: the rules bind one enterprise at a time
    (capacity is no rule of entering), so those judged over the same years share one instance.
    The check-ins, by enterprise and day."""
    repo = CheckInRepository(session)
    entries = repo.of_enterprises(enterprise_ids)
    spans: dict[str, tuple[date, date]] = {}
    for e in entries:
        first, _ = spans.get(e.enterprise_id, (e.day, e.day))
        spans[e.enterprise_id] = (first, e.day)
    horizons: dict[tuple[int, int], Horizon] = {}
    groups: dict[Horizon, list[CheckInRow]] = {}
    for e in entries:
        first, last = spans[e.enterprise_id]
        years = (first.year, last.year)
        if years not in horizons:
            horizons[years] = _judging_horizon(session, first, last)
        groups.setdefault(horizons[years], []).append(e)
    for horizon, rows in sorted(groups.items(), key=lambda g: (g[0].start, g[0].end)):
        instance = actuals_instance(session, rows, horizon=horizon)
        flags = rule_flags(instance, {int(e.id or 0): e.day for e in rows})
        repo.replace_flags([int(e.id or 0) for e in rows], RULE_FLAGS, flags)
    return entries


def rule_flags(instance: Instance, days: Mapping[int, date]) -> list[CheckInFlagRow]:
    """The core rules' flags of one enterprise's check-ins (by id, on the day each took place),
    one per rule and check-in."""
    found = flag_entries(instance, {entry_id(cid): day for cid, day in days.items()})
    return [
        CheckInFlagRow(check_in_id=cid, code=v.code, detail=v.message)
        for cid in sorted(days)
        for v in _first_per_code(found.get(entry_id(cid), []))
    ]


def _first_per_code(violations: Iterable[Violation]) -> list[Violation]:
    """One flag per rule (an entry can be in several breaches of one rule)."""
    first: dict[str, Violation] = {}
    for v in violations:
        first.setdefault(v.code, v)
    return list(first.values())


def _view(session: Session, row: CheckInRow, *, with_rating: bool) -> CheckInView:
    cid = int(row.id or 0)
    flags = CheckInRepository(session).flags_of([cid]).get(cid, [])
    rating = RatingRepository(session).of([cid]).get(cid) if with_rating else None
    return CheckInView(row, flags, rating)


def get_check_in(session: Session, actor: Actor, check_in_id: int) -> CheckInView:
    row = CheckInRepository(session).get_for(check_in_id, actor.own_agency)
    if row is None:
        raise NotFoundError(f"入企记录 {check_in_id} 不存在")
    return _view(session, row, with_rating=actor.is_supervisor)


def list_check_ins(
    session: Session, actor: Actor, flt: CheckInFilter, *, after: int | None, limit: int
) -> list[CheckInView]:
    """A page of check-ins; an agency sees only its own, and never who rated them."""
    if actor.own_agency is not None:
        flt = CheckInFilter(
            agency_id=actor.own_agency,
            enterprise_id=flt.enterprise_id,
            day_from=flt.day_from,
            day_to=flt.day_to,
            flag=flt.flag,
        )
    rows = CheckInRepository(session).page(flt, after=after, limit=limit)
    ids = [int(r.id or 0) for r in rows]
    flags = CheckInRepository(session).flags_of(ids)
    ratings = RatingRepository(session).of(ids) if actor.is_supervisor else {}
    return [
        CheckInView(r, flags.get(int(r.id or 0), []), ratings.get(int(r.id or 0))) for r in rows
    ]


# An average over fewer ratings could tell an agency one enterprise's score.
MIN_RATINGS = 5


@dataclass(frozen=True, slots=True)
class RatingSummary:
    """An agency's ratings in the months gone by (China time; the current month is not shown,
    so that a new rating cannot be told by the change it makes): per month how many, and the
    average where at least `MIN_RATINGS` were given; the same over all of them."""

    count: int
    average: float | None
    months: list[tuple[str, int, float | None]]


def _average(scores: Sequence[int]) -> float | None:
    return round(sum(scores) / len(scores), 2) if len(scores) >= MIN_RATINGS else None


def rating_summary(session: Session, actor: Actor, *, now: datetime) -> RatingSummary:
    if actor.own_agency is None:
        raise ForbiddenError("评价汇总按执法部门提供;监督密钥可直接查看每条评价")
    local = now.astimezone(CHINA)
    month_start = datetime(local.year, local.month, 1, tzinfo=CHINA)
    by_month: dict[str, list[int]] = defaultdict(list)
    for at, score in RatingRepository(session).given_before(actor.own_agency, month_start):
        by_month[at.astimezone(CHINA).strftime("%Y-%m")].append(score)
    every = [s for scores in by_month.values() for s in scores]
    months = [(m, len(v), _average(v)) for m, v in sorted(by_month.items())]
    return RatingSummary(len(every), _average(every), months)


def _enterprise_of_token(session: Session, token: str) -> tuple[int, str]:
    row = live_token(session, token)
    if row.kind != "enterprise":
        raise NotFoundError("只有企业的订阅地址可以评价入企")
    return int(row.id or 0), row.subject_id


def agency_names(session: Session, ids: Iterable[str]) -> dict[str, str]:
    return {a.id: a.name for a in AgencyRepository(session).by_ids(ids)}


def list_for_token(session: Session, token: str, *, limit: int = 50) -> list[CheckInView]:
    """The enterprise's own latest check-ins, with its ratings, for its rating form."""
    _, enterprise_id = _enterprise_of_token(session, token)
    rows = list(reversed(CheckInRepository(session).of_enterprise(enterprise_id)))[:limit]
    ratings = RatingRepository(session).of(int(r.id or 0) for r in rows)
    return [CheckInView(r, [], ratings.get(int(r.id or 0))) for r in rows]


def rate_check_in(
    session: Session, token: str, check_in_id: int, *, score: int, comment: str, now: datetime
) -> RatingRow:
    """The enterprise rates one of its check-ins (rating again replaces its rating)."""
    token_id, enterprise_id = _enterprise_of_token(session, token)
    session.info["actor"] = feed_actor("enterprise", enterprise_id, token_id)
    _rating_problems(score, comment)
    entry = CheckInRepository(session).get(check_in_id)
    if entry is None or entry.enterprise_id != enterprise_id:
        raise NotFoundError(f"入企记录 {check_in_id} 不存在")
    return put_rating(
        session,
        check_in_id,
        score=score,
        comment=comment,
        feed_token_id=token_id,
        channel="subscribe",
        now=now,
    )


def _rating_problems(score: int, comment: str) -> None:
    problems: list[Problem] = []
    if not 1 <= score <= 5:
        problems.append(Problem("score_range", "score", "评分应为 1 至 5"))
    if len(comment) > 500:
        problems.append(Problem("too_long", "comment", "评价内容不超过 500 个字符"))
    bad_text = text_problem(comment, multiline=True)
    if bad_text is not None:
        problems.append(Problem("bad_text", "comment", f"评价内容{bad_text}"))
    if problems:
        raise InputError(problems)


def put_rating(
    session: Session,
    check_in_id: int,
    *,
    score: int,
    comment: str,
    feed_token_id: int | None,
    channel: str,
    now: datetime,
) -> RatingRow:
    """Store the enterprise's rating of a check-in (the caller checked whose it is and set the
    actor), replacing the one it had, audit-logged; `now` by the app's clock (the agency's
    summary is by the month a rating was given)."""
    _rating_problems(score, comment)
    ratings = RatingRepository(session)
    row = ratings.get(check_in_id)
    before = {} if row is None else {"score": row.score, "comment": row.comment}
    if row is None:
        row = RatingRow(check_in_id=check_in_id, score=score, comment=comment, created_at=now)
    row.score, row.comment, row.feed_token_id, row.channel = score, comment, feed_token_id, channel
    row.updated_at = now
    ratings.add(row)
    record(
        session,
        "rating.put",
        f"check_in:{check_in_id}",
        {**diff(before, {"score": row.score, "comment": row.comment}), "channel": channel},
    )
    return row
