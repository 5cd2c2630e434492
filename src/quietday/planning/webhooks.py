"""Webhooks for agencies and integrators: signed POSTs (Standard Webhooks) from an outbox.

**Subscriptions.** An endpoint belongs to an agency (it hears of the visits its plans are in or
left, and is sent only its own plans and the agencies whose plans an enterprise may know of:
never another agency's hidden plan) or, created by a supervisor without an agency, to an
integrator (everything, and one `run.published` per published run). Its secret (`whsec_` and
32 random bytes in base64) is shown once; after a rotation the old one signs too for a day.

**The outbox.** `visit_events` and `run_published` write `webhook_event` rows and one
`webhook_delivery` per endpoint that wants them in the transaction of the change: nothing is
lost if a process dies, and nothing is written when no endpoint listens. A publication writes
one event per visit it changed only if some endpoint wants it (an agency endpoint: visits of its
agency), so a province run costs nothing without subscribers and one small row per visit
and listener with them; a visit's payload is bounded by its plans, a run's is its counts.

**Delivery.** `Deliverer.run_once` takes due deliveries (`persistence.webhooks`: a taken attempt
is fenced, PostgreSQL skips rows another deliverer locked), POSTs each with httpx (no redirects;
an address that is not public is refused unless `webhooks_local`), 2xx is delivered, anything
else waits `webhook_retry_seconds` (±20 %) and is tried again, and fails after the last wait.
Every attempt is logged. The `webhook-id` is the delivery's (`msg_<id>`): the same on every retry
and re-delivery, so receivers dedupe on it. Signing is hmac/hashlib (a few lines, below); the
tests verify with the `standardwebhooks` package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from quietday.config import Settings
from quietday.domain.status import VisitStatus
from quietday.errors import ConflictError, ForbiddenError, InputError, NotFoundError, Problem
from quietday.persistence import Engine, Session, session_scope
from quietday.persistence.registry import AgencyRepository
from quietday.persistence.tables import (
    PlanRow,
    RunRow,
    VisitRow,
    WebhookEndpointRow,
    WebhookEventRow,
    utcnow,
)
from quietday.persistence.webhooks import Taken, WebhookRepository
from quietday.planning.audit import plain, record
from quietday.planning.keys import Actor
from quietday.planning.visits import announceable

__all__ = [
    "EVENT_TYPES",
    "Deliverer",
    "VisitChange",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_endpoints",
    "payload",
    "publish_events",
    "redeliver",
    "refreshed",
    "rotate_secret",
    "run_published",
    "sign",
    "update_endpoint",
    "validate_url",
    "visit_events",
]

log = logging.getLogger(__name__)

EVENT_TYPES = ("visit.published", "visit.changed", "visit.cancelled", "run.published")
MAX_URL = 2000
MAX_DESCRIPTION = 200
_SNIPPET = 500
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_ROTATION_GRACE = timedelta(hours=24)


# -- signing ------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`
    under the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


# -- subscriptions ------------------------------------------------------------------------


def validate_url(url: str, *, local: bool) -> str:
    """An endpoint's address: https (http only to localhost when `local`), no credentials, not
    a private, loopback, link-local (cloud metadata) or reserved address given literally."""

    def bad(code: str, message: str) -> InputError:
        return InputError([Problem(code, "url", message)])

    if len(url) > MAX_URL or not url.isascii() or any(c.isspace() for c in url):
        raise bad("bad_url", f"url 须为不超过 {MAX_URL} 个字符的 ASCII 地址")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad("bad_url", "url 不是有效的地址") from exc
    # A name may end with the root's dot (`localhost.`): the same host.
    host = (parts.hostname or "").lower().removesuffix(".")
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise bad("bad_url", "url 须含主机名,且不含用户名、密码或 # 片段")
    is_local = local and host in _LOCAL_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and is_local):
        raise bad("insecure_url", "url 须为 https 地址")
    if port == 0:
        raise bad("bad_url", "url 的端口无效")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = _resolver_ipv4(host)
    if (ip is not None and not ip.is_global and not is_local) or (
        host == "localhost" and not is_local
    ):
        raise bad("private_address", "url 不能指向内网、本机或链路本地地址")
    return url


def _resolver_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address the C resolver reads in a name of numbers (`127.1`, `0x7f000001`,
    `2130706433`, `0177.0.0.1`), which `ipaddress` does not take for one."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _event_types(types: Sequence[str] | None) -> list[str]:
    chosen = sorted(set(types or ()))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InputError(
            [
                Problem(
                    "unknown_event_type",
                    "event_types",
                    f"未知的事件类型 {unknown[0]};可选: {'、'.join(EVENT_TYPES)}",
                )
            ]
        )
    return chosen


def _manager(actor: Actor) -> None:
    if actor.role == "approver":
        raise ForbiddenError("审批密钥不能管理 Webhook")


def _public(row: WebhookEndpointRow) -> dict[str, Any]:
    """What the audit log keeps of an endpoint (never its secret)."""
    shown: dict[str, Any] = plain(
        {
            "url": row.url,
            "agency_id": row.agency_id,
            "event_types": row.event_types,
            "description": row.description,
            "active": row.active,
        }
    )
    return shown


def create_endpoint(
    session: Session,
    actor: Actor,
    *,
    url: str,
    event_types: Sequence[str] | None = None,
    description: str = "",
    agency_id: str | None = None,
    active: bool = True,
    local: bool = False,
) -> tuple[WebhookEndpointRow, str]:
    """A new endpoint and its secret (shown once). An agency key's endpoint is its agency's; a
    supervisor's is the agency it names, or the integrator's (everything) if none."""
    _manager(actor)
    if actor.own_agency is not None:
        if agency_id not in (None, actor.own_agency):
            raise ForbiddenError("部门密钥只能为本部门创建 Webhook")
        agency_id = actor.own_agency
    elif agency_id is not None and AgencyRepository(session).get(agency_id) is None:
        raise InputError([Problem("unknown_agency", "agency_id", f"执法部门 {agency_id} 不存在")])
    if len(description) > MAX_DESCRIPTION:
        raise InputError([Problem("too_long", "description", "description 过长")])
    secret = new_secret()
    row = WebhookEndpointRow(
        url=validate_url(url, local=local),
        secret=secret,
        agency_id=agency_id,
        event_types=_event_types(event_types),
        description=description,
        active=active,
    )
    repo = WebhookRepository(session)
    repo.add(row)
    record(session, "webhook.create", f"webhook:{row.id}", _public(row))
    return row, secret


def list_endpoints(session: Session, actor: Actor) -> list[WebhookEndpointRow]:
    _manager(actor)
    return list(WebhookRepository(session).endpoints(actor.own_agency))


def get_endpoint(session: Session, actor: Actor, endpoint_id: int) -> WebhookEndpointRow:
    _manager(actor)
    return WebhookRepository(session).endpoint_for(endpoint_id, actor.own_agency)


def update_endpoint(
    session: Session,
    actor: Actor,
    endpoint_id: int,
    changes: Mapping[str, Any],
    *,
    local: bool = False,
) -> WebhookEndpointRow:
    """Change an endpoint's url, event types, description or whether it is active."""
    _manager(actor)
    repo = WebhookRepository(session)
    row = repo.endpoint_for(endpoint_id, actor.own_agency)
    before = _public(row)
    nulls = sorted(k for k, v in changes.items() if v is None)
    if nulls:
        raise InputError([Problem("null_value", k, f"{k} 不能为 null") for k in nulls])
    if "url" in changes:
        row.url = validate_url(changes["url"], local=local)
    if "event_types" in changes:
        row.event_types = _event_types(changes["event_types"])
    if "description" in changes:
        if len(changes["description"]) > MAX_DESCRIPTION:
            raise InputError([Problem("too_long", "description", "description 过长")])
        row.description = changes["description"]
    if "active" in changes:
        row.active = bool(changes["active"])
    after = _public(row)
    if after != before:
        row.updated_at = utcnow()
        repo.add(row)
        changed = {k: {"from": before[k], "to": after[k]} for k in after if after[k] != before[k]}
        record(session, "webhook.update", f"webhook:{endpoint_id}", changed)
    return row


