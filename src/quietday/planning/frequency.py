"""The frequency audit (频次监督) for supervisors: per enterprise, agency, county or city and per
month, quarter or year, what was planned (the published schedule) and what happened (check-ins).

Figures, each for the plan and for what happened:
- visits (door-openings) and inspections by kind; normal versus special-case inspections (those
  with an exempt reason: the split 晋宁 reports as 落实安静期要求检查 / 特殊情形检查);
- the joint-visit rate (综合查一次率): visits in which two or more agencies came together, over
  all visits; door-openings saved: a visit of n agencies saves n-1 openings against each agency
  visiting alone (an agency's row carries its equal share of each saving);
- violations: check-ins flagged by the core rule checker (over a cap, on a quiet day, a gap too
  short, not a working day, a whitelisted enterprise) and by the plan (unplanned, another day,
  too few or uncertified inspectors). Flags are set by `planning.checkins` with the core
  checker, so the audit and `quietday check` count the same breaches;
- remote checks (非现场), never visits nor door-openings: planned, the remote plans whose window
  ends in the period; actual, the check results of remote plans dated in it;
- for enterprises, caps and headroom over the calendar year of the period's end.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta

from quietday.domain.model import KINDS, Caps
from quietday.errors import InputError, Problem
from quietday.persistence import Session
from quietday.persistence.frequency import (
    Dimension,
    FrequencyRepository,
    RollupRepository,
    Subject,
    Tally,
)
from quietday.persistence.mapping import CAPS_SETTING, caps_from_setting, enterprise_from_row
from quietday.persistence.registry import EnterpriseRepository
from quietday.persistence.risk import ClassCaps
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import AuditRollupRow
from quietday.planning.spreadsheets import Cell, csv_bytes, xlsx_bytes

__all__ = [
    "DIMENSIONS",
    "HEADERS",
    "VIOLATIONS",
    "FrequencyPage",
    "FrequencyRow",
    "Period",
    "export_csv",
    "export_xlsx",
    "frequency_page",
    "live_rows",
    "parse_period",
    "rebuild_rollups",
    "refresh_rollups",
]

DIMENSIONS: tuple[Dimension, ...] = ("enterprise", "agency", "county", "city")
OVER_CAP = ("cap_agency_enterprise_year", "cap_enterprise_month", "cap_enterprise_year")
_PERIOD = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|(\d{2})))?$", re.ASCII)
EXPORT_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    first: date
    last: date


def parse_period(text: str) -> Period:
    """`2026`, `2026-Q3` or `2026-07`."""
    m = _PERIOD.match(text.strip())
    year = int(m.group(1)) if m else 0
    if m is None or not 2000 <= year <= 2100 or (m.group(3) and not 1 <= int(m.group(3)) <= 12):
        raise InputError([Problem("bad_period", "period", "期间应为 2026、2026-Q3 或 2026-07")])
    if m.group(2):
        q = int(m.group(2))
        first = date(year, 3 * q - 2, 1)
        last = _month_end(year, 3 * q)
    elif m.group(3):
        month = int(m.group(3))
        first, last = date(year, month, 1), _month_end(year, month)
    else:
        first, last = date(year, 1, 1), date(year, 12, 31)
    return Period(text.strip(), first, last)


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


@dataclass
class FrequencyRow:
    subject: str
    name: str
    period: str
    planned_visits: int = 0
    planned_inspections: int = 0
    planned_routine: int = 0
    planned_special: int = 0
    planned_case: int = 0
    planned_requested: int = 0
    planned_normal: int = 0
    planned_special_case: int = 0
    planned_joint_visits: int = 0
    planned_joint_rate: float | None = None
    planned_saved: float = 0.0
    planned_remote: int = 0
    actual_visits: int = 0
    actual_inspections: int = 0
    actual_routine: int = 0
    actual_special: int = 0
    actual_case: int = 0
    actual_requested: int = 0
    actual_normal: int = 0
    actual_special_case: int = 0
    actual_joint_visits: int = 0
    actual_joint_rate: float | None = None
    actual_saved: float = 0.0
    actual_remote: int = 0
    violations: int = 0
    over_cap: int = 0
    quiet_day: int = 0
    unplanned: int = 0
    cap_enterprise_year: int | None = None
    used_enterprise_year: int | None = None
    headroom_enterprise_year: int | None = None
    cap_agency_year: int | None = None
    max_agency_days: int | None = None
    headroom_agency_year: int | None = None
    flags: dict[str, int] = field(default_factory=dict)


HEADERS: dict[str, str] = {
    "subject": "对象编码",
    "name": "名称",
    "period": "期间",
    "planned_visits": "计划入企次数",
    "planned_inspections": "计划检查数",
    "planned_routine": "计划日常检查",
    "planned_special": "计划专项检查",
    "planned_case": "计划个案检查",
    "planned_requested": "计划应企业申请检查",
    "planned_normal": "计划落实安静期要求检查",
    "planned_special_case": "计划特殊情形检查",
    "planned_joint_visits": "计划联合入企次数",
    "planned_joint_rate": "计划综合查一次率",
    "planned_saved": "计划减少入企次数",
    "planned_remote": "计划非现场检查",
    "actual_visits": "实际入企次数",
    "actual_inspections": "实际检查数",
    "actual_routine": "实际日常检查",
    "actual_special": "实际专项检查",
    "actual_case": "实际个案检查",
    "actual_requested": "实际应企业申请检查",
    "actual_normal": "实际落实安静期要求检查",
    "actual_special_case": "实际特殊情形检查",
    "actual_joint_visits": "实际联合入企次数",
    "actual_joint_rate": "实际综合查一次率",
    "actual_saved": "实际减少入企次数",
    "actual_remote": "实际非现场检查",
    "violations": "违规入企记录数",
    "over_cap": "超频次",
    "quiet_day": "安静日入企",
    "unplanned": "计划外入企",
    "cap_enterprise_year": "企业年度上限",
    "used_enterprise_year": "企业年度已检查天数",
    "headroom_enterprise_year": "企业年度余量",
    "cap_agency_year": "单部门年度上限",
    "max_agency_days": "单部门最多检查天数",
    "headroom_agency_year": "单部门年度余量",
    "flags": "各类标记",
}
# The figures a rollup keeps (the others follow from them).
ROLLED_FIELDS = (
    *(
        f"{prefix}_{name}"
        for prefix in ("planned", "actual")
        for name in ("visits", "joint_visits", "saved", "remote", *KINDS, "special_case")
    ),
    "violations",
)
# Flags that make a check-in a violation (a check-in with several counts once); the others say
# how an entry departed from its plan or its crew.
VIOLATIONS = frozenset(
    {"not_working_day", "quiet_day", "whitelisted", "min_gap", "unplanned", *OVER_CAP}
)


@dataclass(frozen=True, slots=True)
class FrequencyPage:
    dimension: Dimension
    period: Period
    rows: list[FrequencyRow]
    next_cursor: str | None


def _fill(row: FrequencyRow, prefix: str, t: Tally) -> None:
    inspections = t.routine + t.special + t.case + t.requested
    values = {
        "visits": t.visits, "joint_visits": t.joint, "saved": round(t.saved, 2),
        "joint_rate": round(t.joint / t.visits, 4) if t.visits else None,
        "inspections": inspections, "routine": t.routine, "special": t.special, "case": t.case,
        "requested": t.requested, "special_case": t.special_case,
        "normal": inspections - t.special_case,
    }  # fmt: skip
    for name, value in values.items():
        setattr(row, f"{prefix}_{name}", value)


def _caps(session: Session, rows: dict[str, FrequencyRow], period: Period) -> None:
    """Caps and headroom of each enterprise over the calendar year of the period's end."""
    year_first, year_last = date(period.last.year, 1, 1), date(period.last.year, 12, 31)
    defaults: Caps = caps_from_setting(SettingRepository(session).value(CAPS_SETTING))
    class_caps = ClassCaps(session)
    caps = {
        e.id: defaults.overridden(
            class_caps.apply(enterprise_from_row(e), e.risk_class).cap_overrides
        )
        for e in EnterpriseRepository(session).by_ids(rows)
    }
    repo = FrequencyRepository(session)
    used = repo.enterprise_days(list(rows), year_first, year_last)
    busiest: dict[str, int] = defaultdict(int)
    for ent, _agency, days in repo.capped_days(list(rows), year_first, year_last):
        busiest[ent] = max(busiest[ent], days)
    for key, row in rows.items():
        cap = caps[key]
        row.used_enterprise_year = used.get(key, 0)
        row.max_agency_days = busiest.get(key, 0)
        row.cap_enterprise_year = cap.enterprise_per_year
        row.cap_agency_year = cap.agency_enterprise_per_year
        if cap.enterprise_per_year is not None:
            row.headroom_enterprise_year = cap.enterprise_per_year - row.used_enterprise_year
        if cap.agency_enterprise_per_year is not None:
            row.headroom_agency_year = cap.agency_enterprise_per_year - row.max_agency_days


