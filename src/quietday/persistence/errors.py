"""Database failures the API tells apart: the database cannot be reached now (retry later), and
a lost race (a unique constraint, a deadlock: a retry may succeed, or the record exists). Any
other database error is a bug and stays one."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["DBAPIError", "IntegrityError", "PoolTimeout", "is_lost_race", "is_unavailable"]

# admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down, recovering)
_SERVER_GOING = frozenset({"57P01", "57P02", "57P03"})
# serialization_failure, deadlock_detected
_RACES = frozenset({"40001", "40P01"})


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached now: a connection refused, lost or
    timed out, the server stopping or starting, every pooled connection busy, a SQLite file
    locked past the busy timeout. Not a bad statement, a constraint or a deadlock."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, psycopg.OperationalError):
        state = orig.sqlstate  # None: the failure is the client's connection, not a statement
        return state is None or state.startswith("08") or state in _SERVER_GOING
    if isinstance(orig, sqlite3.OperationalError):
        return "database is locked" in str(orig)
    return False


def is_lost_race(exc: BaseException) -> bool:
    """Whether `exc` is a transaction that lost to a concurrent one (a retry may succeed)."""
    if isinstance(exc, IntegrityError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(orig, psycopg.Error) and orig.sqlstate in _RACES
