"""Plans in: one, a batch or a spreadsheet, all-or-nothing, every bad row named by index and
field; reading, listing, changing and cancelling them, and what that does to published visits.

Re-submitting a plan with the same `external_ref` (unique per agency) and the same content
returns the existing plan; the same reference with different content is a conflict.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from quietday.domain.filing import TRIGGER_LABELS, Approval, trigger_from_reason
from quietday.domain.limits import (
    MAX_BATCH,
    MAX_EXEMPT_REASON,
    MAX_EXTERNAL_REF,
    MAX_ITEM,
    MAX_ITEMS,
    MAX_PRIORITY,
    MAX_WINDOW_DAYS,
    YEARS,
)
from quietday.domain.model import KINDS
from quietday.domain.status import PlanStatus
from quietday.domain.text import MAX_ID, ascii_int
from quietday.errors import ConflictError, InputError, Problem
from quietday.persistence import Session
from quietday.persistence.filing import NoticeRepository
from quietday.persistence.plans import PlanFilter, PlanRepository
from quietday.persistence.registry import AgencyRepository, EnterpriseRepository
from quietday.persistence.sampling import SamplingRepository
from quietday.persistence.tables import PlanRow, VisitRow, utcnow
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import RowDigest, diff, plain, record
from quietday.planning.codes import revoke_stale
from quietday.planning.filing import FilingRules, issue_notice
from quietday.planning.frequency import refresh_rollups
from quietday.planning.keys import Actor
from quietday.planning.risk import recount_remote, remote_by_policy
from quietday.planning.visits import settle
from quietday.planning.webhooks import refreshed

__all__ = [
    "PlanInput",
    "PlanPage",
    "VisitView",
    "cancel_plan",
    "create_plans",
    "decode_cursor",
    "encode_cursor",
    "get_plan",
    "list_plans",
    "list_visits",
    "update_plan",
    "validate_plan",
]

# Changing any of these moves a published plan out of its visit: it must be scheduled again (a
# plan made remote leaves its visit for good).
_SCHEDULING_FIELDS = ("kind", "earliest", "latest", "exempt_reason", "remote")
# Changing these alters what calendars show of the visit.
_VISIBLE_FIELDS = ("items", "unannounced")
# Changing any of these sends a special plan back to its agency's head for approval.
_APPROVED_FIELDS = ("kind", "earliest", "latest", "items")


@dataclass(frozen=True, slots=True)
class PlanInput:
    """One plan as submitted. `agency_id` is required from a supervisor and implied by an
    agency's own key. A remote plan (非现场) is a document or video review: it opens no door."""

    enterprise_id: str
    kind: str
    earliest: date
    latest: date
    items: tuple[str, ...] = ()
    priority: int = 1
    exempt_reason: str | None = None
    unannounced: bool = False
    external_ref: str | None = None
    agency_id: str | None = None
    trigger: str | None = None
    remote: bool = False

    def content(self) -> dict[str, Any]:
        """What makes two submissions the same plan."""
        d = asdict(self)
        d.pop("external_ref")
        d["items"] = list(self.items)
        return d


def _row_content(row: PlanRow) -> dict[str, Any]:
    return {
        "enterprise_id": row.enterprise_id,
        "kind": row.kind,
        "earliest": row.earliest,
        "latest": row.latest,
        "items": list(row.items),
        "priority": row.priority,
        "exempt_reason": row.exempt_reason,
        "unannounced": row.unannounced,
        "agency_id": row.agency_id,
        "trigger": row.trigger,
        "remote": row.remote,
    }


def with_trigger(plan: PlanInput) -> PlanInput:
    """A case without a trigger takes the one its exemption's reason names (`投诉举报`), as
    clients wrote it before the field existed; any other kind keeps what was given."""
    if plan.kind == "case" and plan.trigger is None:
        return replace(plan, trigger=trigger_from_reason(plan.exempt_reason))
    return plan


@dataclass(frozen=True, slots=True)
class Wording:
    """How a message names fields: by the API's field names, or, for a spreadsheet, by its
    Chinese headers (`headers`, field -> header). A spreadsheet's messages are then prefixed
    with the row and the field's own header (`第 3 行「最晚日期」…`), so they leave it out."""

    headers: Mapping[str, str] | None = None

    def own(self, name: str) -> str:
        return "" if self.headers else f"{name} "

    def other(self, name: str) -> str:
        return f"「{self.headers[name]}」" if self.headers else name


