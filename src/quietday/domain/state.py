"""A schedule being filled in, able to say which rule would block one more inspection on a day.

Used by the greedy (placing), by the explanations (why nothing fits) and by the generator (pins
that obey the rules). It covers the rules that depend on the rest of the schedule: agency capacity,
the three caps and the minimum gap; window, working and quiet days are the caller's `open_days`.

`closed_days` answers the same question for every working day of the horizon at once, from the
few dates that use up caps and capacity rather than day by day (candidate days in bulk).

`groups` names what one move could carry off a date to make room for a blocked inspection (an
ejection): the local search tries them, and the explanations say `priority` only when none
works.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta

from quietday.domain.model import (
    AgencyId,
    EnterpriseId,
    Inspection,
    InspectionId,
    Instance,
    Reason,
)

__all__ = ["Blocker", "ScheduleState", "carry_targets"]

HISTORY = "历史"


@dataclass(frozen=True, slots=True)
class Blocker:
    """One rule that forbids a placement; `detail` names the dates and records that use it up
    (written only when asked for: the greedy asks millions of times and reads none)."""

    reason: Reason
    describe: Callable[[], str]
    # What used the rule up when it was found, by date: inspection ids and `HISTORY` (for
    # capacity: nothing, the day's occupants being the agency's load).
    uses: Callable[[], Mapping[date, Iterable[str]]]
    # For a cap or the gap: whether carrying one of the dates that use it up to another date
    # (not the blocked day itself) uses it up again, as the schedule stands: a new date in the
    # same year or month, or one too close. Such a move never lets the inspection in.
    again: Callable[[date], bool] | None = None

    @property
    def detail(self) -> str:
        return self.describe()


def carry_targets(blockers: Iterable[Blocker], day: date, targets: Iterable[date]) -> list[date]:
    """Of `targets`, those the enterprise's own dates blocking `day` could be carried to without
    using a cap or the gap up again (`Blocker.again`); `day` itself always."""
    again = [b.again for b in blockers if b.again is not None]
    if len(again) == 1:  # the usual case, without a generator per target
        one = again[0]
        return [t for t in targets if t == day or not one(t)]
    return [t for t in targets if t == day or not any(f(t) for f in again)]


_NOBODY: Mapping[EnterpriseId, list[InspectionId]] = {}
_NO_DATES: Mapping[date, int] = {}


def _list(entries: Mapping[date, Iterable[str]]) -> str:
    return "、".join(f"{d}({'、'.join(sorted(w))})" for d, w in sorted(entries.items()))


def _span(days: tuple[date, ...], first: date, last: date) -> tuple[date, ...]:
    """The sorted `days` from `first` to `last`."""
    return days[bisect.bisect_left(days, first) : bisect.bisect_right(days, last)]


class ScheduleState:
    """History and placed inspections, indexed for the capacity, cap and gap rules."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._agency_day: dict[tuple[AgencyId, date], dict[EnterpriseId, list[InspectionId]]] = (
            defaultdict(dict)
        )
        # How many capped inspections and history records use each date: per enterprise, and
        # per agency, enterprise and date (counts, not who: `_who` says who when asked).
        self._ent_dates: dict[EnterpriseId, dict[date, int]] = defaultdict(dict)
        self._ent_sorted: dict[EnterpriseId, list[date]] = defaultdict(list)
        self._ae_uses: dict[tuple[AgencyId, EnterpriseId, date], int] = {}
        self._visits: dict[EnterpriseId, dict[date, list[InspectionId]]] = defaultdict(dict)
        # `_parts` per enterprise and date, kept until a placement of that enterprise changes.
        self._parts_of: dict[EnterpriseId, dict[date, list[tuple[Inspection, ...]]]] = {}
        # `groups` of an agency day full for capacity (the same for whatever waits), kept until
        # a placement of that agency or of one of its occupants changes on that day.
        self._carried: dict[tuple[AgencyId, date], list[tuple[date, tuple[Inspection, ...]]]] = {}
        self._month: dict[tuple[EnterpriseId, int, int], int] = defaultdict(int)
        self._year: dict[tuple[EnterpriseId, int], int] = defaultdict(int)
        self._ae_year: dict[tuple[AgencyId, EnterpriseId, int], int] = defaultdict(int)
        # Per agency (once asked for), the horizon's working days with no room for another
        # enterprise, kept in step by `place` and `remove`.
        self._full: dict[AgencyId, set[date]] = {}
        self._working = frozenset(instance.working_days)
        for h in instance.history:
            if h.capped:
                self._add_capped(h.agency, h.enterprise, h.date)

    def _add_capped(self, agency: AgencyId, ent: EnterpriseId, day: date) -> None:
        dates = self._ent_dates[ent]
        n = dates.get(day, 0)
        dates[day] = n + 1
        if not n:
            bisect.insort(self._ent_sorted[ent], day)
            self._month[(ent, day.year, day.month)] += 1
            self._year[(ent, day.year)] += 1
        key = (agency, ent, day)
        m = self._ae_uses.get(key, 0)
        self._ae_uses[key] = m + 1
        if not m:
            self._ae_year[(agency, ent, day.year)] += 1

    def place(self, inspection: Inspection, day: date) -> None:
        load = self._agency_day[(inspection.agency, day)]
        if inspection.enterprise not in load:
            load[inspection.enterprise] = []
            full = self._full.get(inspection.agency)
            if (
                full is not None
                and day in self._working
                and len(load) >= self._capacity(inspection.agency, day)
            ):
                full.add(day)
        load[inspection.enterprise].append(inspection.id)
        self._visits[inspection.enterprise].setdefault(day, []).append(inspection.id)
        self._parts_of.pop(inspection.enterprise, None)
        if self._carried:
            self._forget_carried(inspection, day)
        if inspection.capped:
            self._add_capped(inspection.agency, inspection.enterprise, day)

    def _remove_capped(self, agency: AgencyId, ent: EnterpriseId, day: date) -> None:
        dates = self._ent_dates[ent]
        n = dates[day] - 1
        if n:
            dates[day] = n
        else:
            del dates[day]
            self._ent_sorted[ent].remove(day)
            self._month[(ent, day.year, day.month)] -= 1
            self._year[(ent, day.year)] -= 1
        key = (agency, ent, day)
        m = self._ae_uses[key] - 1
        if m:
            self._ae_uses[key] = m
        else:
            del self._ae_uses[key]
            self._ae_year[(agency, ent, day.year)] -= 1

    def _who(self, ent: EnterpriseId, day: date, agency: AgencyId | None = None) -> frozenset[str]:
        """What uses a cap on `day` for `ent` (only `agency`'s when given): its capped placed
        inspections' ids, and `HISTORY` where the count has more (history records)."""
        by_id = self.instance.by_id
        placed = [
            i
            for i in self._visits.get(ent, {}).get(day, ())
            if by_id[i].capped and (agency is None or by_id[i].agency == agency)
        ]
        uses = self._ent_dates[ent][day] if agency is None else self._ae_uses[(agency, ent, day)]
        return frozenset([*placed, HISTORY] if uses > len(placed) else placed)

    def remove(self, inspection: Inspection, day: date) -> None:
        """Undo `place(inspection, day)`."""
        load = self._agency_day[(inspection.agency, day)]
        load[inspection.enterprise].remove(inspection.id)
        if not load[inspection.enterprise]:
            del load[inspection.enterprise]
            full = self._full.get(inspection.agency)
            if full is not None and len(load) < self._capacity(inspection.agency, day):
                full.discard(day)
        visits = self._visits[inspection.enterprise]
        self._parts_of.pop(inspection.enterprise, None)
        if self._carried:
            self._forget_carried(inspection, day)
        visits[day].remove(inspection.id)
        if not visits[day]:
            del visits[day]
        if inspection.capped:
            self._remove_capped(inspection.agency, inspection.enterprise, day)

    def _forget_carried(self, inspection: Inspection, day: date) -> None:
        """A placement of `inspection` on `day` (in its enterprise's visit while this runs)
        changes its agency's load that day, and the groups of its enterprise there: those of
        every agency of that visit."""
        by_id = self.instance.by_id
        for iid in self._visits.get(inspection.enterprise, {}).get(day, ()):
            self._carried.pop((by_id[iid].agency, day), None)

    def place_all(self, assignment: dict[InspectionId, date]) -> None:
        for iid, day in sorted(assignment.items()):
            self.place(self.instance.by_id[iid], day)

    def joins(self, inspection: Inspection, day: date) -> bool:
        """True when the agency already visits this enterprise on `day` (no new capacity unit)."""
        return inspection.enterprise in self._agency_day.get((inspection.agency, day), ())

    def allows(self, inspection: Inspection, day: date) -> bool:
        """True when no schedule-dependent rule forbids `inspection` on `day`: the rules of
        `_blocking`, in its order, without making the blockers (asked millions of times)."""
        agency, ent = inspection.agency, inspection.enterprise
        load = self._agency_day.get((agency, day), _NOBODY)
        if ent not in load and len(load) >= self.instance.agencies[agency].capacity_on(day):
            return False
        if not inspection.capped:
            return True
        caps = self.instance.caps_for(ent)
        limit = caps.agency_enterprise_per_year
        if (
            limit is not None
            and (agency, ent, day) not in self._ae_uses
            and self._ae_year.get((agency, ent, day.year), 0) >= limit
        ):
            return False
        dates = self._ent_dates.get(ent, _NO_DATES)
        if day in dates:
            return True
        month_cap = caps.enterprise_per_month
        if month_cap is not None and self._month.get((ent, day.year, day.month), 0) >= month_cap:
            return False
        year_cap = caps.enterprise_per_year
        if year_cap is not None and self._year.get((ent, day.year), 0) >= year_cap:
            return False
        gap = caps.min_gap_days
        if gap > 1:
            ordered = self._ent_sorted.get(ent, ())
            k = bisect.bisect_left(ordered, day)
            return all(abs((d - day).days) >= gap for d in ordered[max(0, k - 1) : k + 1])
        return True

    def closed_days(self, inspection: Inspection) -> set[date]:
        """The horizon's working days on which `allows(inspection, day)` is false: the same
        rules as `_blocking`, worked out from the dates that use capacity and caps up."""
        closed = {
            d
            for d in self.full_days(inspection.agency)
            if inspection.enterprise not in self._agency_day.get((inspection.agency, d), ())
        }
        if inspection.capped:
            closed |= self._cap_closed(inspection.agency, inspection.enterprise)
        return closed

    def _capacity(self, agency: AgencyId, day: date) -> int:
        return self.instance.agencies[agency].capacity_on(day)

    def full_days(self, agency: AgencyId) -> AbstractSet[date]:
        """The horizon's working days on which `agency` has no room for another enterprise."""
        full = self._full.get(agency)
        if full is None:
            a = self.instance.agencies[agency]
            full = {
                d
                for d in self.instance.working_days
                if len(self._agency_day.get((agency, d), ())) >= a.capacity_on(d)
            }
            self._full[agency] = full
        return full

    def _cap_closed(self, agency: AgencyId, ent: EnterpriseId) -> set[date]:
        """`_cap_blocking` for all the horizon's working days at once."""
        days = self.instance.working_days
        horizon = self.instance.horizon
        years = range(horizon.start.year, horizon.end.year + 1)
        caps = self.instance.caps_for(ent)
        closed: set[date] = set()
        limit = caps.agency_enterprise_per_year
        if limit is not None:
            ae = {d for d in self._ent_dates.get(ent, ()) if (agency, ent, d) in self._ae_uses}
            for year in years if limit <= 0 else {d.year for d in ae}:
                if self._ae_year.get((agency, ent, year), 0) >= limit:
                    span = _span(days, date(year, 1, 1), date(year, 12, 31))
                    closed.update(d for d in span if d not in ae)
        dates = self._ent_dates.get(ent, {})
        rest: set[date] = set()
        month_cap = caps.enterprise_per_month
        if month_cap is not None:
            months = (
                {(d.year, d.month) for d in days}
                if month_cap <= 0
                else {(d.year, d.month) for d in dates}
            )
            for year, month in months:
                if self._month.get((ent, year, month), 0) >= month_cap:
                    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
                    rest.update(_span(days, date(year, month, 1), last))
        year_cap = caps.enterprise_per_year
        if year_cap is not None:
            for year in years if year_cap <= 0 else {d.year for d in dates}:
                if self._year.get((ent, year), 0) >= year_cap:
                    rest.update(_span(days, date(year, 1, 1), date(year, 12, 31)))
        gap = caps.min_gap_days
        if gap > 1:
            reach = timedelta(days=gap - 1)
            for d in dates:
                rest.update(_span(days, d - reach, d + reach))
        closed.update(d for d in rest if d not in dates)
        return closed

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
                dict,
            )
        if insp.capped:
            yield from self._cap_blocking(insp, day)

    def _cap_blocking(self, insp: Inspection, day: date) -> Iterator[Blocker]:
        inst = self.instance
        ent = insp.enterprise
        caps = inst.caps_for(ent)
        agency = insp.agency
        ae = self._ae_uses
        dates = self._ent_dates.get(ent, {})
        limit = caps.agency_enterprise_per_year
        if (
            limit is not None
            and (agency, ent, day) not in ae
            and self._ae_year[(agency, ent, day.year)] >= limit
        ):
            name = inst.agencies[agency].name
            used = {
                d: self._who(ent, d, agency)
                for d in dates
                if d.year == day.year and (agency, ent, d) in ae
            }
            yield Blocker(
                Reason.CAP,
                lambda: f"{name} {day.year} 年对该企业的检查已达上限 {limit} 次: {_list(used)}",
                lambda: used,
                lambda t: t.year == day.year and (agency, ent, t) not in ae,
            )
        if day in dates:
            return
        month_cap = caps.enterprise_per_month
        if month_cap is not None and self._month[(ent, day.year, day.month)] >= month_cap:
            used_m = {
                d: self._who(ent, d) for d in dates if (d.year, d.month) == (day.year, day.month)
            }
            yield Blocker(
                Reason.CAP,
                lambda: (
                    f"该企业 {day.year} 年 {day.month} 月的检查已达上限 {month_cap} 天: "
                    f"{_list(used_m)}"
                ),
                lambda: used_m,
                lambda t: (t.year, t.month) == (day.year, day.month) and t not in dates,
            )
        year_cap = caps.enterprise_per_year
        if year_cap is not None and self._year[(ent, day.year)] >= year_cap:
            used_y = {d: self._who(ent, d) for d in dates if d.year == day.year}
            yield Blocker(
                Reason.CAP,
                lambda: f"该企业 {day.year} 年的检查已达上限 {year_cap} 天: {_list(used_y)}",
                lambda: used_y,
                lambda t: t.year == day.year and t not in dates,
            )
        gap = caps.min_gap_days
        if gap > 1:
            ordered = self._ent_sorted.get(ent, [])
            k = bisect.bisect_left(ordered, day)
            near = {
                d: self._who(ent, d)
                for d in ordered[max(0, k - 1) : k + 1]
                if abs((d - day).days) < gap
            }
            if near:
                yield Blocker(
                    Reason.MIN_GAP,
                    lambda: f"与该企业 {_list(near)} 的检查间隔不足 {gap} 天",
                    lambda: near,
                    lambda t: abs((t - day).days) < gap,
                )

    def visits_of(self, enterprise: EnterpriseId) -> dict[date, list[InspectionId]]:
        """The placed inspections (pins included) of `enterprise`, by date."""
        return self._visits.get(enterprise, {})

    def groups(
        self, inspection: Inspection, day: date, *, blockers: Iterable[Blocker]
    ) -> list[tuple[date, tuple[Inspection, ...]]]:
        """What one move could carry off a date so that `inspection` fits on `day`, which
        `blockers` block: an enterprise's placed, non-pinned inspections on one date (one
        agency's or all of them, each also as its capped part alone) that hold all that blocks
        there: for capacity, another enterprise's inspections of that agency that day; for caps
        and gap, the enterprise's own that use them up on a date (none where history or a pin
        does); a group must lift every blocker. Each group with its date (not to be changed:
        for capacity it is kept for the next call)."""
        inst = self.instance
        blockers = list(blockers)
        reasons = {b.reason for b in blockers}
        if Reason.CAPACITY in reasons and len(reasons) > 1:
            # Capacity is lifted by another enterprise's unit, caps and the gap by the
            # enterprise's own dates: no one group does both.
            return []
        capacity = reasons == {Reason.CAPACITY}  # then the same for whatever waits
        if capacity and (known := self._carried.get((inspection.agency, day))) is not None:
            return known
        # Per enterprise and date, what a group there must hold to lift every blocker.
        needs: dict[tuple[EnterpriseId, date], set[str]] | None = None
        for b in blockers:
            lifts = self._lifts(inspection, day, b)
            needs = (
                lifts
                if needs is None
                else {p: needs[p] | need for p, need in lifts.items() if p in needs}
            )
        found: list[tuple[date, tuple[Inspection, ...]]] = []
        for (ent, at), needed in sorted((needs or {}).items()):
            if HISTORY in needed or any(InspectionId(i) in inst.pins for i in needed):
                continue
            for group in self._parts(ent, at):
                if needed <= {g.id for g in group}:
                    found.append((at, group))
        if capacity:
            self._carried[(inspection.agency, day)] = found
        return found

    def _lifts(
        self, inspection: Inspection, day: date, blocker: Blocker
    ) -> dict[tuple[EnterpriseId, date], set[str]]:
        """Where one group could lift `blocker`, and what it must hold there: any other
        enterprise's unit of the full agency day; any date using up a cap; the one date too
        close (a gap broken on both sides is not lifted by one move)."""
        if blocker.reason == Reason.CAPACITY:
            load = self._agency_day.get((inspection.agency, day), {})
            return {(e, day): set(ids) for e, ids in load.items() if e != inspection.enterprise}
        uses = blocker.uses()
        if blocker.reason == Reason.MIN_GAP and len(uses) > 1:
            return {}
        return {(inspection.enterprise, at): set(who) for at, who in uses.items()}

    def _parts(self, ent: EnterpriseId, at: date) -> list[tuple[Inspection, ...]]:
        """`ent`'s non-pinned inspections on `at`: each agency's, all, each with its capped part
        (not to be changed: it is kept for the next call)."""
        known = self._parts_of.setdefault(ent, {})
        if at not in known:
            known[at] = self._parts_made(ent, at)
        return known[at]

    def _parts_made(self, ent: EnterpriseId, at: date) -> list[tuple[Inspection, ...]]:
        inst = self.instance
        ids = sorted(i for i in self._visits.get(ent, {}).get(at, ()) if i not in inst.pins)
        visit = [inst.by_id[i] for i in ids]
        agencies = sorted({i.agency for i in visit})
        found: list[tuple[Inspection, ...]] = []
        for part in [*([i for i in visit if i.agency == a] for a in agencies), visit]:
            for group in (tuple(part), tuple(i for i in part if i.capped)):
                if group and group not in found:
                    found.append(group)
        return found

    def ejects(
        self,
        inspection: Inspection,
        day: date,
        *,
        group: Sequence[Inspection],
        source: date,
        target: date | None,
    ) -> bool:
        """Whether carrying `group` from `source` to `target` (None: unscheduling it) lets
        `inspection` onto `day` with every rule kept; the state is left as it was. Open days
        (window, working, quiet) are the caller's."""
        with self.trial(group[0].enterprise):
            for g in group:
                self.remove(g, source)
            placed: list[Inspection] = []
            ok = True
            if target is not None:
                for g in group:
                    if not self.allows(g, target):
                        ok = False
                        break
                    self.place(g, target)
                    placed.append(g)
            ok = ok and self.allows(inspection, day)
            if target is not None:
                for g in placed:
                    self.remove(g, target)
            for g in group:
                self.place(g, source)
        return ok

    def trial(self, enterprise: EnterpriseId) -> _Trial:
        """A context inside which placements of `enterprise` change and come back as they
        were: the caches of `groups` and `_parts` (which depend on placements alone) are kept,
        not forgotten. An error inside loses them instead."""
        return _Trial(self, enterprise)


class _Trial:
    """`ScheduleState.trial`: a class, not a generator (explanations enter one per move tried)."""

    __slots__ = ("_carried", "_enterprise", "_parts", "_state")

    def __init__(self, state: ScheduleState, enterprise: EnterpriseId) -> None:
        self._state = state
        self._enterprise = enterprise

    def __enter__(self) -> None:
        state = self._state
        self._parts = state._parts_of.get(self._enterprise)
        self._carried = state._carried
        state._carried = {}  # nothing in it to forget meanwhile

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        if error is not None:
            return
        state = self._state
        state._carried = self._carried
        if self._parts is not None:
            state._parts_of[self._enterprise] = self._parts
