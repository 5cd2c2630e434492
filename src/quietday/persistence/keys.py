"""Queries of API keys and of idempotent requests."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from quietday.persistence.base import Repository
from quietday.persistence.tables import (
    ApiKeyRow,
    IdempotencyRow,
)

__all__ = ["ApiKeyRepository", "IdempotencyRepository"]


class ApiKeyRepository(Repository[ApiKeyRow]):
    model = ApiKeyRow
    label = "API 密钥"

    def by_prefix(self, prefix: str) -> ApiKeyRow | None:
        return self.session.exec(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).first()

    def list(self) -> Sequence[ApiKeyRow]:
        return self.session.exec(select(ApiKeyRow).order_by(col(ApiKeyRow.id))).all()


class IdempotencyRepository(Repository[IdempotencyRow]):
    model = IdempotencyRow
    label = "幂等记录"

    def find(self, api_key_id: int, key: str) -> IdempotencyRow | None:
        return self.session.exec(
            select(IdempotencyRow).where(
                IdempotencyRow.api_key_id == api_key_id, IdempotencyRow.key == key
            )
        ).first()
