"""What each subscriber sees of the published visits, as events.

Agencies and inspectors see a visit whole. An enterprise sees, before the visit's date, only
its public side: the part made of inspections it may be told of in advance, with its own lead
agency, sequence and stamps (`planning.visits` keeps it); a visit without one is absent from
its feed until the day has passed, and then shown whole. A cancelled visit stays, marked
【已取消】, until its date has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from quietday.ics.render import Feed, FeedEvent

__all__ = ["AgencyPart", "FeedKind", "Seen", "VisitFacts", "compose", "seen_by", "window"]

FeedKind = Literal["enterprise", "agency", "inspector"]
PAST_DAYS, FUTURE_DAYS = 90, 366


@dataclass(frozen=True, slots=True)
class AgencyPart:
    """One inspection of a visit as a subscriber may see it: its agency and items."""

    agency_name: str
    agency_short: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Seen:
    """One side of a visit (whole, or what its enterprise may see before the date): everything
    its event is made of."""

    cancelled: bool
    sequence: int
    created: datetime
    updated: datetime
    lead_agency_name: str
    lead_contact: str
    parts: tuple[AgencyPart, ...]


@dataclass(frozen=True, slots=True)
class VisitFacts:
    id: int
    day: date
    enterprise_name: str
    whole: Seen
    public: Seen | None


def window(today: date) -> tuple[date, date]:
    """The dates a feed covers: recent past and the year ahead (feeds stay small)."""
    return today - timedelta(days=PAST_DAYS), today + timedelta(days=FUTURE_DAYS)


def seen_by(kind: FeedKind, visit: VisitFacts, today: date) -> Seen | None:
    """The side of `visit` a subscriber of `kind` sees on `today`, or None if it sees nothing."""
    first, last = window(today)
    side = visit.public if kind == "enterprise" and visit.day >= today else visit.whole
    if not first <= visit.day <= last or side is None or (side.cancelled and visit.day < today):
        return None
    return side


def _agencies(parts: Sequence[AgencyPart]) -> list[AgencyPart]:
    seen: dict[str, AgencyPart] = {}
    for p in parts:
        seen.setdefault(p.agency_name, p)
    return sorted(seen.values(), key=lambda p: p.agency_name)


def _summary(kind: FeedKind, visit: VisitFacts, side: Seen) -> str:
    agencies = _agencies(side.parts)
    names = "、".join(p.agency_short for p in agencies) or side.lead_agency_name
    if kind == "enterprise":
        text = f"联合检查:{names}" if len(agencies) > 1 else f"入企检查:{names}"
    else:
        text = f"{visit.enterprise_name}({'联合检查:' + names if len(agencies) > 1 else names})"
    return f"【已取消】{text}" if side.cancelled else text


def _description(visit: VisitFacts, side: Seen) -> str:
    lines = ["本次入企已取消。"] if side.cancelled else []
    lines.append(f"企业:{visit.enterprise_name}")
    by_agency: dict[str, list[str]] = {}
    for p in side.parts:
        by_agency.setdefault(p.agency_name, []).extend(p.items)
    for agency, items in sorted(by_agency.items()):
        lines.append(f"{agency}:{'、'.join(dict.fromkeys(items)) or '检查'}")
    lines.append(f"牵头部门:{side.lead_agency_name}")
    contact = side.lead_contact.strip()
    lines.append(f"联系方式:{contact}" if contact else "如有疑问,请联系牵头部门。")
    return "\n".join(lines)


def compose(
    *, kind: FeedKind, name: str, visits: Sequence[VisitFacts], today: date, uid_domain: str
) -> Feed:
    """The feed of `visits` for one subscriber of `kind`, as seen on `today`."""
    events: list[FeedEvent] = []
    for visit in visits:
        side = seen_by(kind, visit, today)
        if side is None:
            continue
        events.append(
            FeedEvent(
                uid=f"visit-{visit.id}@{uid_domain}",
                day=visit.day,
                summary=_summary(kind, visit, side),
                description=_description(visit, side),
                status="CANCELLED" if side.cancelled else "CONFIRMED",
                sequence=side.sequence,
                created=side.created,
                updated=side.updated,
            )
        )
    description = {
        "enterprise": "已发布的入企检查安排(综合查一次)。个案检查与暗访不提前告知。",
        "agency": "本部门已发布的入企检查安排,含联合检查。",
        "inspector": "本人参加的已发布入企检查安排。",
    }[kind]
    return Feed(name=name, description=description, events=events)
