"""Queries of calendar subscriptions: tokens, the one-statement poll, stored renderings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.persistence.base import Repository
from quietday.persistence.tables import (
    FeedRenderRow,
    FeedTokenRow,
    UTCDateTime,
)

__all__ = ["FeedPoll", "FeedRenderRepository", "FeedTokenRepository", "poll_feed"]


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
