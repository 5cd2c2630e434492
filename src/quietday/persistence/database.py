"""Engines and sessions. The session commits once, at the edge (a request, a command, a job);
everything below only flushes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

__all__ = ["after_commit", "is_sqlite", "make_engine", "make_reader", "session_scope"]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


CONNECT_TIMEOUT = 5  # seconds: an unreachable PostgreSQL fails a request instead of hanging it


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout so that a solve
    process and the API can share one file. PostgreSQL connections are pinged on checkout (a
    restarted server leaves the pool full of dead ones) and give up connecting after
    `CONNECT_TIMEOUT`."""
    if is_sqlite(url):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    connect_args = {"connect_timeout": CONNECT_TIMEOUT, **kwargs.pop("connect_args", {})}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def make_reader(engine: Engine) -> Engine:
    """An engine for hot single-statement reads (feed polls): on PostgreSQL its own pool in
    autocommit, without the ping on checkout and the rollback on return, so that a read is one
    round trip. A connection the server dropped fails one statement; `read_once` retries it.
    SQLite has no round trips to save: the engine itself."""
    if engine.dialect.name == "sqlite":
        return engine
    return sa.create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        pool_pre_ping=False,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
    )


def refresh_statistics(engine: Engine) -> None:
    """After bulk writes, on SQLite: gather the query planner's statistics (PostgreSQL's
    autovacuum does so itself). Without them SQLite reads an enterprise's published visits with
    an agency's plans through the plan status index, every published plan (the demo's 3,000
    check-ins: 1.7 ms each; with them 0.02 ms)."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def ping(engine: Engine) -> None:
    """One round trip to the database; raises what the driver raises when it cannot answer."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


@contextmanager
def session_scope(engine: Engine, *, actor: str | None = None) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises. `actor` names who
    acts (`cli`, `runner`, ...) for the audit log; the API sets it after authentication."""
    with Session(engine, expire_on_commit=False) as session:
        if actor is not None:
            session.info["actor"] = actor
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Do `action` once the session's transaction has committed; never if it rolls back
    (a savepoint rolled back inside it changes nothing)."""

    def committed(_session: Session) -> None:
        sa.event.remove(session, "after_soft_rollback", rolled_back)
        action()

    def rolled_back(_session: Session, previous: SessionTransaction) -> None:
        if previous.parent is None:
            sa.event.remove(session, "after_soft_rollback", rolled_back)
            sa.event.remove(session, "after_commit", committed)

    sa.event.listen(session, "after_commit", committed, once=True)
    sa.event.listen(session, "after_soft_rollback", rolled_back)
