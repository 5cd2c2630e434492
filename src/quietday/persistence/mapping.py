"""Rows to domain objects and back; the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from quietday.domain.calendar import QuietPolicy
from quietday.domain.model import (
    Agency,
    AgencyId,
    Caps,
    Enterprise,
    EnterpriseId,
    HistoryEntry,
    Inspection,
    InspectionId,
    Kind,
    PolicyId,
)
from quietday.persistence.plans import HistoryFacts, PlanFacts
from quietday.persistence.registry import EnterpriseFacts
from quietday.persistence.tables import (
    AgencyCapacityRow,
    AgencyRow,
    EnterpriseRow,
    HistoryRow,
    PlanRow,
    PolicyRow,
)

__all__ = [
    "CAPS_SETTING",
    "agency_from_row",
    "caps_from_setting",
    "enterprise_from_row",
    "history_from_plan",
    "history_from_row",
    "inspection_id",
    "plan_id_of",
    "plan_to_inspection",
    "policy_from_row",
]

PLAN_PREFIX = "P-"


def inspection_id(plan_id: int) -> InspectionId:
    return InspectionId(f"{PLAN_PREFIX}{plan_id}")


def plan_id_of(inspection: str) -> int | None:
    """The plan id behind an inspection id written by `inspection_id`, else None."""
    if not inspection.startswith(PLAN_PREFIX):
        return None
    digits = inspection[len(PLAN_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def policy_from_row(row: PolicyRow) -> QuietPolicy:
    return QuietPolicy(
        id=row.id,
        month_days=tuple((int(a), int(b)) for a, b in row.month_days),
        weekdays=frozenset(int(w) for w in row.weekdays),
        dates=frozenset(date.fromisoformat(d) for d in row.dates),
    )


def agency_from_row(row: AgencyRow, capacities: Iterable[AgencyCapacityRow]) -> Agency:
    return Agency(
        id=AgencyId(row.id),
        name=row.name,
        region=row.region_code,
        daily_capacity=row.daily_capacity,
        capacity_by_date={c.day: c.capacity for c in capacities},
    )


def enterprise_from_row(row: EnterpriseRow | EnterpriseFacts) -> Enterprise:
    return Enterprise(
        id=EnterpriseId(row.id),
        name=row.name,
        region=row.region_code,
        quiet_policy=PolicyId(row.quiet_policy_id),
        blackout=frozenset(date.fromisoformat(d) for d in row.blackout),
        whitelisted=row.whitelisted,
        cap_overrides=dict(row.cap_overrides),
    )


def plan_to_inspection(row: PlanRow | PlanFacts) -> Inspection:
    return Inspection(
        id=inspection_id(int(row.id or 0)),
        agency=AgencyId(row.agency_id),
        enterprise=EnterpriseId(row.enterprise_id),
        kind=Kind(row.kind),
        earliest=row.earliest,
        latest=row.latest,
        items=tuple(row.items),
        priority=row.priority,
        exempt_reason=row.exempt_reason or None,
    )


def history_from_row(row: HistoryRow | HistoryFacts) -> HistoryEntry:
    return HistoryEntry(
        EnterpriseId(row.enterprise_id), AgencyId(row.agency_id), row.day, Kind(row.kind)
    )


def history_from_plan(row: PlanRow | PlanFacts, day: date) -> HistoryEntry:
    """A plan published for `day`, before a run's horizon, is part of that run's history."""
    return HistoryEntry(
        EnterpriseId(row.enterprise_id), AgencyId(row.agency_id), day, Kind(row.kind)
    )


# The `setting` row holding the province's default caps.
CAPS_SETTING = "caps"


def caps_from_setting(value: Mapping[str, Any]) -> Caps:
    return Caps().overridden({k: v for k, v in value.items() if k in Caps.__dataclass_fields__})
