"""RFC 5545/7986 rendering with `icalendar`, avoiding its known traps (see shared/docs/ical-notes):
no calendar UID, no METHOD, names as escaped text, durations typed, a VTIMEZONE without COMMENT.
The same feed always renders to the same bytes: every stamp comes from the records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal

from icalendar import Calendar, Event, Timezone, vDuration, vText
from icalendar.enums import STATUS, TRANSP

__all__ = ["PRODID", "TZID", "Feed", "FeedEvent", "clean", "render"]

PRODID = "-//quietday//Inspection Feed 1.0//ZH"
TZID = "Asia/Shanghai"
REFRESH = timedelta(hours=1)
_TZ_FROM = date(2000, 1, 1)


def clean(text: str) -> str:
    """Text fit for a calendar value: control characters other than newline and tab removed,
    line ends made `\\n` (icalendar escapes them)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c in "\n\t" or (ord(c) >= 32 and ord(c) != 127))


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One all-day event: a visit on one date."""

    uid: str
    day: date
    summary: str
    description: str
    status: Literal["CONFIRMED", "CANCELLED"]
    sequence: int
    created: datetime
    updated: datetime


@dataclass(frozen=True, slots=True)
class Feed:
    name: str
    description: str
    events: Sequence[FeedEvent]


@lru_cache(maxsize=1)
def _zone() -> Timezone:
    """Asia/Shanghai as one STANDARD +0800 block since 2000 (COMMENT removed: RFC 5545 allows it
    only inside STANDARD/DAYLIGHT). Built once: icalendar computes it hour by hour (60 ms)."""
    zone = Timezone.from_tzid(TZID, first_date=_TZ_FROM)
    zone.pop("COMMENT", None)
    return zone


def render(feed: Feed) -> bytes:
    """The feed as iCalendar bytes: CRLF lines folded at 75 octets, UTF-8, no BOM."""
    cal = Calendar.new(prodid=PRODID)
    cal.pop("UID", None)  # a calendar UID makes some subscribers fold every event into one
    name = vText(clean(feed.name))
    cal.add("NAME", name)
    cal.add("X-WR-CALNAME", name)
    cal.add("DESCRIPTION", vText(clean(feed.description)))
    cal.add("X-WR-CALDESC", vText(clean(feed.description)))
    cal.add("X-WR-TIMEZONE", TZID)
    cal.add("REFRESH-INTERVAL", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(REFRESH))
    cal.add_component(_zone())
    for ev in sorted(feed.events, key=lambda e: (e.day, e.uid)):
        cal.add_component(
            Event.new(
                uid=ev.uid,
                stamp=ev.updated,
                last_modified=ev.updated,
                created=ev.created,
                sequence=ev.sequence,
                summary=clean(ev.summary),
                description=clean(ev.description),
                start=ev.day,
                end=ev.day + timedelta(days=1),
                status=STATUS(ev.status),
                transparency=TRANSP.TRANSPARENT,
            )
        )
    return bytes(cal.to_ical())