def delete_endpoint(session: Session, actor: Actor, endpoint_id: int) -> None:
    """Delete an endpoint: nothing more is delivered to it; its deliveries' log stays."""
    _manager(actor)
    repo = WebhookRepository(session)
    row = repo.endpoint_for(endpoint_id, actor.own_agency)
    row.deleted_at = row.updated_at = utcnow()
    row.active = False
    repo.add(row)
    record(session, "webhook.delete", f"webhook:{endpoint_id}", _public(row))


def rotate_secret(
    session: Session, actor: Actor, endpoint_id: int
) -> tuple[WebhookEndpointRow, str]:
    """A new secret (shown once); the old one still signs (a second signature) for a day."""
    _manager(actor)
    repo = WebhookRepository(session)
    row = repo.endpoint_for(endpoint_id, actor.own_agency)
    now = utcnow()
    row.previous_secret, row.previous_until = row.secret, now + _ROTATION_GRACE
    row.secret = new_secret()
    row.updated_at = now
    repo.add(row)
    record(
        session,
        "webhook.rotate_secret",
        f"webhook:{endpoint_id}",
        {"previous_until": plain(row.previous_until)},
    )
    return row, row.secret


def redeliver(
    session: Session, delivery_id: int, *, agency_id: str | None, now: datetime | None = None
) -> None:
    """Deliver again (now, the back-off schedule anew), under the same `webhook-id`. Refused
    while an attempt is under way (never two at once)."""
    repo = WebhookRepository(session)
    row = repo.delivery(delivery_id)
    endpoint = repo.get(row.endpoint_id) if row is not None else None
    if (
        row is None
        or endpoint is None
        or endpoint.deleted_at is not None
        or (agency_id is not None and endpoint.agency_id != agency_id)
    ):
        raise NotFoundError(f"投递 {delivery_id} 不存在")
    # An attempt is under way if the latest one taken is not logged yet (one that died with its
    # process is never logged, but the next one taken after its lease is).
    logged = max((a.number for a in repo.attempts(delivery_id)), default=0)
    if row.status == "pending" and logged < row.attempts:
        raise ConflictError(f"投递 {delivery_id} 正在进行,请稍后再试", code="delivery_in_flight")
    row.status = "pending"
    row.round_start = row.attempts
    row.next_attempt_at = now or utcnow()
    session.add(row)
    session.flush()
    record(
        session,
        "webhook.redeliver",
        f"webhook_delivery:{delivery_id}",
        {"endpoint_id": row.endpoint_id, "event_id": row.event_id, "attempts": row.attempts},
    )


