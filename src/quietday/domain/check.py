"""The solver-agnostic rule checker: every hard rule of the spec, one function each, in one registry.

`find_violations(instance, solution)` judges a whole solution; `placement_violations` judges any
assignment of dates (the reader uses it on the pins alone). Caps count distinct dates over the
assignment plus `history`. Only a date the assignment adds (one with no history on it) can break
a cap or a gap: a bucket that history alone overfills is not the schedule's fault, and joining
a date already in the history adds nothing.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from quietday.domain.model import (
    AgencyId,
    Caps,
    Door,
    EnterpriseId,
    InspectionId,
    Instance,
    Kind,
    Solution,
    Unscheduled,
)

__all__ = [
    "ENTRY_RULES",
    "PLACEMENT_RULES",
    "Metrics",
    "Violation",
    "entry_violations",
    "find_violations",
    "measure",
    "measure_assignment",
    "placement_violations",
]


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    message: str
    inspections: tuple[InspectionId, ...] = ()

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


@dataclass(frozen=True, slots=True)
class Metrics:
    inspections: int
    scheduled: int
    total_priority: int
    possible_priority: int
    visits: int
    joint_visits: int
    moved: int
    unscheduled_by_reason: Mapping[str, int] = field(default_factory=dict)

    @property
    def joint_rate(self) -> float:
        """综合查一次率: the share of visits in which two or more agencies come together."""
        return self.joint_visits / self.visits if self.visits else 0.0


Assignment = Mapping[InspectionId, date]
HISTORY = "历史"


@dataclass
class _Placed:
    """An assignment grouped the ways the rules need it (unknown inspection ids left out)."""

    instance: Instance
    assignment: dict[InspectionId, date]
    by_enterprise: dict[EnterpriseId, dict[date, list[InspectionId]]] = field(init=False)

    def __post_init__(self) -> None:
        grouped: dict[EnterpriseId, dict[date, list[InspectionId]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for iid, day in sorted(self.assignment.items()):
            grouped[self.instance.by_id[iid].enterprise][day].append(iid)
        self.by_enterprise = grouped

    @cached_property
    def capped_dates(self) -> dict[EnterpriseId, dict[date, list[tuple[AgencyId, str]]]]:
        """Per enterprise the assignment places an inspection at: each date carrying a capped
        inspection, with (agency, who) entries; `who` is an inspection id, or `历史` for
        history. Built once for the cap and gap rules. An enterprise with history alone is
        left out: only a date the assignment adds can break a cap or a gap."""
        inst = self.instance
        out: dict[EnterpriseId, dict[date, list[tuple[AgencyId, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for h in inst.history:
            if h.capped and h.enterprise in self.by_enterprise:
                out[h.enterprise][h.date].append((h.agency, HISTORY))
        for ent, days in self.by_enterprise.items():
            for day, iids in days.items():
                for iid in iids:
                    insp = inst.by_id[iid]
                    if insp.capped:
                        out[ent][day].append((insp.agency, iid))
        return out


Rule = Callable[[_Placed], Iterator[Violation]]


def _fmt(days: list[tuple[date, str]]) -> str:
    return "、".join(f"{d.isoformat()}({who})" for d, who in days)


def rule_window_and_horizon(p: _Placed) -> Iterator[Violation]:
    """检查日期须在排期范围与检查窗口内 (earliest/latest, clipped to the horizon)."""
    inst = p.instance
    for iid, day in p.assignment.items():
        insp = inst.by_id[iid]
        if day not in inst.horizon:
            yield Violation(
                "outside_horizon",
                f"{iid}: {day} 不在排期范围 {inst.horizon.start} 至 {inst.horizon.end} 内",
                (iid,),
            )
        elif not insp.earliest <= day <= insp.latest:
            yield Violation(
                "outside_window",
                f"{iid}: {day} 不在检查窗口 {insp.earliest} 至 {insp.latest} 内",
                (iid,),
            )


def rule_working_day(p: _Placed) -> Iterator[Violation]:
    """只在工作日入企 (法定节假日休息, 调休上班日照常)."""
    cal = p.instance.calendar
    for iid, day in p.assignment.items():
        if cal.covers(day.year) and not cal.is_working_day(day):
            yield Violation("not_working_day", f"{iid}: {day} 不是工作日", (iid,))


def rule_quiet_day(p: _Placed) -> Iterator[Violation]:
    """企业安静日: no inspection on the enterprise's quiet or blackout days without an exempt reason."""
    inst = p.instance
    for iid, day in p.assignment.items():
        insp = inst.by_id[iid]
        if not insp.exempt and inst.is_quiet(insp.enterprise, day):
            yield Violation(
                "quiet_day",
                f"{iid}: {day} 是企业 {insp.enterprise} 的安静日,且没有豁免事由",
                (iid,),
            )


