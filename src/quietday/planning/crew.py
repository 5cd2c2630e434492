"""随机选派 (双随机、一公开): an agency's inspectors drawn for its visits of a month, declared
conflicts (回避: an agency declares, only a supervisor withdraws) and the validity of certificates
(supervisors).

`draw_month` takes the agency's published visits of the month that it still has plans in; those
of days not yet passed and without a check-in are open to the draw, the rest (and, unless a
redraw is asked, those whose team a person chose) count in each inspector's load. The seed is
`domain.crew.draw_seed` of the seeds of the runs that published the month's visits, the agency
and the month. Teams are checked again (`crew_violations`), written to `visit_inspector` as a
person's assignment is (each visit's sequence grows, so feeds show it) and audit-logged with
the seed, the inputs (and their digest) and the teams: `draw_crews` of those inputs gives them
again.

A team does not outlive what made it: declaring a 回避 takes the inspector off the coming visits
(from today, without a check-in) of that enterprise, and a certificate's end date set earlier
takes its holder off those after it; each such visit's sequence grows (calendars show it), the
declaration's or the certificate's audit entry names the visits, and the answer says which now
need a team (a draw of the month gives them one).
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date, timedelta

from quietday.domain.crew import (
    CrewVisit,
    crew_violations,
    digest_of,
    draw_crews,
    draw_seed,
    inputs_json,
)
from quietday.errors import ConflictError, ForbiddenError, InputError, NotFoundError, Problem
from quietday.persistence import Session
from quietday.persistence.agency import inspectors_on
from quietday.persistence.crew import (
    InspectorConflictRepository,
    TeamVisit,
    agency_visits,
    run_seeds,
    take_off,
    visits_of_inspector,
)
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
)
from quietday.persistence.tables import InspectorConflictRow, InspectorRow, utcnow
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import record
from quietday.planning.checkins import MIN_INSPECTORS
from quietday.planning.feeds import crew_member
from quietday.planning.keys import Actor

__all__ = [
    "MAX_PER_DAY",
    "MAX_TEAM",
    "Certified",
    "ConflictLine",
    "Declared",
    "DrawOutcome",
    "Released",
    "conflict_lines",
    "conflicts_of",
    "declare_conflict",
    "draw_month",
    "remove_conflict",
    "set_certified_until",
]

MAX_TEAM = 10
MAX_PER_DAY = 20
MAX_REASON = 200


def _agency_of(session: Session, actor: Actor, agency_id: str) -> str:
    """The agency, if the actor may act for it: a supervisor any, an agency key its own (any
    other is the same 404 as a missing one); an approver key none."""
    if actor.role == "approver":
        raise ForbiddenError("审批密钥只用于审批专项检查计划,不能选派执法人员")
    if not actor.is_supervisor and actor.agency_id != agency_id:
        raise NotFoundError(f"执法部门 {agency_id} 不存在")
    return AgencyRepository(session).get_or_raise(agency_id).id


def _inspector_of(session: Session, agency_id: str, inspector_id: int) -> InspectorRow:
    row = InspectorRepository(session).get(inspector_id)
    if row is None or row.agency_id != agency_id:
        raise NotFoundError(f"执法人员 {inspector_id} 不存在")
    return row


# ---- teams that no longer hold ----


@dataclass(frozen=True, slots=True)
class Released:
    """A coming visit an inspector was taken off: its day and enterprise, and the agency's
    inspectors still on it (fewer than two: it needs a team, which a draw of its month gives)."""

    visit_id: int
    day: date
    enterprise_id: str
    left: tuple[int, ...]

    @property
    def needs_team(self) -> bool:
        return len(self.left) < MIN_INSPECTORS


def _release(session: Session, inspector: InspectorRow, found: list[TeamVisit]) -> list[Released]:
    """Take the inspector off these visits; each one's sequence grows, as with an assignment,
    so calendars show the change."""
    if not found:
        return []
    iid = int(inspector.id or 0)
    ids = [v.visit_id for v in found]
    take_off(session, iid, ids)
    visits = VisitRepository(session)
    for visit in visits.by_ids(ids):
        visit.sequence += 1
        visit.updated_at = utcnow()
        visits.add(visit)
    own = {int(i.id or 0) for i in InspectorRepository(session).list(agency_id=inspector.agency_id)}
    sent = inspectors_on(session, ids)
    return [
        Released(
            visit_id=v.visit_id,
            day=v.day,
            enterprise_id=v.enterprise_id,
            left=tuple(i for i in sent.get(v.visit_id, []) if i in own),
        )
        for v in found
    ]


def _logged(released: list[Released]) -> list[dict[str, object]]:
    """What the audit log keeps of the visits an inspector was taken off."""
    return [
        {"visit_id": r.visit_id, "day": r.day, "enterprise_id": r.enterprise_id, "left": r.left}
        for r in released
    ]


# ---- 回避 ----


def conflicts_of(session: Session, actor: Actor, agency_id: str) -> list[InspectorConflictRow]:
    """The conflicts declared for the agency's inspectors."""
    _agency_of(session, actor, agency_id)
    return list(InspectorConflictRepository(session).of_agency(agency_id))


