"""Sampling rounds and tasks (双随机、一公开): a supervisor opens a round, whose secret seed is
fixed at once and only its commitment shown; agencies (or several as one joint task) define
what they draw from and how much; at the draw time the supervisor draws every task of the
round together, which files the drawn plans and records the populations drawn from, so that
anyone can re-run the draw from the revealed seed; agencies record what each check found, and
the results are public once a task's window has ended.

Who draws: the round's owner, a supervisor key (司法行政 coordinates 双随机 across agencies).
A round's draw is one act for all its tasks (their numbers are coordinated), so no single
agency may start it; and the one who draws cannot choose when, only that it happens after the
published draw time.

When the seed is shown: at the draw, unless the round has an unannounced task: anyone holding
the seed and the registry could then work out which enterprises that task will visit, so the
seed, the populations and the sample are shown once the last unannounced task's window has
ended (the commitment, shown from the start, still proves the seed was not changed).

A result may be corrected by its agency until the plan's window has ended (when the results of
a drawn plan become public); after that it is the record.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from quietday.domain.limits import MAX_BATCH
from quietday.domain.sampling import RISK_CLASSES, Coordination, Request, commitment, draw, number
from quietday.domain.status import CheckOutcome, PlanStatus
from quietday.errors import ConflictError, ForbiddenError, InputError, NotFoundError, Problem
from quietday.persistence import Session
from quietday.persistence.plans import PlanRepository
from quietday.persistence.registry import AgencyRepository, RegionRepository
from quietday.persistence.sampling import (
    UNCLASSIFIED,
    CheckResultRepository,
    DrawnLine,
    Population,
    SamplingRepository,
)
from quietday.persistence.tables import (
    CheckResultRow,
    PlanRow,
    SamplingDrawRow,
    SamplingRoundRow,
    SamplingTaskRow,
    utcnow,
)
from quietday.planning.audit import canonical, record
from quietday.planning.feeds import today_in_china
from quietday.planning.filing import FilingRules
from quietday.planning.keys import Actor
from quietday.planning.plans import DRAWN_REF, PlanInput, create_plans, validate_plan
from quietday.planning.risk import get_policy, recount_remote
from quietday.planning.spreadsheets import csv_bytes, xlsx_bytes

__all__ = [
    "CLASSES",
    "CLASS_LABELS",
    "FORMAT",
    "MAX_DRAWN",
    "MAX_POPULATION",
    "ResultLine",
    "RoundView",
    "TaskInput",
    "Verification",
    "add_task",
    "create_round",
    "default_ratios",
    "draw_round",
    "export_document",
    "population_csv",
    "public_results",
    "record_result",
    "remove_task",
    "results_csv",
    "results_xlsx",
    "round_view",
    "rounds",
    "seed_public",
    "verify_document",
    "verify_round",
]

FORMAT = "quietday.sampling/1"
CLASSES = (*RISK_CLASSES, UNCLASSIFIED)
CLASS_LABELS = {"A": "A 类", "B": "B 类", "C": "C 类", "D": "D 类", UNCLASSIFIED: "未分类"}
MAX_TASKS = 50  # tasks in one round
MAX_AGENCIES = 10  # agencies of one joint task
MAX_INDUSTRIES = 50
MAX_NAME = 100
MAX_NOTE = 500
MAX_POPULATION = 200_000  # enterprises one task draws from
MAX_DRAWN = 50_000  # plans one round's draw files
MAX_DRAW_AHEAD = timedelta(days=366)


def default_ratios(session: Session) -> dict[str, float]:
    """The share of each credit-risk class a task draws when it names none: the per-class
    policy's sampling ratios (unclassified enterprises have no default)."""
    return {row.risk_class: row.sampling_ratio for row in get_policy(session)}


def _supervisor(actor: Actor, what: str) -> None:
    if not actor.is_supervisor:
        raise ForbiddenError(f"{what}须使用监督密钥")