def rule_whitelist(p: _Placed) -> Iterator[Violation]:
    """白名单企业无事不扰: no routine inspection of a whitelisted enterprise."""
    inst = p.instance
    for iid in p.assignment:
        insp = inst.by_id[iid]
        if insp.kind == Kind.ROUTINE and inst.enterprises[insp.enterprise].whitelisted:
            yield Violation(
                "whitelisted", f"{iid}: 企业 {insp.enterprise} 在白名单内,不安排日常检查", (iid,)
            )


def _involved(entries: list[tuple[date, str]]) -> tuple[InspectionId, ...]:
    return tuple(InspectionId(w) for _, w in entries if w != HISTORY)


def _new(entries: Iterable[str]) -> bool:
    """A date the assignment adds: none of its entries is history."""
    return all(x != HISTORY for x in entries)


def _over_cap(
    *, code: str, what: str, cap: int, dates: dict[date, list[str]]
) -> Iterator[Violation]:
    if len(dates) > cap and any(_new(w) for w in dates.values()):
        listed = [(d, "、".join(sorted(set(w)))) for d, w in sorted(dates.items())]
        entries = [(d, x) for d, w in sorted(dates.items()) for x in w]
        yield Violation(
            code,
            f"{what}: {len(listed)} 个检查日,超过上限 {cap}: {_fmt(listed)}",
            _involved(entries),
        )


def _capped(
    p: _Placed, limit_of: Callable[[Caps], int | None]
) -> list[tuple[EnterpriseId, dict[date, list[tuple[AgencyId, str]]], int]]:
    """The enterprises (in order) with more capped dates than their cap under `limit_of`, with
    those dates and the cap: no bucket of the others (one agency's, a month's, a year's dates)
    can hold more than the cap."""
    caps_for = p.instance.caps_for
    over = []
    for ent, days in p.capped_dates.items():
        cap = limit_of(caps_for(ent))
        if cap is not None and len(days) > cap:
            over.append((ent, days, cap))
    return sorted(over, key=lambda row: row[0])


def rule_cap_agency_enterprise_year(p: _Placed) -> Iterator[Violation]:
    """同一部门对同一企业年度检查次数上限 (e.g. 嘉善、咸宁: 每年不超过 2 次); routine and special only."""
    for ent, days, cap in _capped(p, lambda c: c.agency_enterprise_per_year):
        buckets: dict[tuple[AgencyId, int], dict[date, list[str]]] = defaultdict(dict)
        for day, entries in days.items():
            for agency, who in entries:
                buckets[(agency, day.year)].setdefault(day, []).append(who)
        for (agency, year), dates in sorted(buckets.items()):
            yield from _over_cap(
                code="cap_agency_enterprise_year",
                what=f"部门 {agency} 在 {year} 年检查企业 {ent}",
                cap=cap,
                dates=dates,
            )


def _enterprise_cap(
    p: _Placed,
    *,
    code: str,
    limit_of: Callable[[Caps], int | None],
    bucket: Callable[[date], tuple[int, ...]],
    label: Callable[[tuple[int, ...]], str],
) -> Iterator[Violation]:
    """Distinct capped dates per enterprise and calendar bucket, all agencies together."""
    for ent, days, cap in _capped(p, limit_of):
        buckets: dict[tuple[int, ...], dict[date, list[str]]] = defaultdict(dict)
        for day, entries in days.items():
            buckets[bucket(day)][day] = [w for _, w in entries]
        for key, dates in sorted(buckets.items()):
            yield from _over_cap(
                code=code, what=f"企业 {ent} 在 {label(key)}", cap=cap, dates=dates
            )


