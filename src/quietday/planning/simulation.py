"""The demo's life, as its users would live it: supervisors open 双随机 rounds and draw them;
agencies draw their inspectors (随机选派), apply for their codes (先赋码) and scan in (扫码入企), a
few late, a few without a code, and record what their drawn checks found (一公开); enterprises
rate entries and complain, and supervisors handle the complaints. Reproducible from a seed, but
for the rounds' seeds, which are secret until each draw as they must be."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from quietday.domain.sampling import RISK_CLASSES
from quietday.domain.status import CheckOutcome, PlanStatus, VisitStatus
from quietday.persistence import Session
from quietday.persistence.checkins import CheckInRepository
from quietday.persistence.feeds import FeedTokenRepository
from quietday.persistence.plans import PlanRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
    RegionRepository,
)
from quietday.persistence.sampling import SamplingRepository
from quietday.persistence.tables import VisitRow
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import feed_actor
from quietday.planning.checkins import CheckInInput, put_rating, record_batches
from quietday.planning.codes import codes_for_visits, enterprise_token, keyring
from quietday.planning.complaints import accept_complaint, close_complaint, file_complaint
from quietday.planning.crew import declare_conflict, draw_month, set_certified_until
from quietday.planning.feeds import CHINA
from quietday.planning.keys import Actor, create_key
from quietday.planning.registry import create_inspector
from quietday.planning.sampling import TaskInput, add_task, create_round, draw_round, record_result

__all__ = [
    "DemoRound",
    "draw_demo_crews",
    "open_sampling_rounds",
    "simulate_check_ins",
    "simulate_feedback",
    "simulate_results",
]

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
    batches = []
    for agency, inputs in sorted(entries.items()):
        key, _ = create_key(session, role="agency", agency_id=agency, label="演示扫码终端")
        batches.append((Actor(key_id=int(key.id or 0), role="agency", agency_id=agency), inputs))
    return sum(len(ids) for ids in record_batches(session, batches))


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


@dataclass(frozen=True, slots=True)
class DemoRound:
    """A sampling round the demo opened and drew: its id, name, window and plans filed."""

    round_id: int
    name: str
    earliest: date
    latest: date
    plans: int


def open_sampling_rounds(
    session: Session,
    supervisor: Actor,
    *,
    agency_id: str,
    quarters: Sequence[tuple[date, date]],
    today: date,
) -> list[DemoRound]:
    """双随机 in the demo agency's county, drawn before the runs so they place the plans: a
    round of the current quarter's weeks already past (drawn three weeks before it began, its
    results public once recorded), when at least two weeks have passed, and one of the next
    quarter (drawn today). Each has the agency's own task over its county, each of the city's
    agencies' task over the city (their samples coordinated: where they overlap, one door),
    all over every class at the policy's ratios, and a joint task (联合抽查) of two other
    agencies of the county over its chemical firms."""
    agencies = AgencyRepository(session).list()
    county = AgencyRepository(session).get_or_raise(agency_id).region_code
    city = next((r.parent_code for r in [RegionRepository(session).get(county)] if r), None)
    others = [
        a.id for a in agencies if a.region_code == county and a.id.endswith(("-STHJ", "-YJGL"))
    ]
    citywide = sorted(a.id for a in agencies if city is not None and a.region_code == city)
    (current, _), (ahead, ahead_end) = quarters
    windows = [(ahead, ahead_end, datetime.combine(today, time(9), tzinfo=CHINA))]
    if (today - current).days >= 14:
        opened = datetime.combine(current - timedelta(days=21), time(9), tzinfo=CHINA)
        windows.insert(0, (current, today - timedelta(days=1), opened))
    out = []
    for earliest, latest, opened in windows:
        name = f"{earliest:%Y年%m月%d日}至{latest:%m月%d日} 双随机抽查"
        row = create_round(
            session,
            supervisor,
            name=name,
            draw_at=opened + timedelta(hours=1),
            coordination="coordinated",
            window_start=0.0,
            now=opened,
        )
        round_id = int(row.id or 0)
        tasks = [
            TaskInput(
                name="日常监督检查",
                region_prefix=county,
                earliest=earliest,
                latest=latest,
                classes=RISK_CLASSES,
                items=("双随机-日常监督",),
                agencies=(agency_id,),
            )
        ]
        tasks += [
            TaskInput(
                name="全市双随机抽查",
                region_prefix=str(city),
                earliest=earliest,
                latest=latest,
                classes=RISK_CLASSES,
                items=("双随机-日常监督",),
                agencies=(a,),
            )
            for a in citywide
        ]
        if len(others) == 2:
            tasks.append(
                TaskInput(
                    name="危险化学品企业联合抽查",
                    region_prefix=county,
                    earliest=earliest,
                    latest=latest,
                    classes=RISK_CLASSES,
                    industries=("化工",),
                    items=("双随机-危化品安全",),
                    agencies=tuple(others),
                )
            )
        for task in tasks:
            add_task(session, supervisor, round_id, task, today=opened.date())
        drawn = draw_round(session, supervisor, round_id, now=opened + timedelta(hours=2))
        out.append(DemoRound(round_id, name, earliest, latest, int(drawn["plans"])))
    return out


# 一公开 outcomes as the national platform's statistics spread them, most checks finding nothing.
OUTCOME_WEIGHTS = {
    CheckOutcome.NO_PROBLEM: 70,
    CheckOutcome.CORRECTED: 14,
    CheckOutcome.CASE_FILED: 3,
    CheckOutcome.TRANSFERRED: 1,
    CheckOutcome.UNREACHABLE: 5,
    CheckOutcome.NOT_OPERATING: 4,
    CheckOutcome.CLOSED: 2,
    CheckOutcome.REFUSED: 1,
}


def simulate_results(
    session: Session, rounds: Sequence[DemoRound], *, today: date, seed: int = 2026
) -> int:
    """Each agency records what its drawn checks of the rounds' past windows found: on the
    visit's day, or (a remote check) on a day of the window; a check not carried out has no
    result and shows as not entered. The number of results."""
    rng = random.Random(seed)
    outcomes, weights = list(OUTCOME_WEIGHTS), list(OUTCOME_WEIGHTS.values())
    repo = SamplingRepository(session)
    tasks = [int(t.id or 0) for t in repo.tasks(r.round_id for r in rounds if r.latest < today)]
    drawn = {d.plan_id for d in repo.draws(tasks) if d.plan_id is not None}
    plans = [
        p
        for p in PlanRepository(session).by_ids(drawn).values()
        if p.status == PlanStatus.PUBLISHED or p.remote
    ]
    actors: dict[str, Actor] = {}
    recorded = 0
    for plan in sorted(plans, key=lambda p: int(p.id or 0)):
        if plan.agency_id not in actors:
            key, _ = create_key(
                session, role="agency", agency_id=plan.agency_id, label="演示结果录入"
            )
            actors[plan.agency_id] = Actor(
                key_id=int(key.id or 0), role="agency", agency_id=plan.agency_id
            )
        if plan.remote:
            day = plan.earliest + timedelta(
                days=rng.randrange((plan.latest - plan.earliest).days + 1)
            )
        elif plan.published_date is not None and plan.published_date < today:
            day = plan.published_date
        else:
            continue
        outcome = rng.choices(outcomes, weights)[0]
        record_result(
            session,
            actors[plan.agency_id],
            int(plan.id or 0),
            outcome=outcome,
            day=day,
            note="",
            today=today,
        )
        recorded += 1
    return recorded


def draw_demo_crews(
    session: Session, supervisor: Actor, *, agency_id: str, months: Sequence[date], today: date
) -> tuple[int, int]:
    """随机选派 for the demo agency: three more inspectors (one whose certificate has lapsed,
    one with a declared 回避 for the enterprise of its next visit), then the teams of its open
    visits drawn month by month. The numbers of teams drawn and of visits left without one."""
    made = [
        create_inspector(
            session, agency_id=agency_id, name=name, certificate_no=f"{agency_id}-ZF-{k + 3:03d}"
        )
        for k, name in enumerate(("张伟", "刘洋", "陈静"))
    ]
    set_certified_until(
        session,
        supervisor,
        agency_id=agency_id,
        inspector_id=int(made[2].id or 0),
        until=today - timedelta(days=30),
        today=today,
    )
    ahead = VisitRepository(session).of_subject(
        "agency", agency_id, today, today + timedelta(days=200)
    )
    if ahead:
        declare_conflict(
            session,
            supervisor,
            agency_id=agency_id,
            inspector_id=int(made[0].id or 0),
            enterprise_id=ahead[0].enterprise_id,
            reason="近亲属在该企业任职",
            today=today,
        )
    teams = unplaced = 0
    for month in months:
        drawn = draw_month(
            session, supervisor, agency_id=agency_id, month=month, today=today, redraw=True
        )
        teams, unplaced = teams + len(drawn.teams), unplaced + len(drawn.unplaced)
    return teams, unplaced