def create_round(
    session: Session,
    actor: Actor,
    *,
    name: str,
    draw_at: datetime,
    coordination: str,
    window_start: float,
    now: datetime,
) -> SamplingRoundRow:
    """Open a round: its seed is made here (secret), its commitment is what is shown until
    the draw, which may happen from `draw_at` on."""
    _supervisor(actor, "创建抽查批次")
    record_name = name.strip() or None
    problems: list[Problem] = []
    if not name.strip() or len(name) > MAX_NAME:
        problems.append(Problem("bad_name", "name", f"批次名称应为 1 至 {MAX_NAME} 个字符"))
    if coordination not in {c.value for c in Coordination}:
        problems.append(
            Problem(
                "unknown_coordination",
                "coordination",
                "coordination 应为 coordinated 或 independent",
                record_name,
            )
        )
    if not (0.0 <= window_start < 1.0) or math.isnan(window_start):
        problems.append(
            Problem("bad_start", "window_start", "window_start 应不小于 0 且小于 1", record_name)
        )
    if draw_at.tzinfo is None:
        problems.append(Problem("naive_time", "draw_at", "draw_at 须带时区", record_name))
    elif not now < draw_at <= now + MAX_DRAW_AHEAD:
        message = "抽取时间须晚于现在,且在一年之内(承诺须在抽取前公布)"
        problems.append(Problem("bad_draw_at", "draw_at", message, record_name))
    if problems:
        raise InputError(problems)
    seed = secrets.token_hex(32)
    row = SamplingRoundRow(
        name=name.strip(),
        seed=seed,
        commitment=commitment(seed),
        coordination=coordination,
        window_start=window_start,
        draw_at=draw_at,
        created_by=actor.key_id,
        created_at=now,
    )
    SamplingRepository(session).add(row)
    # The seed stays out of the log until the draw: the log is read before it.
    record(
        session,
        "sampling_round.create",
        f"sampling_round:{row.id}",
        {
            "name": row.name,
            "commitment": row.commitment,
            "coordination": row.coordination,
            "window_start": row.window_start,
            "draw_at": row.draw_at,
        },
    )
    return row


@dataclass(frozen=True, slots=True)
class TaskInput:
    """A task as submitted: `agencies` empty means the caller's own agency."""

    name: str
    region_prefix: str
    earliest: date
    latest: date
    classes: tuple[str, ...] = CLASSES
    ratios: Mapping[str, float] = field(default_factory=dict)
    industries: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    unannounced: bool = False


def _task_agencies(actor: Actor, task: TaskInput, record_name: str | None) -> list[Problem]:
    if actor.is_supervisor:
        if not task.agencies:
            return [Problem("missing_key", "agencies", "监督密钥须指定 agencies", record_name)]
        if len(task.agencies) > MAX_AGENCIES:
            message = f"联合抽查最多 {MAX_AGENCIES} 个部门"
            return [Problem("too_many_agencies", "agencies", message, record_name)]
        if len(set(task.agencies)) < len(task.agencies):
            return [Problem("duplicate_agency", "agencies", "部门重复", record_name)]
        return []
    if task.agencies not in ((), (actor.agency_id,)):
        message = "部门密钥只能为本部门定义抽查任务;联合抽查由监督部门定义"
        return [Problem("foreign_agency", "agencies", message, record_name)]
    return []


def _ratio_problems(
    task: TaskInput, ratios: Mapping[str, float], record_name: str | None
) -> list[Problem]:
    out: list[Problem] = []
    if not task.classes:
        out.append(Problem("no_classes", "classes", "至少选择一个信用风险类别", record_name))
    for k, cls in enumerate(task.classes):
        if cls not in CLASSES:
            message = f"信用风险类别 {cls} 应为 A、B、C、D 或 U(未分类)"
            out.append(Problem("unknown_class", f"classes[{k}]", message, record_name))
        elif cls not in ratios:
            message = f"类别 {cls} 没有抽查比例"
            out.append(Problem("missing_ratio", f"ratios.{cls}", message, record_name))
    if len(set(task.classes)) < len(task.classes):
        out.append(Problem("duplicate_class", "classes", "信用风险类别重复", record_name))
    for cls, ratio in task.ratios.items():
        if cls not in CLASSES:
            message = f"信用风险类别 {cls} 应为 A、B、C、D 或 U(未分类)"
            out.append(Problem("unknown_class", f"ratios.{cls}", message, record_name))
        elif cls not in task.classes:
            message = f"类别 {cls} 不在抽查范围 classes 中"
            out.append(Problem("ratio_outside_population", f"ratios.{cls}", message, record_name))
        elif not (0.0 <= ratio <= 1.0) or math.isnan(ratio):
            message = f"抽查比例应在 0 至 1 之间,不是 {ratio}"
            out.append(Problem("bad_ratio", f"ratios.{cls}", message, record_name))
    return out


