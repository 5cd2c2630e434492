"""The CP-SAT rules, one function per regulation, and the objective's terms, in one registry.

Window, working days, quiet days and the whitelist are enforced by creating x literals only on
candidate days (`prepare`); the rules here are the ones that couple inspections.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from ortools.sat.python import cp_model

from quietday.domain.model import AgencyId, Caps, EnterpriseId
from quietday.solver.model import Grid, Lit

__all__ = ["HARD_RULES", "Objective", "build_objective"]

Rule = Callable[[Grid], None]


def one_date_each(grid: Grid) -> None:
    """每项检查至多安排一天 (an inspection is scheduled once or left unscheduled)."""
    for lits in grid.vars.x.values():
        if len(lits) > 1:
            grid.vars.model.add_at_most_one(lit for _, lit in lits)


def joint_visits(grid: Grid) -> None:
    """综合查一次: all inspections of one enterprise on one day are one visit (one door-opening)."""
    for door, entries in sorted(grid.at_door.items()):
        if door not in grid.fixed_doors:
            grid.vars.visit[door] = grid.vars.or_of([lit for _, lit in entries])


def agency_capacity(grid: Grid) -> None:
    """部门每日检查能力: an agency visits at most `daily_capacity` enterprises a day (by date
    overrides included); several of its inspections at one enterprise use one unit."""
    inst = grid.prepared.instance
    load: dict[tuple[AgencyId, date], dict[EnterpriseId, list[Lit]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (ent, day), entries in grid.at_door.items():
        for insp, lit in entries:
            load[(insp.agency, day)][ent].append(lit)
    for (agency, day), ents in sorted(load.items()):
        fixed = grid.fixed_agency_day.get((agency, day), set())
        units = [grid.vars.or_of(lits) for e, lits in sorted(ents.items()) if e not in fixed]
        room = inst.agencies[agency].capacity_on(day) - len(fixed)
        if len(units) > room:
            grid.vars.model.add(cp_model.LinearExpr.sum(units) <= room)


def _limit_new_dates(
    grid: Grid,
    *,
    per_day: dict[date, list[Lit]],
    fixed: set[date],
    bucket: Callable[[date], object],
    limit: int,
) -> None:
    """Distinct capped dates per bucket, fixed ones counted: new dates fit in what is left."""
    new: dict[object, list[Lit]] = defaultdict(list)
    for day, lits in sorted(per_day.items()):
        if day not in fixed:
            new[bucket(day)].append(grid.vars.or_of(lits))
    for key, units in new.items():
        room = max(0, limit - sum(1 for d in fixed if bucket(d) == key))
        if len(units) > room:
            grid.vars.model.add(cp_model.LinearExpr.sum(units) <= room)


def cap_agency_enterprise_year(grid: Grid) -> None:
    """同一部门对同一企业年度检查次数上限 (e.g. 每年不超过 2 次); routine and special count."""
    inst = grid.prepared.instance
    for (agency, ent), per_day in sorted(grid.capped_by_pair.items()):
        limit = inst.caps_for(ent).agency_enterprise_per_year
        if limit is not None:
            fixed = grid.fixed_capped_by.get((agency, ent), set())
            _limit_new_dates(
                grid, per_day=per_day, fixed=fixed, bucket=lambda d: d.year, limit=limit
            )


def _enterprise_cap(
    grid: Grid, limit_of: Callable[[Caps], int | None], bucket: Callable[[date], object]
) -> None:
    inst = grid.prepared.instance
    for ent, per_day in sorted(grid.capped_by_ent.items()):
        limit = limit_of(inst.caps_for(ent))
        if limit is not None:
            fixed = grid.fixed_capped.get(ent, set())
            _limit_new_dates(grid, per_day=per_day, fixed=fixed, bucket=bucket, limit=limit)


def cap_enterprise_month(grid: Grid) -> None:
    """同一企业每月被检查天数上限 (all agencies together); routine and special count."""
    _enterprise_cap(grid, lambda c: c.enterprise_per_month, lambda d: (d.year, d.month))


def cap_enterprise_year(grid: Grid) -> None:
    """同一企业每年被检查天数上限 (all agencies together); routine and special count."""
    _enterprise_cap(grid, lambda c: c.enterprise_per_year, lambda d: d.year)


def min_gap(grid: Grid) -> None:
    """两次检查的最短间隔: capped dates of one enterprise at least `min_gap_days` apart. A new
    date too near a fixed one is forbidden; among new dates every window of the gap's length
    holds at most one."""
    inst = grid.prepared.instance
    model = grid.vars.model
    for ent, per_day in sorted(grid.capped_by_ent.items()):
        gap = inst.caps_for(ent).min_gap_days
        if gap <= 1:
            continue
        fixed = grid.fixed_capped.get(ent, set())
        days: list[date] = []
        units: list[Lit] = []
        for day in sorted(per_day):
            if day in fixed:
                continue
            unit = grid.vars.or_of(per_day[day])
            if any(abs((f - day).days) < gap for f in fixed):
                model.add(unit == 0)
                continue
            days.append(day)
            units.append(unit)
        last_end = -1
        end = 0
        for start in range(len(days)):
            end = max(end, start)
            while end + 1 < len(days) and (days[end + 1] - days[start]).days < gap:
                end += 1
            if end > start and end > last_end:
                model.add_at_most_one(units[start : end + 1])
                last_end = end


HARD_RULES: tuple[Rule, ...] = (
    one_date_each,
    joint_visits,
    agency_capacity,
    cap_agency_enterprise_year,
    cap_enterprise_month,
    cap_enterprise_year,
    min_gap,
)


@dataclass(frozen=True)
class Objective:
    """Minimised: `w_priority`·(unscheduled priority) + `w_visits`·visits + moved, with the
    weights chosen so that each level outweighs everything below it (strictly lexicographic)."""

    w_priority: int
    w_visits: int
    possible_priority: int
    fixed_visits: int
    fixed_moved: int
    expr: cp_model.LinearExpr

    def decode(self, value: float) -> tuple[int, int, int]:
        """(scheduled priority, visits, moved) from an objective value; exact for a whole
        problem (the fixed part of a neighbourhood has doors and moves the model cannot see)."""
        unscheduled, rest = divmod(round(value), self.w_priority)
        visits, moved = divmod(rest, self.w_visits)
        return (
            self.possible_priority - unscheduled,
            visits + self.fixed_visits,
            moved + self.fixed_moved,
        )

    def priority_upper_bound(self, bound: float) -> int:
        """No schedule places more priority than this (from the solver's proven bound)."""
        return self.possible_priority - max(0, int(bound) // self.w_priority)


def _terms_priority(grid: Grid) -> tuple[list[Lit], list[int], int]:
    """Level 1: priority of the free inspections left unscheduled (constant minus what x places)."""
    lits: list[Lit] = []
    coeffs: list[int] = []
    constant = 0
    for insp in grid.sub.free:
        constant += insp.priority
        for _, lit in grid.vars.x.get(insp.id, ()):
            lits.append(lit)
            coeffs.append(-insp.priority)
    return lits, coeffs, constant


def _terms_moved(grid: Grid) -> tuple[list[Lit], list[int], int]:
    """Level 3: inspections of the previous draft that do not keep their date (an unscheduled
    one counts as moved)."""
    inst = grid.prepared.instance
    fixed = grid.sub.fixed
    lits: list[Lit] = []
    coeffs: list[int] = []
    constant = 0
    for iid, day in sorted(inst.previous.items()):
        if iid not in inst.by_id:
            continue
        if iid in fixed:
            constant += int(fixed[iid] != day)
            continue
        constant += 1
        hit = next((lit for d, lit in grid.vars.x.get(iid, ()) if d == day), None)
        if hit is not None:
            lits.append(hit)
            coeffs.append(-1)
    return lits, coeffs, constant


def build_objective(grid: Grid) -> Objective:
    """The objective over the free part; constants of the fixed part are left out except the
    free inspections' total priority, so each level stays within its own range."""
    model = grid.vars.model
    p_lits, p_coeffs, p_const = _terms_priority(grid)
    m_lits, m_coeffs, m_const = _terms_moved(grid)
    visits: Sequence[Lit] = list(grid.vars.visit.values())
    w_visits = len(m_lits) + 1
    # Each new visit holds at least one free inspection, so visits never exceed either count.
    w_priority = w_visits * (min(len(visits), len(grid.vars.x)) + 1)
    lits = [*p_lits, *visits, *m_lits]
    coeffs = [*(w_priority * c for c in p_coeffs), *([w_visits] * len(visits)), *m_coeffs]
    expr = cp_model.LinearExpr.weighted_sum(lits, coeffs) + (w_priority * p_const + len(m_lits))
    model.minimize(expr)
    inst = grid.prepared.instance
    return Objective(
        w_priority=w_priority,
        w_visits=w_visits,
        possible_priority=p_const + sum(inst.by_id[i].priority for i in grid.sub.fixed),
        fixed_visits=len({(inst.by_id[i].enterprise, d) for i, d in grid.sub.fixed.items()}),
        fixed_moved=m_const - len(m_lits),
        expr=expr,
    )
