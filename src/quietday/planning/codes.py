"""Codes at the door (先赋码、再凭码检查): the inspection code (检查码) of each agency's plans in a
published visit, and each enterprise's own code (监督码).

An inspection code is minted when its agency first asks for it, never for an inspection its
enterprise may not know of (case, exempt or unannounced: `visits.announceable`) before the
visit's day. It signs (`quietday.signing`, Ed25519) the visit, agency, enterprise, day, plans and
whether it was triggered, so that its content can be checked offline with the public keys
alone; whether it still holds is the server's: a code is revoked when its agency's plans in the
visit change (`digest`) or the visit is cancelled (`revoke_stale`, called where visits change).
Its short form (8 characters) is what a person types; it is honoured only on the visit's day,
for that enterprise.

An enterprise's 监督码 is a signed token of its id in the URL of its page (`/e/<token>`), printed
once and scanned by inspectors to register an entry.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from quietday.domain.model import Kind
from quietday.domain.status import PlanStatus, VisitStatus
from quietday.errors import ConflictError, ForbiddenError, InputError, NotFoundError, Problem
from quietday.persistence import Session
from quietday.persistence.codes import CodeRepository
from quietday.persistence.plans import PlanRepository
from quietday.persistence.registry import EnterpriseRepository
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import InspectionCodeRow, PlanRow, VisitRow, utcnow
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import record
from quietday.planning.keys import Actor
from quietday.planning.visits import announceable
from quietday.signing import BadTokenError, Keyring, new_private_pem, public_pem

__all__ = [
    "KEYS_SETTING",
    "CodeView",
    "agency_codes",
    "code_url",
    "codes_for_agency_day",
    "codes_for_visits",
    "current_code",
    "enterprise_from_token",
    "enterprise_token",
    "enterprise_url",
    "keyring",
    "normalise_short_code",
    "revoke_stale",
    "rotate_stored_key",
    "visit_codes",
]

KEYS_SETTING = "code_signing_keys"
# Letters and digits a person reads and types without confusing them (no 0/O, 1/I/L, U/V).
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
_SHORT = 8


def keyring(session: Session, configured: str | None, retired: str = "") -> Keyring:
    """The configured key (and the retired public keys still trusted), else the key stored for
    every process (created on first use) with the keys it replaced."""
    if configured:
        return Keyring.of(configured, _pems(retired))
    stored = SettingRepository(session).put_if_absent(
        KEYS_SETTING, {"current": new_private_pem(), "retired": []}
    )
    return Keyring.of(str(stored["current"]), [*stored.get("retired", []), *_pems(retired)])


def _pems(bundle: str) -> list[str]:
    end = "-----END PUBLIC KEY-----"
    return [part.strip() + "\n" + end + "\n" for part in bundle.split(end) if part.strip()]


def rotate_stored_key(session: Session) -> str:
    """Replace the stored signing key by a new one, keeping the old public key trusted (codes
    already printed still verify); the new key's id."""
    repo = SettingRepository(session)
    stored = repo.value(KEYS_SETTING)
    retired = list(stored.get("retired", []))
    if "current" in stored:
        retired.append(public_pem(str(stored["current"])))
    current = new_private_pem()
    repo.put(KEYS_SETTING, {"current": current, "retired": retired})
    ring = Keyring.of(current, retired)
    record(session, "code.rotate_key", "code_keys", {"kid": ring.kid, "trusted": len(ring.trusted)})
    return ring.kid


@dataclass(frozen=True, slots=True)
class CodeView:
    id: int
    visit_id: int
    agency_id: str
    enterprise_id: str
    day: date
    short_code: str
    token: str
    triggered: bool
    issued_at: datetime


def _view(row: InspectionCodeRow) -> CodeView:
    assert row.issued_at is not None
    return CodeView(
        int(row.id or 0),
        row.visit_id,
        row.agency_id,
        row.enterprise_id,
        row.day,
        row.short_code,
        row.token,
        row.triggered,
        row.issued_at,
    )


def code_url(base: str, token: str) -> str:
    return f"{base}/v/{token}"


def enterprise_url(base: str, token: str) -> str:
    return f"{base}/e/{token}"


