"""Afterwards, from the page an inspection code opens (扫码评价): the enterprise that scanned the
inspector's code evaluates the entry and may complain, without a sign-in.

Only a genuine code that still holds, from its day on, takes feedback. The rating is of the
agency's check-in at that enterprise that day (none yet: nothing to rate), given once: the
inspectors hold the code too, so a rating by code is never replaced by code; the enterprise
changes it on its own subscribe page, which only it holds. A complaint names the code's agency and visit and goes to the
supervisors' queue (`complaints.file_complaint`, its daily limit included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from quietday.errors import ConflictError, NotFoundError
from quietday.persistence import Session
from quietday.persistence.checkins import CheckInRepository, RatingRepository
from quietday.persistence.codes import CodeRepository
from quietday.persistence.tables import ComplaintRow, RatingRow
from quietday.planning.checkins import put_rating
from quietday.planning.complaints import file_complaint
from quietday.planning.verify import Verification, verify_token
from quietday.signing import Keyring

__all__ = ["Feedback", "complain_by_code", "feedback_of", "rate_by_code"]


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the page offers: feedback at all (a live code, its day come), the entry to rate,
    and its score when it is rated already."""

    open: bool
    check_in_id: int | None
    score: int | None


def _actor(v: Verification) -> str:
    return f"enterprise:{v.enterprise_id} (inspection code {v.code_id})"


def _entry(session: Session, v: Verification) -> int | None:
    for row in reversed(CheckInRepository(session).of_enterprise(v.enterprise_id)):
        if row.agency_id == v.agency_id and row.day == v.day:
            return int(row.id or 0)
    return None


def feedback_of(session: Session, v: Verification) -> Feedback:
    if not v.valid or v.today < v.day:
        return Feedback(open=False, check_in_id=None, score=None)
    entry = _entry(session, v)
    rating = RatingRepository(session).get(entry) if entry is not None else None
    return Feedback(True, entry, rating.score if rating is not None else None)


def _open(session: Session, ring: Keyring, token: str, *, today: date) -> Verification:
    v = verify_token(session, ring, token, today=today)
    if v is None or not v.valid:
        raise NotFoundError("检查码无效或已失效,不能评价或投诉")
    if today < v.day:
        raise ConflictError("检查尚未进行,入企当天起才能评价或投诉", code="not_yet")
    return v


def rate_by_code(
    session: Session,
    ring: Keyring,
    token: str,
    *,
    score: int,
    comment: str,
    today: date,
    now: datetime,
) -> RatingRow:
    """The entry behind a code rated from its page; refused when the enterprise has rated it
    through its subscribe page already (that rating is changed there)."""
    v = _open(session, ring, token, today=today)
    entry = _entry(session, v)
    if entry is None:
        raise ConflictError("还没有这次检查的入企登记,登记后才能评价", code="no_entry")
    if RatingRepository(session).get(entry) is not None:
        raise ConflictError("这次检查已有评价;如需修改,请在本企业的订阅页面修改", code="rated")
    session.info["actor"] = _actor(v)
    return put_rating(
        session, entry, score=score, comment=comment, feed_token_id=None, channel="verify", now=now
    )


def complain_by_code(
    session: Session,
    ring: Keyring,
    token: str,
    *,
    reason: str,
    text: str,
    today: date,
    now: datetime,
) -> ComplaintRow:
    """A complaint about the check behind a code, for the supervisors."""
    v = _open(session, ring, token, today=today)
    code = CodeRepository(session).get_or_raise(v.code_id)
    return file_complaint(
        session,
        enterprise_id=v.enterprise_id,
        reason=reason,
        text=text,
        channel="verify",
        actor=_actor(v),
        check_in_id=_entry(session, v),
        visit_id=code.visit_id,
        agency_id=v.agency_id,
        now=now,
    )
