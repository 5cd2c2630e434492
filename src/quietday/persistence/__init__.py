"""The only package that imports SQLModel/SQLAlchemy: tables, mapping, repositories, migrations."""

from sqlalchemy.engine import Engine
from sqlmodel import Session

from quietday.persistence.database import (
    after_commit,
    is_sqlite,
    make_engine,
    make_reader,
    ping,
    refresh_statistics,
    session_scope,
)
from quietday.persistence.migrations import schema_behind, upgrade

# Registers the ORM event that keeps each enterprise's pinyin initials.
from quietday.persistence import names  # noqa: F401  isort: skip

__all__ = [
    "Engine",
    "Session",
    "after_commit",
    "is_sqlite",
    "make_engine",
    "make_reader",
    "ping",
    "refresh_statistics",
    "schema_behind",
    "session_scope",
    "upgrade",
]