def _summarise(row: FrequencyRow) -> None:
    """Rates and the named flag counts from the totals."""
    for prefix in ("planned", "actual"):
        visits, joint = getattr(row, f"{prefix}_visits"), getattr(row, f"{prefix}_joint_visits")
        setattr(row, f"{prefix}_joint_rate", round(joint / visits, 4) if visits else None)
        inspections = sum(getattr(row, f"{prefix}_{k}") for k in KINDS)
        setattr(row, f"{prefix}_inspections", inspections)
        setattr(row, f"{prefix}_normal", inspections - getattr(row, f"{prefix}_special_case"))
    row.flags = dict(sorted(row.flags.items()))
    row.over_cap = sum(row.flags.get(code, 0) for code in OVER_CAP)
    row.quiet_day = row.flags.get("quiet_day", 0)
    row.unplanned = row.flags.get("unplanned", 0)


def live_rows(
    session: Session, dim: Dimension, subjects: Sequence[Subject], period: Period
) -> list[FrequencyRow]:
    """The figures computed from visits, plans and check-ins themselves."""
    rows = {s.key: FrequencyRow(s.key, s.name, period.label) for s in subjects}
    if not rows:
        return []
    keys, first, last = list(rows), period.first, period.last
    repo = FrequencyRepository(session)
    repo.for_reporting()
    for prefix, tallies in (
        ("planned", repo.planned(dim, keys, first, last)),
        ("actual", repo.actual(dim, keys, first, last)),
    ):
        for t in tallies:
            _fill(rows[t.key], prefix, t)
    for prefix, counts in (
        ("planned", repo.remote_planned(dim, keys, first, last)),
        ("actual", repo.remote_done(dim, keys, first, last)),
    ):
        for key, n in counts.items():
            setattr(rows[key], f"{prefix}_remote", n)
    for key, code, n in repo.flags(dim, keys, first, last):
        rows[key].flags[code] = n
    breaches = repo.flagged_entries(dim, keys, first, last, sorted(VIOLATIONS))
    for key, row in rows.items():
        row.violations = breaches.get(key, 0)
        _summarise(row)
    return list(rows.values())


