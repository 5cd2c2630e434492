"""Turns an assignment of dates into the visits of a solution (综合查一次: one door per day)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date

from quietday.domain.model import AgencyId, EnterpriseId, InspectionId, Instance, Visit

__all__ = ["visits_from"]


def _lead(instance: Instance, iids: list[InspectionId]) -> AgencyId:
    """牵头部门: the agency bringing most inspections, then most priority, then the smallest id."""
    if len(iids) == 1:  # most visits
        return instance.by_id[iids[0]].agency
    count: dict[AgencyId, list[int]] = defaultdict(lambda: [0, 0])
    for iid in iids:
        insp = instance.by_id[iid]
        count[insp.agency][0] += 1
        count[insp.agency][1] += insp.priority
    return min(count, key=lambda a: (-count[a][0], -count[a][1], a))


def visits_from(instance: Instance, assignment: Mapping[InspectionId, date]) -> tuple[Visit, ...]:
    """Visits ordered by date then enterprise, inspections in each ordered by id."""
    doors: dict[tuple[date, EnterpriseId], list[InspectionId]] = defaultdict(list)
    for iid, day in assignment.items():
        doors[(day, instance.by_id[iid].enterprise)].append(iid)
    return tuple(
        Visit(ent, day, tuple(sorted(iids)), _lead(instance, iids))
        for (day, ent), iids in sorted(doors.items())
    )
