"""Queries of the supervisors' run controls: the parts of a run by state, the inspectors on
visits, the live calendar subscriptions of subjects (for a run's preview)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.persistence.base import in_conditions
from quietday.persistence.tables import FeedTokenRow, RunPartRow, VisitInspectorRow

__all__ = ["RunControlRepository"]


class RunControlRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def part_states(self, run_id: int) -> dict[str, int]:
        """How many of a run's queue jobs (`run_part`) are in each state."""
        rows = self.session.exec(
            select(RunPartRow.state, sa.func.count())
            .where(RunPartRow.run_id == run_id)
            .group_by(col(RunPartRow.state))
        ).all()
        return {state: int(n) for state, n in rows}

    def inspectors_on(self, visit_ids: Iterable[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for where in in_conditions(self.session, col(VisitInspectorRow.visit_id), visit_ids):
            for row in self.session.exec(select(VisitInspectorRow).where(where)).all():
                out[row.visit_id].append(row.inspector_id)
        return {v: sorted(ids) for v, ids in out.items()}

    def subscribed(self, kind: str, subject_ids: Iterable[str]) -> dict[str, int]:
        """Live calendar subscriptions (tokens) of these subjects of one kind, per subject."""
        out: dict[str, int] = {}
        for where in in_conditions(self.session, col(FeedTokenRow.subject_id), subject_ids):
            rows = self.session.exec(
                select(FeedTokenRow.subject_id, sa.func.count())
                .where(
                    where,
                    FeedTokenRow.kind == kind,
                    col(FeedTokenRow.revoked_at).is_(None),
                )
                .group_by(col(FeedTokenRow.subject_id))
            ).all()
            out.update({subject: int(n) for subject, n in rows})
        return out