def add_task(
    session: Session, actor: Actor, round_id: int, task: TaskInput, *, today: date
) -> SamplingTaskRow:
    """Add a task to a round not yet drawn; every problem is named by field and task name."""
    actor.require_filer()
    repo = SamplingRepository(session)
    # Locked as the draw locks it: a task is added before the draw reads the tasks, or refused.
    round_row = repo.lock(round_id)
    if round_row.drawn_at is not None:
        raise ConflictError(f"抽查批次 {round_id} 已抽取,不能再添加任务", code="already_drawn")
    name = task.name.strip()
    record_name = name or None
    problems: list[Problem] = []
    if not name or len(task.name) > MAX_NAME:
        problems.append(Problem("bad_name", "name", f"任务名称应为 1 至 {MAX_NAME} 个字符"))
    problems += _task_agencies(actor, task, record_name)
    agencies = list(task.agencies) or ([actor.agency_id] if actor.agency_id else [])
    known = {a.id: a for a in AgencyRepository(session).by_ids(agencies)}
    prefix_ok = task.region_prefix.isascii() and task.region_prefix.isdigit()
    if not prefix_ok or RegionRepository(session).get(task.region_prefix) is None:
        message = f"行政区划 {task.region_prefix[:12]} 不存在"
        problems.append(Problem("unknown_region", "region_prefix", message, record_name))
    for k, agency_id in enumerate(agencies):
        agency = known.get(agency_id)
        if agency is None:
            message = f"执法部门 {agency_id[:64]} 不存在"
            problems.append(Problem("unknown_agency", f"agencies[{k}]", message, record_name))
        elif not task.region_prefix.startswith(agency.region_code):
            message = f"{agency.name}的辖区({agency.region_code})不含 {task.region_prefix}"
            problems.append(Problem("outside_jurisdiction", f"agencies[{k}]", message, record_name))
    if len(task.industries) > MAX_INDUSTRIES or any(
        not i.strip() or len(i) > 64 for i in task.industries
    ):
        message = f"行业最多 {MAX_INDUSTRIES} 个,每个 1 至 64 个字符"
        problems.append(Problem("bad_industries", "industries", message, record_name))
    ratios = {**default_ratios(session), **task.ratios}
    problems += _ratio_problems(task, ratios, record_name)
    plan = PlanInput(
        enterprise_id="",
        kind="routine",
        earliest=task.earliest,
        latest=task.latest,
        items=task.items,
        unannounced=task.unannounced,
    )
    # The plans are filed at the draw: the window and the filing lead are judged from its day.
    filed_on = max(today, today_in_china(round_row.draw_at))
    problems += validate_plan(plan, path="", today=filed_on, record=record_name)
    rules = FilingRules(session, filed_on)
    lates = (
        rules.problem(
            kind="routine",
            earliest=task.earliest,
            region_code=known[a].region_code,
            path="earliest",
            own="earliest ",
        )
        for a in agencies
        if a in known
    )
    late = next((p for p in lates if p is not None), None)
    if late is not None:
        problems.append(Problem(late.code, late.path, late.message, record_name))
    if len(repo.tasks([round_id])) >= MAX_TASKS:
        message = f"一个批次最多 {MAX_TASKS} 个任务"
        problems.append(Problem("too_many_tasks", "round", message, record_name))
    population = Population(task.region_prefix, task.industries, task.classes)
    if not problems and repo.population_size(population) > MAX_POPULATION:
        message = f"抽查对象超过 {MAX_POPULATION:,} 家,请缩小区划、行业或类别"
        problems.append(Problem("population_too_large", "region_prefix", message, record_name))
    if problems:
        raise InputError(problems)
    row = repo.add_task(
        SamplingTaskRow(
            round_id=round_id,
            name=name,
            region_prefix=task.region_prefix,
            industries=sorted(set(task.industries)),
            classes=[c for c in CLASSES if c in task.classes],
            ratios={c: float(ratios[c]) for c in CLASSES if c in task.classes},
            items=list(task.items),
            earliest=task.earliest,
            latest=task.latest,
            unannounced=task.unannounced,
        ),
        agencies,
    )
    record(
        session,
        "sampling_task.create",
        f"sampling_task:{row.id}",
        {**row.model_dump(exclude={"created_at"}), "agencies": agencies},
    )
    return row


