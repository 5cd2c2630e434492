"""`Idempotency-Key`: a retried request gets the first answer again instead of a second effect."""

from __future__ import annotations

import hashlib
from typing import Any

from quietday.errors import ConflictError, InputError, Problem
from quietday.persistence import Session
from quietday.persistence.keys import IdempotencyRepository
from quietday.persistence.tables import IdempotencyRow
from quietday.planning.keys import Actor

__all__ = ["fingerprint", "recall", "remember"]

MAX_KEY = 200


def fingerprint(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8") if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


def _check(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable():
        raise InputError(
            [
                Problem(
                    "bad_idempotency_key",
                    "Idempotency-Key",
                    f"Idempotency-Key 应为 1 至 {MAX_KEY} 个可打印字符",
                )
            ]
        )


def recall(session: Session, actor: Actor, key: str, request: str) -> IdempotencyRow | None:
    """The stored answer for `key`, if this key already made this request; a key reused for a
    different request is a conflict."""
    _check(key)
    row = IdempotencyRepository(session).find(actor.key_id, key)
    if row is None:
        return None
    if row.request_hash != request:
        raise ConflictError("Idempotency-Key 已用于另一个不同的请求", code="idempotency_key_reused")
    return row


def remember(
    session: Session,
    actor: Actor,
    *,
    key: str,
    request: str,
    status_code: int,
    body: dict[str, Any],
) -> None:
    IdempotencyRepository(session).add(
        IdempotencyRow(
            api_key_id=actor.key_id,
            key=key,
            request_hash=request,
            status_code=status_code,
            body=body,
        )
    )
