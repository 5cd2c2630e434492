"""Queries of webhooks: endpoints, the outbox (events and their deliveries), attempts.

A deliverer takes due deliveries in one UPDATE that raises their `attempts` and moves
`next_attempt_at` to its lease, on the condition that they are still due: of two deliverers
that read the same row, one takes it (PostgreSQL re-checks the condition once the other's lock
is gone). On PostgreSQL the rows read are locked `FOR UPDATE SKIP LOCKED` as well, so deliverers
side by side read different rows. An outcome is stored only if its delivery is still at that
attempt."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from quietday.errors import NotFoundError
from quietday.persistence.base import Repository, rows_where_in
from quietday.persistence.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
)

__all__ = ["DeliveryLine", "Taken", "WebhookRepository"]


@dataclass(frozen=True, slots=True)
class Taken:
    """A delivery a deliverer took: its attempt `number` (1 for the first)."""

    delivery_id: int
    number: int
    round_start: int
    event_id: int
    endpoint_id: int


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """A delivery as the dashboard lists it."""

    delivery: WebhookDeliveryRow
    event_type: str
    occurred_at: datetime
    url: str
    agency_id: str | None


class WebhookRepository(Repository[WebhookEndpointRow]):
    model = WebhookEndpointRow
    label = "Webhook 端点"

    # -- endpoints --------------------------------------------------------------------------

    def endpoints(self, agency_id: str | None = None) -> Sequence[WebhookEndpointRow]:
        """The endpoints not deleted, of one agency or (None) all of them."""
        q = select(WebhookEndpointRow).where(col(WebhookEndpointRow.deleted_at).is_(None))
        if agency_id is not None:
            q = q.where(col(WebhookEndpointRow.agency_id) == agency_id)
        return self.session.exec(q.order_by(col(WebhookEndpointRow.id))).all()

    def active(self) -> Sequence[WebhookEndpointRow]:
        q = select(WebhookEndpointRow).where(
            col(WebhookEndpointRow.deleted_at).is_(None), col(WebhookEndpointRow.active)
        )
        return self.session.exec(q.order_by(col(WebhookEndpointRow.id))).all()

    def endpoint_for(self, endpoint_id: int, agency_id: str | None) -> WebhookEndpointRow:
        """An endpoint not deleted, if `agency_id` (None: anyone's) may see it."""
        row = self.session.get(WebhookEndpointRow, endpoint_id)
        if (
            row is None
            or row.deleted_at is not None
            or (agency_id is not None and row.agency_id != agency_id)
        ):
            raise NotFoundError(f"Webhook 端点 {endpoint_id} 不存在")
        return row

    def endpoints_by_ids(self, ids: Iterable[int]) -> dict[int, WebhookEndpointRow]:
        rows = rows_where_in(self.session, WebhookEndpointRow, col(WebhookEndpointRow.id), ids)
        return {int(r.id or 0): r for r in rows}

    # -- the outbox -------------------------------------------------------------------------

    def add_events(self, events: Sequence[dict[str, Any]]) -> list[int]:
        """Insert events (column values), in one statement per batch; their ids, in order."""
        if not events:
            return []
        stmt = sa.insert(WebhookEventRow).returning(
            col(WebhookEventRow.id), sort_by_parameter_order=True
        )
        return [int(i) for i in self.session.execute(stmt, list(events)).scalars()]

    def add_deliveries(self, deliveries: Sequence[dict[str, Any]]) -> None:
        if deliveries:
            self.session.execute(sa.insert(WebhookDeliveryRow), list(deliveries))

    def events_by_ids(self, ids: Iterable[int]) -> dict[int, WebhookEventRow]:
        rows = rows_where_in(self.session, WebhookEventRow, col(WebhookEventRow.id), ids)
        return {int(r.id or 0): r for r in rows}

    # -- delivering -------------------------------------------------------------------------

    def take_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[Taken]:
        """Take up to `limit` deliveries due by `now` to active endpoints, each held until
        `lease_until` (its attempt under way)."""
        d = WebhookDeliveryRow
        q = (
            sa.select(col(d.id), col(d.attempts))
            .join(WebhookEndpointRow, col(WebhookEndpointRow.id) == col(d.endpoint_id))
            .where(
                col(d.status) == "pending",
                col(d.next_attempt_at) <= now,
                col(WebhookEndpointRow.active),
                col(WebhookEndpointRow.deleted_at).is_(None),
            )
            .order_by(col(d.next_attempt_at), col(d.id))
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True, of=sa.table("webhook_delivery"))
        ids = [int(i) for i in self.session.execute(q).scalars()]
        if not ids:
            return []
        # Taken only if still due: a deliverer that took it first moved `next_attempt_at` to
        # its lease (PostgreSQL re-checks the condition after waiting for a row's lock).
        taken = self.session.execute(
            sa.update(d)
            .where(col(d.id).in_(ids), col(d.status) == "pending", col(d.next_attempt_at) <= now)
            .values(attempts=col(d.attempts) + 1, next_attempt_at=lease_until)
            .returning(
                col(d.id), col(d.attempts), col(d.round_start), col(d.event_id), col(d.endpoint_id)
            )
        ).all()
        return sorted((Taken(*row) for row in taken), key=lambda t: t.delivery_id)

    def settle_attempts(self, outcomes: Sequence[dict[str, Any]]) -> None:
        """Store the outcomes of attempts (`delivery_id`, `number` and the columns to set), each
        if its delivery is still at that attempt (nobody took it again or re-delivered it)."""
        if not outcomes:
            return
        table: Any = WebhookDeliveryRow.__table__  # type: ignore[attr-defined]
        stmt = (
            table.update()
            .where(
                table.c.id == sa.bindparam("delivery_id"),
                table.c.attempts == sa.bindparam("number"),
            )
            .values(
                status=sa.bindparam("new_status"),
                next_attempt_at=sa.bindparam("next_at"),
                last_status_code=sa.bindparam("code"),
                last_error=sa.bindparam("error"),
                delivered_at=sa.bindparam("delivered"),
            )
        )
        self.session.execute(stmt, list(outcomes))

    def add_attempts(self, attempts: Sequence[dict[str, Any]]) -> None:
        if attempts:
            self.session.execute(sa.insert(WebhookAttemptRow), list(attempts))

    def delivery(self, delivery_id: int) -> WebhookDeliveryRow | None:
        return self.session.get(WebhookDeliveryRow, delivery_id)

    def attempts(self, delivery_id: int) -> Sequence[WebhookAttemptRow]:
        q = select(WebhookAttemptRow).where(col(WebhookAttemptRow.delivery_id) == delivery_id)
        return self.session.exec(q.order_by(col(WebhookAttemptRow.id))).all()

    def deliveries(
        self,
        *,
        endpoint_ids: Sequence[int] | None = None,
        status: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[DeliveryLine]:
        """The latest deliveries (newest first), of some endpoints or all, by status."""
        d, e, ep = WebhookDeliveryRow, WebhookEventRow, WebhookEndpointRow
        q = (
            sa.select(d, col(e.type), col(e.occurred_at), col(ep.url), col(ep.agency_id))
            .join(e, col(e.id) == col(d.event_id))
            .join(ep, col(ep.id) == col(d.endpoint_id))
        )
        if endpoint_ids is not None:
            q = q.where(col(d.endpoint_id).in_(list(endpoint_ids)))
        if status is not None:
            q = q.where(col(d.status) == status)
        if before is not None:
            q = q.where(col(d.id) < before)
        rows = self.session.execute(q.order_by(col(d.id).desc()).limit(limit)).all()
        return [DeliveryLine(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def counts(self) -> dict[str, int]:
        """Deliveries by status."""
        d = WebhookDeliveryRow
        q = sa.select(col(d.status), sa.func.count()).group_by(col(d.status))
        return {str(s): int(n) for s, n in self.session.execute(q).all()}
