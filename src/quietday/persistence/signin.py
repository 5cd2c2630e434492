"""Live dashboard sessions: one row per sign-in, deleted at sign-out or once expired. Like
`repositories`, these flush and never commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col

from quietday.persistence.base import Repository
from quietday.persistence.tables import DashboardSessionRow

__all__ = ["DashboardSessionRepository"]


class DashboardSessionRepository(Repository[DashboardSessionRow]):
    model = DashboardSessionRow
    label = "看板会话"

    def end(self, session_id: str) -> None:
        """Sign-out: the session is gone (a second sign-out finds nothing to do)."""
        self.session.execute(
            sa.delete(DashboardSessionRow).where(col(DashboardSessionRow.id) == session_id)
        )

    def end_expired(self, now: datetime) -> None:
        self.session.execute(
            sa.delete(DashboardSessionRow).where(col(DashboardSessionRow.expires_at) <= now)
        )
