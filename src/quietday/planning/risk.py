"""Credit-risk classes (信用风险分类 A-D) and what they mean here: the per-class policy (the
sampling ratio of 双随机 tasks, the yearly cap per agency and enterprise, whether routine plans
of 无感监管 enterprises become remote), an enterprise's class fields checked, and remote
(非现场) checks counted in the audit.

A remote plan opens no door: it never reaches a run, a visit, a feed, a code or a check-in, so
quiet days, blackout dates, caps of on-site entries and the filing lead time of an entry (事前
报备) do not bind it; it is done when its check result is recorded."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from quietday.domain.limits import YEARS
from quietday.domain.sampling import RISK_CLASSES
from quietday.errors import InputError, Problem
from quietday.persistence import Session
from quietday.persistence.risk import RiskPolicyRepository, RiskRepository
from quietday.persistence.tables import PlanRow, RiskClassPolicyRow
from quietday.planning.audit import diff, record
from quietday.planning.frequency import refresh_rollups

__all__ = [
    "MAX_INDUSTRY",
    "REMOTE_NOTE",
    "class_problems",
    "get_policy",
    "put_policy",
    "recount_remote",
    "remote_by_policy",
    "remote_note",
]

MAX_INDUSTRY = 64
MAX_CAP = 366
REMOTE_NOTE = (
    "非现场检查(书面或视频核查):不入企,不参加排期,不生成入企、日历事件或检查码,"
    "不受安静日、停检日和入企频次上限约束,也无需入企事前报备;录入检查结果后即完成。"
    "无感监管企业的日常检查,按信用风险分类监管政策在提交时自动改为非现场检查。"
)
CLASS_LIST = "、".join(RISK_CLASSES)


def remote_note(row: PlanRow) -> str | None:
    """What a remote plan means, for the answer (None: an on-site plan)."""
    if not row.remote:
        return None
    return REMOTE_NOTE


def class_problems(
    *,
    risk_class: str | None,
    classified_on: date | None,
    industry: str | None,
    record: str | None,
    today: date | None,
    prefix: str = "",
) -> list[Problem]:
    """Problems of an enterprise's class fields: the class one of A-D (or none), its date within
    the supported years and not after `today` (China; None: no clock to hold it to, as for a
    generated registry), the trade at most `MAX_INDUSTRY` characters. A classification dated in
    the future would hold its class against every later one (an older date never overwrites)."""
    out: list[Problem] = []
    if risk_class is not None and risk_class not in RISK_CLASSES:
        message = f"信用风险分类应为 {CLASS_LIST} 之一: {risk_class[:10]}"
        out.append(Problem("bad_risk_class", f"{prefix}risk_class", message, record))
    if classified_on is not None and not YEARS[0] <= classified_on.year <= YEARS[1]:
        message = f"分类日期 {classified_on} 超出 {YEARS[0]}-{YEARS[1]} 年"
        out.append(Problem("bad_date", f"{prefix}risk_classified_on", message, record))
    elif classified_on is not None and today is not None and classified_on > today:
        message = f"分类日期 {classified_on} 晚于今天 {today},不能登记尚未作出的分类"
        out.append(Problem("future_date", f"{prefix}risk_classified_on", message, record))
    if industry is not None and len(industry) > MAX_INDUSTRY:
        message = f"行业最多 {MAX_INDUSTRY} 个字符"
        out.append(Problem("too_long", f"{prefix}industry", message, record))
    return out


def get_policy(session: Session) -> list[RiskClassPolicyRow]:
    """Every class's policy, A to D."""
    return list(RiskPolicyRepository(session).by_class().values())


def _entry_problems(k: int, entry: Mapping[str, Any]) -> list[Problem]:
    path = f"classes[{k}]"
    cls = entry.get("risk_class")
    out: list[Problem] = []
    if cls not in RISK_CLASSES:
        message = f"信用风险分类应为 {CLASS_LIST} 之一"
        out.append(Problem("bad_risk_class", f"{path}.risk_class", message, str(cls)[:10]))
    record = str(cls)[:10]
    ratio = entry.get("sampling_ratio")
    if (
        not isinstance(ratio, int | float)
        or isinstance(ratio, bool)
        or not math.isfinite(ratio)
        or not 0 <= ratio <= 1
    ):
        message = "抽查比例应为 0 至 1 之间的数"
        out.append(Problem("bad_ratio", f"{path}.sampling_ratio", message, record))
    cap = entry.get("agency_enterprise_per_year")
    if cap is not None and (
        not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= MAX_CAP
    ):
        message = f"单部门年度上限应为 0 至 {MAX_CAP} 的整数,或 null(不设上限)"
        out.append(Problem("bad_cap", f"{path}.agency_enterprise_per_year", message, record))
    if not isinstance(entry.get("remote_routine"), bool):
        message = "是否改为非现场检查应为 true 或 false"
        out.append(Problem("bad_flag", f"{path}.remote_routine", message, record))
    return out


def put_policy(session: Session, entries: Sequence[Mapping[str, Any]]) -> list[RiskClassPolicyRow]:
    """Replace the policy of every class (each of A-D exactly once), audit-logged with what
    changed."""
    problems = [p for k, e in enumerate(entries) for p in _entry_problems(k, e)]
    given = [e.get("risk_class") for e in entries]
    for cls in RISK_CLASSES:
        if given.count(cls) != 1:
            message = f"{cls} 类应恰好出现一次(出现 {given.count(cls)} 次)"
            problems.append(Problem("classes_incomplete", "classes", message, cls))
    if problems:
        raise InputError(problems)
    repo = RiskPolicyRepository(session)
    stored = repo.by_class()
    before = _flat(stored.values())
    for e in entries:
        cls = str(e["risk_class"])
        row = stored.get(cls) or RiskClassPolicyRow(risk_class=cls, sampling_ratio=0.0)
        row.sampling_ratio = float(e["sampling_ratio"])
        row.agency_enterprise_per_year = e.get("agency_enterprise_per_year")
        row.remote_routine = bool(e["remote_routine"])
        repo.add(row)
    after = repo.by_class()
    change = diff(before, _flat(after.values()))
    if change["after"]:
        record(session, "risk_policy.put", "risk_policy", change)
    return list(after.values())


def _flat(rows: Iterable[RiskClassPolicyRow]) -> dict[str, Any]:
    """The policy as `A.sampling_ratio` -> value, so that the audit log shows each change."""
    return {
        f"{row.risk_class}.{k}": v
        for row in rows
        for k, v in row.model_dump().items()
        if k != "risk_class"
    }


def remote_by_policy(session: Session, enterprise_ids: Iterable[str]) -> set[str]:
    """The enterprises among these whose routine plans the policy makes remote: on the 无感监管
    list, of a class whose policy says so."""
    remote = {
        cls for cls, row in RiskPolicyRepository(session).by_class().items() if row.remote_routine
    }
    if not remote:
        return set()
    low = RiskRepository(session).low_risk_classes(enterprise_ids)
    return {e for e, cls in low.items() if cls in remote}


def recount_remote(session: Session, rows: Iterable[PlanRow], *, days: Iterable[date] = ()) -> None:
    """Recount the audit's remote figures of these plans' agencies and counties, for the months
    of their windows' ends and of `days` (an end a change moved away from)."""
    chosen = list(rows)
    if not chosen:
        return
    counties = {
        f.region_code
        for f in RiskRepository(session).classes(r.enterprise_id for r in chosen).values()
    }
    refresh_rollups(
        session,
        {r.latest for r in chosen} | set(days),
        counties=sorted(counties),
        agencies=sorted({r.agency_id for r in chosen}),
    )