def rule_cap_enterprise_month(p: _Placed) -> Iterator[Violation]:
    """同一企业每月被检查的天数上限 (all agencies together); routine and special only."""
    return _enterprise_cap(
        p,
        code="cap_enterprise_month",
        limit_of=lambda c: c.enterprise_per_month,
        bucket=lambda d: (d.year, d.month),
        label=lambda k: f"{k[0]} 年 {k[1]} 月",
    )


def rule_cap_enterprise_year(p: _Placed) -> Iterator[Violation]:
    """同一企业每年被检查的天数上限 (all agencies together); routine and special only."""
    return _enterprise_cap(
        p,
        code="cap_enterprise_year",
        limit_of=lambda c: c.enterprise_per_year,
        bucket=lambda d: (d.year,),
        label=lambda k: f"{k[0]} 年",
    )


def rule_min_gap(p: _Placed) -> Iterator[Violation]:
    """两次检查之间的最短间隔 (min_gap_days) between any two capped inspection dates of an enterprise."""
    caps_for = p.instance.caps_for
    gapped = [
        (ent, days)
        for ent, days in p.capped_dates.items()
        if len(days) > 1 and caps_for(ent).min_gap_days > 1
    ]
    for ent, days in sorted(gapped, key=lambda row: row[0]):
        gap = caps_for(ent).min_gap_days
        ordered = sorted(days.items())
        for (d1, w1), (d2, w2) in itertools.pairwise(ordered):
            added = [w for _, w in w1 if _new(x for _, x in w1)] + [
                w for _, w in w2 if _new(x for _, x in w2)
            ]
            if (d2 - d1).days < gap and added:
                yield Violation(
                    "min_gap",
                    f"企业 {ent}: {d1} 与 {d2} 相隔 {(d2 - d1).days} 天,少于最短间隔 {gap} 天",
                    tuple(InspectionId(w) for w in added),
                )