# -- the outbox ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitChange:
    """A visit that changed, its event type, the plans published in it now and those that
    left it in this change."""

    visit: VisitRow
    type: str
    members: Sequence[PlanRow]
    left: Sequence[PlanRow] = ()


def _wants(endpoint: WebhookEndpointRow, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


def _plan(p: PlanRow) -> dict[str, Any]:
    return {"id": int(p.id or 0), "agency_id": p.agency_id, "hidden": not announceable(p)}


def visit_events(session: Session, changes: Sequence[VisitChange]) -> int:
    """Write the events of these visit changes and their deliveries, for the endpoints that
    want them; how many events."""
    endpoints = list(WebhookRepository(session).active())
    if not endpoints or not changes:
        return 0
    now = utcnow()
    events: list[dict[str, Any]] = []
    targets: list[list[int]] = []
    for change in changes:
        agencies = sorted({p.agency_id for p in [*change.members, *change.left]})
        to = [
            int(e.id or 0)
            for e in endpoints
            if _wants(e, change.type) and (e.agency_id is None or e.agency_id in agencies)
        ]
        if not to:
            continue
        v = change.visit
        events.append(
            {
                "type": change.type,
                "occurred_at": now,
                "visit_id": v.id,
                "agencies": agencies,
                "data": {
                    "visit": {
                        "id": int(v.id or 0),
                        "enterprise_id": v.enterprise_id,
                        "date": v.day.isoformat(),
                        "status": str(v.status),
                        "sequence": v.sequence,
                        "lead_agency_id": v.lead_agency_id,
                        "plans": sorted((_plan(p) for p in change.members), key=_by_id),
                        "left": sorted((_plan(p) for p in change.left), key=_by_id),
                    }
                },
            }
        )
        targets.append(to)
    _store(session, events, targets, now)
    return len(events)


def _by_id(plan: dict[str, Any]) -> int:
    return int(plan["id"])


def run_published(session: Session, run: RunRow, counts: Mapping[str, int]) -> None:
    """One `run.published` event for the integrators' endpoints (no agency) that want it."""
    endpoints = WebhookRepository(session).active()
    to = [int(e.id or 0) for e in endpoints if e.agency_id is None and _wants(e, "run.published")]
    if not to:
        return
    now = utcnow()
    data = {
        "run": {
            "id": int(run.id or 0),
            "scope": run.scope,
            "horizon_start": run.horizon_start.isoformat(),
            "horizon_end": run.horizon_end.isoformat(),
            **counts,
        }
    }
    event = {
        "type": "run.published",
        "occurred_at": now,
        "visit_id": None,
        "run_id": run.id,
        "agencies": [],
        "data": data,
    }
    _store(session, [event], [to], now)


def _store(
    session: Session, events: list[dict[str, Any]], targets: list[list[int]], now: datetime
) -> None:
    repo = WebhookRepository(session)
    for event in events:
        event.setdefault("run_id", None)
    ids = repo.add_events(events)
    repo.add_deliveries(
        [
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "status": "pending",
                "attempts": 0,
                "round_start": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event_id, to in zip(ids, targets, strict=True)
            for endpoint_id in to
        ]
    )


def payload(event: WebhookEventRow, endpoint: WebhookEndpointRow) -> dict[str, Any]:
    """What one endpoint is sent of an event: an agency's endpoint only its own plans and the
    agencies whose plans the enterprise may know of (its own always)."""
    out: dict[str, Any] = {
        "id": f"evt_{event.id}",
        "type": event.type,
        "occurred_at": plain(event.occurred_at),
    }
    if "visit" not in event.data:
        return {**out, "data": event.data}
    v = event.data["visit"]
    own = endpoint.agency_id
    plans, left = v["plans"], v["left"]

    def seen(p: dict[str, Any]) -> bool:
        return own is None or p["agency_id"] == own

    visit = {
        "id": v["id"],
        "enterprise_id": v["enterprise_id"],
        "date": v["date"],
        "status": v["status"],
        "sequence": v["sequence"],
        "agencies": sorted(
            {p["agency_id"] for p in plans if own is None or not p["hidden"] or seen(p)}
        ),
        "plan_ids": [p["id"] for p in plans if seen(p)],
        "removed_plan_ids": [p["id"] for p in left if seen(p)],
    }
    if own is None:
        visit["lead_agency_id"] = v["lead_agency_id"]
    return {**out, "data": {"visit": visit}}


def publish_events(
    session: Session,
    run: RunRow,
    *,
    visits: Sequence[VisitRow],
    before: Mapping[int, tuple[str, int]],
    members: Callable[[Sequence[int]], Mapping[int, list[PlanRow]]],
    counts: Mapping[str, int],
) -> None:
    """The events of a publication: each visit it changed (`before`: status and sequence of
    the visits that existed), `visit.published` for one new or revived, else `visit.changed`;
    and the run's. `members` reads the plans of visits, called only if someone listens."""
    if not WebhookRepository(session).active():
        return
    changed = [
        v
        for v in visits
        if (int(v.id or 0) not in before) or before[int(v.id or 0)][1] != v.sequence
    ]
    plans = members([int(v.id or 0) for v in changed])
    visit_events(
        session,
        [
            VisitChange(
                v,
                "visit.published"
                if before.get(int(v.id or 0), ("", 0))[0] != VisitStatus.PUBLISHED
                else "visit.changed",
                plans.get(int(v.id or 0), []),
            )
            for v in changed
        ],
    )
    run_published(session, run, counts)


def refreshed(
    session: Session, visit: VisitRow, members: Sequence[PlanRow], left: Sequence[PlanRow]
) -> None:
    """The event of a visit that plans left or changed in (`plans.refresh_visit`)."""
    kind = "visit.cancelled" if visit.status == VisitStatus.CANCELLED else "visit.changed"
    visit_events(session, [VisitChange(visit, kind, members, left)])


# -- delivering ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    taken: Taken
    url: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Outcome:
    started: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliverer:
    """Takes due deliveries and POSTs them, `concurrency` at a time. PostgreSQL: any number of
    deliverers side by side (workers); SQLite: one (`quietday webhooks deliver`, or the
    serving process's)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        batch: int = 100,
        concurrency: int = 8,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.batch = batch
        self.concurrency = concurrency
        self.client = client or httpx.Client(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            headers={"user-agent": "quietday-webhooks/1"},
            limits=httpx.Limits(max_connections=concurrency),
        )
        self.rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    def run(self, stop: threading.Event, *, idle: float = 1.0) -> None:
        """Deliver until `stop` is set, waiting `idle` seconds whenever nothing is due."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("webhook delivery round failed")
                busy = 0
            if not busy:
                stop.wait(idle)

    def run_once(self) -> int:
        """One round: take what is due, POST it, store the outcomes; how many attempts."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        with session_scope(self.engine, actor="webhooks") as session:
            repo = WebhookRepository(session)
            taken = repo.take_due(now=now, lease_until=lease, limit=self.batch)
            events = repo.events_by_ids(t.event_id for t in taken)
            endpoints = repo.endpoints_by_ids(t.endpoint_id for t in taken)
            requests = [
                self._request(t, events[t.event_id], endpoints[t.endpoint_id], now) for t in taken
            ]
        if not requests:
            return 0
        outcomes = list(self._pool.map(self._post, requests))
        settled = [self._settle(r.taken, o) for r, o in zip(requests, outcomes, strict=True)]
        with session_scope(self.engine, actor="webhooks") as session:
            repo = WebhookRepository(session)
            repo.settle_attempts(settled)
            repo.add_attempts(
                [
                    {
                        "delivery_id": r.taken.delivery_id,
                        "number": r.taken.number,
                        "started_at": o.started,
                        "duration_ms": o.duration_ms,
                        "status_code": o.status_code,
                        "error": o.error,
                        "response": o.response,
                    }
                    for r, o in zip(requests, outcomes, strict=True)
                ]
            )
        return len(requests)

    def _request(
        self, taken: Taken, event: WebhookEventRow, endpoint: WebhookEndpointRow, now: datetime
    ) -> _Request:
        body = json.dumps(payload(event, endpoint), ensure_ascii=False, separators=(",", ":"))
        keys = [endpoint.secret]
        if endpoint.previous_secret and endpoint.previous_until and now < endpoint.previous_until:
            keys.append(endpoint.previous_secret)
        return _Request(taken, endpoint.url, body.encode("utf-8"), tuple(keys))

    def _blocked(self, url: str) -> str | None:
        """Why the address of `url` may not be called (it resolves to a non-public one)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"dns: {exc}"
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not ip.is_global and not (self.settings.webhooks_local and ip.is_loopback):
                # The log names the address; the delivery's error, which the endpoint's agency
                # reads, does not (else an agency key maps the internal DNS).
                log.warning("webhook to %s not sent: it resolves to %s", host, ip)
                return "blocked: not a public address"
        return None

    def _post(self, request: _Request) -> _Outcome:
        started = utcnow()
        clock = time.perf_counter()
        msg_id = f"msg_{request.taken.delivery_id}"
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": " ".join(
                sign(k, msg_id, stamp, request.body) for k in request.secrets
            ),
        }
        code: int | None = None
        error: str | None = None
        text = ""
        blocked = self._blocked(request.url)
        if blocked is not None:
            error = blocked
        else:
            try:
                with self.client.stream(
                    "POST", request.url, content=request.body, headers=headers
                ) as r:
                    code = r.status_code
                    head = b""
                    for chunk in r.iter_bytes():
                        head += chunk
                        # Enough of the answer, or a receiver that drips it: no more.
                        late = time.perf_counter() - clock > self.settings.webhook_timeout_seconds
                        if len(head) >= _SNIPPET or late:
                            break
                    text = head[:_SNIPPET].decode("utf-8", "replace")[:_SNIPPET]
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:_SNIPPET]
        duration = int((time.perf_counter() - clock) * 1000)
        return _Outcome(started, duration, code, error, text)

    def _settle(self, taken: Taken, outcome: _Outcome) -> dict[str, Any]:
        """What an attempt's outcome makes of its delivery: delivered, to be retried after the
        next wait of the schedule (from its latest re-delivery), or failed after the last."""
        now = utcnow()
        failures = taken.number - taken.round_start
        waits = self.settings.webhook_retry_seconds
        if outcome.ok:
            status, next_at = "succeeded", now
        elif failures > len(waits):
            status, next_at = "failed", now
        else:
            status = "pending"
            next_at = now + timedelta(seconds=waits[failures - 1] * self.rng.uniform(0.8, 1.2))
        error = outcome.error
        if error is None and not outcome.ok:
            error = f"HTTP {outcome.status_code}"
        return {
            "delivery_id": taken.delivery_id,
            "number": taken.number,
            "new_status": status,
            "next_at": next_at,
            "code": outcome.status_code,
            "error": error,
            "delivered": now if outcome.ok else None,
        }
