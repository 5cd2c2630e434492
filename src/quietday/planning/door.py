"""At the door (亮码 / 扫码入企), the inspector's side.

An inspector signs in on a phone with the agency's key, then names who is at the door: at least
two of the agency's active inspectors whose certificate holds that day (the enforcement rules:
one that lapsed is not offered, and leaves the crew of a session kept overnight). The day's published
visits of the agency are listed with their inspection codes (检查码, shown to the enterprise);
scanning the enterprise's 监督码 (or typing it, or picking the enterprise from the list)
registers a check-in of those inspectors, now, with that code. In an emergency the check comes
first and the scan before leaving (Shenzhen's rule): the entry time is given, with a reason.

`door_actor` is the one place credentials become an actor: a deployment on the government's
single sign-on replaces it (the SSO assertion names the agency), and the rest stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from quietday.domain.model import Kind
from quietday.errors import ForbiddenError, InputError, Problem
from quietday.persistence import Session
from quietday.persistence.door import DoorRepository
from quietday.persistence.keys import ApiKeyRepository
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
)
from quietday.persistence.tables import InspectorRow
from quietday.planning import codes
from quietday.planning.audit import record
from quietday.planning.checkins import MIN_INSPECTORS, CheckInInput, CheckInView, record_check_in
from quietday.planning.feeds import crew_member, today_in_china
from quietday.planning.keys import Actor, authenticate
from quietday.planning.signin import DashboardSession, open_session, sign_out, start_session
from quietday.signing import Keyring

__all__ = [
    "Door",
    "TodayVisit",
    "agency_of",
    "candidates",
    "choose_crew",
    "door_actor",
    "door_check_in",
    "enterprise_names",
    "enterprise_token",
    "open_door",
    "resolve_enterprise",
    "sign_in",
    "sign_out",
    "today_visits",
]

# A 监督码 token is a JWS compact serialisation: base64url parts joined by dots.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,4}$")
_PATH = "/e/"
TRIGGERED_KINDS = frozenset({Kind.CASE.value, Kind.REQUESTED.value})


@dataclass(frozen=True, slots=True)
class Door:
    """A live door sign-in: the session, the agency's actor, today (China), and who is at the
    door (the chosen inspectors still active in the agency and certified today; empty until
    chosen)."""

    claims: DashboardSession
    actor: Actor
    agency_id: str
    agency_name: str
    today: date
    crew: list[InspectorRow]

    @property
    def ready(self) -> bool:
        return len(self.crew) >= MIN_INSPECTORS


@dataclass(frozen=True, slots=True)
class TodayVisit:
    visit_id: int
    enterprise_id: str
    enterprise_name: str
    agencies: list[str]
    items: list[str]
    kinds: list[str]
    triggered: bool
    code: str
    url: str


def door_actor(session: Session, presented: str) -> Actor:
    """The seam: credentials (an agency's API key) to the agency's actor. A supervisor or an
    approver key is refused (a door session lives only on an agency key); any other failure is
    authentication's."""
    actor = authenticate(session, presented)
    if actor.role != "agency" or actor.agency_id is None:
        raise ForbiddenError(
            "入企页面须用执法部门的密钥登录;监督密钥请登录监督看板,审批密钥不能登记入企"
        )
    return actor


def sign_in(session: Session, presented: str, *, secret: bytes, now: datetime) -> str:
    """The cookie value of a new door session (no inspectors chosen yet)."""
    value, _ = start_session(session, door_actor(session, presented), secret=secret, now=now)
    return value


def open_door(session: Session, value: str | None, *, secret: bytes, now: datetime) -> Door | None:
    """The door session a cookie carries (as `open_session` checks it, for an agency key)."""
    claims = open_session(session, value, secret=secret, now=now, role="agency")
    if claims is None:
        return None
    actor = _actor_of_key(session, claims.key_id)
    repo = DoorRepository(session)
    row = repo.get(claims.session_id)
    if row is None or actor.agency_id is None:
        return None
    agency = AgencyRepository(session).get(actor.agency_id)
    today = today_in_china(now)
    crew = [
        i
        for i in repo.inspectors(row.inspector_ids)
        if i.agency_id == actor.agency_id and crew_member(i).eligible_on(today)
    ]
    session.info["actor"] = f"{actor.name} door"
    return Door(
        claims=claims,
        actor=actor,
        agency_id=actor.agency_id,
        agency_name=agency.name if agency is not None else actor.agency_id,
        today=today,
        crew=crew,
    )


def _actor_of_key(session: Session, key_id: int) -> Actor:
    """The actor of a live agency key (`open_session` has checked it)."""
    key = ApiKeyRepository(session).get(key_id)
    return Actor(key_id=key_id, role="agency", agency_id=key.agency_id if key else None)


def agency_of(actor: Actor) -> str:
    """The agency an API key acts for at the door (a supervisor key has none)."""
    if actor.own_agency is None:
        raise ForbiddenError("入企须使用执法部门的密钥;监督密钥不能亮码或扫码")
    return actor.own_agency


def enterprise_names(session: Session, ids: list[str]) -> dict[str, str]:
    return {e.id: e.name for e in EnterpriseRepository(session).by_ids(ids)}


def candidates(session: Session, door: Door) -> list[InspectorRow]:
    """The agency's active inspectors whose certificate holds today, by name."""
    rows = InspectorRepository(session).list(agency_id=door.agency_id)
    return sorted(
        (r for r in rows if crew_member(r).eligible_on(door.today)),
        key=lambda r: (r.name, r.certificate_no),
    )


def choose_crew(session: Session, door: Door, inspector_ids: list[int]) -> list[InspectorRow]:
    """Who is at the door: at least two active inspectors of the agency certified today."""
    wanted = list(dict.fromkeys(inspector_ids))
    own = {int(r.id or 0): r for r in candidates(session, door)}
    lapsed = {
        int(r.id or 0): r
        for r in InspectorRepository(session).list(agency_id=door.agency_id)
        if r.active and r.certified_until is not None and r.certified_until < door.today
    }
    problems = [
        Problem(
            "unknown_inspector",
            "inspectors",
            f"执法人员 {lapsed[i].name}({lapsed[i].certificate_no})的执法证有效期至 "
            f"{lapsed[i].certified_until},今天不能入企"
            if i in lapsed
            else f"执法人员 {i} 不是本部门在岗的持证人员",
        )
        for i in wanted
        if i not in own
    ]
    if len(wanted) < MIN_INSPECTORS:
        problems.append(
            Problem("too_few_inspectors", "inspectors", f"入企须有至少 {MIN_INSPECTORS} 名执法人员")
        )
    if problems:
        raise InputError(problems)
    repo = DoorRepository(session)
    row = repo.get_or_raise(door.claims.session_id)
    row.inspector_ids = wanted
    repo.add(row)
    crew = [own[i] for i in wanted]
    record(
        session,
        "door.crew",
        f"agency:{door.agency_id}",
        {"certificates": [i.certificate_no for i in crew]},
    )
    return crew


def today_visits(
    session: Session, ring: Keyring, base_url: str, agency_id: str, day: date, *, today: date
) -> list[TodayVisit]:
    """The agency's published visits of `day` with their inspection codes (minted as needed;
    none before its day for an inspection the enterprise may not know of)."""
    day_visits = DoorRepository(session).visits_of(agency_id, day)
    names = {
        a.id: a.name
        for a in AgencyRepository(session).by_ids(
            {p.agency_id for v in day_visits for p in v.plans}
        )
    }
    minted = {
        c.visit_id: c
        for c in codes.codes_for_agency_day(session, ring, agency_id, day, today=today)
    }
    out: list[TodayVisit] = []
    for v in day_visits:
        visit_id = int(v.visit.id or 0)
        code = minted.get(visit_id)
        if code is None:
            continue
        kinds = sorted({p.kind for p in v.plans if p.agency_id == agency_id})
        out.append(
            TodayVisit(
                visit_id=visit_id,
                enterprise_id=v.visit.enterprise_id,
                enterprise_name=v.enterprise_name,
                agencies=[names.get(a, a) for a in dict.fromkeys(p.agency_id for p in v.plans)],
                items=list(
                    dict.fromkeys(i for p in v.plans if p.agency_id == agency_id for i in p.items)
                ),
                kinds=kinds,
                triggered=any(k in TRIGGERED_KINDS for k in kinds),
                code=code.short_code,
                url=codes.code_url(base_url, code.token),
            )
        )
    return out


def enterprise_token(text: str) -> str:
    """The token of a 监督码 given as its URL (`<base>/e/<token>`) or as the token itself."""
    value = text.strip()
    if _PATH in value:
        value = value.rsplit(_PATH, 1)[1].split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if not value or len(value) > 1000 or not _TOKEN.fullmatch(value):
        raise InputError([Problem("bad_code", "enterprise_code", "这不是企业监督码(地址或令牌)")])
    return value


def resolve_enterprise(
    session: Session, ring: Keyring, *, enterprise_id: str | None, code: str | None
) -> tuple[str, str | None]:
    """The enterprise an entry is at, and the verified 监督码 token if one was scanned: the
    token's enterprise must be the one named, when both are given."""
    if code is None:
        if not enterprise_id:
            raise InputError(
                [Problem("missing_enterprise", "enterprise_id", "须填企业代码或扫描企业监督码")]
            )
        return enterprise_id, None
    token = enterprise_token(code)
    found = codes.enterprise_from_token(session, ring, token, field="enterprise_code")
    if enterprise_id and enterprise_id != found:
        raise InputError(
            [
                Problem(
                    "code_mismatch", "enterprise_code", f"监督码属于另一家企业,不是 {enterprise_id}"
                )
            ]
        )
    return found, token


def door_check_in(
    session: Session,
    ring: Keyring,
    door: Door,
    *,
    code: str | None,
    enterprise_id: str | None,
    now: datetime,
    entered_at: datetime | None = None,
    late_reason: str | None = None,
) -> CheckInView:
    """Register the entry of the inspectors at the door: now, or (an emergency, `entered_at`
    given) earlier today, scanned now, with its reason."""
    if not door.ready:
        raise InputError(
            [
                Problem(
                    "too_few_inspectors", "inspectors", f"请先选择至少 {MIN_INSPECTORS} 名执法人员"
                )
            ]
        )
    if entered_at is not None and code is None:
        raise InputError(
            [Problem("missing_scan", "enterprise_code", "先行检查须在离开前扫描企业监督码")]
        )
    enterprise, token = resolve_enterprise(session, ring, enterprise_id=enterprise_id, code=code)
    late = entered_at is not None
    return record_check_in(
        session,
        door.actor,
        CheckInInput(
            enterprise_id=enterprise,
            certificates=tuple(i.certificate_no for i in door.crew),
            at=entered_at if entered_at is not None else now,
            enterprise_code=token,
            scanned_at=now if token is not None else None,
            late=late,
            late_reason=late_reason if late else None,
        ),
        now=now,
    )
