"""The registry a supervisor keeps: regions, quiet-day policies, caps, agencies with their
capacity, inspectors, enterprises (统一社会信用代码 checked per GB 32100-2015) and whitelists."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from types import EllipsisType
from typing import Any

from quietday.domain.filing import MAX_FILING_LEAD_DAYS
from quietday.domain.limits import YEARS
from quietday.domain.model import CAP_KEYS
from quietday.domain.uscc import uscc_problem
from quietday.errors import ConflictError, InputError, Problem
from quietday.persistence import Session
from quietday.persistence.frequency import FrequencyRepository
from quietday.persistence.mapping import CAPS_SETTING
from quietday.persistence.registry import (
    AgencyRepository,
    EnterpriseRepository,
    InspectorRepository,
    PolicyRepository,
    RegionRepository,
)
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import (
    AgencyRow,
    EnterpriseRow,
    InspectorRow,
    PolicyRow,
    RegionRow,
)
from quietday.planning.audit import diff, plain, record
from quietday.planning.frequency import refresh_rollups
from quietday.planning.risk import class_problems

__all__ = [
    "AGENCY_ID_PATTERN",
    "CAPS_SETTING",
    "agency_id_problem",
    "create_agency",
    "create_enterprise",
    "create_inspector",
    "ensure_region",
    "get_caps",
    "put_policy",
    "put_region",
    "set_agency_capacity",
    "set_caps",
    "update_agency",
    "update_enterprise",
]

# Names and contacts appear in calendar feeds: changing them makes every stored feed stale.
FEED_GENERATION = "feed_generation"
# An agency id is one segment of its URLs (/api/v1/agencies/360102-SCJG): ASCII letters, digits
# and . _ -, starting with a letter or digit (so never `.` or `..`), at most 64 characters.
AGENCY_ID_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$"


def _fail(code: str, path: str, message: str, record: str | None = None) -> InputError:
    return InputError([Problem(code, path, message, record)])


def agency_id_problem(agency_id: str) -> Problem | None:
    if re.fullmatch(AGENCY_ID_PATTERN, agency_id):
        return None
    return Problem(
        "bad_agency_id",
        "id",
        "部门编码只能由字母、数字和 . _ - 组成,以字母或数字开头,最多 64 个字符",
        agency_id,
    )


def ensure_region(
    session: Session, *, code: str, name: str, level: str, parent_code: str | None = None
) -> RegionRow:
    repo = RegionRepository(session)
    row = repo.get(code)
    if row is None:
        row = repo.add(RegionRow(code=code, name=name, level=level, parent_code=parent_code))
        record(session, "region.create", f"region:{code}", row.model_dump())
    return row


REGION_LEVELS = {2: "province", 4: "city", 6: "county"}


def put_region(
    session: Session, *, code: str, name: str, filing_lead_days: int | EllipsisType | None = ...
) -> RegionRow:
    """Create or rename a region (行政区划): a province (2 digits), a city (4) or a county (6),
    whose parent is the code without its last two digits and must exist first. Its filing lead
    time (working days; None: its parent's) is set when given, kept when not (`...`)."""
    lead = None if filing_lead_days is ... else filing_lead_days
    if lead is not None and not 0 <= lead <= MAX_FILING_LEAD_DAYS:
        message = f"备案提前工作日数应为 0 至 {MAX_FILING_LEAD_DAYS}"
        raise InputError([Problem("out_of_range", "filing_lead_days", message)])
    level = REGION_LEVELS.get(len(code)) if code.isascii() and code.isdigit() else None
    if level is None:
        raise InputError([Problem("bad_region_code", "code", "行政区划码应为 2、4 或 6 位数字")])
    parent = code[:-2] or None
    repo = RegionRepository(session)
    if parent is not None and repo.get(parent) is None:
        raise InputError(
            [Problem("unknown_region", "code", f"上级行政区划 {parent} 不存在,请先建立")]
        )
    row = repo.get(code)
    if row is None:
        row = RegionRow(code=code, name=name, level=level, parent_code=parent)
        row.filing_lead_days = lead
        repo.add(row)
        record(session, "region.create", f"region:{code}", row.model_dump())
        return row
    before = row.model_dump()
    if filing_lead_days is not ...:
        row.filing_lead_days = lead
    if row.name != name:
        row.name = name
        SettingRepository(session).bump(FEED_GENERATION)  # feeds shorten agency names by it
    if row.model_dump() != before:
        repo.add(row)
        record(session, "region.update", f"region:{code}", diff(before, row.model_dump()))
    return row


def put_policy(
    session: Session,
    *,
    policy_id: str,
    name: str = "",
    month_days: Sequence[Sequence[int]] = (),
    weekdays: Sequence[int] = (),
    dates: Sequence[date] = (),
) -> PolicyRow:
    """Create or replace a quiet-day policy."""
    problems = [
        Problem("bad_policy_rule", f"month_days[{k}]", f"应为 [起, 止],1 ≤ 起 ≤ 止 ≤ 31: {list(r)}")
        for k, r in enumerate(month_days)
        if len(r) != 2 or not 1 <= r[0] <= r[1] <= 31
    ]
    problems += [
        Problem("bad_policy_rule", f"weekdays[{k}]", f"应为 1(周一)到 7(周日): {w}")
        for k, w in enumerate(weekdays)
        if not 1 <= w <= 7
    ]
    if problems:
        raise InputError(problems)
    repo = PolicyRepository(session)
    existing = repo.get(policy_id)
    before = existing.model_dump() if existing is not None else {}
    row = existing or PolicyRow(id=policy_id)
    row.name = name
    row.month_days = [list(r) for r in month_days]
    row.weekdays = sorted(set(weekdays))
    row.dates = sorted({d.isoformat() for d in dates})
    repo.add(row)
    change = diff(before, row.model_dump())
    if change["after"]:
        record(session, "policy.put", f"policy:{policy_id}", change)
    return row


def _check_caps(caps: Mapping[str, Any], path: str) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    problems: list[Problem] = []
    for key, value in caps.items():
        if key not in CAP_KEYS:
            problems.append(Problem("unknown_cap", f"{path}.{key}", f"未知的频次上限 {key}"))
        elif value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 366
        ):
            problems.append(
                Problem("bad_cap", f"{path}.{key}", f"{key} 应为 0 至 366 的整数或 null")
            )
        else:
            out[key] = value
    if problems:
        raise InputError(problems)
    return out


