"""Load a generated province into the database (demo, benchmarks), and the demo itself."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from quietday.domain.filing import Approval, trigger_from_reason
from quietday.domain.model import Enterprise, Instance
from quietday.errors import InputError, Problem
from quietday.generate import GeneratorConfig, Registry, generate, regions, registry
from quietday.persistence import (
    Engine,
    Session,
    make_engine,
    refresh_statistics,
    session_scope,
    upgrade,
)
from quietday.persistence.plans import HistoryRepository, PlanFilter, PlanRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
    PolicyRepository,
    RegionRepository,
)
from quietday.persistence.risk import RiskRepository
from quietday.persistence.runs import RunRepository
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import (
    AgencyRow,
    EnterpriseRow,
    HistoryRow,
    PlanRow,
    PolicyRow,
    RegionRow,
    utcnow,
)
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import RowDigest, record
from quietday.planning.codes import codes_for_visits, enterprise_token, keyring
from quietday.planning.feeds import issue_enterprise_tokens, issue_token
from quietday.planning.filing import decide
from quietday.planning.keys import Actor, create_key
from quietday.planning.registry import (
    CAPS_SETTING,
    agency_id_problem,
    create_inspector,
    put_region,
)
from quietday.planning.risk import recount_remote, remote_by_policy
from quietday.planning.runs import RunRequest, create_run, execute_run, publish_run
from quietday.planning.simulation import (
    DemoRound,
    draw_demo_crews,
    open_sampling_rounds,
    simulate_check_ins,
    simulate_feedback,
    simulate_results,
)

__all__ = [
    "CLI",
    "DemoReport",
    "DemoRun",
    "demo_quarters",
    "load_province",
    "load_registry",
    "run_demo",
]


CLI = "cli"  # the actor of what commands run from the shell record in the audit log


def load_province(
    session: Session,
    instance: Instance,
    *,
    counties: int | None = None,
    pending_special_of: frozenset[str] = frozenset(),
    profiles: Registry | None = None,
) -> None:
    """Regions, policies, caps, agencies (with capacity by date), enterprises, plans (their
    `external_ref` is the generated id) and history of a generated instance, into a database
    that has none of them yet, recorded as one audit entry. Its pins and previous draft are not
    loaded: in the database, publishing makes those. Plans come filed: cases with the trigger
    their exemption names, special plans approved as loaded, but those of the agencies in
    `pending_special_of`, which wait for their head's approval.

    With the generator's `profiles` (`generate.registry` of the instance's config), enterprises
    get their credit-risk class, classified on the first of the horizon's first month, their
    trade, and the 无感监管 flag (class A firms: whitelisted ones and, drawn from their code, half
    of the others); their routine plans become remote where the risk-class policy says so, as
    intake would make them."""
    bad = [p for a in instance.agencies.values() if (p := agency_id_problem(a.id)) is not None]
    if bad:
        raise InputError(bad)
    loaded: dict[str, RowDigest] = defaultdict(RowDigest)

    def add(name: str, repo: Any, rows: Iterable[Any], key: Callable[[Any], Any]) -> None:
        batch = list(rows)
        repo.add_all(batch)
        loaded[name].add_all((key(r), r.model_dump()) for r in batch)

    region_repo = RegionRepository(session)
    add(
        "regions",
        region_repo,
        (
            RegionRow(code=code, name=name, level=level, parent_code=parent)
            for code, name, level, parent in regions(counties)
            if region_repo.get(code) is None
        ),
        lambda r: r.code,
    )
    add(
        "quiet_policies",
        PolicyRepository(session),
        (
            PolicyRow(
                id=p.id,
                month_days=[list(r) for r in p.month_days],
                weekdays=sorted(p.weekdays),
                dates=sorted(d.isoformat() for d in p.dates),
            )
            for p in instance.quiet_policies.values()
        ),
        lambda r: r.id,
    )
    caps = {
        k: getattr(instance.caps, k)
        for k in (
            "agency_enterprise_per_year",
            "enterprise_per_month",
            "enterprise_per_year",
            "min_gap_days",
        )
    }
    SettingRepository(session).put(CAPS_SETTING, caps)
    agencies = AgencyRepository(session)
    add(
        "agencies",
        agencies,
        (
            AgencyRow(id=a.id, name=a.name, region_code=a.region, daily_capacity=a.daily_capacity)
            for a in instance.agencies.values()
        ),
        lambda r: r.id,
    )
    for a in instance.agencies.values():
        for day, capacity in sorted(a.capacity_by_date.items()):
            agencies.set_capacity(a.id, day, capacity)
            loaded["agency_capacity"].add(
                a.id, {"agency_id": a.id, "day": day, "capacity": capacity}
            )
    add(
        "enterprises",
        EnterpriseRepository(session),
        (
            EnterpriseRow(
                id=e.id,
                name=e.name,
                region_code=e.region,
                quiet_policy_id=e.quiet_policy,
                whitelisted=e.whitelisted,
                blackout=sorted(d.isoformat() for d in e.blackout),
                cap_overrides=dict(e.cap_overrides),
                **_profile(profiles, e, instance.horizon.start.replace(day=1)),
            )
            for e in instance.enterprises.values()
        ),
        lambda r: r.id,
    )
    remote = remote_by_policy(session, instance.enterprises) if profiles is not None else set()
    loaded_at = utcnow()

    def approval(agency: str, kind: str) -> dict[str, Any]:
        if kind != "special":
            return {}
        if agency in pending_special_of:
            return {"approval": Approval.PENDING}
        return {"approval": Approval.APPROVED, "approval_at": loaded_at}

    add(
        "plans",
        PlanRepository(session),
        (
            PlanRow(
                agency_id=i.agency,
                enterprise_id=i.enterprise,
                kind=i.kind.value,
                items=list(i.items),
                earliest=i.earliest,
                latest=i.latest,
                priority=i.priority,
                exempt_reason=i.exempt_reason,
                external_ref=i.id,
                trigger=trigger_from_reason(i.exempt_reason) if i.kind.value == "case" else None,
                remote=i.kind.value == "routine" and i.enterprise in remote,
                **approval(i.agency, i.kind.value),
            )
            for i in instance.inspections
        ),
        lambda r: r.id,
    )
    if remote:
        recount_remote(
            session,
            PlanRepository(session).page(PlanFilter(remote=True), after=None, limit=10**9),
        )
    add(
        "history",
        HistoryRepository(session),
        (
            HistoryRow(
                enterprise_id=h.enterprise, agency_id=h.agency, day=h.date, kind=h.kind.value
            )
            for h in instance.history
        ),
        lambda r: r.id,
    )
    record(
        session,
        "province.load",
        f"province:{instance.name}",
        {"caps": caps, **{name: digest.summary() for name, digest in sorted(loaded.items())}},
    )


def _profile(profiles: Registry | None, e: Enterprise, classified_on: date) -> dict[str, Any]:
    """The class fields of a generated enterprise's row (none without the generator's profiles)."""
    if profiles is None or e.id not in profiles.profiles:
        return {}
    profile = profiles.profiles[e.id]
    draw = int.from_bytes(hashlib.sha256(f"low-risk:{e.id}".encode()).digest()[:8], "big")
    low = profile.risk == "A" and (e.whitelisted or draw % 2 == 0)
    return {
        "risk_class": profile.risk,
        "risk_classified_on": classified_on,
        "industry": profile.sector,
        "low_risk": low,
    }


def load_registry(session: Session, instance: Instance) -> None:
    """A new deployment's registry from a generated instance (`quietday db load-registry`):
    what `load_province` loads but the plans and history, which then come through the API.
    Refused while any agency or enterprise is registered (loading adds, never merges)."""
    if AgencyRepository(session).list() or EnterpriseRepository(session).count():
        raise InputError(
            [Problem("registry_not_empty", "registry", "数据库中已有执法部门或企业,不能再次载入")]
        )
    load_province(session, replace(instance, inspections=(), history=()))


@dataclass(frozen=True)
class DemoRun:
    """One of the demo's runs, solved and published."""

    run_id: int
    start: date
    end: date
    provisional_years: list[int]
    published: int
    summary: dict[str, object]


