"""Queries of inspection codes (检查码)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlmodel import col, select

from quietday.persistence.base import Repository, chunked
from quietday.persistence.tables import InspectionCodeRow

__all__ = ["CodeRepository"]


class CodeRepository(Repository[InspectionCodeRow]):
    model = InspectionCodeRow
    label = "检查码"

    def live_of_visits(self, visit_ids: Iterable[int]) -> list[InspectionCodeRow]:
        """The codes not revoked of these visits, oldest first."""
        out: list[InspectionCodeRow] = []
        for chunk in chunked(sorted(set(visit_ids))):
            query = (
                select(InspectionCodeRow)
                .where(
                    col(InspectionCodeRow.visit_id).in_(chunk),
                    col(InspectionCodeRow.revoked_at).is_(None),
                )
                .order_by(col(InspectionCodeRow.id))
            )
            out.extend(self.session.exec(query).all())
        return out

    def live(self, agency_id: str, enterprise_id: str, day: date) -> InspectionCodeRow | None:
        """The code an agency holds for an enterprise on a day, if one is not revoked."""
        query = select(InspectionCodeRow).where(
            InspectionCodeRow.enterprise_id == enterprise_id,
            InspectionCodeRow.day == day,
            InspectionCodeRow.agency_id == agency_id,
            col(InspectionCodeRow.revoked_at).is_(None),
        )
        return self.session.exec(query.order_by(col(InspectionCodeRow.id).desc())).first()

    def typed(self, enterprise_id: str, day: date, short_code: str) -> InspectionCodeRow | None:
        """A code typed in at an enterprise's door: only that enterprise's, only that day's."""
        query = select(InspectionCodeRow).where(
            InspectionCodeRow.enterprise_id == enterprise_id,
            InspectionCodeRow.day == day,
            InspectionCodeRow.short_code == short_code,
        )
        return self.session.exec(query).first()

    def short_taken(self, short_code: str) -> bool:
        query = select(InspectionCodeRow.id).where(InspectionCodeRow.short_code == short_code)
        return self.session.exec(query).first() is not None