def rule_agency_capacity(p: _Placed) -> Iterator[Violation]:
    """部门每日检查能力 (daily_capacity, capacity_by_date): distinct enterprises per agency per day."""
    inst = p.instance
    load: dict[tuple[AgencyId, date], dict[EnterpriseId, list[InspectionId]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for iid, day in p.assignment.items():
        insp = inst.by_id[iid]
        load[(insp.agency, day)][insp.enterprise].append(iid)
    for (agency, day), ents in sorted(load.items()):
        cap = inst.agencies[agency].capacity_on(day)
        if len(ents) > cap:
            yield Violation(
                "capacity",
                f"部门 {agency} 在 {day} 检查 {len(ents)} 家企业,超过当日能力 {cap}",
                tuple(sorted(i for iids in ents.values() for i in iids)),
            )


PLACEMENT_RULES: tuple[Rule, ...] = (
    rule_window_and_horizon,
    rule_working_day,
    rule_quiet_day,
    rule_whitelist,
    rule_cap_agency_enterprise_year,
    rule_cap_enterprise_month,
    rule_cap_enterprise_year,
    rule_min_gap,
    rule_agency_capacity,
)


# The rules an inspection that actually happened (a check-in, 扫码入企) can break. Windows and
# capacity are planning constraints: an entry has no window, and a busy day is not a breach.
ENTRY_RULES: tuple[Rule, ...] = (
    rule_working_day,
    rule_quiet_day,
    rule_whitelist,
    rule_cap_agency_enterprise_year,
    rule_cap_enterprise_month,
    rule_cap_enterprise_year,
    rule_min_gap,
)


def _judged(rules: tuple[Rule, ...], instance: Instance, assignment: Assignment) -> list[Violation]:
    known = {i: d for i, d in assignment.items() if i in instance.by_id}
    placed = _Placed(instance, known)
    return [v for rule in rules for v in rule(placed)]


def entry_violations(instance: Instance, assignment: Assignment) -> list[Violation]:
    """The hard rules of `ENTRY_RULES` over inspections that took place on the given dates."""
    return _judged(ENTRY_RULES, instance, assignment)


def placement_violations(instance: Instance, assignment: Assignment) -> list[Violation]:
    """Every hard placement rule over `assignment` (unknown inspection ids are ignored here)."""
    return _judged(PLACEMENT_RULES, instance, assignment)


def _structure_violations(instance: Instance, solution: Solution) -> Iterator[Violation]:
    """Every inspection exactly once; one visit per enterprise and date; a visit is one door."""
    seen: Counter[InspectionId] = Counter()
    doors: Counter[Door] = Counter()
    for v in solution.visits:
        doors[(v.enterprise, v.date)] += 1
        if not v.inspections:
            yield Violation("empty_visit", f"入企 {v.enterprise} {v.date} 没有任何检查")
        agencies = set()
        for iid in v.inspections:
            seen[iid] += 1
            insp = instance.by_id.get(iid)
            if insp is None:
                continue
            agencies.add(insp.agency)
            if insp.enterprise != v.enterprise:
                yield Violation(
                    "visit_enterprise_mismatch",
                    f"{iid}: 属于企业 {insp.enterprise},却列在企业 {v.enterprise} {v.date} 的入企中",
                    (iid,),
                )
        if agencies and v.lead_agency not in agencies:
            yield Violation(
                "lead_agency_invalid",
                f"入企 {v.enterprise} {v.date}: 牵头部门 {v.lead_agency} 不在参加部门之中",
            )
    # Sorted once found: a province's schedule has millions of doors and inspections.
    for (ent, day), n in sorted((door, n) for door, n in doors.items() if n > 1):
        yield Violation("visit_duplicate", f"企业 {ent} 在 {day} 有 {n} 条入企记录,应合并为一次")
    for u in solution.unscheduled:
        seen[u.inspection] += 1
    odd = ((i, n) for i, n in seen.items() if n > 1 or i not in instance.by_id)
    for iid, n in sorted(odd):
        if iid not in instance.by_id:
            yield Violation("unknown_inspection", f"{iid}: 实例中没有这个检查", (iid,))
        elif n > 1:
            yield Violation("duplicate_inspection", f"{iid}: 在解中出现 {n} 次", (iid,))
    for insp in instance.inspections:
        if insp.id not in seen:
            yield Violation("missing_inspection", f"{insp.id}: 既未排期也未列入未排期", (insp.id,))


def _pin_violations(instance: Instance, assignment: Assignment) -> Iterator[Violation]:
    """已发布的入企不得变动: a pinned inspection gets exactly its pinned date."""
    for iid, day in sorted(instance.pins.items()):
        got = assignment.get(iid)
        if got != day:
            where = "未排期" if got is None else f"排在 {got}"
            yield Violation("pin_moved", f"{iid}: 已发布在 {day},解中{where}", (iid,))


def find_violations(
    instance: Instance, solution: Solution, *, placement: Sequence[Violation] | None = None
) -> list[Violation]:
    """Every way `solution` breaks a hard rule of the spec; empty means it is valid.
    `placement`: the placement rules' violations, when parts of the solution that no rule
    links were judged apart (a decomposed solve's units, in its worker processes)."""
    assignment = solution.assignment()
    out = list(_structure_violations(instance, solution))
    out.extend(placement_violations(instance, assignment) if placement is None else placement)
    out.extend(_pin_violations(instance, assignment))
    return out


def measure(instance: Instance, solution: Solution) -> Metrics:
    """The objective's figures: scheduled, total priority, visits, moved (`previous` inspections
    whose date changed, an unscheduled one included)."""
    return measure_assignment(instance, solution.assignment(), solution.unscheduled)


def measure_assignment(
    instance: Instance, placed: Assignment, unscheduled: Sequence[Unscheduled] = ()
) -> Metrics:
    """`measure` of the solution that places `placed` (its visits need not be made)."""
    by_id = instance.by_id
    assignment = {i: d for i, d in placed.items() if i in by_id}
    # The agencies at each door (enterprise, date): one pass for the doors and the priority.
    agencies: dict[Door, set[AgencyId]] = defaultdict(set)
    total_priority = 0
    for iid, day in assignment.items():
        insp = by_id[iid]
        total_priority += insp.priority
        agencies[(insp.enterprise, day)].add(insp.agency)
    moved = sum(
        1 for iid, day in instance.previous.items() if iid in by_id and assignment.get(iid) != day
    )
    return Metrics(
        inspections=len(instance.inspections),
        scheduled=len(assignment),
        total_priority=total_priority,
        possible_priority=sum(i.priority for i in instance.inspections),
        visits=len(agencies),
        joint_visits=sum(1 for a in agencies.values() if len(a) > 1),
        moved=moved,
        unscheduled_by_reason=dict(sorted(Counter(u.reason.value for u in unscheduled).items())),
    )
