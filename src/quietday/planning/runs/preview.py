"""What publishing a finished run would change, before it is published (read only): the plans
newly placed, moved (from which day to which), becoming unscheduled (and why), skipped (changed
or cancelled since the run saw them), the enterprises and agencies concerned, and the calendar
subscriptions whose content changes. It is worked out by `publish.weigh`, the very sorting that
`publish_run` does, against the plans and visits as they are now."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from quietday.domain.status import PlanStatus, RunStatus
from quietday.errors import ConflictError
from quietday.persistence import Session
from quietday.persistence.plans import PlanRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
)
from quietday.persistence.run_controls import RunControlRepository
from quietday.persistence.runs import RunRepository
from quietday.persistence.tables import PlanRow, VisitRow
from quietday.persistence.visits import VisitRepository
from quietday.planning.files import reason_label
from quietday.planning.runs.publish import publish_refusal, weigh
from quietday.planning.visits import announceable, public_view

__all__ = ["FeedChange", "PlanLine", "Preview", "preview_run"]

_SKIPPED = {
    "cancelled": "运行开始后已撤销",
    "changed": "运行开始后已修改",
    "published": "已发布,保持不变",
    "checked_in": "当天入企已有入企记录",
}


@dataclass(frozen=True, slots=True)
class PlanLine:
    """One plan in the preview: who, and from which day to which (None: no day)."""

    plan_id: int
    enterprise_id: str
    enterprise_name: str
    agency_id: str
    agency_name: str
    kind: str
    announceable: bool
    date_from: date | None = None
    date_to: date | None = None
    reason: str | None = None
    reason_label: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class FeedChange:
    """A calendar feed whose content changes (`kind` enterprise, agency or inspector), with the
    live subscriptions (tokens) it has."""

    kind: str
    subject_id: str
    name: str
    subscriptions: int


@dataclass
class Preview:
    run_id: int
    status: str
    refusal: str | None = None
    refusal_code: str | None = None
    placed: list[PlanLine] = field(default_factory=list)
    moved: list[PlanLine] = field(default_factory=list)
    unscheduled: list[PlanLine] = field(default_factory=list)
    skipped: list[PlanLine] = field(default_factory=list)
    staying: int = 0
    enterprises: list[tuple[str, str]] = field(default_factory=list)
    agencies: list[tuple[str, str]] = field(default_factory=list)
    feeds: list[FeedChange] = field(default_factory=list)


@dataclass
class _Visit:
    """A visit as it is (`row`, None for a new one) and the plans it gains and loses."""

    row: VisitRow | None
    joining: list[PlanRow] = field(default_factory=list)
    leaving: set[int] = field(default_factory=set)


def preview_run(session: Session, run_id: int, *, today: date) -> Preview:
    """What publishing the run now would do. A run not (or no longer) publishable has only its
    refusal, in Chinese; a publishable one every change, as `publish_run` would make it."""
    run = RunRepository(session).get_or_raise(run_id)
    out = Preview(run_id, run.status)
    if run.status != RunStatus.SUCCEEDED or run.solution_gz is None:
        refused: ConflictError | None = ConflictError(
            f"排期运行 {run_id} 状态为 {run.status},只有已完成的运行可以预览和发布",
            code="run_not_publishable",
        )
    else:
        refused = publish_refusal(session, run, today=today)
    if refused is not None:
        out.refusal, out.refusal_code = str(refused), refused.code
        if run.status != RunStatus.SUCCEEDED or run.solution_gz is None:
            return out
    weighed = weigh(session, run, today=today)
    visits: dict[Any, _Visit] = {}
    moves: list[tuple[PlanRow, date | None, date | None]] = []
    placed: list[tuple[PlanRow, date]] = []
    for visit, rows in weighed.sorted.groups:
        door = (visit.enterprise, visit.date)
        row = weighed.existing.get(door)
        for plan in rows:
            if plan.status == PlanStatus.PUBLISHED and row is not None and plan.visit_id == row.id:
                out.staying += 1
                continue
            target = visits.setdefault(row.id if row is not None else door, _Visit(row))
            target.joining.append(plan)
            if plan.status == PlanStatus.PUBLISHED and plan.visit_id is not None:
                moves.append((plan, plan.published_date, visit.date))
                visits.setdefault(plan.visit_id, _Visit(None)).leaving.add(int(plan.id or 0))
            else:
                placed.append((plan, visit.date))
    for plan, _ in weighed.sorted.unscheduled:
        if plan.visit_id is not None:
            visits.setdefault(plan.visit_id, _Visit(None)).leaving.add(int(plan.id or 0))
    left = [k for k, v in visits.items() if isinstance(k, int) and v.row is None]
    for found in VisitRepository(session).by_ids(left):
        visits[int(found.id or 0)].row = found
    names = _Names(session, weighed.plans.values())
    out.placed = [names.line(p, date_to=day) for p, day in placed]
    out.moved = [names.line(p, date_from=a, date_to=b) for p, a, b in moves]
    out.unscheduled = [
        names.line(
            p,
            date_from=p.published_date,
            reason=u.reason.value,
            reason_label=reason_label(u.reason.value),
            detail=u.detail,
        )
        for p, u in weighed.sorted.unscheduled
    ]
    out.skipped = [
        names.line(
            weighed.plans[s["plan_id"]],
            reason=s["why"],
            reason_label=_SKIPPED.get(s["why"], s["why"]),
            detail=s["detail"],
        )
        for s in sorted(weighed.sorted.skipped, key=lambda s: s["plan_id"])
    ]
    for lines in (out.placed, out.moved, out.unscheduled):
        lines.sort(key=lambda line: (line.enterprise_id, line.plan_id))
    changed = [*out.placed, *out.moved, *out.unscheduled]
    out.enterprises = sorted({(line.enterprise_id, line.enterprise_name) for line in changed})
    out.agencies = sorted({(line.agency_id, line.agency_name) for line in changed})
    out.feeds = _feeds(session, visits, names)
    return out


class _Names:
    """Enterprise and agency names of the plans a preview lists, read once."""

    def __init__(self, session: Session, plans: Any) -> None:
        rows = list(plans)
        self.enterprises = {
            e.id: e.name
            for e in EnterpriseRepository(session).by_ids({p.enterprise_id for p in rows})
        }
        self.agencies = {
            a.id: a.name for a in AgencyRepository(session).by_ids({p.agency_id for p in rows})
        }

    def line(self, plan: PlanRow, **what: Any) -> PlanLine:
        return PlanLine(
            plan_id=int(plan.id or 0),
            enterprise_id=plan.enterprise_id,
            enterprise_name=self.enterprises.get(plan.enterprise_id, plan.enterprise_id),
            agency_id=plan.agency_id,
            agency_name=self.agencies.get(plan.agency_id, plan.agency_id),
            kind=plan.kind,
            announceable=announceable(plan),
            **what,
        )


def _feeds(session: Session, visits: dict[Any, _Visit], names: _Names) -> list[FeedChange]:
    """The feeds whose content changes: every agency and inspector on a visit that gains or
    loses a plan (they see visits whole), and the enterprise only where what it may see before
    the date (`public_view`: its announceable plans) changes."""
    ids = [int(v.row.id or 0) for v in visits.values() if v.row is not None]
    members: dict[int, list[PlanRow]] = defaultdict(list)
    for plan in PlanRepository(session).in_visits(ids):
        if plan.status == PlanStatus.PUBLISHED:
            members[int(plan.visit_id or 0)].append(plan)
    inspectors_on = RunControlRepository(session).inspectors_on(ids)
    enterprises: set[str] = set()
    agencies: set[str] = set()
    inspectors: set[int] = set()
    for change in visits.values():
        row = change.row
        before = members[int(row.id or 0)] if row is not None else []
        had = {p.id for p in before}
        after = [p for p in before if p.id not in change.leaving]
        after += [p for p in change.joining if p.id not in had]
        if {p.id for p in after} == had:
            continue
        seen = row.public_view if row is not None else None
        if public_view(after, seen) != seen:
            enterprises.add((after or before)[0].enterprise_id)
        agencies.update(p.agency_id for p in [*before, *after])
        if row is not None:
            inspectors.update(inspectors_on.get(int(row.id or 0), []))
    controls = RunControlRepository(session)
    ent_names = {
        e.id: e.name for e in EnterpriseRepository(session).by_ids(enterprises)
    } | names.enterprises
    ag_names = {a.id: a.name for a in AgencyRepository(session).by_ids(agencies)}
    people = InspectorRepository(session)
    out = [
        FeedChange("enterprise", e, ent_names.get(e, e), n)
        for e, n in _with_counts(controls, "enterprise", enterprises)
    ]
    out += [
        FeedChange("agency", a, ag_names.get(a, a), n)
        for a, n in _with_counts(controls, "agency", agencies)
    ]
    for i, n in _with_counts(controls, "inspector", {str(i) for i in inspectors}):
        person = people.get(int(i))
        out.append(FeedChange("inspector", i, person.name if person else i, n))
    return out


def _with_counts(
    controls: RunControlRepository, kind: str, subjects: set[str]
) -> list[tuple[str, int]]:
    counts = controls.subscribed(kind, subjects)
    return [(s, counts.get(s, 0)) for s in sorted(subjects)]
