"""Filing (备案) and approval (审批) of plans: the triggers of a triggered check, the states of a
special plan's approval, and the first day a plan filed today may start.

Planned checks (routine 日常, special 专项) are filed a number of working days ahead, set per
region; triggered checks (case 个案) need no lead time but a trigger, and each gets a notice
(检查通知). Special plans need the approval of the agency's head (上海市优化营商环境条例, 2026).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

__all__ = [
    "FILED_KINDS",
    "MAX_APPROVAL_COMMENT",
    "MAX_FILING_LEAD_DAYS",
    "TRIGGER_LABELS",
    "Approval",
    "TriggerName",
    "first_filing_day",
    "trigger_from_reason",
]

# The kinds filed ahead (planned checks); case and requested are not.
FILED_KINDS = frozenset({"routine", "special"})
MAX_FILING_LEAD_DAYS = 60
MAX_APPROVAL_COMMENT = 500

TriggerName = Literal["complaint", "referral", "data_lead", "emergency"]
TRIGGER_LABELS: dict[str, str] = {
    "complaint": "投诉举报",
    "referral": "转办交办",
    "data_lead": "数据监测",
    "emergency": "突发事件",
}


class Approval(StrEnum):
    """专项检查计划的审批: pending 待审批、approved 已批准、rejected 未批准。"""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def trigger_from_reason(reason: str | None) -> str | None:
    """The trigger an exemption's reason names (`投诉举报核查` names a complaint), if any: clients
    that wrote the trigger there before the field existed keep working."""
    if not reason:
        return None
    return next((code for code, label in TRIGGER_LABELS.items() if label in reason), None)


def first_filing_day(today: date, lead: int, is_working_day: Callable[[date], bool]) -> date:
    """The earliest date a plan filed `today` may start: the `lead`-th working day after today
    (filed on Monday 7 December with a lead of 7, a plan may start on Wednesday the 16th)."""
    day, counted = today, 0
    while counted < lead:
        day += timedelta(days=1)
        counted += is_working_day(day)
    return day
