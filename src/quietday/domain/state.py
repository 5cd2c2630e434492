"""A schedule being filled in, able to say which rule would block one more inspection on a day.

Used by the greedy (placing), by the explanations (why nothing fits) and by the generator (pins
that obey the rules). It covers the rules that depend on the rest of the schedule: agency capacity,
the three caps and the minimum gap; window, working and quiet days are the caller's `open_days`.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from quietday.domain.model import (
    AgencyId,
    EnterpriseId,
    Inspection,
    InspectionId,
    Instance,
    Reason,
)

__all__ = ["Blocker", "ScheduleState"]

HISTORY = "历史"


@dataclass(frozen=True, slots=True)
class Blocker:
    """One rule that forbids a placement; `detail` names the dates and records that use it up
    (written only when asked for: the greedy asks millions of times and reads none)."""

    reason: Reason
    describe: Callable[[], str]
    # Whether some of what blocks could be moved: an inspection the solver placed, not history,
    # a pin or a day without capacity.
    can_move: Callable[[], bool]

    @property
    def detail(self) -> str:
        return self.describe()

    @property
    def movable(self) -> bool:
        return self.can_move()


def _list(entries: dict[date, set[str]]) -> str:
    return "、".join(f"{d}({'、'.join(sorted(w))})" for d, w in sorted(entries.items()))


class ScheduleState:
    """History and placed inspections, indexed for the capacity, cap and gap rules."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._agency_day: dict[tuple[AgencyId, date], dict[EnterpriseId, list[InspectionId]]] = (
            defaultdict(dict)
        )
        self._ent_dates: dict[EnterpriseId, dict[date, set[str]]] = defaultdict(dict)
        self._ent_sorted: dict[EnterpriseId, list[date]] = defaultdict(list)
        self._ae_dates: dict[tuple[AgencyId, EnterpriseId], dict[date, set[str]]] = defaultdict(
            dict
        )
        self._month: dict[tuple[EnterpriseId, int, int], int] = defaultdict(int)
        self._year: dict[tuple[EnterpriseId, int], int] = defaultdict(int)
        self._ae_year: dict[tuple[AgencyId, EnterpriseId, int], int] = defaultdict(int)
        for h in instance.history:
            if h.capped:
                self._add_capped(h.agency, h.enterprise, h.date, HISTORY)

    def _add_capped(self, agency: AgencyId, ent: EnterpriseId, day: date, who: str) -> None:
        dates = self._ent_dates[ent]
        if day not in dates:
            dates[day] = set()
            bisect.insort(self._ent_sorted[ent], day)
            self._month[(ent, day.year, day.month)] += 1
            self._year[(ent, day.year)] += 1
        dates[day].add(who)
        ae = self._ae_dates[(agency, ent)]
        if day not in ae:
            ae[day] = set()
            self._ae_year[(agency, ent, day.year)] += 1
        ae[day].add(who)

    def _movable(self, entries: Iterable[str]) -> bool:
        pins = self.instance.pins
        return any(w != HISTORY and InspectionId(w) not in pins for w in entries)

    def place(self, inspection: Inspection, day: date) -> None:
        self._agency_day[(inspection.agency, day)].setdefault(inspection.enterprise, []).append(
            inspection.id
        )
        if inspection.capped:
            self._add_capped(inspection.agency, inspection.enterprise, day, inspection.id)

    def _remove_capped(self, agency: AgencyId, ent: EnterpriseId, day: date, who: str) -> None:
        dates = self._ent_dates[ent]
        dates[day].discard(who)
        if not dates[day]:
            del dates[day]
            self._ent_sorted[ent].remove(day)
            self._month[(ent, day.year, day.month)] -= 1
            self._year[(ent, day.year)] -= 1
        ae = self._ae_dates[(agency, ent)]
        ae[day].discard(who)
        if not ae[day]:
            del ae[day]
            self._ae_year[(agency, ent, day.year)] -= 1

    def remove(self, inspection: Inspection, day: date) -> None:
        """Undo `place(inspection, day)`."""
        load = self._agency_day[(inspection.agency, day)]
        load[inspection.enterprise].remove(inspection.id)
        if not load[inspection.enterprise]:
            del load[inspection.enterprise]
        if inspection.capped:
            self._remove_capped(inspection.agency, inspection.enterprise, day, inspection.id)

    def place_all(self, assignment: dict[InspectionId, date]) -> None:
        for iid, day in sorted(assignment.items()):
            self.place(self.instance.by_id[iid], day)

    def visits_of(self, agency: AgencyId, day: date) -> int:
        return len(self._agency_day.get((agency, day), ()))

    def joins(self, inspection: Inspection, day: date) -> bool:
        """True when the agency already visits this enterprise on `day` (no new capacity unit)."""
        return inspection.enterprise in self._agency_day.get((inspection.agency, day), ())

    def allows(self, inspection: Inspection, day: date) -> bool:
        """True when no schedule-dependent rule forbids `inspection` on `day`."""
        return next(self._blocking(inspection, day), None) is None

    def blockers(self, inspection: Inspection, day: date) -> list[Blocker]:
        """Every schedule-dependent rule that placing `inspection` on `day` would break."""
        return list(self._blocking(inspection, day))

    def _blocking(self, insp: Inspection, day: date) -> Iterator[Blocker]:
        inst = self.instance
        agency = inst.agencies[insp.agency]
        cap_today = agency.capacity_on(day)
        load = self._agency_day.get((insp.agency, day), {})
        if insp.enterprise not in load and len(load) >= cap_today:
            n = len(load)
            yield Blocker(
                Reason.CAPACITY,
                lambda: f"{agency.name} {day} 已安排 {n} 家企业(当日能力 {cap_today} 家)",
                lambda: self._movable(i for ids in load.values() for i in ids),
            )
        if insp.capped:
            yield from self._cap_blocking(insp, day)

    def _cap_blocking(self, insp: Inspection, day: date) -> Iterator[Blocker]:
        inst = self.instance
        ent = insp.enterprise
        caps = inst.caps_for(ent)
        ae = self._ae_dates.get((insp.agency, ent), {})
        limit = caps.agency_enterprise_per_year
        if (
            limit is not None
            and day not in ae
            and self._ae_year[(insp.agency, ent, day.year)] >= limit
        ):
            name = inst.agencies[insp.agency].name
            used = {d: w for d, w in ae.items() if d.year == day.year}
            yield Blocker(
                Reason.CAP,
                lambda: f"{name} {day.year} 年对该企业的检查已达上限 {limit} 次: {_list(used)}",
                lambda: self._movable(w for ws in used.values() for w in ws),
            )
        dates = self._ent_dates.get(ent, {})
        if day in dates:
            return
        month_cap = caps.enterprise_per_month
        if month_cap is not None and self._month[(ent, day.year, day.month)] >= month_cap:
            used_m = {d: w for d, w in dates.items() if (d.year, d.month) == (day.year, day.month)}
            yield Blocker(
                Reason.CAP,
                lambda: (
                    f"该企业 {day.year} 年 {day.month} 月的检查已达上限 {month_cap} 天: "
                    f"{_list(used_m)}"
                ),
                lambda: self._movable(w for ws in used_m.values() for w in ws),
            )
        year_cap = caps.enterprise_per_year
        if year_cap is not None and self._year[(ent, day.year)] >= year_cap:
            used_y = {d: w for d, w in dates.items() if d.year == day.year}
            yield Blocker(
                Reason.CAP,
                lambda: f"该企业 {day.year} 年的检查已达上限 {year_cap} 天: {_list(used_y)}",
                lambda: self._movable(w for ws in used_y.values() for w in ws),
            )
        gap = caps.min_gap_days
        if gap > 1:
            ordered = self._ent_sorted.get(ent, [])
            k = bisect.bisect_left(ordered, day)
            near = {
                d: dates[d] for d in ordered[max(0, k - 1) : k + 1] if abs((d - day).days) < gap
            }
            if near:
                yield Blocker(
                    Reason.MIN_GAP,
                    lambda: f"与该企业 {_list(near)} 的检查间隔不足 {gap} 天",
                    lambda: self._movable(w for ws in near.values() for w in ws),
                )
