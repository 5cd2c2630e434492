"""The pure core of quietday: the problem, its rules and the solver-agnostic checker (stdlib only)."""

from quietday.domain.assemble import visits_from
from quietday.domain.bounds import visits_lower_bound
from quietday.domain.calendar import OfficialCalendar, QuietPolicy, WorkingCalendar
from quietday.domain.check import (
    Metrics,
    Violation,
    entry_violations,
    find_violations,
    measure,
    placement_violations,
)
from quietday.domain.entries import flag_entries
from quietday.domain.explain import explain_unscheduled
from quietday.domain.model import (
    CAPPED_KINDS,
    Agency,
    AgencyId,
    Caps,
    Door,
    Enterprise,
    EnterpriseId,
    HistoryEntry,
    Horizon,
    Inspection,
    InspectionId,
    Instance,
    Kind,
    Pin,
    PolicyId,
    Reason,
    Solution,
    SolveStats,
    Status,
    Unscheduled,
    Visit,
)
from quietday.domain.state import Blocker, ScheduleState
from quietday.domain.status import PartState, PlanStatus, RunStatus, VisitStatus

__all__ = [
    "CAPPED_KINDS",
    "Agency",
    "AgencyId",
    "Blocker",
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
    "Metrics",
    "OfficialCalendar",
    "PartState",
    "Pin",
    "PlanStatus",
    "PolicyId",
    "QuietPolicy",
    "Reason",
    "RunStatus",
    "ScheduleState",
    "Solution",
    "SolveStats",
    "Status",
    "Unscheduled",
    "Violation",
    "Visit",
    "VisitStatus",
    "WorkingCalendar",
    "entry_violations",
    "explain_unscheduled",
    "find_violations",
    "flag_entries",
    "measure",
    "placement_violations",
    "visits_from",
    "visits_lower_bound",
]
