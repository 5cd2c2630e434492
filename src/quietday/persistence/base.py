"""Base of the repositories: the verbs every one has (`get`, `get_or_raise`, `list`, `add`,
`delete`) and the helpers that make IN lists. They flush, never commit: the caller's unit of
work decides."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, SQLModel, select

from quietday.errors import NotFoundError

__all__ = ["CHUNK", "Repository", "Row", "chunked", "columns_of", "in_conditions", "rows_where_in"]

Row = TypeVar("Row", bound=SQLModel)


class Repository(Generic[Row]):
    model: type[Row]
    label: str = "记录"

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: Any) -> Row | None:
        return self.session.get(self.model, key)

    def get_or_raise(self, key: Any) -> Row:
        row = self.get(key)
        if row is None:
            raise NotFoundError(f"{self.label} {key} 不存在")
        return row

    def add(self, row: Row) -> Row:
        self.session.add(row)
        self.session.flush()
        return row

    def add_all(self, rows: Iterable[Row]) -> None:
        self.session.add_all(list(rows))
        self.session.flush()

    def delete(self, row: Row) -> None:
        self.session.delete(row)
        self.session.flush()


CHUNK = 900  # below SQLite's default limit of bound parameters per statement


def columns_of(model: type[SQLModel], names: Sequence[str]) -> list[Any]:
    """The columns of `model` of these names, in their order (a NamedTuple's `_fields`)."""
    return [getattr(model, name) for name in names]


def in_conditions(session: Session, column: Any, values: Iterable[Any]) -> Iterator[Any]:
    """Conditions `column IN values` that together cover the distinct `values`: one array
    parameter on PostgreSQL (a single round trip, however many), chunks elsewhere."""
    wanted = sorted(set(values))
    if session.get_bind().dialect.name == "postgresql":
        yield column == sa.any_(
            sa.bindparam("members", wanted, type_=postgresql.ARRAY(column.type), unique=True)
        )
        return
    for chunk in chunked(wanted):
        yield column.in_(chunk)


def chunked(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def rows_where_in(
    session: Session, model: type[Row], column: Any, values: Iterable[Any]
) -> list[Row]:
    out: list[Row] = []
    for where in in_conditions(session, column, values):
        out.extend(session.exec(select(model).where(where)).all())
    return out
