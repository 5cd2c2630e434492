"""Queries of the agency pages (`/agency`): enterprises by name, code or pinyin initials, the
inspectors on a month's visits, and the uploads of plan sheets. Like every repository, they
flush and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.persistence.base import Repository, in_conditions
from quietday.persistence.tables import (
    AgencyUploadRow,
    EnterpriseRow,
    VisitInspectorRow,
)

__all__ = ["AgencyUploadRepository", "EnterpriseSearch", "inspectors_on", "like_pattern"]


def like_pattern(text: str) -> str:
    """`text` anywhere, its LIKE wildcards taken literally (escape `\\`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class EnterpriseSearch:
    """Enterprises whose name holds the text (ILIKE: on PostgreSQL a trigram index serves it
    where pg_trgm is installed), whose code starts with it, or, for Latin letters and digits, whose pinyin
    initials start with it (`jxcs` finds 江西测试…)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, text: str, *, limit: int) -> Sequence[EnterpriseRow]:
        conditions: list[sa.ColumnElement[bool]] = [
            col(EnterpriseRow.name).ilike(like_pattern(text), escape="\\")
        ]
        code = text.upper()
        if code.isascii() and code.isalnum():
            conditions.append(col(EnterpriseRow.id).startswith(code, autoescape=True))
        if text.isascii() and text.isalnum() and not text.isdigit():
            conditions.append(
                col(EnterpriseRow.name_initials).startswith(text.lower(), autoescape=True)
            )
        query = (
            select(EnterpriseRow)
            .where(sa.or_(*conditions))
            .order_by(sa.func.length(EnterpriseRow.name), col(EnterpriseRow.name))
            .limit(limit)
        )
        return self.session.exec(query).all()


def inspectors_on(session: Session, visit_ids: Iterable[int]) -> dict[int, list[int]]:
    """The inspectors sent on each of these visits (ids, ascending)."""
    out: dict[int, list[int]] = {}
    for where in in_conditions(session, col(VisitInspectorRow.visit_id), visit_ids):
        for visit_id, inspector_id in session.execute(
            sa.select(col(VisitInspectorRow.visit_id), col(VisitInspectorRow.inspector_id))
            .where(where)
            .order_by(col(VisitInspectorRow.inspector_id))
        ):
            out.setdefault(int(visit_id), []).append(int(inspector_id))
    return out


class AgencyUploadRepository(Repository[AgencyUploadRow]):
    model = AgencyUploadRow
    label = "上传记录"

    def end_expired(self, now: datetime) -> None:
        self.session.execute(
            sa.delete(AgencyUploadRow).where(col(AgencyUploadRow.expires_at) <= now)
        )
