"""The instance a run solves, built from the database: what is in scope, the pins, the history
(the record), the calendar; pins the rules no longer allow settled."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import NamedTuple

from quietday.domain.model import (
    AgencyId,
    EnterpriseId,
    HistoryEntry,
    Horizon,
    InspectionId,
    Instance,
    Pin,
    PolicyId,
)
from quietday.domain.status import PlanStatus
from quietday.formats import (
    pin_problems,
)
from quietday.persistence import Session
from quietday.persistence.mapping import (
    agency_from_row,
    caps_from_setting,
    enterprise_from_row,
    history_from_plan,
    history_from_row,
    inspection_id,
    plan_id_of,
    plan_to_inspection,
    policy_from_row,
)
from quietday.persistence.plans import HistoryRepository, PlanFacts, PlanRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    PolicyRepository,
)
from quietday.persistence.risk import ClassCaps
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import RunRow, utcnow
from quietday.persistence.visits import VisitRepository
from quietday.planning.calendar import working_calendar
from quietday.planning.feeds import today_in_china
from quietday.planning.registry import CAPS_SETTING

__all__ = ["Built", "build_instance"]


@dataclass
class _Gathered:
    plans: dict[int, PlanFacts] = field(default_factory=dict)
    in_scope: set[int] = field(default_factory=set)


class Built(NamedTuple):
    instance: Instance
    versions: dict[int, int]
    provisional_years: list[int]
    freed_plans: list[int]


def build_instance(session: Session, run: RunRow) -> Built:
    """The instance a run solves, the version of each in-scope plan it saw, and the years it
    plans on the provisional calendar (no State Council notice stored for them yet).

    In scope: live on-site plans whose window meets the horizon, of enterprises in the scope
    (a remote plan opens no door and never reaches a run), but not the record: a plan published for a day outside the horizon, or carried out before it (its
    agency checked in on its visit), is history, never an inspection to place, whatever its
    window. Pinned: published plans dated in the horizon, out-of-scope ones of the same agencies
    included (they use the agencies' capacity), except those on a day the calendar now says is
    off (a notice imported since they were published): in scope they are free again, for this
    run to place anew; out of scope they are left out. History, within a year of the horizon
    (caps are per calendar year, gaps reach across): imported past inspections, published plans
    dated outside the horizon, and check-ins before it. An enterprise's caps are its credit-risk
    class's (`risk_class_policy`), each overridden by its own.
    """
    start, end = run.horizon_start, run.horizon_end
    # What happened by the day the run was asked for is the record (a run asked today plans
    # from tomorrow on, unless it corrects the record).
    asked_on = run.asked_on or today_in_china(run.created_at or utcnow())
    plans_repo = PlanRepository(session)
    got = _Gathered()
    for row in plans_repo.for_run(start=start, end=end, scope=run.scope, done_by=asked_on):
        got.plans[row.id] = row
        got.in_scope.add(row.id)
    agencies = {row.agency_id for row in got.plans.values()}
    for row in plans_repo.published_between(
        start=start, end=end, agency_ids=agencies, done_by=asked_on
    ):
        got.plans.setdefault(row.id, row)
    ent_ids = {row.enterprise_id for row in got.plans.values()}
    reach_back, reach_on = start - timedelta(days=366), end + timedelta(days=366)
    past = HistoryRepository(session)
    history = {
        history_from_row(h)
        for h in [
            *past.of(ent_ids, start=reach_back, end=start - timedelta(days=1)),
            *past.checked_in(ent_ids, start=reach_back, end=asked_on),
        ]
    }
    for row in plans_repo.published_of(ent_ids, start=reach_back, end=reach_on, done_by=asked_on):
        day = row.published_date
        if day is not None and not start <= day <= end:
            history.add(history_from_plan(row, day))
    ordered_history = sorted(history, key=lambda h: (h.date, h.enterprise, h.agency, h.kind.value))
    agency_ids = (
        agencies
        | {row.agency_id for row in got.plans.values()}
        | {h.agency for h in ordered_history}
    )
    agency_rows = AgencyRepository(session).by_ids(agency_ids)
    capacity = defaultdict(list)
    for c in AgencyRepository(session).capacities(agency_ids, start, end):
        capacity[c.agency_id].append(c)
    class_caps = ClassCaps(session)
    enterprises = {
        e.id: class_caps.apply(enterprise_from_row(e), e.risk_class)
        for e in EnterpriseRepository(session).facts(ent_ids)
    }
    policies = {
        PolicyId(p.id): policy_from_row(p)
        for p in PolicyRepository(session).by_ids(e.quiet_policy for e in enterprises.values())
    }
    settings = SettingRepository(session)
    calendar, provisional = working_calendar(session, range(start.year, end.year + 1))

    def published_here(p: PlanFacts) -> bool:
        return (
            p.status == PlanStatus.PUBLISHED
            and p.published_date is not None
            and start <= p.published_date <= end
        )

    ordered = [
        p
        for p in (got.plans[k] for k in sorted(got.plans))
        if p.id in got.in_scope or published_here(p)
    ]
    instance = Instance(
        name=f"run-{run.id}",
        horizon=Horizon(start, end),
        calendar=calendar,
        quiet_policies=dict(sorted(policies.items())),
        caps=caps_from_setting(settings.value(CAPS_SETTING)),
        agencies={
            AgencyId(a.id): agency_from_row(a, capacity[a.id])
            for a in sorted(agency_rows, key=lambda a: a.id)
        },
        enterprises={EnterpriseId(k): v for k, v in sorted(enterprises.items())},
        inspections=tuple(plan_to_inspection(p) for p in ordered),
        history=tuple(ordered_history),
        pinned=tuple(
            Pin(inspection_id(p.id), p.published_date)
            for p in ordered
            if published_here(p) and p.published_date is not None
        ),
        previous={
            inspection_id(p.id): p.draft_date
            for p in ordered
            if p.draft_date is not None
            and p.status != PlanStatus.PUBLISHED
            and start <= p.draft_date <= end
        },
    )
    sealed = VisitRepository(session).checked_in(
        p.visit_id for p in ordered if published_here(p) and p.visit_id is not None
    )
    record = {
        inspection_id(p.id)
        for p in ordered
        if published_here(p)
        and (
            (p.published_date is not None and p.published_date <= asked_on) or p.visit_id in sealed
        )
    }
    in_scope = {inspection_id(pid) for pid in got.in_scope}
    instance, freed, kept = _settle_pins(instance, record=record, in_scope=in_scope)
    versions = {
        pid: got.plans[pid].version
        for pid in sorted(got.in_scope)
        if inspection_id(pid) not in kept
    }
    return Built(
        instance, versions, sorted(provisional), sorted(p for i in freed if (p := plan_id_of(i)))
    )


def _settle_pins(
    instance: Instance, *, record: set[InspectionId], in_scope: set[InspectionId]
) -> tuple[Instance, set[InspectionId], set[InspectionId]]:
    """Published plans the rules no longer allow where they are (a notice made their day off,
    a blackout date or a check-in came since): a plan of the record (dated on or before the
    day the run was asked for, or in a visit with a check-in) becomes history as it stands; any
    other is no longer pinned: in scope it is free for this run to place anew (`freed`, which
    publishing may move), out of scope it is left out. Returns the settled instance, the freed
    and the kept-as-history inspections."""
    freed: set[InspectionId] = set()
    kept: set[InspectionId] = set()
    while problems := pin_problems(instance):
        bad = {InspectionId(str(p.record)) for p in problems}
        of = {i.id: i for i in instance.inspections if i.id in bad}
        as_history = {i for i in bad if i in record}
        dropped = as_history | {i for i in bad - record if i not in in_scope}
        kept |= as_history
        freed |= bad - record - dropped
        day = {p.inspection: p.date for p in instance.pinned}
        instance = replace(
            instance,
            pinned=tuple(p for p in instance.pinned if p.inspection not in bad),
            inspections=tuple(i for i in instance.inspections if i.id not in dropped),
            history=tuple(
                sorted(
                    [
                        *instance.history,
                        *(
                            HistoryEntry(of[i].enterprise, of[i].agency, day[i], of[i].kind)
                            for i in sorted(as_history)
                        ),
                    ],
                    key=lambda h: (h.date, h.enterprise, h.agency, h.kind.value),
                )
            ),
        )
    return instance, freed, kept