def get_caps(session: Session) -> dict[str, int | None]:
    value = SettingRepository(session).value(CAPS_SETTING)
    return {k: value.get(k, 0 if k == "min_gap_days" else None) for k in CAP_KEYS}


def set_caps(session: Session, caps: Mapping[str, Any]) -> dict[str, int | None]:
    before = get_caps(session)
    SettingRepository(session).put(CAPS_SETTING, _check_caps(caps, "caps"))
    after = get_caps(session)
    change = diff(before, after)
    if change["after"]:
        record(session, "caps.set", "caps", change)
    return after


def _region(session: Session, code: str, path: str) -> None:
    if RegionRepository(session).get(code) is None:
        raise _fail("unknown_region", path, f"行政区划 {code} 不存在")


def create_agency(
    session: Session,
    *,
    agency_id: str,
    name: str,
    region_code: str,
    daily_capacity: int,
    contact: str = "",
    legal_basis: str = "",
) -> AgencyRow:
    problem = agency_id_problem(agency_id)
    if problem is not None:
        raise InputError([problem])
    repo = AgencyRepository(session)
    if repo.get(agency_id) is not None:
        raise ConflictError(f"执法部门 {agency_id} 已存在", code="duplicate_id")
    _region(session, region_code, "region_code")
    row = repo.add(
        AgencyRow(
            id=agency_id,
            name=name,
            region_code=region_code,
            daily_capacity=daily_capacity,
            contact=contact,
            legal_basis=legal_basis,
        )
    )
    record(session, "agency.create", f"agency:{agency_id}", row.model_dump())
    return row


def update_agency(session: Session, agency_id: str, changes: Mapping[str, Any]) -> AgencyRow:
    repo = AgencyRepository(session)
    row = repo.get_or_raise(agency_id)
    before = row.model_dump()
    if "region_code" in changes:
        _region(session, changes["region_code"], "region_code")
    for key in ("name", "region_code", "daily_capacity", "active", "contact", "legal_basis"):
        if key in changes:
            setattr(row, key, changes[key])
    if {"name", "contact"} & set(changes):
        SettingRepository(session).bump(FEED_GENERATION)
    repo.add(row)
    change = diff(before, row.model_dump())
    if change["after"]:
        record(session, "agency.update", f"agency:{agency_id}", change)
    return row


def set_agency_capacity(session: Session, agency_id: str, day: date, capacity: int | None) -> None:
    """Capacity on one date (None removes the override)."""
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise _fail("bad_date", "day", f"日期 {day} 超出 {YEARS[0]}-{YEARS[1]} 年")
    repo = AgencyRepository(session)
    repo.get_or_raise(agency_id)
    before = {c.day: c.capacity for c in repo.capacities([agency_id], day, day)}.get(day)
    if before == capacity:
        return
    repo.set_capacity(agency_id, day, capacity)
    record(
        session,
        "agency.capacity",
        f"agency:{agency_id}",
        {"day": day, "before": before, "after": capacity},
    )