def remove_task(session: Session, actor: Actor, round_id: int, task_id: int) -> None:
    """Take a task out of a round not yet drawn: a supervisor any, an agency its own (a task of
    its agency alone); audit-logged."""
    actor.require_filer()
    repo = SamplingRepository(session)
    round_row = repo.lock(round_id)
    task = repo.task(task_id)
    if task is None or task.round_id != round_id:
        raise NotFoundError(f"抽查任务 {task_id} 不存在")
    agencies = repo.agencies([task_id])[task_id]
    if not actor.is_supervisor and agencies != [actor.agency_id]:
        if actor.agency_id in agencies:
            raise ForbiddenError("联合抽查任务只能由监督(司法行政)密钥撤下")
        raise NotFoundError(f"抽查任务 {task_id} 不存在")
    if round_row.drawn_at is not None:
        raise ConflictError(f"抽查批次 {round_id} 已抽取,任务不能撤下", code="already_drawn")
    repo.remove_task(task)
    record(
        session,
        "sampling_task.remove",
        f"sampling_task:{task_id}",
        {"round": round_id, "name": task.name, "agencies": agencies},
    )


# ---- the draw ----


def _snapshot_bytes(snapshot: Mapping[str, Any]) -> bytes:
    """The canonical JSON of a snapshot, whose SHA-256 is its published digest."""
    return canonical(snapshot).encode("utf-8")


def _rerun(
    snapshot: Mapping[str, Any], *, seed: str, coordination: str, start: float
) -> dict[int, list[str]]:
    """Every task's sample, by task, from the seed and the recorded populations alone."""
    mode = Coordination(coordination)
    out: dict[int, list[str]] = {}
    for task in snapshot["tasks"]:
        request = Request(
            agency=task["agencies"][0],
            population=task["population"],
            ratios=task["ratios"],
            stream=_stream(mode, task),
        )
        out[int(task["id"])] = draw(request, seed=seed, coordination=mode, start=start)
    return out


def _stream(coordination: str, task: Mapping[str, Any]) -> str:
    """The numbers a task (its snapshot) draws from: its own when it is unannounced (announced
    samples must tell nothing of it), else the round's shared ones (coordinated) or its lead
    agency's (independent)."""
    if task.get("unannounced"):
        return f"unannounced:{task['id']}"
    return "" if coordination == Coordination.COORDINATED else str(task["agencies"][0])


def _populations(
    repo: SamplingRepository, tasks: Sequence[SamplingTaskRow], agencies: Mapping[int, list[str]]
) -> list[dict[str, Any]]:
    """Each task's snapshot: its agencies, ratios and population (enterprise -> class)."""
    entries: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for k, task in enumerate(tasks):
        population = repo.population(
            Population(task.region_prefix, task.industries, task.classes),
            limit=MAX_POPULATION + 1,
        )
        if len(population) > MAX_POPULATION:
            message = f"抽查对象超过 {MAX_POPULATION:,} 家"
            problems.append(
                Problem("population_too_large", f"tasks[{k}].region_prefix", message, task.name)
            )
        entries.append(
            {
                "id": int(task.id or 0),
                "agencies": agencies[int(task.id or 0)],
                "ratios": dict(task.ratios),
                "unannounced": task.unannounced,
                "population": population,
            }
        )
    if problems:
        raise InputError(problems)
    return entries


def _file_plans(
    session: Session,
    actor: Actor,
    keys: Sequence[tuple[SamplingTaskRow, str, str]],
    *,
    today: date,
) -> list[tuple[PlanRow, bool]]:
    """The drawn plans filed, one per (task, agency, enterprise), in batches of MAX_BATCH."""
    inputs = [
        PlanInput(
            enterprise_id=enterprise,
            kind="routine",
            earliest=task.earliest,
            latest=task.latest,
            items=tuple(task.items),
            unannounced=task.unannounced,
            external_ref=f"{DRAWN_REF}{task.id}-{enterprise}",
            agency_id=agency_id,
        )
        for task, agency_id, enterprise in keys
    ]
    plans: list[tuple[PlanRow, bool]] = []
    for start in range(0, len(inputs), MAX_BATCH):
        chunk = inputs[start : start + MAX_BATCH]
        try:
            plans += create_plans(session, actor, chunk, today=today, path="plans", drawn=True)
        except InputError as exc:
            raise InputError(_by_task(exc.problems, keys, offset=start)) from None
    return plans


