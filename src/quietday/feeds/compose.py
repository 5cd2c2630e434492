"""What each subscriber sees of the published visits, as events.

An enterprise never sees in advance an inspection it must not be told of: a case inspection
(个案检查: complaints, referrals, leads), one with an exempt reason, or one marked unannounced
(暗访). A visit holding only such inspections is absent from its feed until the day has passed;
a joint visit shows only the announceable agencies. Agencies and inspectors see everything.
A cancelled visit stays, marked 【已取消】, until its date has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from quietday.feeds.render import Feed, FeedEvent

__all__ = ["FeedKind", "PlanFacts", "VisitFacts", "compose", "window"]

FeedKind = Literal["enterprise", "agency", "inspector"]
PAST_DAYS, FUTURE_DAYS = 90, 366


@dataclass(frozen=True, slots=True)
class PlanFacts:
    agency_name: str
    agency_short: str
    kind: str
    items: tuple[str, ...]
    exempt: bool
    unannounced: bool

    @property
    def announceable(self) -> bool:
        return self.kind != "case" and not self.exempt and not self.unannounced


@dataclass(frozen=True, slots=True)
class VisitFacts:
    id: int
    day: date
    cancelled: bool
    announced: bool
    sequence: int
    created: datetime
    updated: datetime
    enterprise_name: str
    lead_agency_name: str
    lead_contact: str
    plans: tuple[PlanFacts, ...]


def window(today: date) -> tuple[date, date]:
    """The dates a feed covers: recent past and the year ahead (feeds stay small)."""
    return today - timedelta(days=PAST_DAYS), today + timedelta(days=FUTURE_DAYS)


def _agencies(plans: Sequence[PlanFacts]) -> list[PlanFacts]:
    seen: dict[str, PlanFacts] = {}
    for p in plans:
        seen.setdefault(p.agency_name, p)
    return sorted(seen.values(), key=lambda p: p.agency_name)


def _summary(kind: FeedKind, visit: VisitFacts, shown: Sequence[PlanFacts]) -> str:
    agencies = _agencies(shown)
    names = "、".join(p.agency_short for p in agencies)
    if kind == "enterprise":
        text = f"联合检查:{names}" if len(agencies) > 1 else f"入企检查:{names}"
    else:
        text = f"{visit.enterprise_name}({'联合检查:' + names if len(agencies) > 1 else names})"
    return f"【已取消】{text}" if visit.cancelled else text


def _description(visit: VisitFacts, shown: Sequence[PlanFacts]) -> str:
    lines = ["本次入企已取消。"] if visit.cancelled else []
    lines.append(f"企业:{visit.enterprise_name}")
    by_agency: dict[str, list[str]] = {}
    for p in shown:
        by_agency.setdefault(p.agency_name, []).extend(p.items)
    for agency, items in sorted(by_agency.items()):
        lines.append(f"{agency}:{'、'.join(dict.fromkeys(items)) or '检查'}")
    lines.append(f"牵头部门:{visit.lead_agency_name}")
    contact = visit.lead_contact.strip()
    lines.append(f"联系方式:{contact}" if contact else "如有疑问,请联系牵头部门。")
    return "\n".join(lines)


def compose(
    *, kind: FeedKind, name: str, visits: Sequence[VisitFacts], today: date, uid_domain: str
) -> Feed:
    """The feed of `visits` for one subscriber of `kind`, as seen on `today`."""
    first, last = window(today)
    events: list[FeedEvent] = []
    for visit in visits:
        if not first <= visit.day <= last or (visit.cancelled and visit.day < today):
            continue
        shown = list(visit.plans)
        if kind == "enterprise" and visit.day >= today:
            shown = [p for p in visit.plans if p.announceable]
            if visit.cancelled and not visit.announced:
                continue
            if not visit.cancelled and not shown:
                continue
        events.append(
            FeedEvent(
                uid=f"visit-{visit.id}@{uid_domain}",
                day=visit.day,
                summary=_summary(kind, visit, shown),
                description=_description(visit, shown),
                status="CANCELLED" if visit.cancelled else "CONFIRMED",
                sequence=visit.sequence,
                created=visit.created,
                updated=visit.updated,
            )
        )
    description = {
        "enterprise": "已发布的入企检查安排(综合查一次)。个案检查与暗访不提前告知。",
        "agency": "本部门已发布的入企检查安排,含联合检查。",
        "inspector": "本人参加的已发布入企检查安排。",
    }[kind]
    return Feed(name=name, description=description, events=events)
