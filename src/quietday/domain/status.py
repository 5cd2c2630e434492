"""The states of the service's records, one vocabulary for every layer (queries included)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PartState", "PlanStatus", "RunStatus", "VisitStatus"]


class PlanStatus(StrEnum):
    """A planned inspection: waiting for a run, published in a visit, left out, or cancelled."""

    SUBMITTED = "submitted"
    PUBLISHED = "published"
    UNSCHEDULED = "unscheduled"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    """A solve run, from the queue to its publication."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PUBLISHED = "published"


class VisitStatus(StrEnum):
    """A visit (一次入企): published, or cancelled (no plan left in it)."""

    PUBLISHED = "published"
    CANCELLED = "cancelled"


class PartState(StrEnum):
    """One job of a run solved on the queue."""

    TODO = "todo"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
