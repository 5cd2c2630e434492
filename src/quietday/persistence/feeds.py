"""Queries of calendar subscriptions: tokens, the one-statement poll, stored renderings."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.persistence.base import Repository
from quietday.persistence.tables import (
    FeedRenderRow,
    FeedTokenRow,
    UTCDateTime,
)

__all__ = [
    "CHANNEL",
    "FeedChanges",
    "FeedPoll",
    "FeedRenderRepository",
    "FeedTokenRepository",
    "poll_feed",
]


class FeedTokenRepository(Repository[FeedTokenRow]):
    model = FeedTokenRow
    label = "日历订阅"

    def live(self, token_hash: str) -> FeedTokenRow | None:
        """The row of a live token; None for an unknown or revoked one."""
        return self.session.exec(
            select(FeedTokenRow).where(
                FeedTokenRow.token_hash == token_hash, col(FeedTokenRow.revoked_at).is_(None)
            )
        ).first()

    def list(self) -> Sequence[FeedTokenRow]:
        return self.session.exec(select(FeedTokenRow).order_by(col(FeedTokenRow.id))).all()


_STAMP = (
    "CAST(count(*) AS VARCHAR(20)) || '|' || COALESCE(CAST(max(v.updated_at) AS VARCHAR(60)), '')"
    " || '|' || CAST(COALESCE(sum(v.sequence), 0) AS VARCHAR(20))"
)
_WINDOW = "v.day >= :first AND v.day <= :last"
_POLL = sa.text(
    f"""
    SELECT t.kind, t.subject_id,
      CASE
        WHEN t.kind = 'enterprise' THEN
          (SELECT {_STAMP} FROM visit v WHERE v.enterprise_id = t.subject_id AND {_WINDOW})
        WHEN t.kind = 'agency' THEN
          (SELECT {_STAMP} FROM visit v WHERE {_WINDOW}
             AND v.id IN (SELECT p.visit_id FROM plan p WHERE p.agency_id = t.subject_id
                          UNION SELECT p.cancelled_visit_id FROM plan p
                          WHERE p.agency_id = t.subject_id))
        ELSE
          (SELECT {_STAMP} FROM visit v JOIN visit_inspector vi ON vi.visit_id = v.id
             WHERE CAST(vi.inspector_id AS VARCHAR(20)) = t.subject_id AND {_WINDOW})
      END || '|' || COALESCE(
        (SELECT CAST(s.value AS VARCHAR(60)) FROM setting s WHERE s.key = 'feed_generation'), ''
      ) AS stamp,
      r.version, r.etag, r.last_modified,
      CASE WHEN r.etag = :etag THEN NULL ELSE r.body END AS body
    FROM feed_token t
    LEFT JOIN feed_render r
      ON r.kind = t.kind AND r.subject_id = t.subject_id AND r.uid_domain = :domain
    WHERE t.token_hash = :hash AND t.revoked_at IS NULL
    """
).bindparams(
    sa.bindparam("first", type_=sa.Date), sa.bindparam("last", type_=sa.Date)
).columns(
    sa.column("kind", sa.String), sa.column("subject_id", sa.String), sa.column("stamp", sa.String),
    sa.column("version", sa.String), sa.column("etag", sa.String), sa.column("last_modified", UTCDateTime),
    sa.column("body", sa.LargeBinary),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedPoll:
    """A live token's feed, a stamp of its visits, and the stored rendering (if any): its
    version and validators, and its body unless the client already holds that ETag."""

    kind: str
    subject_id: str
    stamp: str
    version: str | None
    etag: str | None
    last_modified: datetime | None
    body: bytes | None


def _polled(executor: Session | sa.Connection, params: dict[str, Any]) -> FeedPoll | None:
    row = executor.execute(_POLL, params).first()
    if row is None:
        return None
    return FeedPoll(
        row.kind,
        row.subject_id,
        row.stamp or "",
        row.version,
        row.etag,
        row.last_modified,
        row.body,
    )


def _poll_params(
    token_hash: str, first: date, last: date, uid_domain: str, client_etag: str
) -> dict[str, Any]:
    return {
        "hash": token_hash,
        "first": first,
        "last": last,
        "domain": uid_domain,
        "etag": client_etag,
    }


def poll_feed(
    reader: sa.Engine,
    token_hash: str,
    *,
    first: date,
    last: date,
    uid_domain: str,
    client_etag: str = "",
) -> FeedPoll | None:
    """`FeedRenderRepository.poll` on a reader engine (`make_reader`): one statement, retried
    once on a fresh connection when the server had dropped the pooled one. The stored body is
    left out when the client already holds its ETag."""
    params = _poll_params(token_hash, first, last, uid_domain, client_etag)
    try:
        with reader.connect() as conn:
            return _polled(conn, params)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with reader.connect() as conn:
        return _polled(conn, params)


class FeedRenderRepository(Repository[FeedRenderRow]):
    model = FeedRenderRow
    label = "日历渲染"

    def poll(self, token_hash: str, *, first: date, last: date, uid_domain: str) -> FeedPoll | None:
        """In one round trip: a live token's (kind, subject), a stamp of its feed's visits, and
        the stored rendering."""
        return _polled(self.session, _poll_params(token_hash, first, last, uid_domain, ""))

    def store(self, row: FeedRenderRow) -> None:
        """Keep the newest rendering; another process storing the same feed meanwhile is fine."""
        existing = self.session.get(FeedRenderRow, (row.kind, row.subject_id, row.uid_domain))
        if existing is None:
            self.session.add(row)
        else:
            existing.version, existing.etag = row.version, row.etag
            existing.last_modified, existing.body = row.last_modified, row.body
            self.session.add(existing)
        self.session.flush()


# Every change that can alter what a feed token answers is notified on this channel, in the
# transaction that makes it (migration 0026's triggers on PostgreSQL): visits, inspectors on
# visits, plans entering or leaving visits, tokens revoked or deleted, the registry's name
# generation.
CHANNEL = "quietday_feeds"
_KEEPALIVE = 5.0  # seconds between checks that the listening connection still answers
LISTENER = "quietday-feed-changes"  # the listening connection's application_name
_WAKE = 0.5  # seconds between looks at whether to stop listening


class FeedChanges:
    """A mark that moves whenever something a feed depends on may have changed in the
    database, committed by this process or any other; None while that cannot be vouched for.

    SQLite: `PRAGMA data_version` on a connection of its own that never writes (it moves on
    every commit of any other connection). PostgreSQL: a thread LISTENs on `CHANNEL` and counts
    notifications; commits of this process's engine count too, without waiting for their
    notification; the mark is None from the moment the listening connection fails until it
    listens again. An in-memory SQLite database has no mark (nothing could be cached)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._counter = itertools.count(1)
        self._moves = 0
        self._listening = False
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin watching (a thread and a connection on PostgreSQL, a connection on SQLite)."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite":
            path = url.database or ""
            if path and path != ":memory:" and "mode=memory" not in str(url.query):
                self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self._sqlite.execute("PRAGMA query_only = 1")
            return
        sa.event.listen(self._engine, "commit", self._moved)
        self._thread = threading.Thread(target=self._listen, name="feed-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._listening = False
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
        if self._thread is not None:
            sa.event.remove(self._engine, "commit", self._moved)
            self._stop.set()  # the thread ends within `_WAKE` and closes its connection
            self._thread = None

    def mark(self) -> int | None:
        with self._lock:
            if self._sqlite is not None:
                return int(self._sqlite.execute("PRAGMA data_version").fetchone()[0])
        return self._moves if self._listening else None

    def _moved(self, *_: object) -> None:
        self._moves = next(self._counter)

    def _listen(self) -> None:
        dsn = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    dsn, autocommit=True, connect_timeout=5, application_name=LISTENER
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._moved()  # whatever was kept before is forgotten
                    self._listening = True
                    checked = time.monotonic()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=_WAKE):
                            self._moved()
                        if time.monotonic() - checked > _KEEPALIVE:
                            conn.execute("SELECT 1")
                            checked = time.monotonic()
            except psycopg.Error:
                self._listening = False
                self._stop.wait(0.2)
            self._listening = False
