"""Local search on a valid schedule, every move checked by the rule state and kept only when the
lexicographic objective does not get worse.

- fill: place what waits on a day where nothing blocks it (an existing visit first);
- relieve: place what waits on a blocked day by one ejection: carry what blocks it (an
  occupying enterprise's inspections of a full agency day, or the enterprise's own inspections
  on a date that uses up a cap or the gap) to another of their candidate days, days the
  enterprise is visited anyway first, or drop them when their total priority is lower (level 1
  rises either way);
- merge: open one door fewer (综合查一次) by moving the inspections of two visits of an enterprise
  onto one day, moving another enterprise's unit of a full agency aside when that is all that
  blocks it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, TypeVar

from quietday.domain.model import AgencyId, EnterpriseId, Inspection, InspectionId, Reason
from quietday.domain.state import Blocker, ScheduleState, carry_targets
from quietday.solver.prepare import Prepared

__all__ = ["LocalReport", "Polished", "Schedule", "polish"]

T = TypeVar("T")


class Schedule:
    """An assignment with the indexes the moves need, kept in step with the rule state."""

    def __init__(self, prepared: Prepared, assignment: dict[InspectionId, date]) -> None:
        self.prepared = prepared
        self.instance = prepared.instance
        self.state = ScheduleState(self.instance)
        self.at: dict[InspectionId, date] = {}
        self.doors: dict[EnterpriseId, dict[date, list[InspectionId]]] = defaultdict(dict)
        self.units: dict[tuple[AgencyId, date], dict[EnterpriseId, list[InspectionId]]] = (
            defaultdict(dict)
        )
        self.candidate_set = prepared.candidate_sets
        # Enterprises whose inspections moved since this was last emptied.
        self.touched: set[EnterpriseId] = set()
        for iid, day in sorted(assignment.items()):
            self.put(self.instance.by_id[iid], day)

    def put(self, insp: Inspection, day: date) -> None:
        self.touched.add(insp.enterprise)
        self.state.place(insp, day)
        self.at[insp.id] = day
        self.doors[insp.enterprise].setdefault(day, []).append(insp.id)
        self.units[(insp.agency, day)].setdefault(insp.enterprise, []).append(insp.id)

    def take(self, insp: Inspection) -> date:
        self.touched.add(insp.enterprise)
        day = self.at.pop(insp.id)
        self.state.remove(insp, day)
        door = self.doors[insp.enterprise][day]
        door.remove(insp.id)
        if not door:
            del self.doors[insp.enterprise][day]
        unit = self.units[(insp.agency, day)][insp.enterprise]
        unit.remove(insp.id)
        if not unit:
            del self.units[(insp.agency, day)][insp.enterprise]
        return day

    def movable(self, iid: InspectionId) -> bool:
        return iid not in self.prepared.pinned

    def fits(self, insp: Inspection, day: date) -> bool:
        return day in self.candidate_set.get(insp.id, ()) and self.state.allows(insp, day)

    def try_moves(self, moves: Sequence[tuple[Inspection, date | None]]) -> bool:
        """Apply all `moves` (None unschedules) or none of them: each placement must fit after
        the earlier ones."""
        return self.misfit(moves) is None

    def misfit(self, moves: Sequence[tuple[Inspection, date | None]]) -> int | None:
        """`try_moves`, telling which move did not fit (its index), or None when all applied."""
        before = [(insp, self.at.get(insp.id)) for insp, _ in moves]
        for insp, _ in moves:
            if insp.id in self.at:
                self.take(insp)
        done: list[Inspection] = []
        for k, (insp, day) in enumerate(moves):
            if day is None:
                continue
            if not self.fits(insp, day):
                for placed in done:
                    self.take(placed)
                for orig, old in before:
                    if old is not None:
                        self.put(orig, old)
                return k
            self.put(insp, day)
            done.append(insp)
        return None


@dataclass(frozen=True, slots=True)
class LocalReport:
    filled: int
    relieved: int
    merged: int
    rounds: int


class Polished(NamedTuple):
    assignment: dict[InspectionId, date]
    report: LocalReport
    # The schedule of `assignment` as the search left it, for a later polish to go on from.
    schedule: Schedule

    @property
    def state(self) -> ScheduleState:
        """The rule state of `assignment`, for the explanations (not to be changed)."""
        return self.schedule.state


def _inspections(s: Schedule, iids: Iterable[InspectionId]) -> list[Inspection]:
    return [s.instance.by_id[i] for i in iids]


Stop = Callable[[], bool]
_CHECK_EVERY = 64


def _until(items: Iterable[T], stop: Stop) -> Iterator[T]:
    """`items`, cut short once `stop()` says so (asked every few items: it reads a clock)."""
    for k, item in enumerate(items):
        if k % _CHECK_EVERY == 0 and stop():
            return
        yield item


def fill(s: Schedule, waiting: Sequence[Inspection], stop: Stop = lambda: False) -> int:
    """Place waiting inspections (highest priority first) where nothing blocks them."""
    placed = 0
    for insp in _until(waiting, stop):
        if insp.id in s.at:
            continue
        days = s.prepared.candidates[insp.id]
        doors = s.doors.get(insp.enterprise, {})
        choice = next((d for d in reversed(days) if d in doors and s.fits(insp, d)), None)
        if choice is None:
            choice = next((d for d in reversed(days) if s.fits(insp, d)), None)
        if choice is not None:
            s.put(insp, choice)
            placed += 1
    return placed


Moves = list[tuple[Inspection, date | None]]


def _asides(s: Schedule, agency: AgencyId, day: date, ent: EnterpriseId) -> Iterable[Moves]:
    """Ways to take enterprise `ent`'s inspections of `agency` off `day` without opening a
    door: onto another day on which the enterprise already has a visit."""
    doors = s.doors.get(ent, {})
    if len(doors) < 2:
        return
    unit = _inspections(s, s.units[(agency, day)].get(ent, ()))
    if not unit or not all(s.movable(i.id) for i in unit):
        return
    capacity = s.instance.agencies[agency].capacity_on
    for target in sorted((d for d in doors if d != day), reverse=True):
        there = s.units[(agency, target)]
        room = ent in there or len(there) < capacity(target)
        if room and all(target in s.candidate_set[i.id] for i in unit):
            yield [(i, target) for i in unit]


def _rivals(s: Schedule, agency: AgencyId, day: date, ent: EnterpriseId) -> list[EnterpriseId]:
    """The other enterprises `agency` visits on `day` that could step aside (`_asides`): those
    visited on another day too (most of a full day's are not, and are asked often)."""
    doors = s.doors
    return sorted(e for e in s.units[(agency, day)] if e != ent and len(doors.get(e, ())) > 1)


def _common(s: Schedule, group: Sequence[Inspection]) -> frozenset[date]:
    """The candidate days all of `group` share."""
    days = s.candidate_set[group[0].id]
    for g in group[1:]:
        days &= s.candidate_set[g.id]
    return days


def _targets(
    s: Schedule,
    group: Sequence[Inspection],
    source: date,
    insp: Inspection,
    day: date,
    *,
    blockers: Sequence[Blocker] | None,
) -> list[date] | None:
    """Where `group` could go: the candidate days all its inspections share but `source` on
    which each of their agencies has room (or visits the enterprise already), the days its
    enterprise is visited anyway first (no door opened: also `day` when it is the enterprise
    of `insp`, which goes there), latest first; None when there is no such day. With the
    `blockers` of `insp` on `day` (the group being its enterprise's own), only the days that
    do not use them up again (`carry_targets`)."""
    common = _common(s, group)
    ent = group[0].enterprise
    full = {a: s.state.full_days(a) for a in {g.agency for g in group}}
    room = set(common.difference(*full.values()))
    visited = s.doors.get(ent, {})
    # A full day still takes the group where its agencies visit the enterprise anyway.
    if len(visited) > 1:
        room.update(
            d
            for d in visited
            if d in common
            and all(d not in f or ent in s.units.get((a, d), ()) for a, f in full.items())
        )
    room.discard(source)
    if not room:
        return None
    kept = room if blockers is None else carry_targets(blockers, day, room)
    doors = set(visited) | ({day} if ent == insp.enterprise else set())
    return sorted(kept, key=lambda d: (d not in doors, -d.toordinal()))


Groups = Sequence[tuple[date, tuple[Inspection, ...]]]
GroupKey = tuple[date, tuple[InspectionId, ...]]


class _Nowhere:
    """Groups found with no other day to go to, until that may change: a commit frees a unit
    of one of their agencies on one of their candidate days, or moves their enterprise's
    inspections (its visits add days a full agency still takes). Most waiting inspections
    meet the same full days, and their occupants were already found unable to leave."""

    def __init__(self) -> None:
        self.days: dict[GroupKey, frozenset[date]] = {}
        self.of_agency: dict[AgencyId, list[GroupKey]] = defaultdict(list)
        self.of_enterprise: dict[EnterpriseId, list[GroupKey]] = defaultdict(list)

    def add(self, s: Schedule, key: GroupKey, group: Sequence[Inspection]) -> None:
        self.days[key] = _common(s, group)
        for agency in {g.agency for g in group}:
            self.of_agency[agency].append(key)
        self.of_enterprise[group[0].enterprise].append(key)

    def commit(self, freed: Iterable[tuple[AgencyId, date]], ents: Iterable[EnterpriseId]) -> None:
        for ent in ents:
            for key in self.of_enterprise.pop(ent, ()):
                self.days.pop(key, None)
        for agency, day in freed:
            keys = self.of_agency.get(agency, [])
            self.of_agency[agency] = kept = []
            for key in keys:
                days = self.days.get(key)
                if days is not None and day in days:
                    del self.days[key]
                elif days is not None:
                    kept.append(key)


def _eject(
    s: Schedule,
    insp: Inspection,
    day: date,
    *,
    blockers: Sequence[Blocker],
    groups: Groups,
    nowhere: _Nowhere,
) -> tuple[tuple[date, Moves] | None, bool]:
    """Place waiting `insp` on `day` by carrying one of `groups` (what could lift its
    blockers there: an occupant of the full agency day, or the enterprise's own inspections
    on a date using up a cap or the gap) to another of their candidate days: the group's
    source and the moves made (None if none), and whether any group fitted elsewhere (when
    none did on a day full for the agency, none will for whatever else waits there: those
    moves do not involve it)."""
    fitted = False
    for source, group in groups:
        key = (source, tuple(g.id for g in group))
        if key in nowhere.days:
            continue
        own = group[0].enterprise == insp.enterprise
        targets = _targets(s, group, source, insp, day, blockers=blockers if own else None)
        if targets is None:
            nowhere.add(s, key, group)
            continue
        for target in targets:
            moves: Moves = [(g, target) for g in group]
            misfit = s.misfit([*moves, (insp, day)])
            if misfit is None:
                return (source, moves), True
            fitted = fitted or misfit == len(moves)
    return None, fitted


def _cheapest(groups: Groups) -> tuple[int, date, Moves] | None:
    """The one of `groups` of lowest total priority: that priority, its date and its
    unscheduling moves."""
    best: tuple[int, list[InspectionId], date, Moves] | None = None
    for source, group in groups:
        worth = sum(g.priority for g in group)
        ids = [g.id for g in group]
        if best is None or (worth, ids) < best[:2]:
            best = (worth, ids, source, [(g, None) for g in group])
    return None if best is None else (best[0], best[2], best[3])


class _Stuck:
    """Full agency days (for capacity alone) none of whose occupants can be carried elsewhere,
    with their cheapest occupant's priority (None: none can be dropped either)."""

    def __init__(self) -> None:
        self.days: dict[AgencyId, dict[date, int | None]] = {}
        # Per agency, the stuck days whose occupants' groups hold it, with the days those
        # groups could go to were there room (their common candidate days).
        self.reach: dict[AgencyId, dict[tuple[AgencyId, date], frozenset[date]]] = {}
        self._held: dict[tuple[AgencyId, date], list[AgencyId]] = {}

    def mark(
        self, s: Schedule, agency: AgencyId, day: date, cheapest: int | None, groups: Groups
    ) -> None:
        self.days.setdefault(agency, {})[day] = cheapest
        reach: dict[AgencyId, set[date]] = defaultdict(set)
        for _, group in groups:
            common = _common(s, group)
            for a in {g.agency for g in group}:
                reach[a] |= common
        self._held[(agency, day)] = list(reach)
        for a, days in reach.items():
            self.reach.setdefault(a, {})[(agency, day)] = frozenset(days)

    def freed(self, agency: AgencyId, day: date) -> None:
        """`agency` has room on `day`: a group holding it may now go there."""
        reach = self.reach.get(agency)
        if reach:
            for key in [key for key, days in reach.items() if day in days]:
                self.forget(*key)

    def forget(self, agency: AgencyId, day: date) -> None:
        days = self.days.get(agency)
        if days is not None:
            days.pop(day, None)
        for a in self._held.pop((agency, day), ()):
            self.reach[a].pop((agency, day), None)


class _Memory:
    """What relieves found on a schedule that stays true until a change it depends on: full
    days none of whose occupants can leave (`_Stuck`), groups with no day to go to
    (`_Nowhere`). Kept from one relieve of a polish to the next and told what moved in between
    (fills, merges), and within a relieve what its own moves changed: a relieve that changes
    nothing leaves nothing that one ejection places, whatever it was told before."""

    def __init__(self) -> None:
        self.stuck = _Stuck()
        self.nowhere = _Nowhere()
        # The schedule when the last relieve ended.
        self.seen: dict[InspectionId, date] | None = None

    def catch_up(self, s: Schedule) -> None:
        """Forget what the moves since the last relieve ended may have changed."""
        if self.seen is None:
            return
        before = self.seen
        moved = _moved(s, before)
        self.forget(
            s,
            {i.enterprise for i in moved},
            left={(i.agency, d) for i in moved if (d := before.get(i.id)) is not None},
            took={(i.agency, d) for i in moved if (d := s.at.get(i.id)) is not None},
        )

    def forget(
        self,
        s: Schedule,
        ents: set[EnterpriseId],
        *,
        left: set[tuple[AgencyId, date]],
        took: set[tuple[AgencyId, date]],
    ) -> None:
        """After inspections of `ents` moved, leaving agency days `left` and taking `took`.
        Room is freed only where a day left is no longer full, and there groups of other full
        days may now go (a whole visit's group holds each of its agencies). The moved
        enterprises' days and caps changed, and with them what they could carry wherever they
        occupy a day."""
        freed = {(a, d) for a, d in left if d not in s.state.full_days(a)}
        by_id = s.instance.by_id
        # Where the moved enterprises now occupy a day.
        occupied = {
            (by_id[i].agency, d)
            for ent in ents
            for d, iids in s.doors.get(ent, {}).items()
            for i in iids
        }
        for agency, day in freed:
            self.stuck.freed(agency, day)
        for agency, day in left | took | occupied:
            self.stuck.forget(agency, day)
        self.nowhere.commit(freed, ents)


def _forget(memory: _Memory, s: Schedule, *, carried: tuple[date, Moves], insp: Inspection) -> None:
    """After `carried` (moves off a date) and `insp` placed: forget what they may have
    changed."""
    source, moves = carried
    memory.forget(
        s,
        {i.enterprise for i, _ in moves} | {insp.enterprise},
        left={(i.agency, source) for i, _ in moves},
        took={(i.agency, d) for i, d in moves if d is not None} | {(insp.agency, s.at[insp.id])},
    )


def relieve(
    s: Schedule,
    waiting: Sequence[Inspection],
    stop: Stop = lambda: False,
    memory: _Memory | None = None,
) -> int:
    """Place waiting inspections on blocked days by one ejection: carry what blocks (an
    occupant of a full agency day, the enterprise's own inspections using up a cap or the gap)
    to another day, or drop it when its total priority is lower. `memory`: what earlier
    relieves on `s` found (many inspections wait for the same full days), brought up to date
    here and kept so."""
    placed = 0
    memory = memory or _Memory()
    memory.catch_up(s)
    stuck, nowhere = memory.stuck, memory.nowhere
    for insp in _until(waiting, stop):
        if insp.id in s.at:
            continue
        doors = s.doors.get(insp.enterprise, {})
        days = s.prepared.candidates[insp.id]
        for day in sorted(days, key=lambda d: (d not in doors, -d.toordinal())):
            # Remembered only for what the full day blocks (not an enterprise visited there).
            agency_stuck = stuck.days.get(insp.agency, {})
            known = day in agency_stuck and not s.state.joins(insp, day)
            cheapest = agency_stuck.get(day)
            if known and (cheapest is None or cheapest >= insp.priority):
                continue  # nothing to carry, nothing to drop, whatever blocks `insp`
            blockers = s.state.blockers(insp, day)
            if not blockers:
                continue
            only_capacity = all(b.reason == Reason.CAPACITY for b in blockers)
            groups = s.state.groups(insp, day, blockers=blockers)
            fitted = False
            if not (known and only_capacity):
                carried, fitted = _eject(
                    s, insp, day, blockers=blockers, groups=groups, nowhere=nowhere
                )
                if carried is not None:
                    placed += 1
                    _forget(memory, s, carried=carried, insp=insp)
                    break
            drop = _cheapest(groups)
            if only_capacity and not known and not fitted:
                stuck.mark(s, insp.agency, day, None if drop is None else drop[0], groups)
            if (
                drop is not None
                and drop[0] < insp.priority
                and s.try_moves([*drop[2], (insp, day)])
            ):
                placed += 1
                _forget(memory, s, carried=drop[1:], insp=insp)
                break
    memory.seen = dict(s.at)
    return placed


def _merge_pair(s: Schedule, ent: EnterpriseId, d1: date, d2: date) -> bool:
    doors = s.doors[ent]
    group = _inspections(s, [*doors[d1], *doors[d2]])
    fixed = {s.at[i.id] for i in group if not s.movable(i.id)}
    if len(fixed) > 1:
        return False
    movable = [i for i in group if s.movable(i.id)]
    targets = set.intersection(*(set(s.candidate_set[i.id]) for i in movable)) if movable else set()
    if fixed:
        targets &= fixed
    for target in sorted(targets, key=lambda d: (d not in (d1, d2), d)):
        moves: Moves = [(i, target) for i in movable]
        if s.try_moves(moves):
            return True
        full = {
            i.agency
            for i in movable
            if ent not in s.units[(i.agency, target)]
            and len(s.units[(i.agency, target)])
            >= s.instance.agencies[i.agency].capacity_on(target)
        }
        if len(full) != 1:
            continue
        agency = next(iter(full))
        if any(
            s.try_moves([*aside, *moves])
            for rival in _rivals(s, agency, target, ent)
            for aside in _asides(s, agency, target, rival)
        ):
            return True
    return False


def merge(s: Schedule, enterprises: Iterable[EnterpriseId], stop: Stop = lambda: False) -> int:
    """Open one door fewer wherever two visits of an enterprise can share a day."""
    merged = 0
    for ent in _until(enterprises, stop):
        progress = True
        while progress and len(s.doors.get(ent, {})) > 1:
            progress = False
            days = sorted(s.doors[ent])
            for k, d1 in enumerate(days):
                for d2 in days[k + 1 :]:
                    if _merge_pair(s, ent, d1, d2):
                        merged += 1
                        progress = True
                        break
                if progress:
                    break
    return merged


def polish(
    prepared: Prepared,
    start: dict[InspectionId, date] | Schedule,
    *,
    rounds: int = 4,
    should_stop: Callable[[], bool] = lambda: False,
    finish: bool = True,
) -> Polished:
    """Fill, merge and relieve until a round changes nothing (or `rounds` or `should_stop`),
    then (with `finish`) fill, relieve and merge where those moved inspections, unbounded,
    until nothing changes: a stop cuts the search short, never the placing of what fits or of
    what one ejection places. Without `finish` the search may stop anywhere: for a schedule
    that a later polish finishes (a part's, which its unit's repair pass finishes).
    Merging comes before relieving in a round: a stop falls on the moves that only the
    finishing pass (which relieves) would otherwise leave without merging. Unless a round
    changed nothing (then every merge was tried since the last change), the finishing pass
    also tries to merge every enterprise's visits once it places nothing more: a stop, the
    rounds used up or none given leave the last round's placements, or the schedule handed
    in, unmerged. Merges never unschedule, so this costs no placement the pass had made.
    A fill, merge or relieve after one that ran to the end tries only what a change since
    that one began may let in (`_reached`, `_unmerged`, `_reopened`); each relieve goes on
    from what the ones before found (`_Memory`).
    `start`: an assignment, or the schedule an earlier polish left (`Polished.schedule`), to go
    on from without indexing it again; it is changed."""
    s = start if isinstance(start, Schedule) else Schedule(prepared, start)
    waiting = sorted(
        (i for i in prepared.free if prepared.candidates[i.id]), key=lambda i: (-i.priority, i.id)
    )
    filled = relieved = merged = done = 0
    settled = False
    # When the last fill, merge and relieve that ran to the end began: what each left is tried
    # again only where a change since may let it in (`_reached`, `_unmerged`, `_reopened`).
    filled_at: dict[InspectionId, date] | None = None
    merged_at: dict[InspectionId, date] | None = None
    relieved_at: dict[InspectionId, date] | None = None
    memory = _Memory()
    for _ in range(rounds):
        if should_stop():
            break
        done += 1
        at = dict(s.at)
        f = fill(s, _fillable(s, waiting, filled_at), should_stop)
        if not should_stop():  # a stop is for good: not stopped now, not cut short
            filled_at = at
        at = dict(s.at)
        m = merge(s, _mergeable(s, merged_at), should_stop)
        if not should_stop():
            merged_at = at
        at = dict(s.at)
        r = relieve(s, _relievable(s, waiting, relieved_at), should_stop, memory=memory)
        if not should_stop():
            relieved_at = at
        filled, relieved, merged = filled + f, relieved + r, merged + m
        if not (f or r or m):
            settled = True
            break
    # The finishing pass, whatever the clock says: nothing that fits is left out, nor what
    # one ejection places.
    # Each change raises the objective, so this ends; it ends on a fill and a relieve that
    # found nothing more.
    merge_all = not settled
    while finish:
        s.touched.clear()
        at = dict(s.at)
        f = fill(s, _fillable(s, waiting, filled_at))
        filled_at = at
        tried = _relievable(s, waiting, relieved_at)
        relieved_at = dict(s.at)
        r = relieve(s, tried, memory=memory)
        m = merge(s, sorted(e for e in s.touched if len(s.doors.get(e, {})) > 1))
        if merge_all and not (f or r or m):
            merge_all = False
            m = merge(s, _mergeable(s, merged_at))
        filled, relieved, merged = filled + f, relieved + r, merged + m
        if not (f or r or m):
            break
    return Polished(dict(s.at), LocalReport(filled, relieved, merged, done), s)


def _fillable(
    s: Schedule, waiting: Sequence[Inspection], filled_at: dict[InspectionId, date] | None
) -> Sequence[Inspection]:
    """What a fill tries: all of `waiting`, only those a change may let in since `filled_at`
    (when the last fill that tried them all began) when there was one."""
    return waiting if filled_at is None else _reached(s, waiting, filled_at)


def _mergeable(s: Schedule, merged_at: dict[InspectionId, date] | None) -> list[EnterpriseId]:
    """What a merge tries: the enterprises visited twice or more, only those a change may let
    merge since `merged_at` (when the last merge that tried them all began) when there was
    one (`_unmerged`)."""
    several = sorted(e for e, d in s.doors.items() if len(d) > 1)
    return several if merged_at is None else _unmerged(s, several, merged_at)


def _relievable(
    s: Schedule, waiting: Sequence[Inspection], relieved_at: dict[InspectionId, date] | None
) -> list[Inspection]:
    """What a relieve tries: the unplaced of `waiting`, only those one ejection may place since
    `relieved_at` (when the last relieve that tried them all began) when there was one."""
    unplaced = [i for i in waiting if i.id not in s.at]
    return unplaced if relieved_at is None else _reopened(s, unplaced, relieved_at)


def _changes(
    s: Schedule, before: dict[InspectionId, date]
) -> tuple[set[EnterpriseId], dict[AgencyId, set[date]]]:
    """What moved since `before`: the enterprises of the inspections that moved, and per
    agency the days its load changed on."""
    moved = _moved(s, before)
    units: dict[AgencyId, set[date]] = defaultdict(set)
    for i in moved:
        for d in (before.get(i.id), s.at.get(i.id)):
            if d is not None:
                units[i.agency].add(d)
    return {i.enterprise for i in moved}, units


def _moved(s: Schedule, before: dict[InspectionId, date]) -> list[Inspection]:
    """The inspections placed elsewhere, or placed or unplaced, since `before`."""
    by_id = s.instance.by_id
    return [by_id[i] for i in before.keys() | s.at.keys() if before.get(i) != s.at.get(i)]


_NO_DAYS: frozenset[date] = frozenset()


def _touching(
    s: Schedule,
    waiting: Sequence[Inspection],
    ents: set[EnterpriseId],
    days: Mapping[AgencyId, set[date]],
) -> list[Inspection]:
    """The waiting inspections of `ents`, or of an agency with one of `days` among their
    candidate days."""
    return [
        i
        for i in waiting
        if i.id not in s.at
        and (
            i.enterprise in ents
            or not days.get(i.agency, _NO_DAYS).isdisjoint(s.candidate_set[i.id])
        )
    ]


def _reached(
    s: Schedule, waiting: Sequence[Inspection], before: dict[InspectionId, date]
) -> list[Inspection]:
    """The waiting inspections that what moved since `before` may let in, the only ones a fill
    after a fill that placed everything it could needs to try: those of an enterprise whose
    inspections moved, or of an agency whose load changed on one of their candidate days.
    Whether an inspection fits a day depends on nothing else (`ScheduleState._blocking`)."""
    return _touching(s, waiting, *_changes(s, before))


def _reopened(
    s: Schedule, waiting: Sequence[Inspection], before: dict[InspectionId, date]
) -> list[Inspection]:
    """The waiting inspections that one ejection may place since `before` (when a relieve that
    tried them all, or all it could have placed, began), the only ones the next relieve needs
    to try. One fails by what its enterprise holds, by its agency's loads on its candidate
    days, and by whether what occupies those agency days can go elsewhere: that needs a change
    to the occupant's enterprise, or room on one of its own candidate days for its agency.
    So: the inspections of an enterprise that moved or that has such new room, or of an
    agency whose load changed on one of their days or that such an enterprise occupies there.
    Room is judged now, not when the relieve ran: a day that was full then and has room now
    changed, and its last change left it with room."""
    ents, units = _changes(s, before)
    room = {a: open_ for a, days in units.items() if (open_ := days - s.state.full_days(a))}
    by_id = s.instance.by_id
    if room:
        for iid in s.at:
            insp = by_id[iid]
            free = room.get(insp.agency)
            if free is not None and insp.enterprise not in ents:
                candidates = s.candidate_set.get(iid)
                if candidates is not None and not free.isdisjoint(candidates):
                    ents.add(insp.enterprise)
    days: dict[AgencyId, set[date]] = defaultdict(set, units)
    for ent in ents:
        for d, iids in s.doors.get(ent, {}).items():
            for iid in iids:
                days[by_id[iid].agency].add(d)
    return _touching(s, waiting, ents, days)


def _unmerged(
    s: Schedule, several: Sequence[EnterpriseId], before: dict[InspectionId, date]
) -> list[EnterpriseId]:
    """Of `several`, the enterprises a change since `before` (when a merge that tried them all
    began) may let merge. A merge moves an enterprise's visits onto one of their common
    candidate days: it fails by the enterprise's own dates (caps, the gap), by an agency with
    no room that day, or, where one agency is full, by no occupant able to step aside onto
    one of its other visit days. So: the enterprises that moved; those with a movable
    inspection whose agency has room on one of its candidate days where its load changed;
    and those with one whose agency is full on one of its candidate days where an occupant
    that can step aside now moved, or is visited on a day where that agency's load changed
    and it has room."""
    ents, units = _changes(s, before)
    room = {a: open_ for a, days in units.items() if (open_ := days - s.state.full_days(a))}
    roomy = set().union(*room.values())
    by_id = s.instance.by_id
    opened: dict[AgencyId, set[date]] = defaultdict(set)
    for agency, days in room.items():
        opened[agency] |= days
    for ent in several:
        doors = s.doors[ent]
        moved = ent in ents
        if not moved and roomy.isdisjoint(doors):
            continue
        for day, iids in doors.items():
            for agency in {by_id[iid].agency for iid in iids}:
                if (
                    day in s.state.full_days(agency)
                    and (moved or not room.get(agency, _NO_DAYS).isdisjoint(doors))
                    and next(iter(_asides(s, agency, day, ent)), None) is not None
                ):
                    opened[agency].add(day)
    return [
        ent
        for ent in several
        if ent in ents
        or any(
            not opened.get(by_id[iid].agency, _NO_DAYS).isdisjoint(s.candidate_set[iid])
            for iids in s.doors[ent].values()
            for iid in iids
            if s.movable(iid)
        )
    ]
