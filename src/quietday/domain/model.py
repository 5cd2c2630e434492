"""The scheduling problem and its answer as frozen data (`quietday.instance/1`, `quietday.solution/1`).

Invariants that need more than one record (references, windows, pins) are checked by the reader
in `quietday.formats`; the derived look-ups here are computed once per instance.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum
from typing import Any, Literal, NewType, TypeVar

from quietday.domain.calendar import QuietPolicy, WorkingCalendar

__all__ = [
    "CAPPED_KINDS",
    "CAP_KEYS",
    "KINDS",
    "Agency",
    "AgencyId",
    "Caps",
    "Door",
    "Enterprise",
    "EnterpriseId",
    "HistoryEntry",
    "Horizon",
    "Inspection",
    "InspectionId",
    "Instance",
    "Kind",
    "KindName",
    "Pin",
    "PolicyId",
    "Reason",
    "Solution",
    "SolveStats",
    "Status",
    "Unscheduled",
    "Visit",
]

AgencyId = NewType("AgencyId", str)
EnterpriseId = NewType("EnterpriseId", str)
InspectionId = NewType("InspectionId", str)
PolicyId = NewType("PolicyId", str)
# An enterprise on a date: one visit, one door-opening (综合查一次). A plain tuple, not a
# NamedTuple: the solver builds millions of them.
Door = tuple[EnterpriseId, date]


class Kind(StrEnum):
    ROUTINE = "routine"  # 日常检查
    SPECIAL = "special"  # 专项检查
    CASE = "case"  # 个案检查
    REQUESTED = "requested"  # 应企业申请

    @property
    def label(self) -> str:
        return {"routine": "日常检查", "special": "专项检查", "case": "个案检查"}.get(
            self.value, "应企业申请"
        )


# The kinds as text, for what reads them from people (a strict schema takes text, not enums).
KindName = Literal["routine", "special", "case", "requested"]
KINDS: tuple[str, ...] = tuple(k.value for k in Kind)


CAPPED_KINDS = frozenset({Kind.ROUTINE, Kind.SPECIAL})
CAP_KEYS = (
    "agency_enterprise_per_year",
    "enterprise_per_month",
    "enterprise_per_year",
    "min_gap_days",
)


_Record = TypeVar("_Record")


def _pickled_by_fields(cls: type[_Record]) -> type[_Record]:
    """Pickle a frozen, slotted record as its class and one tuple of its fields. The dataclass
    default looks the fields up again for every object: a province's parts, handed to worker
    processes, spent 85 % of their pickling there."""
    values = operator.attrgetter(*(f.name for f in fields(cls)))  # type: ignore[arg-type]

    def reduce(self: _Record) -> tuple[type[_Record], tuple[Any, ...]]:
        return cls, values(self)

    setattr(cls, "__reduce__", reduce)  # noqa: B010 (a method given after the class is made)
    return cls


class Reason(StrEnum):
    NO_ALLOWED_DAY = "no_allowed_day"
    WHITELISTED = "whitelisted"
    CAP = "cap"
    MIN_GAP = "min_gap"
    CAPACITY = "capacity"
    PRIORITY = "priority"
    NOT_SOLVED = "not_solved"


class Status(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    TIME_LIMIT = "time_limit"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Horizon:
    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class Caps:
    """频次上限; `None` means no cap. `min_gap_days` 0 means no gap rule."""

    agency_enterprise_per_year: int | None = None
    enterprise_per_month: int | None = None
    enterprise_per_year: int | None = None
    min_gap_days: int = 0

    def overridden(self, overrides: Mapping[str, int | None]) -> Caps:
        values: dict[str, Any] = {k: getattr(self, k) for k in CAP_KEYS}
        values.update(overrides)
        if values["min_gap_days"] is None:
            values["min_gap_days"] = 0
        return Caps(**values)


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Agency:
    id: AgencyId
    name: str
    region: str
    daily_capacity: int
    capacity_by_date: Mapping[date, int] = field(default_factory=dict)

    def capacity_on(self, day: date) -> int:
        return self.capacity_by_date.get(day, self.daily_capacity)


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Enterprise:
    id: EnterpriseId
    name: str
    region: str
    quiet_policy: PolicyId
    blackout: frozenset[date] = frozenset()
    whitelisted: bool = False
    cap_overrides: Mapping[str, int | None] = field(default_factory=dict)


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Inspection:
    id: InspectionId
    agency: AgencyId
    enterprise: EnterpriseId
    kind: Kind
    earliest: date
    latest: date
    items: tuple[str, ...] = ()
    priority: int = 1
    exempt_reason: str | None = None

    @property
    def capped(self) -> bool:
        return self.kind in CAPPED_KINDS

    @property
    def exempt(self) -> bool:
        return bool(self.exempt_reason)


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class HistoryEntry:
    enterprise: EnterpriseId
    agency: AgencyId
    date: date
    kind: Kind

    @property
    def capped(self) -> bool:
        return self.kind in CAPPED_KINDS


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Pin:
    inspection: InspectionId
    date: date


@dataclass(frozen=True)
class Instance:
    """A whole scheduling problem. Pins and `previous` naming absent inspections are kept but
    have no effect (the spec: "each such inspection, if present")."""

    name: str
    horizon: Horizon
    calendar: WorkingCalendar
    quiet_policies: Mapping[PolicyId, QuietPolicy]
    caps: Caps
    agencies: Mapping[AgencyId, Agency]
    enterprises: Mapping[EnterpriseId, Enterprise]
    inspections: Sequence[Inspection]
    history: Sequence[HistoryEntry] = ()
    pinned: Sequence[Pin] = ()
    previous: Mapping[InspectionId, date] = field(default_factory=dict)
    country: str = "CN"

    by_id: dict[InspectionId, Inspection] = field(init=False, repr=False, compare=False)
    working_days: tuple[date, ...] = field(init=False, repr=False, compare=False)
    pins: dict[InspectionId, date] = field(init=False, repr=False, compare=False)
    _caps: dict[EnterpriseId, Caps] = field(init=False, repr=False, compare=False)
    _quiet: dict[PolicyId, frozenset[date]] = field(init=False, repr=False, compare=False)
    _open: dict[tuple[PolicyId, frozenset[date]], tuple[date, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        by_id = {i.id: i for i in self.inspections}
        setattr_(self, "by_id", by_id)
        days = self.calendar.working_days(self.horizon.start, self.horizon.end)
        setattr_(self, "working_days", tuple(days))
        setattr_(self, "pins", {p.inspection: p.date for p in self.pinned if p.inspection in by_id})
        setattr_(self, "_caps", {})
        quiet = {pid: pol.quiet_days(days) for pid, pol in self.quiet_policies.items()}
        setattr_(self, "_quiet", quiet)
        setattr_(self, "_open", {})

    def caps_for(self, enterprise: EnterpriseId) -> Caps:
        caps = self._caps.get(enterprise)
        if caps is None:
            caps = self.caps.overridden(self.enterprises[enterprise].cap_overrides)
            self._caps[enterprise] = caps
        return caps

    def is_quiet(self, enterprise: EnterpriseId, day: date) -> bool:
        """企业安静日: the enterprise's policy or its own blackout dates."""
        ent = self.enterprises[enterprise]
        if day in ent.blackout:
            return True
        if day in self.horizon:
            return day in self._quiet[ent.quiet_policy]
        return self.quiet_policies[ent.quiet_policy].is_quiet(day)

    def window(self, inspection: Inspection) -> tuple[date, date] | None:
        """The inspection's window clipped to the horizon, or None when nothing is left."""
        lo = max(inspection.earliest, self.horizon.start)
        hi = min(inspection.latest, self.horizon.end)
        return (lo, hi) if lo <= hi else None

    def _open_days_of(self, enterprise: EnterpriseId) -> tuple[date, ...]:
        ent = self.enterprises[enterprise]
        key = (ent.quiet_policy, ent.blackout)
        days = self._open.get(key)
        if days is None:
            quiet = self._quiet[ent.quiet_policy]
            days = tuple(d for d in self.working_days if d not in quiet and d not in ent.blackout)
            self._open[key] = days
        return days

    def open_days(self, inspection: Inspection) -> tuple[date, ...]:
        """Working days in the clipped window that are not quiet days of the enterprise
        (exempt inspections may use quiet days). The whitelist is not applied here."""
        win = self.window(inspection)
        if win is None:
            return ()
        days = self.working_days if inspection.exempt else self._open_days_of(inspection.enterprise)
        lo = bisect.bisect_left(days, win[0])
        hi = bisect.bisect_right(days, win[1])
        return days[lo:hi]


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Visit:
    """一次入企: all inspections of one enterprise on one date."""

    enterprise: EnterpriseId
    date: date
    inspections: tuple[InspectionId, ...]
    lead_agency: AgencyId


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Unscheduled:
    inspection: InspectionId
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class SolveStats:
    """`status`, `wall_seconds`, `scheduled`, `visits`, `objective_bound` are the spec's; `extra`
    holds the implementation's figures (method, timings, bounds) written beside them."""

    status: Status
    scheduled: int
    visits: int
    wall_seconds: float | None = None
    objective_bound: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Solution:
    instance: str
    visits: tuple[Visit, ...]
    unscheduled: tuple[Unscheduled, ...]
    stats: SolveStats | None = None

    def assignment(self) -> dict[InspectionId, date]:
        return {i: v.date for v in self.visits for i in v.inspections}
