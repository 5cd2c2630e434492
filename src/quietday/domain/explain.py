"""Why an inspection stayed unscheduled: a spec reason and a Chinese sentence naming rule and dates.

The reason is decided against the final schedule, solver-agnostic:
- `no_allowed_day`, `whitelisted`: nothing in the window is open to it at all;
- `cap`, `min_gap`, `capacity`: that one rule blocks every open day, given the rest of the schedule
  (where one ejection would still place it, the detail says so: the search stopped short);
- `priority`: every open day is blocked, by different rules on different days; some day would be
  free without the placed, non-pinned inspections; and no one-move ejection places it (carrying
  one group of placed inspections to another of their open days, or unscheduling a group of
  lower total priority): it could be placed only by displacing inspections of higher priority;
- when different rules block different days and nothing placed could make room (history, pins,
  days without capacity), the rule blocking the most days is named and the detail gives each
  rule's days;
- `not_solved`: some open day was still free, or, different rules blocking different days, a
  one-move ejection would place it, when the solver stopped (the detail says which).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from quietday.domain.model import (
    AgencyId,
    Inspection,
    InspectionId,
    Instance,
    Kind,
    Reason,
    Unscheduled,
)
from quietday.domain.state import Blocker, ScheduleState, carry_targets

__all__ = ["Ejection", "EjectionFinder", "explain_unscheduled", "format_days"]

# When one rule alone blocks every day, the one named first here is reported.
_RULE_ORDER = (Reason.CAP, Reason.MIN_GAP, Reason.CAPACITY)
_RULE_NAMES = {Reason.CAP: "频次上限", Reason.MIN_GAP: "最短间隔", Reason.CAPACITY: "部门检查能力"}
_SHOWN = 6


def format_days(days: Sequence[date]) -> str:
    """`2026-07-21、2026-07-22 等 9 天` style, at most six dates written out."""
    head = "、".join(d.isoformat() for d in days[:_SHOWN])
    return f"{head} 等 {len(days)} 天" if len(days) > _SHOWN else head


def _no_day_detail(instance: Instance, insp: Inspection) -> str:
    win = instance.window(insp)
    if win is None:
        return (
            f"检查窗口 {insp.earliest} 至 {insp.latest} 与排期范围 "
            f"{instance.horizon.start} 至 {instance.horizon.end} 没有交集"
        )
    lo, hi = win
    working = [d for d in instance.working_days if lo <= d <= hi]
    if not working:
        return f"窗口 {lo} 至 {hi} 内没有工作日"
    ent = instance.enterprises[insp.enterprise]
    blackout = [d for d in working if d in ent.blackout]
    policy = instance.quiet_policies[ent.quiet_policy].describe()
    tail = f",其中 {format_days(blackout)} 为企业自报不便日期" if blackout else ""
    return f"窗口 {lo} 至 {hi} 内的 {len(working)} 个工作日全部为企业安静日({policy}){tail}"


def _single_rule_detail(
    reason: Reason, per_day: dict[date, list[Blocker]], agency_name: str
) -> str:
    texts: dict[str, list[date]] = {}
    for day, blockers in sorted(per_day.items()):
        for b in blockers:
            if b.reason == reason:
                texts.setdefault(b.detail, []).append(day)
                break
    if reason == Reason.CAPACITY:
        days = sorted(per_day)
        sample = next(iter(texts)).removeprefix(agency_name).strip()
        return f"{agency_name} 在窗口内可用的 {format_days(days)} 检查能力均已用满(如 {sample})"
    parts = [f"{text}(影响 {format_days(days)})" for text, days in texts.items()]
    return f"{_RULE_NAMES[reason]}挡住了所有可用日期: " + ";".join(parts[:3])


def _mixed_detail(per_day: dict[date, list[Blocker]], *, named: Reason | None) -> str:
    """Each rule with every day it blocks (a day may be blocked by several)."""
    by_rule: dict[Reason, list[date]] = {}
    for day, blockers in sorted(per_day.items()):
        for r in _RULE_ORDER:
            if any(b.reason == r for b in blockers):
                by_rule.setdefault(r, []).append(day)
    parts = ";".join(f"{_RULE_NAMES[r]}挡住 {format_days(days)}" for r, days in by_rule.items())
    total = len(per_day)
    if named is None:
        return (
            f"不同规则挡住了不同日期,{total} 个可用日期都已被占用: {parts};"
            "只有挤占更高优先级的已排检查才能安排"
        )
    return (
        f"不同规则挡住了不同日期,以{_RULE_NAMES[named]}为主({len(by_rule[named])}/{total} 天): "
        f"{parts};挡住它们的都是不能调整的记录(历史检查、已发布排期或当日无检查能力)"
    )


@dataclass(frozen=True, slots=True)
class Ejection:
    """One move that places `inspection` on `day`: `group` carried from `source` to `target`
    (None: unscheduled, its total priority being lower)."""

    inspection: Inspection
    day: date
    group: tuple[Inspection, ...]
    source: date
    target: date | None

    def describe(self) -> str:
        ids = "、".join(g.id for g in self.group)
        if self.target is None:
            return f"取消优先级更低的 {ids}({self.source})后可排在 {self.day}"
        return f"把 {ids} 从 {self.source} 挪到 {self.target} 后可排在 {self.day}"


class EjectionFinder:
    """One-move ejections on a schedule that stays as it is while asked (the final one): what
    the questions share is remembered, for many inspections wait for the same days."""

    def __init__(self, instance: Instance, state: ScheduleState) -> None:
        self.instance = instance
        self.state = state
        # Agency days blocked by capacity alone with no occupant that can be carried elsewhere:
        # the lowest priority of an occupant whose removal frees it (none depends on who waits).
        self._stuck: dict[tuple[AgencyId, date], int | None] = {}
        # Per group and its date: the other open days it fits on once it has left (what waits
        # only adds to the load and caps, so a carry can only go to one of these).
        self._places: dict[tuple[date, tuple[InspectionId, ...]], list[date]] = {}

    def _fits(self, group: tuple[Inspection, ...], target: date) -> bool:
        state = self.state
        placed: list[Inspection] = []
        for g in group:
            if not state.allows(g, target):
                break
            state.place(g, target)
            placed.append(g)
        for g in placed:
            state.remove(g, target)
        return len(placed) == len(group)

    def _targets(self, source: date, group: tuple[Inspection, ...]) -> list[date]:
        key = (source, tuple(g.id for g in group))
        found = self._places.get(key)
        if found is None:
            common = set(self.instance.open_days(group[0]))
            for g in group[1:]:
                common.intersection_update(self.instance.open_days(g))
            common.discard(source)
            with self.state.trial(group[0].enterprise):
                for g in group:
                    self.state.remove(g, source)
                found = [t for t in sorted(common) if self._fits(group, t)]
                for g in group:
                    self.state.place(g, source)
            self._places[key] = found
        return found

    def _carry(
        self,
        insp: Inspection,
        day: date,
        blockers: list[Blocker],
        carried: tuple[date, tuple[Inspection, ...]],
    ) -> tuple[Ejection | None, bool]:
        """A carrying move of `group` (off `source`) for `insp` on `day`, and whether taking it
        away alone lets `insp` in. When it does not, only carrying it onto `day` itself can
        (its enterprise's date already counted there): elsewhere it adds to the load and caps.
        Nor can the enterprise's own dates go where they use a cap or the gap up again."""
        state = self.state
        source, group = carried
        frees = state.ejects(insp, day, group=group, source=source, target=None)
        targets = self._targets(source, group)
        if not frees:
            targets = [t for t in targets if t == day]
        elif group[0].enterprise == insp.enterprise:
            targets = carry_targets(blockers, day, targets)
        for target in targets:
            if state.ejects(insp, day, group=group, source=source, target=target):
                return Ejection(insp, day, group, source, target), frees
        return None, frees

    def _capacity_day(
        self, insp: Inspection, day: date, blockers: list[Blocker]
    ) -> tuple[Ejection | None, int | None]:
        """On a day blocked by capacity alone: a carrying move, else the cheapest occupant."""
        cheapest: int | None = None
        for source, group in self.state.groups(insp, day, blockers=blockers):
            found, frees = self._carry(insp, day, blockers, (source, group))
            if found is not None:
                return found, None
            if frees:
                worth = sum(g.priority for g in group)
                cheapest = worth if cheapest is None else min(cheapest, worth)
        return None, cheapest

    def find(self, insp: Inspection, per_day: Mapping[date, list[Blocker]]) -> Ejection | None:
        """A one-move ejection placing `insp` on one of its blocked days (`per_day`): a group
        of placed, non-pinned inspections carried to another of their open days, or
        unscheduled when worth less than `insp`."""
        for day, blockers in per_day.items():
            only_capacity = all(b.reason == Reason.CAPACITY for b in blockers)
            if only_capacity:
                key = (insp.agency, day)
                if key not in self._stuck:
                    found, cheapest = self._capacity_day(insp, day, blockers)
                    if found is not None:
                        return found
                    self._stuck[key] = cheapest
                cheapest = self._stuck[key]
                if cheapest is None or cheapest >= insp.priority:
                    continue
            for source, group in self.state.groups(insp, day, blockers=blockers):
                cheaper = sum(g.priority for g in group) < insp.priority
                if only_capacity:
                    if cheaper and self.state.ejects(
                        insp, day, group=group, source=source, target=None
                    ):
                        return Ejection(insp, day, group, source, None)
                    continue
                found, frees = self._carry(insp, day, blockers, (source, group))
                if found is not None:
                    return found
                if cheaper and frees:
                    return Ejection(insp, day, group, source, None)
        return None


def _dominant(per_day: dict[date, list[Blocker]]) -> Reason:
    """The rule that blocks the most days (the first in `_RULE_ORDER` on a tie)."""
    counts = {
        r: sum(1 for bs in per_day.values() if any(b.reason == r for b in bs)) for r in _RULE_ORDER
    }
    return max(_RULE_ORDER, key=lambda r: (counts[r], -_RULE_ORDER.index(r)))


class _Pinned:
    """The rule state of history and pins alone, made when first asked (for few inspections)."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._state: ScheduleState | None = None

    def allows(self, insp: Inspection, day: date) -> bool:
        if self._state is None:
            self._state = ScheduleState(self.instance)
            self._state.place_all(dict(self.instance.pins))
        return self._state.allows(insp, day)


def _explain_one(
    instance: Instance,
    state: ScheduleState,
    fixed: _Pinned,
    finder: EjectionFinder,
    insp: Inspection,
) -> Unscheduled:
    ent = instance.enterprises[insp.enterprise]
    if insp.kind == Kind.ROUTINE and ent.whitelisted:
        return Unscheduled(
            insp.id, Reason.WHITELISTED, f"企业 {ent.name} 在白名单内(无事不扰),不安排日常检查"
        )
    days = instance.open_days(insp)
    if not days:
        return Unscheduled(insp.id, Reason.NO_ALLOWED_DAY, _no_day_detail(instance, insp))
    per_day: dict[date, list[Blocker]] = {}
    free: list[date] = []
    for day in days:
        blockers = state.blockers(insp, day)
        if blockers:
            per_day[day] = blockers
        else:
            free.append(day)
    if free:
        return Unscheduled(
            insp.id,
            Reason.NOT_SOLVED,
            f"求解在找到更优排期前停止,{format_days(free)} 仍可安排",
        )
    ejection = finder.find(insp, per_day)
    late = "" if ejection is None else f";求解未做完: {ejection.describe()}"
    for reason in _RULE_ORDER:
        if all(any(b.reason == reason for b in bs) for bs in per_day.values()):
            agency_name = instance.agencies[insp.agency].name
            detail = _single_rule_detail(reason, per_day, agency_name)
            return Unscheduled(insp.id, reason, detail + late)
    if ejection is not None:
        return Unscheduled(
            insp.id, Reason.NOT_SOLVED, f"求解在找到更优排期前停止: {ejection.describe()}"
        )
    # Different rules on different days: `priority` when taking placed inspections away would
    # free some day (and no single move does it), else the rule blocking the most days.
    if any(fixed.allows(insp, d) for d in days):
        return Unscheduled(insp.id, Reason.PRIORITY, _mixed_detail(per_day, named=None))
    reason = _dominant(per_day)
    return Unscheduled(insp.id, reason, _mixed_detail(per_day, named=reason))


def explain_unscheduled(
    instance: Instance,
    assignment: Mapping[InspectionId, date],
    *,
    state: ScheduleState | None = None,
) -> list[Unscheduled]:
    """An `Unscheduled` entry for every inspection of `instance` missing from `assignment`.
    `state`: the rule state of exactly `assignment` (history and every placement in it) when
    the caller has one, so it is not made again; it is left as it was."""
    if state is None:
        state = ScheduleState(instance)
        state.place_all(dict(assignment))
    fixed = _Pinned(instance)
    finder = EjectionFinder(instance, state)
    return [
        _explain_one(instance, state, fixed, finder, i)
        for i in instance.inspections
        if i.id not in assignment
    ]