@dataclass(frozen=True, slots=True)
class ConflictLine:
    """A declared conflict as a clerk reads it: with the inspector's and enterprise's names."""

    conflict: InspectorConflictRow
    inspector_name: str
    enterprise_name: str


def conflict_lines(session: Session, actor: Actor, agency_id: str) -> list[ConflictLine]:
    """The agency's declared conflicts with the names of their inspectors and enterprises."""
    rows = conflicts_of(session, actor, agency_id)
    people = {
        int(i.id or 0): i.name for i in InspectorRepository(session).list(agency_id=agency_id)
    }
    names = {
        e.id: e.name for e in EnterpriseRepository(session).by_ids({r.enterprise_id for r in rows})
    }
    return [
        ConflictLine(
            conflict=r,
            inspector_name=people.get(r.inspector_id, str(r.inspector_id)),
            enterprise_name=names.get(r.enterprise_id, r.enterprise_id),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Declared:
    """A declared conflict and the coming visits of its enterprise its inspector was taken off."""

    conflict: InspectorConflictRow
    released: list[Released]


def declare_conflict(
    session: Session,
    actor: Actor,
    *,
    agency_id: str,
    inspector_id: int,
    enterprise_id: str,
    reason: str,
    today: date,
) -> Declared:
    """Declare that one of the agency's inspectors must not inspect an enterprise, and why; the
    inspector is taken off that enterprise's visits from `today` (China) on without a
    check-in."""
    _agency_of(session, actor, agency_id)
    inspector = _inspector_of(session, agency_id, inspector_id)
    text = reason.strip()
    problems = []
    if not text or len(text) > MAX_REASON:
        problems.append(Problem("bad_reason", "reason", f"请填写回避事由(1 至 {MAX_REASON} 个字)"))
    if EnterpriseRepository(session).get(enterprise_id) is None:
        problems.append(
            Problem("unknown_enterprise", "enterprise_id", f"企业 {enterprise_id} 不存在")
        )
    if problems:
        raise InputError(problems)
    repo = InspectorConflictRepository(session)
    if repo.find(inspector_id, enterprise_id) is not None:
        raise ConflictError(
            f"执法人员 {inspector.name} 已申报回避企业 {enterprise_id}", code="duplicate_conflict"
        )
    row = repo.add(
        InspectorConflictRow(
            inspector_id=inspector_id,
            enterprise_id=enterprise_id,
            reason=text,
            declared_at=utcnow(),
            declared_by=actor.name,
        )
    )
    released = _release(
        session,
        inspector,
        visits_of_inspector(session, inspector_id, first=today, enterprise_id=enterprise_id),
    )
    record(
        session,
        "inspector_conflict.declare",
        f"inspector:{inspector_id}",
        {
            "conflict_id": row.id,
            "enterprise_id": enterprise_id,
            "reason": text,
            "released": _logged(released),
        },
    )
    return Declared(conflict=row, released=released)


def remove_conflict(session: Session, actor: Actor, *, agency_id: str, conflict_id: int) -> None:
    """Withdraw a declared conflict of one of the agency's inspectors: supervisors only (司法行政
    keeps the register, as of certificates). An agency declares but never withdraws, so it
    cannot declare 回避 for inspectors it does not want, redraw, and withdraw again."""
    if not actor.is_supervisor:
        raise ForbiddenError("回避申报只能由监督(司法行政)密钥撤回;执法部门可以申报回避,不能撤回")
    AgencyRepository(session).get_or_raise(agency_id)
    repo = InspectorConflictRepository(session)
    row = repo.get(conflict_id)
    owner = InspectorRepository(session).get(row.inspector_id) if row is not None else None
    if row is None or owner is None or owner.agency_id != agency_id:
        raise NotFoundError(f"回避记录 {conflict_id} 不存在")
    repo.delete(row)
    record(
        session,
        "inspector_conflict.remove",
        f"inspector:{row.inspector_id}",
        {"conflict_id": conflict_id, "enterprise_id": row.enterprise_id, "reason": row.reason},
    )


@dataclass(frozen=True, slots=True)
class Certified:
    """An inspector with a certificate's end date set, and the coming visits after it the
    inspector was taken off."""

    inspector: InspectorRow
    released: list[Released]


def set_certified_until(
    session: Session,
    actor: Actor,
    *,
    agency_id: str,
    inspector_id: int,
    until: date | None,
    today: date,
) -> Certified:
    """Set the last day an inspector's certificate holds (None: no expiry); supervisors only,
    as they keep the register of certificates. The inspector is taken off the visits after it,
    from `today` (China) on, without a check-in."""
    if not actor.is_supervisor:
        raise ForbiddenError("执法证有效期只能由监督(司法行政)密钥登记")
    AgencyRepository(session).get_or_raise(agency_id)
    row = _inspector_of(session, agency_id, inspector_id)
    before = row.certified_until
    found = (
        []
        if until is None
        else visits_of_inspector(session, inspector_id, first=max(today, until + timedelta(days=1)))
    )
    released = _release(session, row, found)
    if before != until or released:
        row.certified_until = until
        InspectorRepository(session).add(row)
        record(
            session,
            "inspector.certified_until",
            f"inspector:{inspector_id}",
            {"before": before, "after": until, "released": _logged(released)},
        )
    return Certified(inspector=row, released=released)


# ---- the draw ----


@dataclass(frozen=True, slots=True)
class DrawOutcome:
    """A draw and what it worked on: the seed, the inputs' digest, the teams drawn, the visits
    that kept theirs, those left without one (with the reason), and each open visit's day and
    enterprise."""

    agency_id: str
    month: str
    seed: int
    digest: str
    teams: dict[int, tuple[int, ...]]
    kept: tuple[int, ...]
    unplaced: dict[int, str]
    visits: dict[int, CrewVisit]


def draw_month(
    session: Session,
    actor: Actor,
    *,
    agency_id: str,
    month: date,
    today: date,
    team_size: int = MIN_INSPECTORS,
    per_day: int | None = None,
    redraw: bool = False,
) -> DrawOutcome:
    """Draw the agency's inspectors for its open visits of the month of `month` (see the
    module's docstring); the teams are written and audit-logged."""
    _agency_of(session, actor, agency_id)
    problems = []
    if not MIN_INSPECTORS <= team_size <= MAX_TEAM:
        problems.append(
            Problem(
                "bad_team_size",
                "team_size",
                f"每次入企的执法人员数应为 {MIN_INSPECTORS} 至 {MAX_TEAM} 名",
            )
        )
    if per_day is not None and not 1 <= per_day <= MAX_PER_DAY:
        problems.append(
            Problem("bad_per_day", "per_day", f"每人每天入企次数上限应为 1 至 {MAX_PER_DAY}")
        )
    if problems:
        raise InputError(problems)
    first = month.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    found = agency_visits(session, agency_id, first, last)
    rows = InspectorRepository(session).list(agency_id=agency_id)
    own = {int(i.id or 0) for i in rows}
    people = [crew_member(i) for i in rows]
    ids = [v.visit_id for v in found]
    sent = inspectors_on(session, ids)
    recorded = VisitRepository(session).checked_in(ids)
    enterprises = {v.enterprise_id for v in found}
    conflicts = sorted(
        pair for pair in InspectorConflictRepository(session).pairs(own) if pair[1] in enterprises
    )
    visits = [
        CrewVisit(
            visit_id=v.visit_id,
            enterprise_id=v.enterprise_id,
            day=v.day,
            assigned=tuple(i for i in sent.get(v.visit_id, []) if i in own),
            open=v.day >= today and v.visit_id not in recorded,
        )
        for v in found
    ]
    seeds = run_seeds(session, {v.run_id for v in found if v.run_id is not None})
    label = f"{first.year:04d}-{first.month:02d}"
    seed = draw_seed(
        run_seeds=[seeds.get(v.run_id) if v.run_id is not None else None for v in found],
        agency_id=agency_id,
        month=label,
    )
    draw = draw_crews(
        visits=visits,
        inspectors=people,
        conflicts=conflicts,
        team_size=team_size,
        seed=seed,
        per_day=per_day,
        redraw=redraw,
    )
    wrong = crew_violations(
        visits=visits,
        inspectors=people,
        conflicts=conflicts,
        draw=draw,
        team_size=team_size,
        per_day=per_day,
    )
    if wrong:
        raise RuntimeError(f"the draw broke its own rules: {wrong}")
    text = inputs_json(
        visits=visits,
        inspectors=people,
        conflicts=conflicts,
        team_size=team_size,
        seed=seed,
        per_day=per_day,
        redraw=redraw,
    )
    digest = digest_of(text)
    _write(session, agency_id, draw.teams, {v.visit_id: v.assigned for v in visits})
    if draw.teams or draw.unplaced:
        record(
            session,
            "inspector.draw",
            f"agency:{agency_id}",
            {
                "month": label,
                "seed": seed,
                "run_seeds": sorted(set(seeds.values())),
                "inputs_digest": digest,
                "inputs": json.loads(text),
                "teams": {str(k): list(v) for k, v in draw.teams.items()},
                "kept": list(draw.kept),
                "unplaced": {str(k): v for k, v in draw.unplaced.items()},
            },
        )
    return DrawOutcome(
        agency_id=agency_id,
        month=label,
        seed=seed,
        digest=digest,
        teams=draw.teams,
        kept=draw.kept,
        unplaced=draw.unplaced,
        visits={v.visit_id: v for v in visits if v.open},
    )


def _write(
    session: Session,
    agency_id: str,
    teams: dict[int, tuple[int, ...]],
    before: dict[int, tuple[int, ...]],
) -> None:
    """The agency's inspectors on each visit become its drawn team (others' stay); a visit whose
    team changed has its sequence grow, as with an assignment by hand, so calendars show it."""
    repo = InspectorRepository(session)
    visits = VisitRepository(session)
    changed = [k for k, team in teams.items() if sorted(team) != sorted(before.get(k, ()))]
    for visit in visits.by_ids(changed):
        visit_id = int(visit.id or 0)
        repo.set_on_visit(visit_id, list(teams[visit_id]), agencies={agency_id})
        visit.sequence += 1
        visit.updated_at = utcnow()
        visits.add(visit)
