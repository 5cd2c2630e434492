"""The demo's life after publishing, as its users would live it: agencies apply for their codes
(先赋码) and inspectors scan in (扫码入企), a few late, a few without a code; enterprises rate
entries and complain, and supervisors handle the complaints. Reproducible from a seed."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from quietday.domain.status import PlanStatus, VisitStatus
from quietday.persistence import Session
from quietday.persistence.checkins import CheckInRepository
from quietday.persistence.feeds import FeedTokenRepository
from quietday.persistence.plans import PlanRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
)
from quietday.persistence.tables import VisitRow
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import feed_actor
from quietday.planning.checkins import CheckInInput, put_rating, record_check_ins
from quietday.planning.codes import codes_for_visits, enterprise_token, keyring
from quietday.planning.complaints import accept_complaint, close_complaint, file_complaint
from quietday.planning.feeds import CHINA
from quietday.planning.keys import Actor, create_key
from quietday.planning.registry import create_inspector

__all__ = ["simulate_check_ins", "simulate_feedback"]

LATE_REASON = "现场发现重大安全隐患,先行处置后补扫监督码"


def simulate_check_ins(session: Session, *, today: date, seed: int = 2026) -> int:
    """Scan-to-enter records for the published visits before `today`, as agencies would send
    them, with the departures a supervisor must see: of each agency's visits about 3 % missed,
    3 % entered a day late (without a code for that day), 3 % with one inspector, 2 % checked
    first and scanned before leaving (late scans); and unplanned entries at 1 % of enterprises,
    half of them complaint cases (exempt), half routine (on a quiet day, a breach), none with a
    code. Agencies apply for the codes of their visits on each visit's day first. Each agency
    gets two certified inspectors and a key of its own. The number of records."""
    rng = random.Random(seed)
    visits = [
        v
        for v in VisitRepository(session).page(after=None, limit=10**9)
        if v.status == VisitStatus.PUBLISHED and v.day < today
    ]
    ring = keyring(session, None)
    _apply_for_codes(session, visits)
    agencies_of: dict[int, set[str]] = defaultdict(set)
    for plan in PlanRepository(session).in_visits(int(v.id or 0) for v in visits):
        if plan.status == PlanStatus.PUBLISHED and plan.visit_id is not None:
            agencies_of[plan.visit_id].add(plan.agency_id)
    agencies = sorted(a.id for a in AgencyRepository(session).list())
    crews = {a: _crew(session, a) for a in agencies}
    entries: dict[str, list[CheckInInput]] = defaultdict(list)

    def at(day: date) -> datetime:
        return datetime.combine(day, time(8 + rng.randrange(9), rng.randrange(60)), tzinfo=CHINA)

    for visit in sorted(visits, key=lambda v: (v.day, v.id or 0)):
        for agency in sorted(agencies_of[int(visit.id or 0)]):
            roll, day, crew = rng.random(), visit.day, crews[agency]
            if roll < 0.03:
                continue
            if roll < 0.06 and visit.day + timedelta(days=1) < today:
                day = visit.day + timedelta(days=1)
            elif roll < 0.09:
                crew = crew[:1]
            entries[agency].append(CheckInInput(visit.enterprise_id, crew, at(day), visit.id))
    late = random.Random(seed + 1)
    for inputs in entries.values():
        for k, inp in enumerate(inputs):
            if late.random() < 0.02:
                inputs[k] = replace(
                    inp,
                    enterprise_code=enterprise_token(ring, inp.enterprise_id),
                    scanned_at=inp.at + timedelta(minutes=90),
                    late=True,
                    late_reason=LATE_REASON,
                )
    horizon_start = min((v.day for v in visits), default=today)
    days = [horizon_start + timedelta(days=k) for k in range((today - horizon_start).days)]
    enterprises = [e.id for e in EnterpriseRepository(session).page(after=None, limit=10**9)]
    for enterprise in rng.sample(enterprises, k=len(enterprises) // 100) if days else []:
        agency = rng.choice(agencies)
        case = rng.random() < 0.5
        entries[agency].append(
            CheckInInput(
                enterprise,
                crews[agency],
                at(rng.choice(days)),
                kind="case" if case else "routine",
                exempt_reason="投诉举报" if case else None,
            )
        )
    recorded = 0
    for agency, inputs in sorted(entries.items()):
        key, _ = create_key(session, role="agency", agency_id=agency, label="演示扫码终端")
        actor = Actor(key_id=int(key.id or 0), role="agency", agency_id=agency)
        recorded += len(record_check_ins(session, actor, inputs))
    return recorded


def _crew(session: Session, agency_id: str) -> tuple[str, ...]:
    """Certificate numbers of two inspectors of the agency (created when it has fewer)."""
    have = [i.certificate_no for i in InspectorRepository(session).list(agency_id=agency_id)]
    for k in range(len(have), 2):
        number = f"{agency_id}-JC-{k + 1:03d}"
        create_inspector(session, agency_id=agency_id, name=f"执法员{k + 1}", certificate_no=number)
        have.append(number)
    return tuple(have[:2])


def _apply_for_codes(session: Session, visits: list[VisitRow]) -> None:
    """先赋码: every agency's code of each visit, applied for on the visit's day."""
    by_day: dict[date, list[VisitRow]] = defaultdict(list)
    for visit in visits:
        by_day[visit.day].append(visit)
    ring = keyring(session, None)
    for day, on_day in sorted(by_day.items()):
        codes_for_visits(session, ring, on_day, today=day)


REPLIES = (
    "已核实,责令该执法部门整改,并对相关执法人员批评教育。",
    "经核查,检查符合规定(属投诉举报核查,依法可不受安静日限制),已向企业说明。",
)


def simulate_feedback(
    session: Session, supervisor: Actor, *, today: date, seed: int = 2026
) -> tuple[int, int]:
    """Enterprises with a subscription rate about one entry in five (mostly well) and complain
    about three in a hundred; supervisors have closed the older complaints with a reply and
    accepted some of the rest. The numbers of ratings and complaints."""
    rng = random.Random(seed)
    tokens = {
        t.subject_id: int(t.id or 0)
        for t in FeedTokenRepository(session).list()
        if t.kind == "enterprise" and t.revoked_at is None
    }
    entries = [
        e
        for e in CheckInRepository(session).between(date(2000, 1, 1), today)
        if e.enterprise_id in tokens
    ]
    ratings = complaints = 0
    filed: list[tuple[int, date]] = []
    for entry in entries:
        roll = rng.random()
        token_id = tokens[entry.enterprise_id]
        given = datetime.combine(entry.day + timedelta(days=1), time(10), tzinfo=CHINA)
        if given.date() >= today:
            continue
        session.info["actor"] = feed_actor("enterprise", entry.enterprise_id, token_id)
        if roll < 0.2:
            score = rng.choices((5, 4, 3, 2, 1), weights=(50, 30, 12, 5, 3))[0]
            put_rating(session, int(entry.id or 0), score=score, comment="", feed_token_id=token_id,
                       channel="subscribe", now=given)  # fmt: skip
            ratings += 1
        elif roll < 0.23:
            reason = (
                "no_code"
                if entry.visit_id is None
                else rng.choice(("conduct", "repeated", "quiet_day"))
            )
            row = file_complaint(
                session,
                enterprise_id=entry.enterprise_id,
                reason=reason,
                text="演示:企业对这次入企检查的投诉",
                channel="subscribe",
                actor=feed_actor("enterprise", entry.enterprise_id, token_id),
                check_in_id=int(entry.id or 0),
                feed_token_id=token_id,
                now=given,
            )
            filed.append((int(row.id or 0), entry.day))
            complaints += 1
    session.info["actor"] = supervisor.name
    for k, (complaint_id, day) in enumerate(filed):
        if day + timedelta(days=10) < today:
            handled = datetime.combine(day + timedelta(days=3), time(16), tzinfo=CHINA)
            close_complaint(session, supervisor, complaint_id, reply=REPLIES[k % 2], now=handled)
        elif k % 2:
            accept_complaint(session, supervisor, complaint_id)
    return ratings, complaints