def _by_task(
    problems: Sequence[Problem],
    keys: Sequence[tuple[SamplingTaskRow, str, str]],
    *,
    offset: int,
) -> list[Problem]:
    """A drawn plan's problems named by its task (`plans[3].latest` is task 7's `latest`,
    for the agency and enterprise of that plan), the first of each task and field only."""
    out: dict[tuple[int, str], Problem] = {}
    for p in problems:
        found = re.fullmatch(r"plans\[(\d+)\]\.?(.*)", p.path)
        if found is None:
            out.setdefault((0, p.path), p)
            continue
        task, agency_id, enterprise = keys[offset + int(found[1])]
        message = f"{agency_id} 抽中的 {enterprise}: {p.message}"
        key = (int(task.id or 0), found[2])
        out.setdefault(key, Problem(p.code, f"tasks.{task.id}.{found[2]}", message, task.name))
    return list(out.values())


def draw_round(session: Session, actor: Actor, round_id: int, *, now: datetime) -> dict[str, Any]:
    """Draw every task of a round, once: record the populations and their digest, file each
    drawn enterprise's plan for every agency of its task (routine, `SJ-<task>-<enterprise>`),
    reveal the seed in the audit log. Returns the counts (per agency and class)."""
    _supervisor(actor, "抽取")
    repo = SamplingRepository(session)
    row = repo.lock(round_id)
    if row.drawn_at is not None:
        raise ConflictError(
            f"抽查批次 {round_id} 已于 {row.drawn_at:%Y-%m-%d %H:%M} 抽取", code="already_drawn"
        )
    if now < row.draw_at:
        raise ConflictError(f"未到公布的抽取时间 {row.draw_at.isoformat()}", code="draw_not_due")
    tasks = repo.tasks([round_id])
    if not tasks:
        raise ConflictError(f"抽查批次 {round_id} 没有抽查任务", code="no_tasks")
    agencies = repo.agencies(int(t.id or 0) for t in tasks)
    entries = _populations(repo, tasks, agencies)
    snapshot = {"format": FORMAT, "round": round_id, "tasks": entries}
    populations: dict[int, dict[str, str]] = {e["id"]: e["population"] for e in entries}
    samples = _rerun(snapshot, seed=row.seed, coordination=row.coordination, start=row.window_start)
    total = sum(len(samples[int(t.id or 0)]) * len(agencies[int(t.id or 0)]) for t in tasks)
    if total > MAX_DRAWN:
        message = f"本批次将产生 {total:,} 条检查计划,超过 {MAX_DRAWN:,} 条"
        raise InputError([Problem("sample_too_large", "tasks", message, row.name)])
    keys = [
        (task, agency_id, enterprise)
        for task in tasks
        for agency_id in agencies[int(task.id or 0)]
        for enterprise in samples[int(task.id or 0)]
    ]
    plans = _file_plans(session, actor, keys, today=today_in_china(now))
    draws: list[SamplingDrawRow] = []
    counts: dict[str, Counter[str]] = {}
    entry_of = {int(e["id"]): e for e in entries}
    for (task, agency_id, enterprise), (plan, _created) in zip(keys, plans, strict=True):
        stream = _stream(row.coordination, entry_of[int(task.id or 0)])
        draws.append(
            SamplingDrawRow(
                task_id=int(task.id or 0),
                agency_id=agency_id,
                enterprise_id=enterprise,
                number=number(row.seed, enterprise, stream=stream),
                plan_id=plan.id,
            )
        )
        cls = populations[int(task.id or 0)][enterprise]
        counts.setdefault(agency_id, Counter())[cls] += 1
    repo.add_draws(draws)
    body = _snapshot_bytes(snapshot)
    row.snapshot = gzip.compress(body, mtime=0)
    row.snapshot_digest = hashlib.sha256(body).hexdigest()
    row.drawn_at = now
    row.drawn_by = actor.key_id
    repo.add(row)
    summary = {
        "round": round_id,
        "seed": row.seed,
        "commitment": row.commitment,
        "population_digest": row.snapshot_digest,
        "population": {str(e["id"]): len(e["population"]) for e in entries},
        "counts": {a: dict(sorted(c.items())) for a, c in sorted(counts.items())},
        "plans": len(draws),
    }
    record(session, "sampling_round.draw", f"sampling_round:{round_id}", summary)
    return summary


