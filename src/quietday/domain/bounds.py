"""A lower bound on the visits any valid schedule of a given set of inspections needs.

Relaxation: each inspection may go anywhere between its first and last open day (holes from quiet
days and caps ignored), pinned ones exactly on their pin. Per enterprise the fewest days that hit
every such interval is found exactly by stabbing at right ends in order; the sum over enterprises
bounds the visits of every schedule that places the same inspections.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from quietday.domain.model import EnterpriseId, InspectionId, Instance

__all__ = ["visits_lower_bound"]


def visits_lower_bound(instance: Instance, scheduled: Iterable[InspectionId]) -> int:
    """Fewest visits that can hold all of `scheduled` (each must have an open day or a pin)."""
    spans: dict[EnterpriseId, list[tuple[date, date]]] = defaultdict(list)
    for iid in scheduled:
        insp = instance.by_id[iid]
        pin = instance.pins.get(iid)
        if pin is not None:
            spans[insp.enterprise].append((pin, pin))
            continue
        days = instance.open_days(insp)
        if days:
            spans[insp.enterprise].append((days[0], days[-1]))
    total = 0
    for intervals in spans.values():
        last_stab: date | None = None
        for lo, hi in sorted(intervals, key=lambda iv: iv[1]):
            if last_stab is None or lo > last_stab:
                last_stab = hi
                total += 1
    return total
