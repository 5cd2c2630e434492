"""Complaints (投诉) of enterprises about inspections, and their handling by supervisors.

An enterprise complains with one tap (a reason from a fixed list, optional text) from its
subscribe page or from a check-in's verification page. Complaints go straight to the
supervisors (司法行政): the inspecting agency never sees them (深府规〔2025〕6号). A supervisor
accepts one (待处理 → 处理中) and closes it with a reply (→ 已办结) that the enterprise sees; a
pending one may be closed at once. States only move forward, and every step is audit-logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from quietday.domain.status import ComplaintStatus
from quietday.domain.text import text_problem
from quietday.errors import (
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    Problem,
    TooManyError,
)
from quietday.persistence import Session
from quietday.persistence.checkins import CheckInRepository
from quietday.persistence.complaints import ComplaintFilter, ComplaintRepository
from quietday.persistence.registry import AgencyRepository, EnterpriseRepository
from quietday.persistence.tables import ComplaintRow, utcnow
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import feed_actor, record
from quietday.planning.feeds import live_token
from quietday.planning.keys import Actor

__all__ = [
    "CHANNELS",
    "DAILY_LIMIT",
    "MAX_REPLY",
    "MAX_TEXT",
    "REASONS",
    "ComplaintFilter",
    "TokenComplaints",
    "accept_complaint",
    "close_complaint",
    "complaints_for_token",
    "file_complaint",
    "file_for_token",
    "get_complaint",
    "list_complaints",
]

REASONS = {
    "no_code": "未出示检查码",
    "quiet_day": "安静日检查",
    "repeated": "重复检查",
    "conduct": "态度作风",
    "demands": "索要财物或指定服务",
    "other": "其他",
}
CHANNELS = ("subscribe", "verify")
MAX_TEXT = 500
MAX_REPLY = 1000
# Complaints one enterprise may file in 24 hours through each channel: a leaked or scripted token
# cannot flood the supervisors' queue. Counted per channel, because the inspectors hold the
# inspection code too: complaints by code cannot use up the subscribe page's, which only the
# enterprise holds.
DAILY_LIMIT = 20


def _text_problems(field: str, label: str, value: str, limit: int) -> list[Problem]:
    problems = []
    if len(value) > limit:
        problems.append(Problem("too_long", field, f"{label}不超过 {limit} 个字符"))
    bad = text_problem(value, multiline=True)
    if bad is not None:
        problems.append(Problem("bad_text", field, f"{label}{bad}"))
    return problems


def _validate(
    session: Session,
    *,
    enterprise_id: str,
    reason: str,
    text: str,
    channel: str,
    check_in_id: int | None,
    visit_id: int | None,
    agency_id: str | None,
) -> tuple[list[Problem], str | None]:
    """Every problem of a complaint, and the agency it concerns (a check-in's own agency)."""
    problems: list[Problem] = []
    if reason not in REASONS:
        problems.append(
            Problem("unknown_reason", "reason", f"投诉事由应为 {'、'.join(REASONS)} 之一")
        )
    if channel not in CHANNELS:
        problems.append(
            Problem("unknown_channel", "channel", f"渠道应为 {'、'.join(CHANNELS)} 之一")
        )
    problems += _text_problems("text", "投诉内容", text, MAX_TEXT)
    if EnterpriseRepository(session).get(enterprise_id) is None:
        problems.append(Problem("unknown_enterprise", "enterprise_id", "企业不存在"))
    concerned = agency_id
    if agency_id is not None and AgencyRepository(session).get(agency_id) is None:
        problems.append(Problem("unknown_agency", "agency_id", f"执法部门 {agency_id} 不存在"))
    if check_in_id is not None:
        entry = CheckInRepository(session).get(check_in_id)
        if entry is None or entry.enterprise_id != enterprise_id:
            problems.append(
                Problem("unknown_check_in", "check_in_id", f"本企业没有入企记录 {check_in_id}")
            )
        elif agency_id is not None and agency_id != entry.agency_id:
            problems.append(
                Problem("agency_mismatch", "agency_id", "执法部门与该次入企记录的部门不一致")
            )
        else:
            concerned = entry.agency_id
    if visit_id is not None:
        visit = VisitRepository(session).get(visit_id)
        if visit is None or visit.enterprise_id != enterprise_id:
            problems.append(Problem("unknown_visit", "visit_id", f"本企业没有入企 {visit_id}"))
    return problems, concerned


def file_complaint(
    session: Session,
    *,
    enterprise_id: str,
    reason: str,
    text: str,
    channel: str,
    actor: str,
    check_in_id: int | None = None,
    visit_id: int | None = None,
    agency_id: str | None = None,
    feed_token_id: int | None = None,
    now: datetime | None = None,
) -> ComplaintRow:
    """File a complaint of `enterprise_id` for the supervisors; `actor` is how the audit log
    names the enterprise (`feed_actor(...)` through a feed token). The agency is the
    check-in's when one is named. More than `DAILY_LIMIT` in 24 hours through `channel`:
    `TooManyError`."""
    moment = now or utcnow()
    session.info["actor"] = actor
    problems, concerned = _validate(
        session,
        enterprise_id=enterprise_id,
        reason=reason,
        text=text,
        channel=channel,
        check_in_id=check_in_id,
        visit_id=visit_id,
        agency_id=agency_id,
    )
    if problems:
        raise InputError(problems)
    # Serialise one enterprise's complaints, so that the limit holds under concurrent posts.
    CheckInRepository(session).lock_enterprise(enterprise_id)
    repo = ComplaintRepository(session)
    if repo.filed_since(enterprise_id, channel, moment - timedelta(hours=24)) >= DAILY_LIMIT:
        raise TooManyError(f"24 小时内最多投诉 {DAILY_LIMIT} 次,请稍后再试或直接联系司法行政部门")
    row = repo.add(
        ComplaintRow(
            enterprise_id=enterprise_id,
            check_in_id=check_in_id,
            visit_id=visit_id,
            agency_id=concerned,
            reason=reason,
            text=text,
            channel=channel,
            feed_token_id=feed_token_id,
            status=ComplaintStatus.PENDING,
            created_at=moment,
        )
    )
    record(session, "complaint.file", f"complaint:{row.id}", _content(row))
    return row


def _content(row: ComplaintRow) -> dict[str, Any]:
    return {
        "enterprise_id": row.enterprise_id,
        "check_in_id": row.check_in_id,
        "visit_id": row.visit_id,
        "agency_id": row.agency_id,
        "reason": row.reason,
        "text": row.text,
        "channel": row.channel,
        "status": row.status,
    }


def _supervisor(actor: Actor) -> None:
    if not actor.is_supervisor:
        raise ForbiddenError("投诉只有监督(司法行政)部门可以查看和处理")


def _locked(session: Session, complaint_id: int) -> ComplaintRow:
    row = ComplaintRepository(session).lock(complaint_id)
    if row is None:
        raise NotFoundError(f"投诉 {complaint_id} 不存在")
    return row


def accept_complaint(
    session: Session, actor: Actor, complaint_id: int, *, now: datetime | None = None
) -> ComplaintRow:
    """受理: a pending complaint becomes handled by `actor` (待处理 → 处理中)."""
    _supervisor(actor)
    row = _locked(session, complaint_id)
    if row.status != ComplaintStatus.PENDING:
        raise ConflictError(
            f"投诉 {complaint_id} {ComplaintStatus(row.status).label},不能再受理(状态只能向前)",
            code="complaint_state",
        )
    row.status, row.accepted_at, row.handled_by = (
        ComplaintStatus.HANDLING,
        now or utcnow(),
        actor.key_id,
    )
    ComplaintRepository(session).add(row)
    record(
        session,
        "complaint.accept",
        f"complaint:{complaint_id}",
        {"before": {"status": ComplaintStatus.PENDING}, "after": {"status": row.status}},
    )
    return row


def close_complaint(
    session: Session, actor: Actor, complaint_id: int, *, reply: str, now: datetime | None = None
) -> ComplaintRow:
    """办结: a pending or handled complaint is closed with a reply the enterprise reads."""
    _supervisor(actor)
    problems = _text_problems("reply", "答复", reply, MAX_REPLY)
    if not reply.strip():
        problems.append(Problem("missing_reply", "reply", "办结须填写给企业的答复"))
    if problems:
        raise InputError(problems)
    row = _locked(session, complaint_id)
    if row.status == ComplaintStatus.CLOSED:
        raise ConflictError(f"投诉 {complaint_id} 已办结,不能再办结", code="complaint_state")
    before = row.status
    row.status, row.reply, row.closed_at, row.handled_by = (
        ComplaintStatus.CLOSED,
        reply.strip(),
        now or utcnow(),
        actor.key_id,
    )
    ComplaintRepository(session).add(row)
    record(
        session,
        "complaint.close",
        f"complaint:{complaint_id}",
        {"before": {"status": before}, "after": {"status": row.status, "reply": row.reply}},
    )
    return row


def get_complaint(session: Session, actor: Actor, complaint_id: int) -> ComplaintRow:
    _supervisor(actor)
    return ComplaintRepository(session).get_or_raise(complaint_id)


def list_complaints(
    session: Session, actor: Actor, flt: ComplaintFilter, *, after: int | None, limit: int
) -> list[ComplaintRow]:
    """A page of complaints by filing order (with a status filter: the oldest first)."""
    _supervisor(actor)
    return list(ComplaintRepository(session).page(flt, after=after, limit=limit))


@dataclass(frozen=True, slots=True)
class TokenComplaints:
    enterprise_id: str
    token_id: int
    complaints: list[ComplaintRow]


def complaints_for_token(session: Session, token: str, *, limit: int = 50) -> TokenComplaints:
    """The enterprise's own latest complaints (newest first), by its feed token."""
    row = live_token(session, token)
    if row.kind != "enterprise":
        raise NotFoundError("只有企业的订阅地址可以投诉")
    rows = ComplaintRepository(session).of_enterprise(row.subject_id, limit=limit)
    return TokenComplaints(row.subject_id, int(row.id or 0), list(rows))


def file_for_token(
    session: Session,
    token: str,
    *,
    reason: str,
    text: str,
    check_in_id: int | None,
    now: datetime | None = None,
) -> ComplaintRow:
    """The enterprise behind a live feed token complains (from its subscribe page or app)."""
    row = live_token(session, token)
    if row.kind != "enterprise":
        raise NotFoundError("只有企业的订阅地址可以投诉")
    token_id = int(row.id or 0)
    return file_complaint(
        session,
        enterprise_id=row.subject_id,
        reason=reason,
        text=text,
        channel="subscribe",
        actor=feed_actor("enterprise", row.subject_id, token_id),
        check_in_id=check_in_id,
        feed_token_id=token_id,
        now=now,
    )
