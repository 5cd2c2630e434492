"""iCalendar feeds of published visits: what each subscriber may see, rendered to RFC 5545 bytes."""

from quietday.ics.compose import AgencyPart, FeedKind, Seen, VisitFacts, compose, seen_by
from quietday.ics.render import Feed, FeedEvent, render

__all__ = [
    "AgencyPart",
    "Feed",
    "FeedEvent",
    "FeedKind",
    "Seen",
    "VisitFacts",
    "compose",
    "render",
    "seen_by",
]