# ---- what is shown, and the re-run ----


def seed_public(row: SamplingRoundRow, tasks: Sequence[SamplingTaskRow], *, today: date) -> bool:
    """Is the round's seed (and its populations and sample) shown? After the draw, once every
    unannounced task's window has ended."""
    return row.drawn_at is not None and all(t.latest < today for t in tasks if t.unannounced)


def reveal_day(tasks: Sequence[SamplingTaskRow]) -> date | None:
    """The first day the seed of a drawn round with unannounced tasks is shown."""
    ends = [t.latest for t in tasks if t.unannounced]
    return max(ends) + timedelta(days=1) if ends else None


def _snapshot(row: SamplingRoundRow) -> dict[str, Any]:
    if row.snapshot is None:
        raise ConflictError(f"抽查批次 {row.id} 尚未抽取", code="not_drawn")
    loaded: dict[str, Any] = json.loads(gzip.decompress(row.snapshot))
    return loaded


def _document(session: Session, row: SamplingRoundRow) -> dict[str, Any]:
    """The round as anyone may re-run it: seed, commitment, mode, start, the populations
    (with their digest) and what was drawn, per task and agency."""
    repo = SamplingRepository(session)
    snapshot = _snapshot(row)
    drawn: dict[int, dict[str, list[str]]] = {}
    for d in repo.draws(int(t["id"]) for t in snapshot["tasks"]):
        drawn.setdefault(d.task_id, {}).setdefault(d.agency_id, []).append(d.enterprise_id)
    return {
        "format": FORMAT,
        "round": {
            "id": row.id,
            "name": row.name,
            "seed": row.seed,
            "commitment": row.commitment,
            "coordination": row.coordination,
            "window_start": row.window_start,
            "draw_at": row.draw_at.isoformat(),
            "drawn_at": row.drawn_at.isoformat() if row.drawn_at else None,
            "population_digest": row.snapshot_digest,
        },
        "snapshot": snapshot,
        "drawn": {
            str(t["id"]): {a: sorted(es) for a, es in sorted(drawn.get(int(t["id"]), {}).items())}
            for t in snapshot["tasks"]
        },
    }


def export_document(session: Session, round_id: int, *, today: date) -> dict[str, Any]:
    """The public export of a drawn round whose seed is shown (else not found)."""
    repo = SamplingRepository(session)
    row = repo.get_or_raise(round_id)
    if not seed_public(row, repo.tasks([round_id]), today=today):
        raise NotFoundError(f"抽查批次 {round_id} 的随机种子尚未公开")
    return _document(session, row)


@dataclass(frozen=True, slots=True)
class Verification:
    """A re-run compared with the stored sample: the seed matches its commitment, the
    populations their digest, and the re-run gives the same enterprises for every agency."""

    commitment_ok: bool
    digest_ok: bool
    same_sample: bool
    expected: int
    stored: int
    differences: list[str]

    @property
    def equal(self) -> bool:
        return self.commitment_ok and self.digest_ok and self.same_sample


def verify_document(document: Mapping[str, Any]) -> Verification:
    """Re-run a round's document (an export, or the database's record) and compare."""
    try:
        meta = document["round"]
        snapshot = document["snapshot"]
        seed = str(meta["seed"])
        samples = _rerun(
            snapshot,
            seed=seed,
            coordination=str(meta["coordination"]),
            start=float(meta["window_start"]),
        )
        expected = {
            (str(t["id"]), a, e)
            for t in snapshot["tasks"]
            for a in t["agencies"]
            for e in samples[int(t["id"])]
        }
        stored = {
            (task, a, e)
            for task, by_agency in document["drawn"].items()
            for a, es in by_agency.items()
            for e in es
        }
        digest = hashlib.sha256(_snapshot_bytes(snapshot)).hexdigest()
        committed = commitment(seed) == meta["commitment"]
        same_digest = digest == meta["population_digest"]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        message = f"不是 {FORMAT} 格式的抽取记录: {type(exc).__name__}"
        raise InputError([Problem("bad_document", "", message)]) from None
    differences = [f"应抽未见: 任务 {t} 部门 {a} 企业 {e}" for t, a, e in sorted(expected - stored)]
    differences += [f"多出: 任务 {t} 部门 {a} 企业 {e}" for t, a, e in sorted(stored - expected)]
    return Verification(
        commitment_ok=committed,
        digest_ok=same_digest,
        same_sample=expected == stored,
        expected=len(expected),
        stored=len(stored),
        differences=differences[:20],
    )


