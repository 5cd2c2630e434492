"""Why an inspection stayed unscheduled: a spec reason and a Chinese sentence naming rule and dates.

The reason is decided against the final schedule, solver-agnostic:
- `no_allowed_day`, `whitelisted`: nothing in the window is open to it at all;
- `cap`, `min_gap`, `capacity`: that one rule blocks every open day, given the rest of the schedule;
- `priority`: every open day is blocked, by different rules on different days, and on some day
  all that blocks it could move: it could be placed only by displacing scheduled inspections;
- when different rules block different days and nothing blocking could move (history, pins,
  days without capacity), the rule blocking most days is named and the detail says so;
- `not_solved`: some open day was still free when the solver stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from quietday.domain.model import (
    Inspection,
    InspectionId,
    Instance,
    Kind,
    Reason,
    Unscheduled,
)
from quietday.domain.state import Blocker, ScheduleState

__all__ = ["explain_unscheduled", "format_days"]

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


def _mixed_detail(per_day: dict[date, list[Blocker]], *, movable: bool) -> str:
    by_rule: dict[Reason, list[date]] = {}
    for day, blockers in sorted(per_day.items()):
        for r in _RULE_ORDER:
            if any(b.reason == r for b in blockers):
                by_rule.setdefault(r, []).append(day)
                break
    parts = ";".join(f"{_RULE_NAMES[r]}挡住 {format_days(days)}" for r, days in by_rule.items())
    if movable:
        return f"所有可用日期都已被占用: {parts};只有挤占已排的检查才能安排"
    return f"所有可用日期都被不能调整的记录(历史检查、已发布排期或当日无检查能力)挡住: {parts}"


def _dominant(per_day: dict[date, list[Blocker]]) -> Reason:
    """The rule that blocks the most days (the first in `_RULE_ORDER` on a tie)."""
    counts = {
        r: sum(1 for bs in per_day.values() if any(b.reason == r for b in bs)) for r in _RULE_ORDER
    }
    return max(_RULE_ORDER, key=lambda r: (counts[r], -_RULE_ORDER.index(r)))


def _explain_one(instance: Instance, state: ScheduleState, insp: Inspection) -> Unscheduled:
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
    for reason in _RULE_ORDER:
        if all(any(b.reason == reason for b in bs) for bs in per_day.values()):
            agency_name = instance.agencies[insp.agency].name
            return Unscheduled(insp.id, reason, _single_rule_detail(reason, per_day, agency_name))
    # Different rules on different days: displacing placed inspections could open a day only
    # where everything blocking it can move.
    movable = any(all(b.movable for b in bs) for bs in per_day.values())
    reason = Reason.PRIORITY if movable else _dominant(per_day)
    return Unscheduled(insp.id, reason, _mixed_detail(per_day, movable=movable))


def explain_unscheduled(
    instance: Instance, assignment: Mapping[InspectionId, date]
) -> list[Unscheduled]:
    """An `Unscheduled` entry for every inspection of `instance` missing from `assignment`."""
    state = ScheduleState(instance)
    state.place_all(dict(assignment))
    return [
        _explain_one(instance, state, i) for i in instance.inspections if i.id not in assignment
    ]
