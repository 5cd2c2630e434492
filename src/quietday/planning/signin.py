"""Sign-in sessions: a supervisor key signs in once to the dashboard, an agency key to the door
pages (`planning.door`), and the browser keeps a signed cookie.

The cookie is `<payload>.<signature>`: the payload (base64url JSON) carries the session id, the
key id, the expiry and a CSRF token; the signature is HMAC-SHA256 under the server secret. The
secret is `QUIETDAY_SESSION_SECRET`, else one generated once and kept in the `setting` table so
that every API process signs alike. Every request checks again that the key is live and that
the session still is: signing out deletes its row, so a copy of the cookie stops working too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from quietday.errors import ForbiddenError
from quietday.persistence import Session
from quietday.persistence.keys import ApiKeyRepository
from quietday.persistence.settings import SettingRepository
from quietday.persistence.signin import DashboardSessionRepository
from quietday.persistence.tables import DashboardSessionRow
from quietday.planning.keys import Actor, Role, authenticate

__all__ = [
    "SESSION_HOURS",
    "DashboardSession",
    "open_session",
    "session_secret",
    "sign_in",
    "sign_out",
    "start_session",
]

SESSION_HOURS = 8
SECRET_SETTING = "dashboard_session_secret"


@dataclass(frozen=True, slots=True)
class DashboardSession:
    session_id: str
    key_id: int
    expires: int
    csrf: str


def session_secret(session: Session, configured: str | None) -> bytes:
    """The configured secret, else the one stored for every process (created on first use)."""
    if configured:
        return configured.encode("utf-8")
    stored = SettingRepository(session).put_if_absent(
        SECRET_SETTING, {"secret": secrets.token_urlsafe(48)}
    )
    return str(stored["secret"]).encode("utf-8")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def sign_in(
    session: Session, presented: str, *, secret: bytes, now: datetime
) -> tuple[str, DashboardSession]:
    """The cookie value for a supervisor key; an agency key is refused, any other key fails as
    authentication does."""
    actor = authenticate(session, presented)
    if not actor.is_supervisor:
        raise ForbiddenError("部门密钥不能登录监督看板,请使用监督(司法行政)密钥")
    return start_session(session, actor, secret=secret, now=now)


def start_session(
    session: Session, actor: Actor, *, secret: bytes, now: datetime
) -> tuple[str, DashboardSession]:
    """A new session of an authenticated actor (whatever proved who it is: a key here, a single
    sign-on elsewhere): the signed cookie value and its claims."""
    expires = now + timedelta(hours=SESSION_HOURS)
    claims = DashboardSession(
        session_id=secrets.token_urlsafe(24),
        key_id=actor.key_id,
        expires=int(expires.timestamp()),
        csrf=secrets.token_urlsafe(24),
    )
    sessions = DashboardSessionRepository(session)
    sessions.end_expired(now)
    sessions.add(DashboardSessionRow(id=claims.session_id, key_id=actor.key_id, expires_at=expires))
    data = {"s": claims.session_id, "k": claims.key_id, "e": claims.expires, "c": claims.csrf}
    payload = _b64(json.dumps(data).encode("utf-8"))
    return f"{payload}.{_sign(secret, payload)}", claims


def _claims(value: str, secret: bytes) -> DashboardSession | None:
    payload, _, signature = value.partition(".")
    if not payload or not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        data = json.loads(_unb64(payload))
        return DashboardSession(
            session_id=str(data["s"]),
            key_id=int(data["k"]),
            expires=int(data["e"]),
            csrf=str(data["c"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def open_session(
    session: Session, value: str | None, *, secret: bytes, now: datetime, role: Role = "supervisor"
) -> DashboardSession | None:
    """The session a cookie carries, if its signature holds, it has not expired or been signed
    out, and its key is still a live key of `role`; else None."""
    # A cookie is whatever the browser sends: one that is not printable ASCII was never ours.
    if not value or len(value) > 1000 or not (value.isascii() and value.isprintable()):
        return None
    claims = _claims(value, secret)
    if claims is None or claims.expires <= now.timestamp():
        return None
    live = DashboardSessionRepository(session).get(claims.session_id)
    if live is None or live.key_id != claims.key_id:
        return None
    key = ApiKeyRepository(session).get(claims.key_id)
    if key is None or key.revoked_at is not None or key.role != role:
        return None
    return claims


def sign_out(session: Session, claims: DashboardSession) -> None:
    """End the session on the server: its cookie, and every copy of it, stops working."""
    DashboardSessionRepository(session).end(claims.session_id)