def verify_round(session: Session, round_id: int) -> Verification:
    """Re-run a drawn round from its recorded seed and populations and compare with what is
    stored (409 before the draw)."""
    row = SamplingRepository(session).get_or_raise(round_id)
    return verify_document(_document(session, row))


# ---- listing ----


@dataclass(frozen=True, slots=True)
class TaskView:
    task: SamplingTaskRow
    agencies: list[str]
    drawn: dict[str, int]
    population: int | None

    @property
    def total(self) -> int:
        return sum(self.drawn.values())


@dataclass(frozen=True, slots=True)
class RoundView:
    round: SamplingRoundRow
    tasks: list[TaskView]
    seed_shown: bool
    reveal_on: date | None


def round_view(
    session: Session,
    row: SamplingRoundRow,
    *,
    today: date,
    agency: str | None = None,
    public: bool = False,
) -> RoundView:
    """A round with its tasks, their agencies and counts drawn, and whether its seed is shown.
    Supervisors see every task; until an unannounced task's window has ended the public
    (`public`) sees only that it exists (no scope, no counts), and an agency (`agency`) sees
    it only when it takes part."""
    repo = SamplingRepository(session)
    tasks = repo.tasks([int(row.id or 0)])
    ids = [int(t.id or 0) for t in tasks]
    agencies = repo.agencies(ids)
    counts = repo.counts(ids)
    sizes = (
        {int(t["id"]): len(t["population"]) for t in _snapshot(row)["tasks"]}
        if row.snapshot is not None
        else {}
    )
    views = []
    for t in tasks:
        mine = agencies[int(t.id or 0)]
        hidden = t.unannounced and t.latest >= today
        if hidden and not public and agency is not None and agency not in mine:
            continue
        if hidden and public:  # there is one; its scope and counts come after its window
            views.append(TaskView(t, mine, {}, None))
            continue
        drawn = {a: counts.get((int(t.id or 0), a), 0) for a in mine}
        views.append(TaskView(t, mine, drawn, sizes.get(int(t.id or 0))))
    return RoundView(row, views, seed_public(row, tasks, today=today), reveal_day(tasks))


def rounds(
    session: Session,
    *,
    today: date,
    agency: str | None = None,
    public: bool = False,
    limit: int = 50,
) -> list[RoundView]:
    """The latest rounds, each as `round_view` shows it to this viewer."""
    return [
        round_view(session, r, today=today, agency=agency, public=public)
        for r in SamplingRepository(session).rounds(limit=limit)
    ]


# ---- results (一公开) ----


@dataclass(frozen=True, slots=True)
class ResultLine:
    task: str
    enterprise_id: str
    enterprise_name: str
    agency: str
    outcome: str
    day: date | None


def public_results(session: Session, round_id: int, *, today: date) -> list[ResultLine]:
    """The results of the round's tasks whose window has ended: every drawn plan with its
    outcome, or 未录入. Every drawn plan's day lies in its task's window, so none of an
    unannounced task is shown before its day; before the window ends nothing of a task is."""
    repo = SamplingRepository(session)
    repo.get_or_raise(round_id)
    ended = {int(t.id or 0): t for t in repo.tasks([round_id]) if t.latest < today}
    out: list[ResultLine] = []
    line: DrawnLine
    for line in repo.drawn_lines(ended):
        label = CheckOutcome(line.outcome).label if line.outcome else "未录入"
        out.append(
            ResultLine(
                ended[line.task_id].name,
                line.enterprise_id,
                line.enterprise_name,
                line.agency_name,
                label,
                line.result_day,
            )
        )
    return out


