"""The greedy schedule: the `--method greedy` answer and the warm start of CP-SAT.

Inspections go in order of window end (then higher priority, then id). Each joins the latest
existing visit of its enterprise that the rules allow (综合查一次); failing that it opens one on
the candidate day where most of its enterprise's waiting inspections could join it (then the
latest). The waiting inspections that fit that day join at once, higher priority first: a door
opened holds its agencies' units before other enterprises fill their days (measured on a
10,000-enterprise county: visits 1.37 → 1.02 × the lower bound). Deterministic: no
randomness, sorted iteration only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from quietday.domain.model import EnterpriseId, Inspection, InspectionId
from quietday.domain.state import ScheduleState
from quietday.solver.prepare import Prepared, fixed_state

__all__ = ["greedy"]


def _new_door(
    state: ScheduleState,
    insp: Inspection,
    days: Sequence[date],
    others: Sequence[Inspection],
    candidate_set: dict[InspectionId, frozenset[date]],
) -> date | None:
    """The candidate day of `insp` that most of `others` could share, the latest of those."""
    best: tuple[int, date] | None = None
    for day in reversed(days):
        if not state.allows(insp, day):
            continue
        joining = sum(1 for j in others if day in candidate_set[j.id] and state.allows(j, day))
        if best is None or joining > best[0]:
            best = (joining, day)
        if joining == len(others):
            break
    return None if best is None else best[1]


def greedy(prepared: Prepared) -> dict[InspectionId, date]:
    """A rule-abiding assignment: the pins plus every free inspection the greedy could place."""
    instance = prepared.instance
    state = fixed_state(instance)
    assignment = dict(prepared.pinned)
    doors: dict[EnterpriseId, set[date]] = defaultdict(set)
    for iid, day in prepared.pinned.items():
        doors[instance.by_id[iid].enterprise].add(day)
    order = sorted(
        (i for i in prepared.free if prepared.candidates[i.id]),
        key=lambda i: (prepared.candidates[i.id][-1], -i.priority, i.id),
    )
    candidate_set = prepared.candidate_sets
    waiting: dict[EnterpriseId, list[Inspection]] = defaultdict(list)
    for insp in order:
        waiting[insp.enterprise].append(insp)
    for insp in order:
        if insp.id in assignment:
            continue
        days = prepared.candidates[insp.id]
        open_doors = doors[insp.enterprise]
        others = [j for j in waiting[insp.enterprise] if j.id not in assignment and j is not insp]
        choice = next(
            (d for d in reversed(days) if d in open_doors and state.allows(insp, d)), None
        ) or _new_door(state, insp, days, others, candidate_set)
        if choice is None:
            continue
        open_doors.add(choice)
        for j in [insp, *sorted(others, key=lambda j: (-j.priority, j.id))]:
            if j is insp or (choice in candidate_set[j.id] and state.allows(j, choice)):
                state.place(j, choice)
                assignment[j.id] = choice
    return assignment