def _rolled_rows(
    session: Session, dim: Dimension, subjects: Sequence[Subject], period: Period
) -> list[FrequencyRow]:
    """The figures of agencies, counties and cities: sums of their monthly rollups."""
    rows = {s.key: FrequencyRow(s.key, s.name, period.label) for s in subjects}
    stored = RollupRepository(session).between(
        "agency" if dim == "agency" else "county",
        list(rows),
        period.first,
        period.last,
        by_city=dim == "city",
    )
    for r in stored:
        row = rows[r.subject[:4] if dim == "city" else r.subject]
        for name in ROLLED_FIELDS:
            setattr(row, name, getattr(row, name) + getattr(r, name))
        for code, n in r.flags.items():
            row.flags[code] = row.flags.get(code, 0) + int(n)
    for row in rows.values():
        row.planned_saved, row.actual_saved = (
            round(row.planned_saved, 2),
            round(row.actual_saved, 2),
        )
        _summarise(row)
    return list(rows.values())


def refresh_rollups(
    session: Session,
    days: Iterable[date],
    *,
    counties: Iterable[str] | None = None,
    agencies: Iterable[str] | None = None,
) -> None:
    """Recompute the rollups of the months of `days` for these counties and agencies (None:
    all of them), in the caller's transaction."""
    repo, rollups = FrequencyRepository(session), RollupRepository(session)
    for month in sorted({d.replace(day=1) for d in days}):
        period = Period(month.isoformat()[:7], month, _month_end(month.year, month.month))
        rolled: tuple[tuple[Dimension, Iterable[str] | None], ...] = (
            ("county", counties),
            ("agency", agencies),
        )
        for dim, chosen in rolled:
            wanted = None if chosen is None else sorted(set(chosen))
            if wanted == []:
                continue
            subjects = (
                repo.subjects(dim, after=None, limit=10**6, region=None)
                if wanted is None
                else [Subject(k, "") for k in wanted]
            )
            figures = live_rows(session, dim, subjects, period)
            rollups.replace(
                dim,
                month,
                wanted,
                [
                    AuditRollupRow(
                        dim=dim,
                        subject=row.subject,
                        month=month,
                        flags=row.flags,
                        **{name: getattr(row, name) for name in ROLLED_FIELDS},
                    )
                    for row in figures
                    if row.planned_visits
                    or row.actual_visits
                    or row.planned_remote
                    or row.actual_remote
                ],
            )


