"""Cutting a province into parts that can be solved side by side, and each part into quarters.

What couples inspections: caps, gaps and joint visits couple one enterprise's inspections; capacity
couples the enterprises one agency visits on one day. So enterprises linked through shared agencies
form **components** (in a province: a city, its county agencies and the city-level agencies that
reach into every county), and different components never compete for anything.

- Components no larger than `part_size` inspections are never cut. When the problem is
  decomposed, each one over a quarter of a part is a part of its own, and the smaller ones are
  packed together into parts of about that quarter (largest first, into the emptiest part). That
  changes nothing, as each is still solved exactly as alone, and it makes parts many and small
  enough to keep several processes busy to the end: a province's cities packed into five full
  parts kept one of two processes solving a third part while the other had none left.
- A larger component is cut by county (regions packed the same way; a county larger than a part is
  cut by enterprise). An agency whose enterprises now lie in several parts gets a **share** of its
  capacity in each, day by day: first the enterprises the pins already hold there, then what is
  left in proportion to each part's enterprises to visit, with the fractions carried from day to
  day so that no part is short over the horizon. The shares add up to the agency's capacity, so
  the merged schedule keeps every capacity; a repair pass over the whole component then gives away
  what a part left unused (`quietday.solver.decompose`).
- A horizon longer than a quarter is solved quarter by quarter (rolling horizon): the dates already
  given in earlier quarters, and the pins of later ones, enter each quarter as history, so caps and
  gaps are kept across the whole year; an inspection whose window goes on into the next quarter and
  was not placed is tried again there.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from quietday.domain.model import (
    Agency,
    AgencyId,
    EnterpriseId,
    HistoryEntry,
    Horizon,
    Inspection,
    InspectionId,
    Instance,
    Pin,
)

__all__ = [
    "Part",
    "PartPlan",
    "Slice",
    "capacity_shares",
    "components",
    "plan_parts",
    "quarters",
    "select",
    "slice_of",
    "sub_instance",
]


# Components are packed together up to this share of a part when the problem is decomposed.
_PACK_SHARE = 4


@dataclass(frozen=True)
class Part:
    """Some whole enterprises; `shared` agencies reach other parts and have `capacity` shares."""

    index: int
    component: int
    enterprises: frozenset[EnterpriseId]
    inspections: tuple[Inspection, ...]
    history: tuple[HistoryEntry, ...] = ()
    capacity: Mapping[AgencyId, Mapping[date, int]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.inspections)


@dataclass(frozen=True)
class PartPlan:
    parts: tuple[Part, ...]
    # Components cut into several parts: each gets a repair pass on its real capacities.
    split_components: frozenset[int]
    component_of: Mapping[EnterpriseId, int]
    slices: tuple[Horizon, ...]

    @property
    def decomposed(self) -> bool:
        return len(self.parts) > 1 or len(self.slices) > 1


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        root = parent.setdefault(x, x)
        while root != parent[root]:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def components(instance: Instance) -> list[list[EnterpriseId]]:
    """Enterprises with inspections, grouped by the agencies they share; sorted, deterministic."""
    uf = _UnionFind()
    for insp in instance.inspections:
        uf.union("a:" + insp.agency, "e:" + insp.enterprise)
    groups: dict[str, list[EnterpriseId]] = defaultdict(list)
    for ent in sorted({i.enterprise for i in instance.inspections}):
        groups[uf.find("e:" + ent)].append(ent)
    return sorted(groups.values(), key=lambda g: g[0])


def _pack(items: Sequence[tuple[int, list[EnterpriseId]]], size: int) -> list[list[EnterpriseId]]:
    """Largest first into the emptiest bin, as few bins as the total needs (at least one)."""
    total = sum(n for n, _ in items)
    bins = max(1, -(-total // size))
    heap = [(0, k) for k in range(bins)]
    out: list[list[EnterpriseId]] = [[] for _ in range(bins)]
    for n, ents in sorted(items, key=lambda it: (-it[0], it[1][0])):
        load, k = heapq.heappop(heap)
        out[k].extend(ents)
        heapq.heappush(heap, (load + n, k))
    return [sorted(b) for b in out if b]


def _cut(
    instance: Instance, ents: list[EnterpriseId], count: Mapping[EnterpriseId, int], size: int
) -> list[list[EnterpriseId]]:
    """A too-large component by region (county); a too-large region by enterprise."""
    by_region: dict[str, list[EnterpriseId]] = defaultdict(list)
    for ent in ents:
        by_region[instance.enterprises[ent].region].append(ent)
    pieces: list[tuple[int, list[EnterpriseId]]] = []
    for region in sorted(by_region):
        members = by_region[region]
        n = sum(count[e] for e in members)
        if n <= size:
            pieces.append((n, members))
            continue
        chunk: list[EnterpriseId] = []
        load = 0
        for ent in members:
            chunk.append(ent)
            load += count[ent]
            if load >= size:
                pieces.append((load, chunk))
                chunk, load = [], 0
        if chunk:
            pieces.append((load, chunk))
    return _pack(pieces, size)


def quarters(horizon: Horizon) -> tuple[Horizon, ...]:
    """The horizon cut at calendar-quarter boundaries (one slice when it lies in one quarter)."""
    out: list[Horizon] = []
    start = horizon.start
    while start <= horizon.end:
        q_month = 3 * ((start.month - 1) // 3) + 4
        next_q = date(start.year + (q_month > 12), (q_month - 1) % 12 + 1, 1)
        end = min(horizon.end, next_q - timedelta(days=1))
        out.append(Horizon(start, end))
        start = end + timedelta(days=1)
    return tuple(out)


def capacity_shares(
    instance: Instance,
    agency: AgencyId,
    weights: Sequence[int],
    pinned: Sequence[Mapping[date, int]],
) -> list[dict[date, int]]:
    """One agency's capacity, day by day, split between parts: each part's pinned enterprises
    first, the rest by `weights` with fractions carried over (largest remainder, ties to the
    lower part). The shares of a day add up to its capacity."""
    cap = instance.agencies[agency]
    total = sum(weights) or 1
    carry = [0.0] * len(weights)
    out: list[dict[date, int]] = [{} for _ in weights]
    for day in instance.working_days:
        held = [p.get(day, 0) for p in pinned]
        left = max(0, cap.capacity_on(day) - sum(held))
        quota = [left * w / total + c for w, c in zip(weights, carry, strict=True)]
        given = [max(0, int(q)) for q in quota]
        rest = left - sum(given)
        # Most short of its quota first; units go round it until the day adds up.
        order = sorted(range(len(weights)), key=lambda k: (given[k] - quota[k], k))
        while rest > 0:
            for k in order[:rest]:
                given[k] += 1
            rest = left - sum(given)
        for k in reversed(order):
            take = min(given[k], -rest)
            if take > 0:
                given[k] -= take
                rest += take
        for k in range(len(weights)):
            carry[k] = quota[k] - given[k]
            out[k][day] = held[k] + given[k]
    return out


def plan_parts(instance: Instance, part_size: int) -> PartPlan:
    """The parts (with capacity shares) and the quarters of a problem."""
    slices = quarters(instance.horizon)
    count: dict[EnterpriseId, int] = defaultdict(int)
    for insp in instance.inspections:
        count[insp.enterprise] += 1
    groups = components(instance)
    small: list[tuple[int, list[EnterpriseId]]] = []
    cut: list[list[list[EnterpriseId]]] = []
    for ents in groups:
        n = sum(count[e] for e in ents)
        if n <= part_size:
            small.append((n, ents))
        else:
            cut.append(_cut(instance, ents, count, part_size))
    component_of = {e: k for k, ents in enumerate(groups) for e in ents}
    # A problem that fits one part stays one part; a larger one packs only small components.
    pack = part_size if len(instance.inspections) <= part_size else part_size // _PACK_SHARE
    members = [ents for n, ents in small if n > pack]
    packed = [(n, ents) for n, ents in small if n <= pack]
    if packed:
        members.extend(_pack(packed, pack))
    split: set[int] = set()
    for pieces in cut:
        members.extend(pieces)
        if len(pieces) > 1:
            split.add(component_of[pieces[0][0]])
    parts = _with_shares(instance, members, component_of)
    return PartPlan(tuple(parts), frozenset(split), component_of, slices)


def _with_shares(
    instance: Instance,
    members: list[list[EnterpriseId]],
    component_of: Mapping[EnterpriseId, int],
) -> list[Part]:
    part_of = {e: k for k, ents in enumerate(members) for e in ents}
    inspections: list[list[Inspection]] = [[] for _ in members]
    history: list[list[HistoryEntry]] = [[] for _ in members]
    # Per agency and part: enterprises it has free inspections at, and pinned units per day.
    visiting: dict[AgencyId, dict[int, set[EnterpriseId]]] = defaultdict(lambda: defaultdict(set))
    pinned_units: dict[AgencyId, dict[int, dict[date, set[EnterpriseId]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(set))
    )
    for insp in instance.inspections:
        k = part_of[insp.enterprise]
        inspections[k].append(insp)
        pin = instance.pins.get(insp.id)
        if pin is None:
            visiting[insp.agency][k].add(insp.enterprise)
        else:
            pinned_units[insp.agency][k][pin].add(insp.enterprise)
    for h in instance.history:
        k_of = part_of.get(h.enterprise)
        if k_of is not None and h.capped:
            history[k_of].append(h)
    reach: dict[AgencyId, set[int]] = {
        a: set(visiting.get(a, {})) | set(pinned_units.get(a, {}))
        for a in set(visiting) | set(pinned_units)
    }
    shares: dict[int, dict[AgencyId, dict[date, int]]] = defaultdict(dict)
    for agency in sorted(a for a, ks in reach.items() if len(ks) > 1):
        ks = sorted(reach[agency])
        weights = [len(visiting[agency].get(k, ())) for k in ks]
        pinned = [{d: len(e) for d, e in pinned_units[agency].get(k, {}).items()} for k in ks]
        for k, share in zip(ks, capacity_shares(instance, agency, weights, pinned), strict=True):
            shares[k][agency] = share
    return [
        Part(
            index=k,
            component=component_of[ents[0]],
            enterprises=frozenset(ents),
            inspections=tuple(inspections[k]),
            history=tuple(history[k]),
            capacity=shares[k],
        )
        for k, ents in enumerate(members)
    ]


@dataclass(frozen=True)
class Slice:
    """What one part has in one quarter (`select`): its inspections to place, its pins there,
    and its inspections dated elsewhere (earlier quarters' or pinned outside), with the date."""

    part: Part
    horizon: Horizon
    inspections: list[Inspection]
    pins: list[Pin]
    dated: list[tuple[Inspection, date]]


def select(
    instance: Instance, part: Part, horizon: Horizon, *, placed: Mapping[InspectionId, date]
) -> Slice:
    """The inspections of `part` that `slice_of` keeps for `horizon`, before its instance is
    made: their number is the sub-problem's size."""
    whole = horizon == instance.horizon
    inspections: list[Inspection] = []
    pins: list[Pin] = []
    dated: list[tuple[Inspection, date]] = []
    for insp in part.inspections:
        day = placed.get(insp.id)
        if day is None:
            day = instance.pins.get(insp.id)
            if day is not None and day in horizon:
                inspections.append(insp)
                pins.append(Pin(insp.id, day))
                continue
        if day is not None:
            if insp.capped:
                dated.append((insp, day))
        elif whole or (insp.earliest <= horizon.end and insp.latest >= horizon.start):
            inspections.append(insp)
    return Slice(part, horizon, inspections, pins, dated)


def slice_of(
    instance: Instance,
    part: Part,
    horizon: Horizon,
    *,
    placed: Mapping[InspectionId, date],
    name: str,
) -> Instance:
    """The sub-problem of one part in one quarter (`sub_instance` of `select`)."""
    return sub_instance(instance, select(instance, part, horizon, placed=placed), name=name)


def sub_instance(instance: Instance, chosen: Slice, *, name: str) -> Instance:
    """The sub-problem of one part in one quarter: its inspections whose window reaches the
    quarter and that no earlier quarter placed, and their enterprises. The dates of earlier
    quarters (`placed`) and the pins of later ones are history (only capped kinds count
    there); shared agencies get their share of the quarter. Over the instance's own horizon
    every inspection is kept, so one whose window misses the horizon is still explained.
    Enterprises with nothing to place in the quarter, and their history, are left out: their
    dates bind no one else, and a worker process is sent only what it needs."""
    part, horizon, inspections = chosen.part, chosen.horizon, chosen.inspections
    kept = {i.enterprise for i in inspections}
    history = [h for h in part.history if h.enterprise in kept]
    history += [
        HistoryEntry(i.enterprise, i.agency, day, i.kind)
        for i, day in chosen.dated
        if i.enterprise in kept
    ]
    agencies: dict[AgencyId, Agency] = {}
    for insp in inspections:
        if insp.agency in agencies:
            continue
        agency = instance.agencies[insp.agency]
        share = part.capacity.get(insp.agency)
        if share is not None:
            days = {d: n for d, n in share.items() if d in horizon}
            agency = Agency(agency.id, agency.name, agency.region, 0, days)
        agencies[insp.agency] = agency
    previous = instance.previous
    return Instance(
        name=name,
        horizon=horizon,
        calendar=instance.calendar,
        quiet_policies=instance.quiet_policies,
        caps=instance.caps,
        agencies=agencies,
        enterprises={e: instance.enterprises[e] for e in sorted(kept)},
        inspections=tuple(inspections),
        history=tuple(history),
        pinned=tuple(chosen.pins),
        previous={i.id: previous[i.id] for i in inspections if i.id in previous},
        country=instance.country,
    )
