"""Who is asking: API keys (shown once, stored as SHA-256) and the three roles.

An agency key acts only for its agency; a supervisor key (司法行政) reads everything and manages
the registry, keys and runs; an approver key (the agency's head) reads its agency and approves
or rejects its special plans, and files nothing (separation of duties).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from quietday.errors import (
    AuthenticationError,
    ForbiddenError,
    InputError,
    NotFoundError,
    Problem,
)
from quietday.persistence import Session
from quietday.persistence.keys import ApiKeyRepository
from quietday.persistence.registry import AgencyRepository
from quietday.persistence.tables import ApiKeyRow, utcnow
from quietday.planning.audit import record

__all__ = ["Actor", "Role", "authenticate", "create_key", "list_keys", "revoke_key"]

Role = Literal["supervisor", "agency", "approver"]
_ROLES: dict[str, Role] = {"supervisor": "supervisor", "approver": "approver"}
_PREFIX_LEN = 12


@dataclass(frozen=True, slots=True)
class Actor:
    key_id: int
    role: Role
    agency_id: str | None

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def name(self) -> str:
        """How the audit log names this actor: `supervisor:key 3`, `agency:AG-01 key 7`."""
        if self.is_supervisor:
            return f"supervisor:key {self.key_id}"
        return f"{self.role}:{self.agency_id} key {self.key_id}"

    @property
    def own_agency(self) -> str | None:
        """The agency this key is confined to; None for a supervisor."""
        return None if self.is_supervisor else self.agency_id

    def require_filer(self) -> None:
        """Plans and check-ins are filed by agency and supervisor keys, never by an approver."""
        if self.role == "approver":
            raise ForbiddenError("审批密钥只能审批专项检查计划,不能提交、修改计划或登记入企")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session, *, role: Role, agency_id: str | None = None, label: str = ""
) -> tuple[ApiKeyRow, str]:
    """A new key: the row, and the key itself (shown once; only its hash is kept)."""
    if role in ("agency", "approver"):
        if not agency_id:
            message = "部门密钥和审批密钥须指定 agency_id"
            raise InputError([Problem("missing_key", "agency_id", message)])
        if AgencyRepository(session).get(agency_id) is None:
            raise InputError(
                [Problem("unknown_agency", "agency_id", f"执法部门 {agency_id} 不存在")]
            )
    elif agency_id:
        raise InputError([Problem("unexpected_field", "agency_id", "监督密钥不属于任何部门")])
    key = "qd_" + secrets.token_urlsafe(30)
    row = ApiKeyRow(
        prefix=key[:_PREFIX_LEN],
        hash=_digest(key),
        role=role,
        agency_id=agency_id if role != "supervisor" else None,
        label=label,
    )
    ApiKeyRepository(session).add(row)
    # The key's prefix stays out of the log: it is part of the secret.
    record(
        session,
        "key.create",
        f"key:{row.id}",
        {"role": row.role, "agency_id": row.agency_id, "label": row.label},
    )
    return row, key


def authenticate(session: Session, presented: str | None) -> Actor:
    """The actor behind a presented key; any failure is the same error, naming nothing."""
    if not presented or len(presented) < _PREFIX_LEN or len(presented) > 200:
        raise AuthenticationError("缺少或无效的 API 密钥")
    row = ApiKeyRepository(session).by_prefix(presented[:_PREFIX_LEN])
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(row.hash, _digest(presented))
    ):
        raise AuthenticationError("缺少或无效的 API 密钥")
    role: Role = _ROLES.get(row.role, "agency")
    return Actor(key_id=int(row.id or 0), role=role, agency_id=row.agency_id)


def list_keys(session: Session) -> list[ApiKeyRow]:
    return list(ApiKeyRepository(session).list())


def revoke_key(session: Session, key_id: int) -> ApiKeyRow:
    repo = ApiKeyRepository(session)
    row = repo.get(key_id)
    if row is None:
        raise NotFoundError(f"API 密钥 {key_id} 不存在")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        repo.add(row)
        record(session, "key.revoke", f"key:{key_id}", {"revoked_at": row.revoked_at})
    return row