def rebuild_rollups(session: Session, first: date, last: date) -> None:
    """Every rollup of the months from `first` to `last`, recomputed for all subjects."""
    months = []
    month = first.replace(day=1)
    while month <= last:
        months.append(month)
        month = _month_end(month.year, month.month) + timedelta(days=1)
    refresh_rollups(session, months)


def frequency_page(
    session: Session,
    *,
    dim: Dimension,
    period: str,
    after: str | None = None,
    limit: int = 100,
    region: str | None = None,
) -> FrequencyPage:
    parsed = parse_period(period)
    subjects = FrequencyRepository(session).subjects(dim, after=after, limit=limit, region=region)
    if dim == "enterprise":
        rows = live_rows(session, dim, subjects, parsed)
        _caps(session, {r.subject: r for r in rows}, parsed)
    else:
        rows = _rolled_rows(session, dim, subjects, parsed)
    cursor = subjects[-1].key if len(subjects) == limit else None
    return FrequencyPage(dim, parsed, rows, cursor)


def _all_rows(
    session: Session, dim: Dimension, period: str, region: str | None
) -> Iterator[FrequencyRow]:
    after: str | None = None
    while True:
        page = frequency_page(
            session, dim=dim, period=period, after=after, limit=EXPORT_PAGE, region=region
        )
        yield from page.rows
        if page.next_cursor is None:
            return
        after = page.next_cursor


def _cells(row: FrequencyRow) -> list[Cell]:
    out: list[Cell] = []
    for f in fields(row):
        value = getattr(row, f.name)
        if f.name == "flags":
            value = ";".join(f"{k}={v}" for k, v in value.items())
        out.append(value)
    return out


def export_csv(
    session: Session, *, dim: Dimension, period: str, region: str | None = None
) -> bytes:
    """The whole audit as CSV (UTF-8 with BOM, so that Excel reads the Chinese headers)."""
    parse_period(period)
    header = [HEADERS[f.name] for f in fields(FrequencyRow)]
    return csv_bytes(header, (_cells(r) for r in _all_rows(session, dim, period, region)))


def export_xlsx(
    session: Session, *, dim: Dimension, period: str, region: str | None = None
) -> bytes:
    parse_period(period)
    return xlsx_bytes(
        title=f"频次监督 {period}",
        header=[HEADERS[f.name] for f in fields(FrequencyRow)],
        rows=(_cells(r) for r in _all_rows(session, dim, period, region)),
    )
