"""The enterprise's side of the codes (凭码检查、扫码核验): what the public verification page shows
of an inspection code, a short code typed in on an enterprise's own page, and the enterprise
codes (监督码) printed in bulk.

A code shows its enterprise only what it is entitled to: the agency of the code with its items,
kinds, legal basis and the inspectors it sent; of a joint visit, the partner agencies' names,
but before the day only those whose plans may be announced (`visits.announceable`); never
another enterprise. Whatever is wrong is said plainly: not today, revoked (a cancelled visit
revokes its codes: "入企已取消"), the agency over its yearly cap at this enterprise, a quiet day
without an exempt reason.

A typed short code is honoured only for the page's enterprise and today; failures are counted
per enterprise and per client address in the database (every process shares the count), and
past the limit the page answers 429 for the rest of the hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from quietday.domain.model import CAPPED_KINDS, Kind
from quietday.domain.status import PlanStatus
from quietday.persistence import Session
from quietday.persistence.codes import CodeRepository
from quietday.persistence.mapping import policy_from_row
from quietday.persistence.plans import PlanRepository
from quietday.persistence.registry import AgencyRepository, EnterpriseRepository, PolicyRepository
from quietday.persistence.tables import EnterpriseRow, InspectionCodeRow, PlanRow
from quietday.persistence.verify import (
    AttemptRepository,
    PosterRepository,
    VisitInspectorRepository,
)
from quietday.planning.codes import normalise_short_code, revoke_stale
from quietday.planning.dashboard import near_cap_pairs
from quietday.planning.visits import announceable
from quietday.signing import BadTokenError, Keyring

__all__ = [
    "DEFAULT_LEGAL_BASIS",
    "ENTERPRISE_LIMIT",
    "IP_LIMIT",
    "Inspector",
    "Posters",
    "Refusal",
    "Verification",
    "Warning",
    "posters",
    "typed_code",
    "verify_token",
]

DEFAULT_LEGAL_BASIS = (
    "《中华人民共和国行政处罚法》《中华人民共和国行政许可法》《优化营商环境条例》"
    "及本部门职责范围内的法律、法规、规章"
)
# Failed typed codes allowed in one hour: per enterprise page, and per client address.
ENTERPRISE_LIMIT = 10
IP_LIMIT = 30


@dataclass(frozen=True, slots=True)
class Inspector:
    name: str
    certificate_no: str


@dataclass(frozen=True, slots=True)
class Warning:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Verification:
    """What a genuine code shows. `valid` is False once it is revoked: then only the agency,
    the date and the reason are filled in."""

    valid: bool
    code_id: int
    day: date
    today: date
    enterprise_id: str
    enterprise_name: str
    agency_id: str
    agency_name: str
    partners: list[str]
    items: list[str]
    kinds: list[str]
    legal_basis: str
    inspectors: list[Inspector]
    triggered: bool
    trigger_reason: str | None
    warnings: list[Warning]
    revoked_reason: str | None


def verify_token(
    session: Session, ring: Keyring, token: str, *, today: date
) -> Verification | None:
    """The verification of a scanned code; None for anything not a live or revoked code of
    ours (forged, altered, unknown key, not a code, unknown id): the caller says the same for
    all of them."""
    try:
        payload = ring.verify(token)
    except BadTokenError:
        return None
    cid = payload.get("cid")
    if payload.get("typ") != "code" or not isinstance(cid, int) or not 0 < cid < 2**31:
        return None
    row = CodeRepository(session).get(cid)
    if row is None or row.token != token:
        return None
    return _verification(session, row, today=today)


def _verification(session: Session, row: InspectionCodeRow, *, today: date) -> Verification:
    if row.revoked_at is None:
        revoke_stale(session, [row.visit_id])
    agencies = {a.id: a for a in AgencyRepository(session).by_ids([row.agency_id])}
    agency = agencies.get(row.agency_id)
    enterprise = EnterpriseRepository(session).get_or_raise(row.enterprise_id)
    revoked = Verification(
        valid=False,
        code_id=int(row.id or 0),
        day=row.day,
        today=today,
        enterprise_id=enterprise.id,
        enterprise_name=enterprise.name,
        agency_id=row.agency_id,
        agency_name=agency.name if agency else row.agency_id,
        partners=[],
        items=[],
        kinds=[],
        legal_basis="",
        inspectors=[],
        triggered=row.triggered,
        trigger_reason=None,
        warnings=[Warning("revoked", f"此检查码已失效:{row.revoked_reason or '已被撤销'}")],
        revoked_reason=row.revoked_reason or "已被撤销",
    )
    if row.revoked_at is not None:
        return revoked
    in_visit = PlanRepository(session).in_visit(row.visit_id)
    plans = [p for p in in_visit if p.status == PlanStatus.PUBLISHED]
    own = [p for p in plans if p.agency_id == row.agency_id]
    # Partners: before the day, only those the enterprise may be told of.
    partner_ids = sorted(
        {p.agency_id for p in plans if p.agency_id != row.agency_id}
        & {p.agency_id for p in plans if today >= row.day or announceable(p)}
    )
    names = {a.id: a.name for a in AgencyRepository(session).by_ids(partner_ids)}
    inspectors = VisitInspectorRepository(session).of_agency(row.visit_id, row.agency_id)
    case = next((p for p in own if p.kind == Kind.CASE), None)
    return replace(
        revoked,
        valid=True,
        partners=[names.get(a, a) for a in partner_ids],
        items=sorted({item for p in own for item in p.items}),
        kinds=sorted({Kind(p.kind).label for p in own}),
        legal_basis=(agency.legal_basis if agency else "") or DEFAULT_LEGAL_BASIS,
        inspectors=[Inspector(i.name, i.certificate_no) for i in inspectors],
        trigger_reason=(case.exempt_reason or "投诉举报等线索") if case else None,
        warnings=_warnings(session, row, enterprise, own, today=today),
        revoked_reason=None,
    )


def _warnings(
    session: Session,
    row: InspectionCodeRow,
    enterprise: EnterpriseRow,
    own: Sequence[PlanRow],
    *,
    today: date,
) -> list[Warning]:
    out: list[Warning] = []
    day = f"{row.day.year}年{row.day.month}月{row.day.day}日"
    if today < row.day:
        out.append(Warning("not_yet", f"检查日期是 {day},不是今天:今天不应凭此码入企检查。"))
    elif today > row.day:
        out.append(Warning("past", f"检查日期是 {day},已经过去:此码不能用于今天的检查。"))
    if any(p.kind in CAPPED_KINDS for p in own):
        found = near_cap_pairs(
            session,
            row.day.year,
            agency_id=row.agency_id,
            enterprise_id=row.enterprise_id,
            limit=1,
        )
        over = [n for n in found.pairs if n.over]
        if over:
            out.append(
                Warning(
                    "over_cap",
                    f"本年度该部门对本企业的检查已有 {over[0].used} 次,超过上限 {over[0].cap} 次。",
                )
            )
    policies = PolicyRepository(session).by_ids([enterprise.quiet_policy_id])
    quiet = any(policy_from_row(p).is_quiet(row.day) for p in policies)
    blackout = row.day.isoformat() in enterprise.blackout
    if (quiet or blackout) and any(not p.exempt_reason for p in own):
        out.append(Warning("quiet_day", "检查日期是本企业的安静日,而此次检查没有豁免事由。"))
    return out


def _hour(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# Why a typed code is not shown: too many misses this hour, or no such code today here.
Refusal = Literal["limited", "unknown"]


def typed_code(
    session: Session,
    enterprise_id: str,
    typed: str,
    *,
    client: str,
    today: date,
    now: datetime,
) -> Verification | Refusal:
    """The code typed on an enterprise's page: honoured only if it is that enterprise's code for
    today. A miss is counted (enterprise and client address) in the caller's transaction;
    past either limit in the hour, "limited" before anything is looked up."""
    hour = _hour(now)
    attempts = AttemptRepository(session)
    keys = [f"enterprise:{enterprise_id}", f"ip:{client[:80]}"]
    failures = attempts.failures(keys, hour)
    if failures.get(keys[0], 0) >= ENTERPRISE_LIMIT or failures.get(keys[1], 0) >= IP_LIMIT:
        return "limited"
    short = normalise_short_code(typed)
    row = (
        CodeRepository(session).typed(enterprise_id, today, short)
        if len(short) == 9 and short.isascii()
        else None
    )
    if row is None:
        attempts.forget_before(hour - timedelta(hours=1))
        attempts.count_failure(keys, hour)
        return "unknown"
    return _verification(session, row, today=today)


@dataclass(frozen=True, slots=True)
class Posters:
    """One page of enterprises whose 监督码 are printed together."""

    enterprises: list[EnterpriseRow]
    total: int
    page: int
    pages: int


def posters(session: Session, *, region: str, name: str, page: int, per_page: int) -> Posters:
    repo = PosterRepository(session)
    total = repo.count(region=region, name=name)
    pages = max(1, -(-total // per_page))
    page = min(page, pages)
    rows = repo.page(region=region, name=name, offset=(page - 1) * per_page, limit=per_page)
    return Posters(list(rows), total, page, pages)
