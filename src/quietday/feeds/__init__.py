"""iCalendar feeds of published visits: what each subscriber may see, rendered to RFC 5545 bytes."""

from quietday.feeds.compose import FeedKind, PlanFacts, VisitFacts, compose
from quietday.feeds.render import Feed, FeedEvent, render

__all__ = ["Feed", "FeedEvent", "FeedKind", "PlanFacts", "VisitFacts", "compose", "render"]