def create_inspector(
    session: Session,
    *,
    agency_id: str,
    name: str,
    certificate_no: str,
    certified_until: date | None = None,
) -> InspectorRow:
    AgencyRepository(session).get_or_raise(agency_id)
    repo = InspectorRepository(session)
    if repo.by_certificate(certificate_no) is not None:
        raise ConflictError(f"执法证号 {certificate_no} 已登记", code="duplicate_certificate")
    row = repo.add(
        InspectorRow(
            agency_id=agency_id,
            name=name,
            certificate_no=certificate_no,
            certified_until=certified_until,
        )
    )
    record(session, "inspector.create", f"inspector:{row.id}", row.model_dump())
    return row


def _check_enterprise_refs(
    session: Session, *, region_code: str | None, policy_id: str | None
) -> None:
    problems: list[Problem] = []
    if region_code is not None and RegionRepository(session).get(region_code) is None:
        problems.append(Problem("unknown_region", "region_code", f"行政区划 {region_code} 不存在"))
    if policy_id is not None and PolicyRepository(session).get(policy_id) is None:
        problems.append(
            Problem("unknown_policy", "quiet_policy_id", f"安静日规则 {policy_id} 不存在")
        )
    if problems:
        raise InputError(problems)


def create_enterprise(
    session: Session,
    *,
    enterprise_id: str,
    name: str,
    region_code: str,
    quiet_policy_id: str,
    whitelisted: bool = False,
    blackout: Sequence[date] = (),
    cap_overrides: Mapping[str, Any] | None = None,
    risk_class: str | None = None,
    risk_classified_on: date | None = None,
    low_risk: bool = False,
    industry: str = "",
    today: date | None = None,
) -> EnterpriseRow:
    """Register an enterprise: its code checked (GB 32100-2015), its region and quiet-day policy
    known, its credit-risk class (A-D or none) with its date (not after `today`, China, when the
    caller has a clock), the 无感监管 flag and its trade."""
    problem = uscc_problem(enterprise_id)
    if problem is not None:
        raise _fail("bad_uscc", "id", problem, enterprise_id)
    problems = class_problems(
        risk_class=risk_class,
        classified_on=risk_classified_on,
        industry=industry,
        record=enterprise_id,
        today=today,
    )
    if problems:
        raise InputError(problems)
    repo = EnterpriseRepository(session)
    if repo.get(enterprise_id) is not None:
        raise ConflictError(f"企业 {enterprise_id} 已存在", code="duplicate_id")
    _check_enterprise_refs(session, region_code=region_code, policy_id=quiet_policy_id)
    row = repo.add(
        EnterpriseRow(
            id=enterprise_id,
            name=name,
            region_code=region_code,
            quiet_policy_id=quiet_policy_id,
            whitelisted=whitelisted,
            blackout=sorted({d.isoformat() for d in blackout}),
            cap_overrides=_check_caps(cap_overrides or {}, "cap_overrides"),
            risk_class=risk_class,
            risk_classified_on=risk_classified_on,
            low_risk=low_risk,
            industry=industry,
        )
    )
    record(session, "enterprise.create", f"enterprise:{enterprise_id}", row.model_dump())
    return row


def update_enterprise(
    session: Session, enterprise_id: str, changes: Mapping[str, Any], *, today: date | None = None
) -> EnterpriseRow:
    """Change fields of an enterprise: name, region, policy, whitelist, blackout, caps, its
    credit-risk class with its date (`risk_class` None: unclassified; the date not after
    `today`, China, when the caller has a clock), 无感监管, trade."""
    repo = EnterpriseRepository(session)
    row = repo.get_or_raise(enterprise_id)
    problems = class_problems(
        risk_class=changes.get("risk_class"),
        classified_on=changes.get("risk_classified_on"),
        industry=changes.get("industry"),
        record=enterprise_id,
        today=today,
    )
    if problems:
        raise InputError(problems)
    before = plain(row.model_dump())
    _check_enterprise_refs(
        session, region_code=changes.get("region_code"), policy_id=changes.get("quiet_policy_id")
    )
    moved_from = (
        row.region_code if changes.get("region_code", row.region_code) != row.region_code else None
    )
    for key in (
        "name", "region_code", "quiet_policy_id", "whitelisted",
        "risk_class", "risk_classified_on", "low_risk", "industry",
    ):  # fmt: skip
        if key in changes:
            setattr(row, key, changes[key])
    if moved_from is not None:
        days = FrequencyRepository(session).days_of(enterprise_id)
        refresh_rollups(session, days, counties=[moved_from, row.region_code], agencies=[])
    if "blackout" in changes:
        row.blackout = sorted({d.isoformat() for d in changes["blackout"]})
    if "cap_overrides" in changes:
        row.cap_overrides = _check_caps(changes["cap_overrides"] or {}, "cap_overrides")
    if "name" in changes:
        SettingRepository(session).bump(FEED_GENERATION)
    repo.add(row)
    change = diff(before, row.model_dump())
    if change["after"]:
        record(session, "enterprise.update", f"enterprise:{enterprise_id}", change)
    return row
