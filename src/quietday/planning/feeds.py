"""Calendar subscriptions: secret-URL tokens (issue, rotate, revoke), inspectors on visits, and
the rendered feed of a token with its HTTP validators.

A token is `icsf_` + 256 random bits, shown once and stored as its SHA-256; it names one feed
(an enterprise's, an agency's or an inspector's). Unknown, rotated and revoked tokens are the
same NotFoundError.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from quietday.domain.crew import CrewInspector, Lapse
from quietday.domain.status import PlanStatus, VisitStatus
from quietday.domain.text import MAX_ID, ascii_int
from quietday.errors import ForbiddenError, InputError, NotFoundError, Problem
from quietday.ics import AgencyPart, FeedKind, Seen, VisitFacts, compose, render, seen_by
from quietday.ics.compose import window
from quietday.persistence import Engine, Session, session_scope
from quietday.persistence.crew import InspectorConflictRepository
from quietday.persistence.feeds import (
    FeedChanges,
    FeedPoll,
    FeedRenderRepository,
    FeedTokenRepository,
    poll_feed,
)
from quietday.persistence.plans import PlanRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
    RegionRepository,
)
from quietday.persistence.tables import (
    FeedRenderRow,
    FeedTokenRow,
    InspectorRow,
    PlanRow,
    VisitRow,
    utcnow,
)
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import RowDigest, record
from quietday.planning.keys import Actor

__all__ = [
    "CHINA",
    "FeedCache",
    "FeedLookup",
    "RenderedFeed",
    "assign_inspectors",
    "crew_member",
    "feed_cache",
    "fresh_feed",
    "issue_enterprise_tokens",
    "issue_token",
    "list_tokens",
    "live_token",
    "poll",
    "render_token",
    "revoke_token",
    "rotate_token",
    "today_in_china",
    "token_digest",
    "unfit_inspectors",
]

CHINA = ZoneInfo("Asia/Shanghai")
TOKEN_PREFIX = "icsf_"
KINDS: tuple[FeedKind, ...] = ("enterprise", "agency", "inspector")
_GONE = "订阅地址无效或已失效"
V = TypeVar("V")


def today_in_china(now: datetime) -> date:
    return now.astimezone(CHINA).date()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _subject_agency(session: Session, kind: str, subject_id: str) -> str | None:
    """The agency that owns the feed (None for an enterprise's), after checking it exists."""
    if kind == "enterprise":
        EnterpriseRepository(session).get_or_raise(subject_id)
        return None
    if kind == "agency":
        return AgencyRepository(session).get_or_raise(subject_id).id
    inspector_id = ascii_int(subject_id, maximum=MAX_ID)
    if inspector_id is None:
        raise NotFoundError(f"执法人员 {subject_id} 不存在")
    return InspectorRepository(session).get_or_raise(inspector_id).agency_id


def _may_manage(session: Session, actor: Actor, kind: str, subject_id: str) -> None:
    """A supervisor manages every feed; an agency its own and its inspectors' (others: 404)."""
    owner = _subject_agency(session, kind, subject_id)
    if actor.is_supervisor:
        return
    if kind == "enterprise":
        raise ForbiddenError("企业日历订阅只能由监督(司法行政)密钥签发")
    if owner != actor.agency_id:
        raise NotFoundError(f"订阅对象 {subject_id} 不存在")


def issue_token(
    session: Session, actor: Actor, *, kind: str, subject_id: str, label: str = ""
) -> tuple[FeedTokenRow, str]:
    """A new subscription token for one feed; the token itself is returned once."""
    if kind not in KINDS:
        raise InputError(
            [Problem("unknown_kind", "kind", "kind 应为 enterprise、agency 或 inspector")]
        )
    _may_manage(session, actor, kind, subject_id)
    row, token = _new_token(session, actor, kind=kind, subject_id=subject_id, label=label)
    record(session, "feed_token.issue", f"feed_token:{row.id}", _public(row))
    return row, token


def _new_token(
    session: Session, actor: Actor, *, kind: str, subject_id: str, label: str
) -> tuple[FeedTokenRow, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = FeedTokenRow(
        token_hash=_digest(token),
        kind=kind,
        subject_id=subject_id,
        label=label,
        created_by=actor.key_id,
    )
    return FeedTokenRepository(session).add(row), token


def _public(row: FeedTokenRow) -> dict[str, object]:
    """What the audit log keeps of a token: never the token or its hash."""
    return row.model_dump(include={"id", "kind", "subject_id", "label", "created_by"})


def issue_enterprise_tokens(
    session: Session, actor: Actor, enterprise_ids: Sequence[str], *, label: str = ""
) -> list[tuple[str, str]]:
    """Subscriptions for many enterprises at once (a supervisor's roll-out): (enterprise, token)."""
    if not actor.is_supervisor:
        raise ForbiddenError("企业日历订阅只能由监督(司法行政)密钥签发")
    known = EnterpriseRepository(session).existing(enterprise_ids)
    missing = sorted(set(enterprise_ids) - known)
    if missing:
        raise NotFoundError(f"企业 {missing[0]} 不存在")
    out: list[tuple[str, str]] = []
    rows: list[FeedTokenRow] = []
    for ent in enterprise_ids:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        rows.append(
            FeedTokenRow(
                token_hash=_digest(token),
                kind="enterprise",
                subject_id=ent,
                label=label,
                created_by=actor.key_id,
            )
        )
        out.append((ent, token))
    FeedTokenRepository(session).add_all(rows)
    digest = RowDigest()
    digest.add_all((row.id, _public(row)) for row in rows)
    record(session, "feed_token.issue_batch", "feed_tokens", {**digest.summary(), "label": label})
    return out


def _managed(session: Session, actor: Actor, token_id: int) -> FeedTokenRow:
    row = FeedTokenRepository(session).get(token_id)
    if row is None:
        raise NotFoundError(f"订阅 {token_id} 不存在")
    try:
        _may_manage(session, actor, row.kind, row.subject_id)
    except (ForbiddenError, NotFoundError):
        # One answer whoever holds it: a key learns nothing of tokens it does not manage.
        raise NotFoundError(f"订阅 {token_id} 不存在") from None
    return row


def revoke_token(session: Session, actor: Actor, token_id: int) -> FeedTokenRow:
    """Revoke at once: the URL answers 404 from now on."""
    row = _managed(session, actor, token_id)
    if row.revoked_at is None:
        _revoke(session, row)
        record(
            session, "feed_token.revoke", f"feed_token:{token_id}", {"revoked_at": row.revoked_at}
        )
    return row


def _revoke(session: Session, row: FeedTokenRow) -> None:
    row.revoked_at = utcnow()
    FeedTokenRepository(session).add(row)


def rotate_token(session: Session, actor: Actor, token_id: int) -> tuple[FeedTokenRow, str]:
    """A new token for the same feed and subscriber; the old one dies at once."""
    old = _managed(session, actor, token_id)
    if old.revoked_at is not None:
        raise NotFoundError(f"订阅 {token_id} 不存在")
    _revoke(session, old)
    row, token = _new_token(
        session, actor, kind=old.kind, subject_id=old.subject_id, label=old.label
    )
    record(
        session,
        "feed_token.rotate",
        f"feed_token:{token_id}",
        {"revoked_at": old.revoked_at, "new": _public(row)},
    )
    return row, token


def list_tokens(session: Session, actor: Actor) -> list[FeedTokenRow]:
    rows = FeedTokenRepository(session).list()
    if actor.is_supervisor:
        return list(rows)
    mine: list[FeedTokenRow] = []
    for row in rows:
        try:
            _may_manage(session, actor, row.kind, row.subject_id)
        except (ForbiddenError, NotFoundError):
            continue
        mine.append(row)
    return mine


def assign_inspectors(
    session: Session, actor: Actor, visit_id: int, inspector_ids: Sequence[int]
) -> list[int]:
    """Set which of an agency's inspectors go on a visit (a supervisor may set any agency's);
    an agency's other inspectors on the visit stay as they were."""
    visit = VisitRepository(session).get(visit_id)
    plans = PlanRepository(session).in_visit(visit_id) if visit is not None else []
    agencies = {p.agency_id for p in plans if p.status == PlanStatus.PUBLISHED}
    if visit is None or (not actor.is_supervisor and actor.agency_id not in agencies):
        raise NotFoundError(f"入企 {visit_id} 不存在")
    repo = InspectorRepository(session)
    chosen = []
    for k, iid in enumerate(sorted(set(inspector_ids))):
        inspector = repo.get(iid)
        if (
            inspector is None
            or inspector.agency_id not in agencies
            or (not actor.is_supervisor and inspector.agency_id != actor.agency_id)
        ):
            raise InputError(
                [
                    Problem(
                        "unknown_inspector",
                        f"inspector_ids[{k}]",
                        f"执法人员 {iid} 不属于参加本次入企的部门",
                    )
                ]
            )
        chosen.append(inspector)
    unfit = unfit_inspectors(
        session, day=visit.day, enterprise_id=visit.enterprise_id, inspectors=chosen
    )
    if unfit:
        raise InputError(
            [
                Problem("inspector_not_eligible", f"inspector_ids[{k}]", unfit[int(i.id or 0)])
                for k, i in enumerate(chosen)
                if int(i.id or 0) in unfit
            ]
        )
    # An agency replaces only its own inspectors; a supervisor those of the agencies it names.
    scope: set[str] = {i.agency_id for i in chosen} or set(agencies)
    if not actor.is_supervisor:
        scope = {str(actor.agency_id)}
    before = sorted(repo.on_visit(visit_id))
    repo.set_on_visit(visit_id, [i.id for i in chosen if i.id is not None], agencies=scope)
    visit.sequence += 1
    visit.updated_at = utcnow()
    VisitRepository(session).add(visit)
    after = sorted(repo.on_visit(visit_id))
    if after != before:
        record(
            session,
            "visit.inspectors",
            f"visit:{visit_id}",
            {"before": {"inspector_ids": before}, "after": {"inspector_ids": after}},
        )
    return after


def crew_member(row: InspectorRow) -> CrewInspector:
    """An inspector as the draw of inspectors sees one."""
    return CrewInspector(
        inspector_id=int(row.id or 0),
        active=row.active,
        certificate_no=row.certificate_no,
        certified_until=row.certified_until,
    )


def unfit_inspectors(
    session: Session, *, day: date, enterprise_id: str, inspectors: Sequence[InspectorRow]
) -> dict[int, str]:
    """Why each of these inspectors may not go on a visit of the enterprise that day (Chinese,
    naming the inspector and the field at fault): inactive, without a certificate number, the
    certificate expired by then, or a declared 回避. Those who may go are absent."""
    conflicts = InspectorConflictRepository(session).pairs(int(i.id or 0) for i in inspectors)
    out: dict[int, str] = {}
    for row in inspectors:
        iid = int(row.id or 0)
        who = f"执法人员 {row.name}({row.certificate_no or iid})"
        lapse = crew_member(row).refusal_on(day)
        if lapse == Lapse.INACTIVE:
            out[iid] = f"{who}已停用(active),不能指派"
        elif lapse == Lapse.NO_CERTIFICATE:
            out[iid] = f"执法人员 {row.name}({iid})未登记执法证号(certificate_no),不能指派"
        elif lapse is not None:
            out[iid] = (
                f"{who}的执法证有效期(certified_until)至 {row.certified_until},"
                f"早于入企日期 {day.isoformat()}"
            )
        elif (iid, enterprise_id) in conflicts:
            reason = conflicts[iid, enterprise_id]
            out[iid] = f"{who}已申报回避企业 {enterprise_id}(inspector_conflict:{reason})"
    return out


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    kind: Literal["enterprise", "agency", "inspector"]
    name: str
    body: bytes
    etag: str
    last_modified: datetime
    upcoming: list[tuple[date, Seen]]


def _short(name: str, regions: dict[str, str], region_code: str) -> str:
    """An agency's name without its region (东湖区市场监督管理局 -> 市场监督管理局)."""
    region = regions.get(region_code, "")
    return (
        name.removeprefix(region) if region and name.startswith(region) and name != region else name
    )


def _facts(
    session: Session,
    visits: Sequence[VisitRow],
    *,
    only_agency: str | None,
    regions: dict[str, str],
) -> list[VisitFacts]:
    """Each visit whole (the plans published in it; a cancelled visit's: those cancelled out of
    it) and its public side (`VisitRow.public_view`, made of announceable plans alone)."""
    plans: dict[int, list[PlanRow]] = defaultdict(list)
    for p in PlanRepository(session).of_visits(int(v.id or 0) for v in visits):
        plans[int(p.visit_id or p.cancelled_visit_id or 0)].append(p)
    agency_ids = {p.agency_id for ps in plans.values() for p in ps}
    for v in visits:
        agency_ids.add(v.lead_agency_id)
        if v.public_view is not None:
            agency_ids.add(v.public_view["lead"])
            agency_ids.update(p["agency"] for p in v.public_view["plans"])
    agencies = {a.id: a for a in AgencyRepository(session).by_ids(agency_ids)}
    enterprises = {
        e.id: e for e in EnterpriseRepository(session).by_ids(v.enterprise_id for v in visits)
    }

    def part(agency_id: str, items: Iterable[str]) -> AgencyPart:
        agency = agencies[agency_id]
        return AgencyPart(
            agency.name, _short(agency.name, regions, agency.region_code), tuple(items)
        )

    def lead(agency_id: str) -> tuple[str, str]:
        agency = agencies.get(agency_id)
        return (agency.name, agency.contact) if agency else (agency_id, "")

    out: list[VisitFacts] = []
    for v in sorted(visits, key=lambda v: (v.day, v.id or 0)):
        cancelled = v.status != VisitStatus.PUBLISHED
        members = [
            p
            for p in plans[int(v.id or 0)]
            if p.status == (PlanStatus.CANCELLED if cancelled else PlanStatus.PUBLISHED)
        ]
        if only_agency is not None and all(p.agency_id != only_agency for p in members):
            continue
        lead_name, lead_contact = lead(v.lead_agency_id)
        whole = Seen(
            cancelled=cancelled,
            sequence=v.sequence,
            created=v.created_at or utcnow(),
            updated=v.updated_at or utcnow(),
            lead_agency_name=lead_name,
            lead_contact=lead_contact,
            parts=tuple(
                part(p.agency_id, p.items) for p in sorted(members, key=lambda p: p.id or 0)
            ),
        )
        public = None
        view = v.public_view
        if view is not None:
            public_lead, public_contact = lead(view["lead"])
            public = Seen(
                cancelled=view["status"] != VisitStatus.PUBLISHED,
                sequence=v.public_sequence,
                created=v.public_created_at or utcnow(),
                updated=v.public_updated_at or utcnow(),
                lead_agency_name=public_lead,
                lead_contact=public_contact,
                parts=tuple(part(p["agency"], p["items"]) for p in view["plans"]),
            )
        out.append(
            VisitFacts(
                id=int(v.id or 0),
                day=v.day,
                enterprise_name=enterprises[v.enterprise_id].name,
                whole=whole,
                public=public,
            )
        )
    return out


def _name(session: Session, kind: str, subject: str) -> str:
    if kind == "enterprise":
        ent = EnterpriseRepository(session).get(subject)
        return f"{ent.name} 入企检查日程" if ent else ""
    if kind == "agency":
        agency = AgencyRepository(session).get(subject)
        return f"{agency.name} 检查安排" if agency else ""
    inspector_id = ascii_int(subject, maximum=MAX_ID)
    inspector = InspectorRepository(session).get(inspector_id) if inspector_id else None
    return f"{inspector.name} 检查安排" if inspector else ""


@dataclass(frozen=True, slots=True)
class FeedLookup:
    """A live token's feed, the version of its content today, and, when the stored rendering is
    still current, its validators and its body (None when the client holds that ETag)."""

    kind: FeedKind
    subject: str
    today: date
    version: str
    stored_etag: str | None = None
    stored_last_modified: datetime | None = None
    stored_body: bytes | None = None


def _lookup(found: FeedPoll | None, today: date) -> FeedLookup:
    if found is None:
        raise NotFoundError(_GONE)
    kind: FeedKind = (
        "enterprise"
        if found.kind == "enterprise"
        else "agency"
        if found.kind == "agency"
        else "inspector"
    )
    version = f"{today.isoformat()}|{found.stamp}"
    if found.version != version:
        return FeedLookup(kind, found.subject_id, today, version)
    return FeedLookup(
        kind, found.subject_id, today, version, found.etag, found.last_modified, found.body
    )


def _checked(token: str) -> str:
    """The token's digest; a token of the wrong shape is as unknown as any other."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise NotFoundError(_GONE)
    return _digest(token)


def live_token(session: Session, token: str) -> FeedTokenRow:
    """The subscription behind a live token; any other token is the same 404 as a dead feed."""
    row = FeedTokenRepository(session).live(_checked(token))
    if row is None:
        raise NotFoundError(_GONE)
    return row


def look_up(session: Session, token: str, *, now: datetime, uid_domain: str) -> FeedLookup:
    """Which feed `token` opens and whether its stored rendering is current: one round trip."""
    digest, today = _checked(token), today_in_china(now)
    first, last = window(today)
    found = FeedRenderRepository(session).poll(
        digest, first=first, last=last, uid_domain=uid_domain
    )
    return _lookup(found, today)


def build(session: Session, lookup: FeedLookup, *, uid_domain: str) -> RenderedFeed:
    """Render the feed of `lookup` from the database and store the rendering for every process."""
    kind, subject, today = lookup.kind, lookup.subject, lookup.today
    name = _name(session, kind, subject)
    if not name:  # the subject is gone: the subscription is too
        raise NotFoundError(_GONE)
    first, last = window(today)
    visits = VisitRepository(session).of_subject(kind, subject, first, last)
    only = subject if kind == "agency" else None
    facts = _facts(session, visits, only_agency=only, regions=_regions(session))
    feed = compose(kind=kind, name=name, visits=facts, today=today, uid_domain=uid_domain)
    body = render(feed)
    # Last-Modified: the newest event the subscriber sees, or the start of its day.
    day_start = datetime.combine(today, time(0), tzinfo=CHINA).astimezone(UTC)
    newest = max([e.updated for e in feed.events] + [day_start])
    rendered = RenderedFeed(
        kind=kind,
        name=name,
        body=body,
        etag='"' + hashlib.sha256(body).hexdigest() + '"',
        last_modified=newest.astimezone(UTC).replace(microsecond=0),
        upcoming=[
            (f.day, side)
            for f in facts
            if f.day >= today and (side := seen_by(kind, f, today)) is not None
        ],
    )
    FeedRenderRepository(session).store(
        FeedRenderRow(
            kind=kind,
            subject_id=subject,
            uid_domain=uid_domain,
            version=lookup.version,
            etag=rendered.etag,
            last_modified=rendered.last_modified,
            body=body,
        )
    )
    return rendered


_REGIONS: tuple[float, dict[str, str]] | None = None
_REGIONS_TTL = 300.0


def _regions(session: Session) -> dict[str, str]:
    """Region names (to shorten agency names), read again after five minutes."""
    global _REGIONS  # noqa: PLW0603 - a small process-wide cache of a rarely changing table
    if _REGIONS is None or monotonic() - _REGIONS[0] > _REGIONS_TTL:
        _REGIONS = (monotonic(), {r.code: r.name for r in RegionRepository(session).list()})
    return _REGIONS[1]


def poll(
    reader: Engine, token: str, *, now: datetime, uid_domain: str, client_etag: str
) -> FeedLookup:
    """The fast path of a poll: one statement on the reader engine (`make_reader`), which
    brings the stored body only when the client does not already hold it (`client_etag`)."""
    digest, today = _checked(token), today_in_china(now)
    first, last = window(today)
    found = poll_feed(
        reader, digest, first=first, last=last, uid_domain=uid_domain, client_etag=client_etag
    )
    return _lookup(found, today)


def fresh_feed(engine: Engine, lookup: FeedLookup, *, uid_domain: str) -> RenderedFeed:
    """Render now (a feed that changed, or one nobody has rendered yet) and store it."""
    with session_scope(engine) as session:
        return build(session, lookup, uid_domain=uid_domain)


def render_token(session: Session, token: str, *, now: datetime, uid_domain: str) -> RenderedFeed:
    """The feed behind `token`, rendered afresh, with what the subscribe page shows."""
    return build(
        session, look_up(session, token, now=now, uid_domain=uid_domain), uid_domain=uid_domain
    )


def token_digest(token: str) -> str | None:
    """The digest a token is stored by, or None for text that is no token's shape."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    return _digest(token)


class FeedCache(Generic[V]):
    """What polls of each token answered (`V`), kept in this process while it is exactly what
    the database would give: until anything a feed depends on may have changed (`FeedChanges`'
    mark moves, in any process) or the day ends in China (an unannounced visit's day arrives).
    Without a mark (no watcher, or its connection down) nothing is kept. At most `max_bytes`
    of answers (their `size`), the oldest dropped first."""

    def __init__(self, changes: FeedChanges | None, *, max_bytes: int = 64 << 20) -> None:
        self._changes = changes
        self._mark: int | None = None
        self._entries: dict[str, tuple[datetime, datetime, V, int]] = {}
        self._bytes = 0
        self._max_bytes = max_bytes

    def start(self) -> None:
        if self._changes is not None:
            self._changes.start()

    def stop(self) -> None:
        if self._changes is not None:
            self._changes.stop()
        self._forget(None)

    def mark(self) -> int | None:
        """The mark to take before reading the database for `put` (None: do not keep)."""
        mark = self._changes.mark() if self._changes is not None else None
        if mark != self._mark:
            self._forget(mark)
        return mark

    def _forget(self, mark: int | None) -> None:
        self._entries.clear()
        self._bytes = 0
        self._mark = mark

    def get(self, digest: str, now: datetime) -> V | None:
        """The answer kept for the token of `digest`, if it still holds at `now`."""
        if self.mark() is None:
            return None
        entry = self._entries.get(digest)
        if entry is None or not entry[0] <= now < entry[1]:
            return None
        return entry[2]

    def put(self, digest: str, value: V, *, mark: int | None, today: date, size: int) -> None:
        """Keep what a poll read after `mark` was taken, unless anything moved since."""
        if mark is None or self.mark() != mark or size > self._max_bytes:
            return
        old = self._entries.pop(digest, None)
        if old is not None:
            self._bytes -= old[3]
        while self._entries and self._bytes + size > self._max_bytes:
            self._bytes -= self._entries.pop(next(iter(self._entries)))[3]
        start = datetime.combine(today, time(0), tzinfo=CHINA)
        end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=CHINA)
        self._entries[digest] = (start, end, value, size)
        self._bytes += size


def feed_cache(engine: Engine) -> FeedCache[Any]:
    """A cache of poll answers for this process, watching `engine`'s database for changes."""
    return FeedCache(FeedChanges(engine))