def record_result(
    session: Session,
    actor: Actor,
    plan_id: int,
    *,
    outcome: str,
    day: date,
    note: str,
    today: date,
) -> tuple[CheckResultRow, bool]:
    """Record (or correct) what a check of the agency's plan found: (row, created). The day is
    not in the future and not before the plan's published day (a remote plan: in its window);
    a result is corrected only until the plan's window has ended, when it becomes public."""
    actor.require_filer()
    if actor.is_supervisor:
        raise ForbiddenError("检查结果由实施检查的部门录入,请使用部门密钥")
    plan = PlanRepository(session).get_for(plan_id, actor.own_agency)
    if plan.status == PlanStatus.CANCELLED:
        raise ConflictError(f"检查计划 {plan_id} 已撤销", code="plan_cancelled")
    if not plan.remote and plan.published_date is None:
        message = f"检查计划 {plan_id} 尚未排期,没有检查日期"
        raise ConflictError(message, code="plan_not_scheduled")
    problems: list[Problem] = []
    if outcome not in {o.value for o in CheckOutcome}:
        problems.append(Problem("unknown_outcome", "outcome", f"未知的检查结果 {outcome[:32]}"))
    if day > today:
        problems.append(Problem("day_in_future", "day", f"day {day} 晚于今天 {today}"))
    elif plan.remote and not plan.earliest <= day <= plan.latest:
        message = f"非现场检查的日期 {day} 须在检查窗口 {plan.earliest} 至 {plan.latest} 内"
        problems.append(Problem("day_outside_window", "day", message))
    elif plan.published_date is not None and day < plan.published_date:
        message = f"day {day} 早于排定的检查日期 {plan.published_date}"
        problems.append(Problem("day_before_visit", "day", message))
    if len(note) > MAX_NOTE:
        problems.append(Problem("too_long", "note", f"备注不超过 {MAX_NOTE} 个字符"))
    if problems:
        raise InputError(problems)
    repo = CheckResultRepository(session)
    row = repo.get(plan_id)
    created = row is None
    if row is None:
        row = CheckResultRow(plan_id=plan_id, outcome=outcome, day=day, note=note)
    elif plan.latest < today:
        message = f"检查窗口已于 {plan.latest} 结束,结果已公开,不能修改"
        raise ConflictError(message, code="result_public")
    else:
        row.outcome, row.day, row.note = outcome, day, note
    row.recorded_by = actor.key_id
    row.recorded_at = utcnow()
    repo.add(row)
    if plan.remote:
        recount_remote(session, [plan], days=[day])
    action = "check_result.create" if created else "check_result.update"
    record(
        session,
        action,
        f"plan:{plan_id}",
        {"outcome": outcome, "day": day, "note": note},
    )
    return row, created


_RESULT_HEADER = ("抽查任务", "企业名称", "统一社会信用代码", "检查部门", "检查结果", "检查日期")


def _result_cells(lines: Sequence[ResultLine]) -> list[tuple[str, str, str, str, str, str]]:
    return [
        (r.task, r.enterprise_name, r.enterprise_id, r.agency, r.outcome, str(r.day or ""))
        for r in lines
    ]


def results_csv(session: Session, round_id: int, *, today: date) -> bytes:
    """The round's public results as CSV (UTF-8 with BOM)."""
    return csv_bytes(_RESULT_HEADER, _result_cells(public_results(session, round_id, today=today)))


def results_xlsx(session: Session, round_id: int, *, today: date) -> bytes:
    """The round's public results as XLSX."""
    return xlsx_bytes(
        title="抽查结果",
        header=_RESULT_HEADER,
        rows=_result_cells(public_results(session, round_id, today=today)),
    )


def population_csv(session: Session, round_id: int, *, today: date) -> bytes:
    """The populations drawn from, one enterprise of one task a line, with its class, its
    permanent random number (in the task's stream) and the agencies that drew it."""
    document = export_document(session, round_id, today=today)
    meta = document["round"]
    lines: list[tuple[str, str, str, str, str]] = []
    for task in document["snapshot"]["tasks"]:
        stream = _stream(meta["coordination"], task)
        drawn: dict[str, list[str]] = {}
        for agency_id, enterprises in document["drawn"][str(task["id"])].items():
            for enterprise in enterprises:
                drawn.setdefault(enterprise, []).append(agency_id)
        for enterprise, cls in sorted(task["population"].items()):
            prn = number(meta["seed"], enterprise, stream=stream)
            lines.append(
                (str(task["id"]), enterprise, cls, repr(prn), ";".join(drawn.get(enterprise, [])))
            )
    return csv_bytes(("task", "enterprise_id", "class", "number", "drawn_by"), lines)
