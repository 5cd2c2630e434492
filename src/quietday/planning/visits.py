"""A visit's state from the plans published in it: its status, lead agency and sequence, and
what its enterprise may see of it before its date.

An enterprise is never told in advance of a case inspection, an exempt one or one marked
unannounced (暗访). Everything its feed and page show of a visit before the date (agencies,
items, lead agency, SEQUENCE, LAST-MODIFIED, CREATED, whether the event exists) comes from the
visit's `public_view`, which is made of its announceable plans alone and keeps its own sequence
and stamps: adding, moving or cancelling a hidden plan changes none of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from quietday.domain.model import Kind
from quietday.domain.status import VisitStatus
from quietday.persistence.tables import PlanRow, VisitRow

__all__ = ["announceable", "lead_agency", "public_view", "settle"]


def announceable(plan: PlanRow) -> bool:
    """May an enterprise be told of this inspection in advance? Not a case inspection, not an
    exempt one, not one marked unannounced (暗访)."""
    return plan.kind != Kind.CASE and not plan.exempt_reason and not plan.unannounced


def lead_agency(plans: Iterable[PlanRow]) -> str:
    """牵头部门: most plans, then most priority, then the smallest id (as in the solver)."""
    count: dict[str, list[int]] = {}
    for p in plans:
        c = count.setdefault(p.agency_id, [0, 0])
        c[0] += 1
        c[1] += p.priority
    return min(count, key=lambda a: (-count[a][0], -count[a][1], a))


def public_view(members: Sequence[PlanRow], before: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the enterprise may see before the date, given the plans published in the visit and
    what it saw so far: its announceable plans and a lead among their agencies; once it has
    seen some, their last state marked cancelled when none is left; nothing if it never did."""
    shown = [p for p in members if announceable(p)]
    if shown:
        return {
            "status": VisitStatus.PUBLISHED,
            "lead": lead_agency(shown),
            "plans": sorted(
                ({"agency": p.agency_id, "items": list(p.items)} for p in shown),
                key=lambda p: (p["agency"], p["items"]),
            ),
        }
    if before is None:
        return None
    return {**before, "status": VisitStatus.CANCELLED}


def settle(visit: VisitRow, members: Sequence[PlanRow], *, now: datetime, changed: bool) -> None:
    """Bring a visit in line with the plans published in it (`changed`: some joined or left):
    none left is a cancelled visit; the sequence grows with every change, the enterprise's view
    only when what it may see changes."""
    if members:
        status, lead = VisitStatus.PUBLISHED, lead_agency(members)
    else:
        status, lead = VisitStatus.CANCELLED, visit.lead_agency_id
    view = public_view(members, visit.public_view)
    if view != visit.public_view:
        visit.public_view = view
        visit.public_sequence += 1
        visit.public_updated_at = now
        visit.public_created_at = visit.public_created_at or now
        changed = True
    if changed or (status, lead) != (visit.status, visit.lead_agency_id):
        visit.status, visit.lead_agency_id = status, lead
        visit.sequence += 1
        visit.updated_at = now