@dataclass(frozen=True)
class DemoReport:
    database_url: str
    runs: list[DemoRun]
    supervisor_key: str
    agency_key: str
    agency_id: str
    agency_name: str
    feeds: list[tuple[str, str, str]]
    check_ins: int
    approver_key: str
    approver_agency_id: str
    ratings: int
    complaints: int
    # The demo agency's code of its next visit (its QR's token), and that enterprise's 监督码.
    sample_code: str | None
    sample_enterprise_code: str | None
    # 双随机 rounds drawn, results recorded, and 随机选派's teams drawn and visits left without.
    rounds: list[DemoRound]
    results: int
    crews: tuple[int, int]


def demo_quarters(today: date) -> tuple[tuple[date, date], tuple[date, date]]:
    """The quarter of `today` (a date in China) and the quarter after it."""

    def bounds(n: int) -> tuple[date, date]:  # the n-th quarter counted from year 0
        after = date((n + 1) // 4, (n + 1) % 4 * 3 + 1, 1)
        return date(n // 4, n % 4 * 3 + 1, 1), after - timedelta(days=1)

    n = today.year * 4 + (today.month - 1) // 3
    return bounds(n), bounds(n + 1)


def run_demo(
    out: Path,
    *,
    enterprises: int,
    time_limit: float,
    on_step: Callable[[str], None],
    today: date,
) -> tuple[DemoReport, Engine]:
    """A fresh SQLite database with a demo province over the quarter of `today` and the quarter
    after it, each solved and published by a run of its own (the quarter ahead provisionally
    while its year has no notice), the current one's past visits checked into, two keys."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / "quietday.db"
    for stale in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)
    # The current quarter has visits already past (check-ins, feeds show both); the one after
    # is what agencies plan now.
    quarters = demo_quarters(today)
    config = GeneratorConfig(
        enterprises=enterprises,
        seed=2026,
        year=today.year,
        quarter=(today.month - 1) // 3 + 1,
        quarters=2,
    )
    instance = generate(config)
    on_step(
        f"演示省份: 企业 {len(instance.enterprises):,} 家, 检查计划 {len(instance.inspections):,} 项"
    )
    specials = Counter(i.agency for i in instance.inspections if i.kind.value == "special")
    busiest = max(
        instance.agencies, key=lambda a: sum(1 for i in instance.inspections if i.agency == a)
    )
    # The agency whose head approves its special plans in the demo: the one with the most.
    head = max(specials, key=lambda a: (specials[a], a)) if specials else busiest
    with session_scope(engine, actor=CLI) as session:
        load_province(
            session, instance, pending_special_of=frozenset({head}), profiles=registry(config)
        )
        on_step(_classes_line(session))
        nanchang = RegionRepository(session).get(NANCHANG)
        if nanchang is not None:
            put_region(session, code=NANCHANG, name=nanchang.name, filing_lead_days=7)
        supervisor, supervisor_key = create_key(session, role="supervisor", label="演示监督密钥")
        _, agency_key = create_key(session, role="agency", agency_id=busiest, label="演示部门密钥")
        approver, approver_key = create_key(
            session, role="approver", agency_id=head, label="演示审批密钥"
        )
    _demo_approvals(engine, Actor(key_id=int(approver.id or 0), role="approver", agency_id=head))
    supervisor_actor = Actor(key_id=int(supervisor.id or 0), role="supervisor", agency_id=None)
    with session_scope(engine, actor=supervisor_actor.name) as session:
        rounds = open_sampling_rounds(
            session, supervisor_actor, agency_id=busiest, quarters=quarters, today=today
        )
    for r in rounds:
        on_step(f"双随机抽查批次 {r.round_id}「{r.name}」: 抽中并备案检查计划 {r.plans:,} 项")
    runs = [
        _demo_run(
            engine,
            supervisor_actor,
            start,
            end,
            today=today,
            time_limit=time_limit,
            on_step=on_step,
        )
        for start, end in quarters
    ]
    refresh_statistics(engine)
    with session_scope(engine, actor=CLI) as session:
        feeds = _demo_feeds(session, supervisor_actor, busiest)
    months = sorted({date(d.year, d.month, 1) for d in _days(today, quarters[1][1])})
    with session_scope(engine, actor=supervisor_actor.name) as session:
        crews = draw_demo_crews(
            session, supervisor_actor, agency_id=busiest, months=months, today=today
        )
    on_step(f"随机选派执法人员: {crews[0]:,} 次入企抽定检查组, {crews[1]:,} 次人员不足")
    with session_scope(engine, actor=CLI) as session:
        check_ins = simulate_check_ins(session, today=today)
    on_step(f"模拟扫码入企记录 {check_ins:,} 条")
    with session_scope(engine, actor=CLI) as session:
        results = simulate_results(session, rounds, today=today)
    on_step(f"各部门录入双随机抽查结果 {results:,} 条")
    with session_scope(engine, actor=CLI) as session:
        ratings, complaints = simulate_feedback(session, supervisor_actor, today=today)
    on_step(f"模拟企业评价 {ratings:,} 条、投诉 {complaints:,} 件")
    with session_scope(engine, actor=CLI) as session:
        code, enterprise_code = _sample_codes(session, busiest, today=today)
    return (
        DemoReport(
            database_url=url,
            runs=runs,
            supervisor_key=supervisor_key,
            agency_key=agency_key,
            agency_id=busiest,
            agency_name=instance.agencies[busiest].name,
            feeds=feeds,
            check_ins=check_ins,
            approver_key=approver_key,
            approver_agency_id=head,
            ratings=ratings,
            complaints=complaints,
            sample_code=code,
            sample_enterprise_code=enterprise_code,
            rounds=rounds,
            results=results,
            crews=crews,
        ),
        engine,
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _classes_line(session: Session) -> str:
    """The demo's credit-risk classes and remote plans, in a line."""
    counts = RiskRepository(session).class_counts()
    classes = "、".join(f"{c} 类 {n:,} 家" for c, (n, _) in sorted(counts.items()))
    low = sum(low for _, low in counts.values())
    remote = len(PlanRepository(session).page(PlanFilter(remote=True), after=None, limit=10**9))
    return f"信用风险分类: {classes}(无感监管 {low:,} 家);非现场检查计划 {remote:,} 项"


NANCHANG = "3601"  # 南昌市 asks for plans to be filed 7 working days ahead
REJECTED = "检查事项与本季度双随机抽查重复,请合并后重新报批"


def _demo_approvals(engine: Engine, approver: Actor) -> None:
    """The head of the demo's approving agency rejects its first special plan, with a comment,
    and approves the others."""
    with session_scope(engine, actor=approver.name) as session:
        pending = PlanRepository(session).page(
            PlanFilter(agency_id=approver.agency_id, kind="special"), after=None, limit=10**9
        )
        for k, plan in enumerate(pending):
            decide(
                session,
                approver,
                int(plan.id or 0),
                approve=k > 0,
                comment=None if k else REJECTED,
                now=utcnow(),
            )


def _demo_run(
    engine: Engine,
    actor: Actor,
    start: date,
    end: date,
    *,
    today: date,
    time_limit: float,
    on_step: Callable[[str], None],
) -> DemoRun:
    """One quarter solved and published; the current one, begun already, as a correction."""
    with session_scope(engine, actor=CLI) as session:
        run = create_run(
            session,
            actor,
            RunRequest(
                horizon_start=start,
                horizon_end=end,
                time_limit=time_limit,
                correction=start <= today,
            ),
            today=today,
            max_time_limit=3600,
            max_workers=8,
        )
        run_id = int(run.id or 0)
    on_step(f"排期运行 {run_id}({start} 至 {end})求解中(时限 {time_limit:.0f} 秒)……")
    execute_run(engine, run_id)
    with session_scope(engine, actor=CLI) as session:
        report = publish_run(session, run_id, today=today)
        row = RunRepository(session).get_or_raise(run_id)
        return DemoRun(
            run_id, start, end, list(row.provisional_years), report.published, dict(row.summary)
        )


def _demo_feeds(session: Session, actor: Actor, agency_id: str) -> list[tuple[str, str, str]]:
    """Two inspectors for the demo agency, sent on all its visits, and a subscription for every
    enterprise with a visit, for the agency and for each inspector: (kind, subject, token)."""
    inspectors = [
        create_inspector(
            session, agency_id=agency_id, name=name, certificate_no=f"{agency_id}-ZF-{k + 1:03d}"
        )
        for k, name in enumerate(("王建国", "李秀英"))
    ]
    visits = VisitRepository(session).of_subject(
        "agency", agency_id, date(2000, 1, 1), date(2100, 12, 31)
    )
    repo = InspectorRepository(session)
    sent = sorted(int(i.id or 0) for i in inspectors)
    for visit in visits:
        repo.set_on_visit(int(visit.id or 0), sent, agencies={agency_id})
    record(
        session,
        "visit.inspectors_batch",
        f"agency:{agency_id}",
        {"inspector_ids": sent, "visit_ids": sorted(int(v.id or 0) for v in visits)},
    )
    out = [
        (kind, subject, issue_token(session, actor, kind=kind, subject_id=subject, label="演示")[1])
        for kind, subject in [
            ("agency", agency_id),
            *(("inspector", str(i.id)) for i in inspectors),
        ]
    ]
    visited = sorted(
        {v.enterprise_id for v in VisitRepository(session).page(after=None, limit=10**9)}
    )
    out += [
        ("enterprise", e, token)
        for e, token in issue_enterprise_tokens(session, actor, visited, label="演示")
    ]
    return out


def _sample_codes(
    session: Session, agency_id: str, *, today: date
) -> tuple[str | None, str | None]:
    """The agency's inspection code of its next visit it may announce, and the 监督码 of that
    visit's enterprise (what the demo's links open)."""
    ring = keyring(session, None)
    ahead = VisitRepository(session).of_subject(
        "agency", agency_id, today, today + timedelta(days=200)
    )
    for visit in ahead:
        codes = codes_for_visits(session, ring, [visit], today=today, agency_id=agency_id)
        if codes:
            return codes[0].token, enterprise_token(ring, visit.enterprise_id)
    return None, None