def _covered(plans: Sequence[PlanRow]) -> Sequence[PlanRow]:
    """The plans a code of an agency stands for: those the enterprise may know of, when it has
    any; else (hidden ones only: a code from their day) all. A hidden plan joining, changing or
    leaving an agency's announced plans neither revokes nor changes their code: before the day,
    that would tell the enterprise of it."""
    return [p for p in plans if announceable(p)] or plans


def _digest(day: date, plans: Sequence[PlanRow]) -> str:
    text = day.isoformat() + ";" + ";".join(f"{p.id}:{p.version}" for p in _covered(plans))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _by_agency(plans: Iterable[PlanRow]) -> dict[tuple[int, str], list[PlanRow]]:
    out: dict[tuple[int, str], list[PlanRow]] = defaultdict(list)
    for p in sorted(plans, key=lambda p: int(p.id or 0)):
        if p.status == PlanStatus.PUBLISHED and p.visit_id is not None:
            out[(p.visit_id, p.agency_id)].append(p)
    return out


def normalise_short_code(typed: str) -> str:
    """What a person typed as a short code, in its stored form (`K7QM-2XPD`)."""
    kept = "".join(c for c in typed.upper() if c.isalnum())
    return f"{kept[:4]}-{kept[4:]}" if len(kept) == _SHORT else kept


def _new_short(repo: CodeRepository) -> str:
    for _ in range(20):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_SHORT))
        short = normalise_short_code(raw)
        if not repo.short_taken(short):
            return short
    raise ConflictError("无法生成不重复的检查码,请重试")


def codes_for_visits(
    session: Session,
    ring: Keyring,
    visits: Sequence[VisitRow],
    *,
    today: date,
    agency_id: str | None = None,
) -> list[CodeView]:
    """The live code of each agency (or of `agency_id` only) in each published visit, minted
    where none holds; none for hidden inspections before their day. Minting is audit-logged."""
    published = [v for v in visits if v.status == VisitStatus.PUBLISHED]
    days = {int(v.id or 0): v for v in published}
    groups = _by_agency(PlanRepository(session).in_visits(days))
    repo = CodeRepository(session)
    live = {(c.visit_id, c.agency_id, c.digest): c for c in repo.live_of_visits(days)}
    out: list[CodeView] = []
    minted: list[InspectionCodeRow] = []
    for (visit_id, agency), plans in sorted(groups.items()):
        if agency_id is not None and agency != agency_id:
            continue
        visit = days[visit_id]
        covered = _covered(plans)
        if today < visit.day and not all(announceable(p) for p in covered):
            continue
        digest = _digest(visit.day, plans)
        row = live.get((visit_id, agency, digest))
        if row is None:
            row = _mint(
                session, ring, repo=repo, visit=visit, agency=agency, plans=covered, digest=digest
            )
            minted.append(row)
        out.append(_view(row))
    if minted:
        record(
            session,
            "code.issue",
            f"agency:{agency_id}" if agency_id else "codes",
            {
                "codes": [
                    {"id": r.id, "visit_id": r.visit_id, "agency_id": r.agency_id} for r in minted
                ]
            },
        )
    return out


def _mint(
    session: Session,
    ring: Keyring,
    *,
    repo: CodeRepository,
    visit: VisitRow,
    agency: str,
    plans: Sequence[PlanRow],
    digest: str,
) -> InspectionCodeRow:
    revoke_stale(session, [int(visit.id or 0)])
    triggered = any(p.kind == Kind.CASE for p in plans)
    row = repo.add(
        InspectionCodeRow(
            visit_id=int(visit.id or 0),
            agency_id=agency,
            enterprise_id=visit.enterprise_id,
            day=visit.day,
            short_code=_new_short(repo),
            digest=digest,
            triggered=triggered,
        )
    )
    assert row.issued_at is not None
    row.token = ring.sign(
        {
            "typ": "code",
            "cid": row.id,
            "vis": row.visit_id,
            "agy": agency,
            "ent": visit.enterprise_id,
            "day": visit.day.isoformat(),
            "trg": triggered,
            "pln": [int(p.id or 0) for p in plans],
            "iat": int(row.issued_at.timestamp()),
        }
    )
    return repo.add(row)


