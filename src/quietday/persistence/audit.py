"""Queries of the hash-chained audit log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.persistence.tables import (
    AuditHeadRow,
    AuditRow,
)

__all__ = ["AuditRepository"]


class AuditRepository:
    """The append-only audit log: entries are appended, never updated or deleted (hence no
    `delete` verb here), and the head row is moved first in the appending transaction (its row
    lock serialises appenders)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, row: AuditRow) -> AuditRow:
        self.session.add(row)
        self.session.flush()
        return row

    def advance_head(self) -> tuple[int, str]:
        """Take the head for one more entry: (its seq, the hash of the entry before it). A write
        first, so that PostgreSQL locks the row and SQLite takes its write lock before reading.
        The head is never an ORM object here, so the session is not searched for it (that search
        grows with everything else a big transaction holds)."""
        row = self.session.execute(
            sa.update(AuditHeadRow)
            .where(col(AuditHeadRow.id) == 1)
            .values(seq=col(AuditHeadRow.seq) + 1)
            .returning(col(AuditHeadRow.seq), col(AuditHeadRow.hash))
            .execution_options(synchronize_session=False)
        ).one()
        return int(row[0]), str(row[1])

    def set_head_hash(self, seq: int, digest: str) -> None:
        self.session.execute(
            sa.update(AuditHeadRow)
            .where(col(AuditHeadRow.id) == 1, col(AuditHeadRow.seq) == seq)
            .values(hash=digest)
            .execution_options(synchronize_session=False)
        )

    def head(self) -> tuple[int, str]:
        row = self.session.execute(
            sa.select(col(AuditHeadRow.seq), col(AuditHeadRow.hash)).where(
                col(AuditHeadRow.id) == 1
            )
        ).one()
        return int(row[0]), str(row[1])

    def stream(self, *, upto: int, chunk: int = 1000) -> Iterator[AuditRow]:
        """Entries with seq <= `upto` in seq order, read a chunk at a time (bounded memory)."""
        after = 0
        while True:
            rows = self.session.exec(
                select(AuditRow)
                .where(col(AuditRow.seq) > after, col(AuditRow.seq) <= upto)
                .order_by(col(AuditRow.seq))
                .limit(chunk)
            ).all()
            for row in rows:
                self.session.expunge(row)
                yield row
            if len(rows) < chunk:
                return
            after = rows[-1].seq

    def page(
        self, *, after: int, limit: int, action_prefix: str | None, subject: str | None
    ) -> Sequence[AuditRow]:
        query = (
            select(AuditRow)
            .where(col(AuditRow.seq) > after)
            .order_by(col(AuditRow.seq))
            .limit(limit)
        )
        if action_prefix:
            query = query.where(col(AuditRow.action).startswith(action_prefix, autoescape=True))
        if subject is not None:
            query = query.where(AuditRow.subject == subject)
        return self.session.exec(query).all()
