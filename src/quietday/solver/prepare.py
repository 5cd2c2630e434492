"""Candidate days: what each free inspection could get before any choice is made.

A candidate is an open day (working, in the window, not quiet unless exempt) on which the pins and
the history alone break no rule (capacity left, caps not used up, gap kept). Pinned inspections
are constants; a routine inspection of a whitelisted enterprise has no candidate.

Computed in bulk: the open days are a slice of the enterprise's policy days, and the days the
pins and history close are worked out once per agency and enterprise (`ScheduleState.closed_days`)
from the few dates that use capacity and caps up, not by asking the rules day by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

from quietday.domain.model import (
    AgencyId,
    EnterpriseId,
    Inspection,
    InspectionId,
    Instance,
    Kind,
)
from quietday.domain.state import ScheduleState

__all__ = ["Prepared", "fixed_state", "prepare"]


@dataclass(frozen=True)
class Prepared:
    instance: Instance
    pinned: dict[InspectionId, date]
    free: tuple[Inspection, ...]
    # Equal candidate days are one tuple: a province's unit has a few thousand distinct ones
    # among hundreds of thousands of inspections.
    candidates: dict[InspectionId, tuple[date, ...]]

    @property
    def candidate_count(self) -> int:
        return sum(len(c) for c in self.candidates.values())

    @cached_property
    def candidate_sets(self) -> dict[InspectionId, frozenset[date]]:
        """Each inspection's candidate days as a set, equal ones the same set (read-only)."""
        sets: dict[tuple[date, ...], frozenset[date]] = {}
        out: dict[InspectionId, frozenset[date]] = {}
        for iid, days in self.candidates.items():
            same = sets.get(days)
            if same is None:
                same = sets[days] = frozenset(days)
            out[iid] = same
        return out


def fixed_state(instance: Instance) -> ScheduleState:
    """The schedule state holding the history and the pinned inspections."""
    state = ScheduleState(instance)
    state.place_all(instance.pins)
    return state


def prepare(instance: Instance) -> Prepared:
    state = fixed_state(instance)
    free = tuple(i for i in instance.inspections if i.id not in instance.pins)
    candidates: dict[InspectionId, tuple[date, ...]] = {}
    closed_for: dict[tuple[AgencyId, EnterpriseId, bool], set[date]] = {}
    kept: dict[tuple[date, ...], tuple[date, ...]] = {}
    for insp in free:
        if insp.kind == Kind.ROUTINE and instance.enterprises[insp.enterprise].whitelisted:
            candidates[insp.id] = ()
            continue
        key = (insp.agency, insp.enterprise, insp.capped)
        closed = closed_for.get(key)
        if closed is None:
            closed = closed_for[key] = state.closed_days(insp)
        days = instance.open_days(insp)
        if closed:
            days = tuple(d for d in days if d not in closed)
        candidates[insp.id] = kept.setdefault(days, days)
    return Prepared(instance=instance, pinned=dict(instance.pins), free=free, candidates=candidates)
