"""Large neighbourhood search: re-solve a group of enterprises with CP-SAT, the rest held fixed.

Caps, gaps and joint visits couple only one enterprise's inspections, and capacity couples only
one agency's days, so a neighbourhood is a set of whole enterprises chosen to compete for the same
agency-days: those of one agency on one day, those around an inspection still unplaced, or a
random draw. Each sub-model starts from the current schedule (a complete hint) and is accepted
when it is no worse on the lexicographic objective, so the schedule only improves.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from quietday.domain.model import AgencyId, Door, EnterpriseId, Inspection, InspectionId
from quietday.solver.config import Progress, ProgressFn, SolverConfig
from quietday.solver.cpsat import add_hint, build, search
from quietday.solver.model import Subproblem
from quietday.solver.prepare import Prepared

__all__ = ["LnsReport", "improve"]

_MIN_SIZE, _START_SIZE, _MAX_SIZE = 4, 12, 200
_STEP_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class LnsReport:
    iterations: int
    accepted: int
    improved: int
    deterministic_time: float
    build_seconds: float = 0.0
    search_seconds: float = 0.0


class _Search:
    def __init__(self, prepared: Prepared, start: Mapping[InspectionId, date], seed: int) -> None:
        inst = prepared.instance
        self.prepared = prepared
        self.instance = inst
        self.rng = random.Random(seed)
        self.current = dict(start)
        self.movable: dict[EnterpriseId, list[Inspection]] = defaultdict(list)
        self.all_of: dict[EnterpriseId, list[InspectionId]] = defaultdict(list)
        for insp in inst.inspections:
            self.all_of[insp.enterprise].append(insp.id)
        for insp in prepared.free:
            if prepared.candidates[insp.id]:
                self.movable[insp.enterprise].append(insp)
        self.enterprises = sorted(self.movable)
        by_agency: dict[AgencyId, set[EnterpriseId]] = defaultdict(set)
        self.agency_days: dict[AgencyId, set[date]] = defaultdict(set)
        for ent, insps in self.movable.items():
            for insp in insps:
                by_agency[insp.agency].add(ent)
                self.agency_days[insp.agency].update(prepared.candidates[insp.id])
        self.agencies = sorted(by_agency)
        self.agency_weight = [len(by_agency[a]) for a in self.agencies]

    def key(
        self, ents: Sequence[EnterpriseId], assignment: Mapping[InspectionId, date]
    ) -> tuple[int, int, int]:
        """The objective restricted to `ents`: (priority placed, -visits, -moved)."""
        inst = self.instance
        priority = 0
        doors: set[Door] = set()
        moved = 0
        for ent in ents:
            for iid in self.all_of[ent]:
                day = assignment.get(iid)
                if day is not None:
                    priority += inst.by_id[iid].priority
                    doors.add((ent, day))
                prev = inst.previous.get(iid)
                if prev is not None and prev != day:
                    moved += 1
        return priority, -len(doors), -moved

    def around_agency_day(self, size: int) -> list[EnterpriseId]:
        agency = self.rng.choices(self.agencies, self.agency_weight)[0]
        day = self.rng.choice(sorted(self.agency_days[agency]))
        cands = self.prepared.candidates
        ents = sorted(
            e for e, insps in self.movable.items()
            if any(i.agency == agency and day in cands[i.id] for i in insps)
        )  # fmt: skip
        self.rng.shuffle(ents)
        return ents[:size]

    def around_unplaced(self, size: int) -> list[EnterpriseId]:
        waiting = [i for e in self.enterprises for i in self.movable[e] if i.id not in self.current]
        if not waiting:
            return self.at_random(size)
        insp = self.rng.choice(waiting)
        days = set(self.prepared.candidates[insp.id])
        rivals = sorted(
            {
                self.instance.by_id[iid].enterprise
                for iid, day in self.current.items()
                if day in days and self.instance.by_id[iid].agency == insp.agency
            }
            - {insp.enterprise}
        )
        self.rng.shuffle(rivals)
        return [insp.enterprise, *rivals[: size - 1]]

    def at_random(self, size: int) -> list[EnterpriseId]:
        return self.rng.sample(self.enterprises, min(size, len(self.enterprises)))


def improve(
    prepared: Prepared,
    start: Mapping[InspectionId, date],
    config: SolverConfig,
    *,
    seconds: float,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[dict[InspectionId, date], LnsReport]:
    """Improve the valid schedule `start` for `seconds` (deterministic time in deterministic
    mode, so the same input gives the same schedule)."""
    s = _Search(prepared, start, config.seed)
    if not s.enterprises:
        return s.current, LnsReport(0, 0, 0, 0.0)
    began = clock()
    size = _START_SIZE
    spent = 0.0
    iterations = accepted = improved = 0
    build_seconds = search_seconds = 0.0
    pickers = (s.around_agency_day, s.around_unplaced, s.at_random)
    while not (cancel is not None and cancel.is_set()):
        left = seconds - (spent if config.deterministic else clock() - began)
        if left <= 0.05:
            break
        ents = pickers[iterations % len(pickers)](size)
        iterations += 1
        chosen = set(ents)
        free = [i for e in ents for i in s.movable[e]]
        fixed = {
            iid: d
            for iid, d in s.current.items()
            if iid in prepared.pinned or s.instance.by_id[iid].enterprise not in chosen
        }
        t0 = clock()
        built = build(Subproblem(prepared=prepared, free=free, fixed=fixed))
        add_hint(built, s.current)
        t1 = clock()
        step = min(left, _STEP_SECONDS)
        sub_config = replace(config, time_limit=step)
        outcome = search(built, sub_config, seconds=step)
        build_seconds += t1 - t0
        search_seconds += clock() - t1
        spent += outcome.deterministic_time if config.deterministic else 0.0
        if outcome.proven_optimal:
            size = min(_MAX_SIZE, int(size * 1.25) + 1)
        else:
            size = max(_MIN_SIZE, int(size * 0.8))
        if outcome.assignment is None:
            continue
        before = s.key(ents, s.current)
        after = s.key(ents, outcome.assignment)
        if after < before:
            continue
        accepted += 1
        for insp in free:
            s.current.pop(insp.id, None)
            day = outcome.assignment.get(insp.id)
            if day is not None:
                s.current[insp.id] = day
        if after > before:
            improved += 1
            if on_progress is not None:
                on_progress(
                    Progress(
                        phase="lns",
                        seconds=clock() - began,
                        message=f"第 {iterations} 轮邻域改进: 优先级 {after[0] - before[0]:+d}, "
                        f"入企 {before[1] - after[1]:+d} 次",
                    )
                )
    return s.current, LnsReport(
        iterations, accepted, improved, spent, round(build_seconds, 3), round(search_seconds, 3)
    )
