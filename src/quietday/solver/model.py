"""The CP-SAT model's variables and the groupings every rule reads them through.

A model covers a `Subproblem`: some free inspections, everything else fixed (pins, history, and in
a neighbourhood search the rest of the current schedule). `x[i, d]` is true when free inspection i
gets date d, one literal per candidate day; the fixed part enters the rules as constants. Derived
literals (a visit, an agency's unit of capacity, a capped date) are exactly the OR of their x
literals, created once per distinct set: where an enterprise has a single inspection on a day, its
visit literal is that inspection's literal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from ortools.sat.python import cp_model

from quietday.domain.model import AgencyId, Door, EnterpriseId, Inspection, InspectionId
from quietday.solver.prepare import Prepared

__all__ = ["Grid", "Lit", "Subproblem", "Variables", "build_grid"]

Lit = cp_model.IntVar


@dataclass(frozen=True)
class Subproblem:
    """`free` inspections to decide; `fixed` dates (a valid partial schedule) held constant."""

    prepared: Prepared
    free: Sequence[Inspection]
    fixed: Mapping[InspectionId, date]

    @classmethod
    def whole(cls, prepared: Prepared) -> Subproblem:
        return cls(prepared=prepared, free=prepared.free, fixed=prepared.pinned)


class Variables:
    """Owns every decision variable of one model."""

    def __init__(self, model: cp_model.CpModel) -> None:
        self.model = model
        self.x: dict[InspectionId, list[tuple[date, Lit]]] = {}
        self.visit: dict[Door, Lit] = {}
        self.derived: list[tuple[Lit, Sequence[Lit]]] = []
        self._or: dict[tuple[int, ...], Lit] = {}

    def assign(self, inspection: InspectionId, days: Sequence[date]) -> list[tuple[date, Lit]]:
        lits = [(d, self.model.new_bool_var("")) for d in days]
        self.x[inspection] = lits
        return lits

    def or_of(self, lits: Sequence[Lit]) -> Lit:
        """A literal equal to the OR of `lits`, shared between equal sets. Callers list the
        literals of one set in one order (that of `Grid.at_door`), so the key needs no sort."""
        if len(lits) == 1:
            return lits[0]
        key = tuple(lit.index for lit in lits)
        found = self._or.get(key)
        if found is not None:
            return found
        var = self.model.new_bool_var("")
        for lit in lits:
            self.model.add_implication(lit, var)
        self.model.add_bool_or([*lits, ~var])
        self._or[key] = var
        self.derived.append((var, lits))
        return var


@dataclass
class Grid:
    """x literals grouped by door (enterprise, day), with the fixed part (pins, history, the
    rest of the schedule) beside as constants."""

    sub: Subproblem
    vars: Variables
    at_door: dict[Door, list[tuple[Inspection, Lit]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    fixed_doors: set[Door] = field(default_factory=set)
    fixed_agency_day: dict[tuple[AgencyId, date], set[EnterpriseId]] = field(
        default_factory=lambda: defaultdict(set)
    )
    fixed_capped: dict[EnterpriseId, set[date]] = field(default_factory=lambda: defaultdict(set))
    fixed_capped_by: dict[tuple[AgencyId, EnterpriseId], set[date]] = field(
        default_factory=lambda: defaultdict(set)
    )
    capped_by_ent: dict[EnterpriseId, dict[date, list[Lit]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    capped_by_pair: dict[tuple[AgencyId, EnterpriseId], dict[date, list[Lit]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )

    @property
    def prepared(self) -> Prepared:
        return self.sub.prepared


def build_grid(sub: Subproblem, model: cp_model.CpModel) -> Grid:
    prepared = sub.prepared
    inst = prepared.instance
    grid = Grid(sub=sub, vars=Variables(model))
    # Caps and doors concern only the enterprises being decided; capacity concerns every one.
    deciding = {i.enterprise for i in sub.free}
    for h in inst.history:
        if h.capped and h.enterprise in deciding:
            grid.fixed_capped[h.enterprise].add(h.date)
            grid.fixed_capped_by[(h.agency, h.enterprise)].add(h.date)
    for iid, day in sub.fixed.items():
        insp = inst.by_id[iid]
        grid.fixed_agency_day[(insp.agency, day)].add(insp.enterprise)
        if insp.enterprise not in deciding:
            continue
        grid.fixed_doors.add((insp.enterprise, day))
        if insp.capped:
            grid.fixed_capped[insp.enterprise].add(day)
            grid.fixed_capped_by[(insp.agency, insp.enterprise)].add(day)
    for insp in sub.free:
        days = prepared.candidates[insp.id]
        if not days:
            continue
        for day, lit in grid.vars.assign(insp.id, days):
            grid.at_door[(insp.enterprise, day)].append((insp, lit))
            if insp.capped:
                grid.capped_by_ent[insp.enterprise][day].append(lit)
                grid.capped_by_pair[(insp.agency, insp.enterprise)][day].append(lit)
    return grid
