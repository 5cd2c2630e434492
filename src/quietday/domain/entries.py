"""Judging inspections that took place (扫码入企 check-ins) by the core rules.

The rule checker says which entries a breach involves; a supervisor needs the entry that made
it. Entries are taken date by date in order: an entry is flagged with a rule when, counting only
the entries up to its date, that rule is broken in a way that involves it. So the third date in
a year with a cap of two is flagged, not the first two; a gap too short flags the later date.
Every flag is therefore part of a violation `find_violations` reports on the same entries, and
every such violation flags at least one entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date

from quietday.domain.check import Violation, entry_violations
from quietday.domain.model import InspectionId, Instance

__all__ = ["flag_entries"]


def flag_entries(
    instance: Instance, entries: Mapping[InspectionId, date]
) -> dict[InspectionId, list[Violation]]:
    """For each entry (an inspection of `instance` and the date it took place), the violations
    it made, in rule order; entries that broke nothing are absent."""
    by_day: dict[date, list[InspectionId]] = defaultdict(list)
    for iid, day in entries.items():
        by_day[day].append(iid)
    flags: dict[InspectionId, list[Violation]] = defaultdict(list)
    so_far: dict[InspectionId, date] = {}
    for day in sorted(by_day):
        today = set(by_day[day])
        so_far.update((iid, day) for iid in by_day[day])
        for violation in entry_violations(instance, so_far):
            for iid in sorted(today.intersection(violation.inspections)):
                flags[iid].append(violation)
    return dict(flags)
