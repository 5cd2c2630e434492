"""The greedy schedule: the `--method greedy` answer and the warm start of CP-SAT.

Inspections go in order of window end (then higher priority, then id). Each joins the latest
existing visit of its enterprise that the rules allow (综合查一次); failing that it takes the
latest candidate day with room. Deterministic: no randomness, sorted iteration only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from quietday.domain.model import EnterpriseId, InspectionId
from quietday.solver.prepare import Prepared, fixed_state

__all__ = ["greedy"]


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
    for insp in order:
        days = prepared.candidates[insp.id]
        open_doors = doors[insp.enterprise]
        choice = next(
            (d for d in reversed(days) if d in open_doors and state.allows(insp, d)), None
        ) or next((d for d in reversed(days) if state.allows(insp, d)), None)
        if choice is not None:
            state.place(insp, choice)
            assignment[insp.id] = choice
            open_doors.add(choice)
    return assignment