def validate_plan(
    plan: PlanInput,
    *,
    path: str,
    today: date,
    record: str | None = None,
    wording: Wording = Wording(),
    unread: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Problems of one plan on its own (references are checked against the registry later).
    `unread` names fields whose value could not be read (already reported): not judged again.
    A window that ended before `today` (in China) can never be scheduled: refused."""
    out: list[Problem] = []
    own, other = wording.own, wording.other

    def bad(code: str, name: str, message: str) -> None:
        if name not in unread:
            out.append(Problem(code, f"{path}.{name}" if path else name, message, record))

    if plan.kind not in KINDS:
        bad(
            "unknown_kind", "kind", f"检查类型 {plan.kind} 应为 routine、special、case 或 requested"
        )
    for name, day in (("earliest", plan.earliest), ("latest", plan.latest)):
        if not YEARS[0] <= day.year <= YEARS[1]:
            bad("bad_date", name, f"{own(name)}{day} 超出 {YEARS[0]}-{YEARS[1]} 年")
    window = {"earliest", "latest"}.isdisjoint(unread)
    if window and plan.latest < plan.earliest:
        bad(
            "window_inverted",
            "latest",
            f"{own('latest')}{plan.latest} 早于 {other('earliest')} {plan.earliest}",
        )
    elif window and (plan.latest - plan.earliest).days >= MAX_WINDOW_DAYS:
        bad("window_too_long", "latest", f"检查窗口超过 {MAX_WINDOW_DAYS} 天")
    elif YEARS[0] <= plan.latest.year and plan.latest < today:
        bad(
            "window_past",
            "latest",
            f"{own('latest')}{plan.latest} 已经过去(今天是 {today}),检查窗口已结束,无法排期",
        )
    if not 1 <= plan.priority <= MAX_PRIORITY:
        bad(
            "priority_range",
            "priority",
            f"{own('priority')}{plan.priority} 超出 1 至 {MAX_PRIORITY}",
        )
    if len(plan.items) > MAX_ITEMS:
        bad("too_many_items", "items", f"检查事项最多 {MAX_ITEMS} 项")
    if any(not item.strip() or len(item) > MAX_ITEM for item in plan.items):
        bad("bad_item", "items", f"检查事项不能为空,且每项不超过 {MAX_ITEM} 个字符")
    if plan.exempt_reason is not None and len(plan.exempt_reason) > MAX_EXEMPT_REASON:
        bad("too_long", "exempt_reason", f"豁免事由不超过 {MAX_EXEMPT_REASON} 个字符")
    if plan.trigger is not None and plan.trigger not in TRIGGER_LABELS:
        bad("unknown_trigger", "trigger", f"触发事由 {plan.trigger} 应为 {_TRIGGERS}")
    elif plan.kind == "case" and plan.trigger is None:
        bad("missing_trigger", "trigger", f"个案检查须注明触发事由 {other('trigger')}: {_TRIGGERS}")
    elif plan.kind != "case" and plan.trigger is not None:
        bad("unexpected_trigger", "trigger", "只有个案检查(case)有触发事由")
    if plan.external_ref is not None and not 1 <= len(plan.external_ref) <= MAX_EXTERNAL_REF:
        bad("too_long", "external_ref", f"{own('external_ref')}应为 1 至 {MAX_EXTERNAL_REF} 个字符")
    return out


_TRIGGERS = "、".join(f"{code} {label}" for code, label in TRIGGER_LABELS.items())


def _owner(
    actor: Actor, plan: PlanInput, path: str, wording: Wording
) -> tuple[str | None, list[Problem]]:
    where = f"{path}.agency_id" if path else "agency_id"
    if actor.is_supervisor:
        if not plan.agency_id:
            message = f"监督密钥提交计划须指定 {wording.other('agency_id')}"
            return None, [Problem("missing_key", where, message)]
        return plan.agency_id, []
    if plan.agency_id and plan.agency_id != actor.agency_id:
        return None, [Problem("foreign_agency", where, "只能为本部门提交检查计划")]
    return actor.agency_id, []


def _new_row(plan: PlanInput, agency_id: str) -> PlanRow:
    now = utcnow()
    return PlanRow(
        agency_id=agency_id,
        enterprise_id=plan.enterprise_id,
        kind=plan.kind,
        items=list(plan.items),
        earliest=plan.earliest,
        latest=plan.latest,
        priority=plan.priority,
        exempt_reason=plan.exempt_reason or None,
        unannounced=plan.unannounced,
        external_ref=plan.external_ref,
        trigger=plan.trigger,
        remote=plan.remote,
        approval=Approval.PENDING if plan.kind == "special" else None,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class _Owned:
    """A submitted plan at `path`, its owning agency (None: not allowed) and unread fields."""

    path: str
    plan: PlanInput
    agency_id: str | None
    skip: frozenset[str]

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name


@dataclass
class Intake:
    """Plans being accepted in one transaction, checked against the registry in bulk. Every
    problem of every plan is found in one pass: a plan with a bad field is still checked against
    the registry (its enterprise, its agency, its reference). Every path in (one plan, a batch, a
    spreadsheet, the agency pages) comes through here, where the risk-class policy makes the
    routine plans of 无感监管 enterprises remote (`planning.risk.remote_by_policy`)."""

    session: Session
    actor: Actor
    today: date
    wording: Wording = Wording()
    problems: list[Problem] = field(default_factory=list)
    created: int = 0
    unchanged: int = 0
    rows: list[tuple[PlanRow, bool]] = field(default_factory=list)
    keep_rows: bool = True
    # A 双随机 draw files its plans here; no one else may take its references (`DRAWN_REF`).
    drawn: bool = False
    digest: RowDigest = field(default_factory=RowDigest)
    _refs: set[tuple[str, str]] = field(default_factory=set)
    _filing: FilingRules = field(init=False)

    def __post_init__(self) -> None:
        self.actor.require_filer()
        self._filing = FilingRules(self.session, self.today)

    def check_and_add(
        self,
        plans: Sequence[tuple[str, PlanInput]],
        *,
        unread: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """Validate `plans` (path, plan) and add the good ones while no problem has been seen
        anywhere; after the first problem only validation continues. `unread` (path -> fields)
        names fields whose value could not be read, reported already: not judged again."""
        unread = unread or {}
        owned: list[_Owned] = []
        for path, given in plans:
            plan = with_trigger(given)
            skip = unread.get(path, frozenset())
            problems = validate_plan(
                plan, path=path, today=self.today, wording=self.wording, unread=skip
            )
            agency_id, owner_problems = _owner(self.actor, plan, path, self.wording)
            self.problems.extend(problems + [p for p in owner_problems if "agency_id" not in skip])
            if not self.drawn and _looks_drawn(plan.external_ref or ""):
                message = f"以 {DRAWN_REF} 开头的编号留给双随机抽查抽中的计划"
                where = f"{path}.external_ref" if path else "external_ref"
                self.problems.append(Problem("reserved_external_ref", where, message))
            owned.append(_Owned(path, plan, agency_id, skip))
        ents = EnterpriseRepository(self.session).existing(
            o.plan.enterprise_id for o in owned if "enterprise_id" not in o.skip
        )
        owned = self._remote_by_policy(owned, ents)
        agencies = {
            a.id: a.region_code
            for a in AgencyRepository(self.session).by_ids(
                o.agency_id for o in owned if o.agency_id is not None and "agency_id" not in o.skip
            )
        }
        known = self._stored(owned)
        # Plans with a problem already: a stored plan of the same reference is not compared.
        flawed = {p.path.split(".", 1)[0] for p in self.problems} | (
            {""} if self.problems else set()
        )
        fresh: list[PlanRow] = []
        for o in owned:
            found = len(self.problems)
            if "enterprise_id" not in o.skip and o.plan.enterprise_id not in ents:
                message = f"企业 {o.plan.enterprise_id} 不在企业名录中"
                self.problems.append(
                    Problem("unknown_enterprise", o.where("enterprise_id"), message)
                )
            if (
                o.agency_id is not None
                and "agency_id" not in o.skip
                and o.agency_id not in agencies
            ):
                message = f"执法部门 {o.agency_id} 不存在"
                self.problems.append(Problem("unknown_agency", o.where("agency_id"), message))
            late = self._late(o, agencies, known)
            if late is not None:
                self.problems.append(late)
            if o.agency_id is None or len(self.problems) > found:
                continue
            referenced = o.plan.external_ref and "external_ref" not in o.skip
            if referenced and not self._reference(o, o.agency_id, known, flawed=o.path in flawed):
                continue
            fresh.append(_new_row(o.plan, o.agency_id))
        if self.problems:
            return
        PlanRepository(self.session).add_all(fresh)
        for row in fresh:
            if row.kind == "case":
                issue_notice(self.session, row, reason=row.exempt_reason, today=self.today)
        recount_remote(self.session, [row for row in fresh if row.remote])
        self.digest.add_all((row.id, row.model_dump()) for row in fresh)
        self.created += len(fresh)
        if self.keep_rows:
            self.rows.extend((row, True) for row in fresh)

    def _remote_by_policy(self, owned: list[_Owned], ents: set[str]) -> list[_Owned]:
        """The routine plans of enterprises the risk-class policy checks remotely, made remote."""
        routine = {
            o.plan.enterprise_id
            for o in owned
            if o.plan.kind == "routine" and not o.plan.remote and o.plan.enterprise_id in ents
        }
        if not routine:
            return owned
        remote = remote_by_policy(self.session, routine)
        return [
            replace(o, plan=replace(o.plan, remote=True))
            if o.plan.kind == "routine" and o.plan.enterprise_id in remote
            else o
            for o in owned
        ]

    def _late(
        self, o: _Owned, regions: Mapping[str, str], known: Mapping[tuple[str, str], PlanRow]
    ) -> Problem | None:
        """The filing lead time of the plan's agency's region, unless a field it needs is bad
        or the plan was filed before (the same reference: judged as it is, not as new). A remote
        plan is not filed ahead: it enters no enterprise (事前报备 is of entries)."""
        if o.agency_id is None or o.agency_id not in regions or {"kind", "earliest"} & o.skip:
            return None
        if o.plan.remote:
            return None
        if o.plan.external_ref and (o.agency_id, o.plan.external_ref) in known:
            return None
        return self._filing.problem(
            kind=o.plan.kind,
            earliest=o.plan.earliest,
            region_code=regions[o.agency_id],
            path=o.where("earliest"),
            own=self.wording.own("earliest"),
        )

    def _stored(self, owned: Sequence[_Owned]) -> dict[tuple[str, str], PlanRow]:
        """The stored plans that the submitted references name, by (agency, reference)."""
        by_agency: dict[str, list[str]] = {}
        for o in owned:
            if o.plan.external_ref and o.agency_id is not None and "external_ref" not in o.skip:
                by_agency.setdefault(o.agency_id, []).append(o.plan.external_ref)
        plans_repo = PlanRepository(self.session)
        return {
            (agency_id, ref): row
            for agency_id, refs in by_agency.items()
            for ref, row in plans_repo.by_external_refs(agency_id, refs).items()
        }

    def _reference(
        self,
        o: _Owned,
        agency_id: str,
        known: Mapping[tuple[str, str], PlanRow],
        *,
        flawed: bool,
    ) -> bool:
        """Is the plan new by its reference? A reference seen before in this submission is a
        problem; a stored plan of the same content is counted unchanged, of another content a
        conflict."""
        ref = str(o.plan.external_ref)
        key = (agency_id, ref)
        own = self.wording.own("external_ref")
        if key in self._refs:
            message = f"{own}{ref} 在本次提交中重复"
            self.problems.append(
                Problem("duplicate_external_ref", o.where("external_ref"), message)
            )
            return False
        self._refs.add(key)
        existing = known.get(key)
        if existing is None:
            return True
        if flawed:
            return False
        if _row_content(existing) == replace(o.plan, agency_id=agency_id).content():
            self.unchanged += 1
            if self.keep_rows:
                self.rows.append((existing, False))
        else:
            message = f"{own}{ref} 已用于内容不同的计划 {existing.id};如需修改请用更新接口"
            self.problems.append(Problem("external_ref_conflict", o.where("external_ref"), message))
        return False


def create_plans(
    session: Session,
    actor: Actor,
    plans: Sequence[PlanInput],
    *,
    today: date,
    path: str = "",
    drawn: bool = False,
) -> list[tuple[PlanRow, bool]]:
    """Accept every plan or none: (row, created) per plan, or InputError listing every problem
    with its index (`[3].enterprise_id`), or `path` itself for a single plan. Only a 双随机 draw
    (`drawn`) files plans whose reference starts with `DRAWN_REF`."""
    if len(plans) > MAX_BATCH:
        raise InputError([Problem("batch_too_large", path, f"一次最多提交 {MAX_BATCH} 条计划")])
    intake = Intake(session, actor, today, drawn=drawn)
    single = path == "" and len(plans) == 1
    intake.check_and_add([("" if single else f"{path}[{k}]", p) for k, p in enumerate(plans)])
    if intake.problems:
        raise InputError(intake.problems)
    if single and intake.created:
        row = intake.rows[0][0]
        record(session, "plan.create", f"plan:{row.id}", plain(row.model_dump()))
    elif intake.created:
        summary = {**intake.digest.summary(), "unchanged": intake.unchanged}
        record(session, "plan.batch", "plans", summary)
    return intake.rows


def get_plan(session: Session, actor: Actor, plan_id: int) -> PlanRow:
    return PlanRepository(session).get_for(plan_id, actor.own_agency)


@dataclass(frozen=True, slots=True)
class PlanPage:
    items: list[PlanRow]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"p:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The last id of the previous page, or an InputError for a cursor this API never gave."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    last_id = ascii_int(text[2:], maximum=MAX_ID) if text.startswith("p:") else None
    if last_id is None:
        raise InputError([Problem("bad_cursor", "cursor", "无效的分页游标")])
    return last_id


def list_plans(
    session: Session, actor: Actor, flt: PlanFilter, *, cursor: str | None, limit: int
) -> PlanPage:
    if actor.own_agency is not None:
        flt.agency_id = actor.own_agency
    rows = list(PlanRepository(session).page(flt, after=decode_cursor(cursor), limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return PlanPage(rows, encode_cursor(int(rows[-1].id or 0)) if more and rows else None)


def refresh_visit(session: Session, visit: VisitRow, *, left: Sequence[PlanRow] = ()) -> None:
    """Plans left a visit (`left`, when known) or changed in it: settle its state from the
    plans still published in it (none left: cancelled), tell the webhooks, and recount the
    audit of its date."""
    members = [
        p
        for p in PlanRepository(session).in_visit(int(visit.id or 0))
        if p.status == PlanStatus.PUBLISHED
    ]
    settle(visit, members, now=utcnow(), changed=True)
    VisitRepository(session).add(visit)
    revoke_stale(session, [int(visit.id or 0)])
    refreshed(session, visit, members, left)
    county = EnterpriseRepository(session).get_or_raise(visit.enterprise_id).region_code
    refresh_rollups(session, [visit.day], counties=[county])


def _leave_visit(session: Session, row: PlanRow) -> None:
    """Take a published plan out of its visit. A cancelled plan remembers the visit it left
    (`cancelled_visit_id`), so that its agency and inspectors still see that visit, cancelled;
    a plan to be scheduled again does not."""
    if row.visit_id is None:
        return
    visit = VisitRepository(session).get_or_raise(row.visit_id)
    if row.status == PlanStatus.CANCELLED:
        row.cancelled_visit_id = row.visit_id
    row.visit_id = None
    row.published_date = None
    session.add(row)
    session.flush()
    refresh_visit(session, visit, left=[row])


def _keep_record(session: Session, row: PlanRow, *, today: date) -> None:
    """A plan published for a day before today, or in a visit someone checked in on, is the
    record: it is neither changed nor cancelled."""
    if row.status != PlanStatus.PUBLISHED or row.visit_id is None:
        return
    day = row.published_date
    if day is not None and day < today:
        why = "日期已过"
    elif VisitRepository(session).checked_in([row.visit_id]):
        why = "已有入企记录"
    else:
        return
    raise ConflictError(
        f"检查计划 {row.id} 安排在 {day},{why},属于历史记录,不能修改或取消", code="plan_in_record"
    )


def update_plan(
    session: Session, actor: Actor, plan_id: int, changes: Mapping[str, Any], *, today: date
) -> PlanRow:
    """Change a plan; its version grows. A published plan whose window, kind, exemption or mode
    (remote) changes leaves its visit and waits for the next run (a remote one for its result); one of the record stays as it is. A
    change that would leave a plan waiting for a run with a window already past is refused (no
    run could schedule it)."""
    actor.require_filer()
    repo = PlanRepository(session)
    row = repo.get_for(plan_id, actor.own_agency)
    if row.status == PlanStatus.CANCELLED:
        raise ConflictError(f"检查计划 {plan_id} 已取消,不能修改", code="plan_cancelled")
    current = PlanInput(
        enterprise_id=row.enterprise_id,
        kind=row.kind,
        earliest=row.earliest,
        latest=row.latest,
        items=tuple(row.items),
        priority=row.priority,
        exempt_reason=row.exempt_reason,
        unannounced=row.unannounced,
        external_ref=row.external_ref,
        agency_id=row.agency_id,
        trigger=row.trigger,
        remote=row.remote,
    )
    allowed = {
        "kind", "earliest", "latest", "items", "priority", "exempt_reason", "unannounced",
        "trigger", "remote",
    }  # fmt: skip
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InputError([Problem("read_only", name, f"{name} 不能修改") for name in unknown])
    nulls = sorted(
        k for k, v in changes.items() if v is None and k not in ("exempt_reason", "trigger")
    )
    if nulls:
        raise InputError([Problem("null_value", name, f"{name} 不能为 null") for name in nulls])
    values: dict[str, Any] = {k: (tuple(v) if k == "items" else v) for k, v in changes.items()}
    updated = replace(current, **values)
    if updated != current:
        _drawn_stays(
            session, row, changed=[k for k in values if getattr(updated, k) != getattr(current, k)]
        )
    if updated.kind != "case" and "trigger" not in changes:
        updated = replace(updated, trigger=None)  # a plan that is no longer a case
    updated = with_trigger(updated)
    if updated == current:
        return row
    _keep_record(session, row, today=today)
    # A special plan changed where its head approved it waits for approval again.
    reapprove = updated.kind == "special" and (
        row.approval is None
        or any(getattr(updated, f) != getattr(current, f) for f in _APPROVED_FIELDS)
    )
    moves = reapprove or any(getattr(updated, f) != getattr(current, f) for f in _SCHEDULING_FIELDS)
    # A published plan that stays in its visit may be corrected after its window.
    waits = row.status != PlanStatus.PUBLISHED or moves
    problems = validate_plan(updated, path="", today=today if waits else date.min)
    problems += _filed_late(session, row.agency_id, current, updated, today=today)
    if problems:
        raise InputError(problems)
    before = row.model_dump()
    visible = any(getattr(updated, f) != getattr(current, f) for f in _VISIBLE_FIELDS)
    for key in allowed:
        value = getattr(updated, key)
        setattr(row, key, list(value) if key == "items" else value)
    if reapprove or updated.kind != "special":
        _withdraw_approval(row, pending=reapprove)
    if row.status == PlanStatus.PUBLISHED and moves:
        row.status = PlanStatus.SUBMITTED
        _leave_visit(session, row)
    elif row.status == PlanStatus.PUBLISHED and visible and row.visit_id is not None:
        session.add(row)
        session.flush()
        refresh_visit(session, VisitRepository(session).get_or_raise(row.visit_id))
    if row.status == PlanStatus.UNSCHEDULED:
        row.status = PlanStatus.SUBMITTED
    remote_days = [current.latest] if current.remote or updated.remote else None
    return _store_update(session, row, before, today=today, remote_days=remote_days)


def _store_update(
    session: Session,
    row: PlanRow,
    before: dict[str, Any],
    *,
    today: date,
    remote_days: Sequence[date] | None = None,
) -> PlanRow:
    """A changed plan stored: its version grows, the codes of its visit that no longer match
    are revoked, the audit's remote counts recounted where it was or is remote (`remote_days`:
    the window's end before), the change is logged, and a plan that became a case gets its
    notice."""
    row.version += 1
    row.updated_at = utcnow()
    PlanRepository(session).add(row)
    if remote_days is not None:
        recount_remote(session, [row], days=remote_days)
    if row.status == PlanStatus.PUBLISHED and row.visit_id is not None:
        revoke_stale(session, [row.visit_id])
    plan_id = int(row.id or 0)
    record(session, "plan.update", f"plan:{plan_id}", _changes(before, row))
    if row.kind == "case" and NoticeRepository(session).of_plan(plan_id) is None:
        issue_notice(session, row, reason=row.exempt_reason, today=today)
    return row


def _filed_late(
    session: Session, agency_id: str, current: PlanInput, updated: PlanInput, *, today: date
) -> list[Problem]:
    """A change that moves the earliest date forward, makes the plan routine or special, or makes
    a remote plan on-site, is filed anew: its region's lead time applies. A remote plan enters no
    enterprise and is not filed ahead."""
    if updated.remote:
        return []
    if updated.earliest >= current.earliest and updated.kind == current.kind and not current.remote:
        return []
    region = AgencyRepository(session).get_or_raise(agency_id).region_code
    late = FilingRules(session, today).problem(
        kind=updated.kind,
        earliest=updated.earliest,
        region_code=region,
        path="earliest",
        own="earliest ",
    )
    return [late] if late is not None else []


def _withdraw_approval(row: PlanRow, *, pending: bool) -> None:
    """Forget a decision: back to pending (a special plan changed), or none (no longer special)."""
    row.approval = Approval.PENDING if pending else None
    row.approval_comment = None
    row.approval_key_id = None
    row.approval_at = None


def _changes(before: dict[str, Any], row: PlanRow) -> dict[str, Any]:
    after = {k: v for k, v in row.model_dump().items() if k != "updated_at"}
    return diff(before, after)


def cancel_plan(session: Session, actor: Actor, plan_id: int, *, today: date) -> PlanRow:
    """Cancel a plan (idempotent); a published one leaves its visit, unless it is the record."""
    actor.require_filer()
    repo = PlanRepository(session)
    row = repo.get_for(plan_id, actor.own_agency)
    if row.status == PlanStatus.CANCELLED:
        return row
    _drawn_stays(session, row, changed=["status"])
    _keep_record(session, row, today=today)
    before = row.model_dump()
    row.status = PlanStatus.CANCELLED
    _leave_visit(session, row)
    row.version += 1
    row.updated_at = utcnow()
    repo.add(row)
    if row.remote:
        recount_remote(session, [row])
    record(session, "plan.cancel", f"plan:{plan_id}", _changes(before, row))
    return row


# The references of plans a 双随机 draw files (`SJ-<task>-<enterprise>`).
DRAWN_REF = "SJ-"
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def _looks_drawn(ref: str) -> bool:
    """A reference that reads as a drawn plan's: `SJ-` whatever the case, width, spaces or
    invisible characters (a look-alike would pass for one in every list)."""
    text = unicodedata.normalize("NFKC", ref).translate(_INVISIBLE).strip().upper()
    return text.startswith(DRAWN_REF)


# What a clerk may still correct in a plan drawn under 双随机: not who, when or how it is
# checked, nor whether it is, or the draw would be the agency's choice after all.
_DRAWN_CORRECTABLE = frozenset({"items", "priority"})


def _drawn_stays(session: Session, row: PlanRow, *, changed: Sequence[str]) -> None:
    """Refuse to cancel a plan drawn by a sampling task, or to change more of it than its items
    and priority: a check that cannot be made is recorded as its result (closed, unreachable)."""
    fixed = sorted(set(changed) - _DRAWN_CORRECTABLE)
    if not fixed:
        return
    task = SamplingRepository(session).task_of_plans([int(row.id or 0)]).get(int(row.id or 0))
    if task is None:
        return
    message = (
        f"检查计划 {row.id} 由双随机抽查任务 {task} 抽中,不能撤销或修改 {'、'.join(fixed)};"
        "无法检查的请录入检查结果(如已关闭、停业或注销,通过登记的住所无法联系)"
    )
    raise ConflictError(message, code="drawn_plan")


@dataclass(frozen=True, slots=True)
class VisitView:
    visit: VisitRow
    agencies: list[str]
    plan_ids: list[int]


def list_visits(
    session: Session,
    actor: Actor,
    *,
    day_from: date | None,
    day_to: date | None,
    enterprise_id: str | None,
    after: int | None,
    limit: int,
) -> tuple[list[VisitView], int | None]:
    """The published schedule as visits; an agency sees the visits it takes part in, with the
    partner agencies of a joint visit, but only its own plans."""
    rows = list(
        VisitRepository(session).page(
            after=after,
            limit=limit + 1,
            day_from=day_from,
            day_to=day_to,
            enterprise_id=enterprise_id,
            agency_id=actor.own_agency,
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    members: dict[int, list[PlanRow]] = {}
    for plan in PlanRepository(session).in_visits(int(r.id or 0) for r in rows):
        if plan.status == PlanStatus.PUBLISHED:
            members.setdefault(int(plan.visit_id or 0), []).append(plan)
    views = []
    for row in rows:
        plans = members.get(int(row.id or 0), [])
        mine = [p for p in plans if actor.own_agency is None or p.agency_id == actor.own_agency]
        views.append(
            VisitView(
                row, sorted({p.agency_id for p in plans}), sorted(int(p.id or 0) for p in mine)
            )
        )
    return views, (int(rows[-1].id or 0) if more and rows else None)