def codes_for_agency_day(
    session: Session, ring: Keyring, agency_id: str, day: date, *, today: date
) -> list[CodeView]:
    """An agency's codes for its published visits of one day."""
    visits = VisitRepository(session).of_subject("agency", agency_id, day, day)
    return codes_for_visits(session, ring, visits, today=today, agency_id=agency_id)


def current_code(
    session: Session, agency_id: str, enterprise_id: str, day: date
) -> CodeView | None:
    """The live code an agency holds for an enterprise on a day, if it still matches the plans
    published in that visit (a stale one is revoked here)."""
    row = CodeRepository(session).live(agency_id, enterprise_id, day)
    if row is None:
        return None
    revoke_stale(session, [row.visit_id])
    return None if row.revoked_at is not None else _view(row)


def revoke_stale(session: Session, visit_ids: Iterable[int]) -> int:
    """Revoke the live codes of these visits that no longer match them: the visit cancelled, or
    its agency's plans in it changed (some left, joined, or changed). How many were revoked."""
    ids = sorted(set(visit_ids))
    repo = CodeRepository(session)
    codes = repo.live_of_visits(ids)
    if not codes:
        return 0
    visits = {int(v.id or 0): v for v in VisitRepository(session).by_ids(ids)}
    groups = _by_agency(PlanRepository(session).in_visits(ids))
    now = utcnow()
    revoked = 0
    for code in codes:
        visit = visits.get(code.visit_id)
        plans = groups.get((code.visit_id, code.agency_id), [])
        if visit is None or visit.status != VisitStatus.PUBLISHED:
            reason = "入企已取消"
        elif not plans:
            reason = "该部门的检查计划已不在此次入企中"
        elif _digest(visit.day, plans) != code.digest:
            reason = "检查计划已变更"
        else:
            continue
        code.revoked_at, code.revoked_reason = now, reason
        session.add(code)
        revoked += 1
    session.flush()
    return revoked


def enterprise_token(ring: Keyring, enterprise_id: str) -> str:
    """The enterprise's 监督码 token (the same for as long as the signing key is)."""
    return ring.sign({"typ": "enterprise", "ent": enterprise_id})


def enterprise_from_token(session: Session, ring: Keyring, token: str, *, field: str) -> str:
    """The enterprise a 监督码 names; an `InputError` on `field` for anything forged, altered,
    signed by an untrusted key, or naming no enterprise."""
    try:
        payload = ring.verify(token)
    except BadTokenError as exc:
        raise InputError(
            [Problem("bad_code", field, "监督码无效:不是本系统签发的企业码,或已被篡改")]
        ) from exc
    enterprise_id = payload.get("ent")
    if payload.get("typ") != "enterprise" or not isinstance(enterprise_id, str):
        raise InputError([Problem("bad_code", field, "这不是企业监督码")])
    if EnterpriseRepository(session).get(enterprise_id) is None:
        raise InputError([Problem("bad_code", field, "监督码所指的企业不存在")])
    return enterprise_id


def visit_codes(
    session: Session, ring: Keyring, actor: Actor, visit_id: int, *, today: date
) -> list[CodeView]:
    """The codes of one published visit: an agency's own, or every agency's for a supervisor."""
    visit = VisitRepository(session).get(visit_id)
    if visit is None:
        raise NotFoundError(f"入企 {visit_id} 不存在")
    agencies = {p.agency_id for p in PlanRepository(session).of_visits([visit_id])}
    if actor.own_agency is not None and actor.own_agency not in agencies:
        raise NotFoundError(f"入企 {visit_id} 不存在")
    return codes_for_visits(session, ring, [visit], today=today, agency_id=actor.own_agency)


def agency_codes(
    session: Session, ring: Keyring, actor: Actor, day: date, *, today: date
) -> list[CodeView]:
    """An agency's codes of one day (its own agency for an agency key)."""
    if actor.own_agency is None:
        raise ForbiddenError("按日期列出检查码须使用执法部门密钥;监督密钥请按入企查看")
    return codes_for_agency_day(session, ring, actor.own_agency, day, today=today)
