"""Reading and writing `quietday.instance/1` and `quietday.solution/1` (JSON, UTF-8).

Reading collects every problem before it gives up, each with a stable code, the record's path
and id, and a Chinese message, e.g. `inspections[17] (P-000018): latest 2026-07-01 早于 earliest
2026-07-05`; nothing is solved from a document with any problem, its pins included. Writing is
deterministic: one record per line, keys in a fixed order.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from quietday.domain.calendar import QuietPolicy, WorkingCalendar
from quietday.domain.check import placement_violations
from quietday.domain.model import (
    CAP_KEYS,
    Agency,
    AgencyId,
    Caps,
    Enterprise,
    EnterpriseId,
    HistoryEntry,
    Horizon,
    Inspection,
    InspectionId,
    Instance,
    Kind,
    Pin,
    PolicyId,
    Reason,
    Solution,
    SolveStats,
    Status,
    Unscheduled,
    Visit,
)
from quietday.errors import InstanceError, Problem, SolutionError
from quietday.official import SUPPORTED_COUNTRIES, official_calendar

__all__ = [
    "INSTANCE_FORMAT",
    "SOLUTION_FORMAT",
    "dump_instance",
    "dump_solution",
    "instance_to_dict",
    "load_instance",
    "load_solution",
    "parse_instance",
    "parse_solution",
    "pin_problems",
    "solution_to_dict",
    "write_instance",
    "write_solution",
]

INSTANCE_FORMAT = "quietday.instance/1"
SOLUTION_FORMAT = "quietday.solution/1"
PRIORITY_MIN, PRIORITY_MAX = 1, 100

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MISSING = object()

_TYPE_NAMES = {str: "字符串", int: "整数", bool: "布尔值", list: "数组", dict: "对象"}


class _Reader:
    """Walks a parsed JSON document, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # Ids of every record with a usable id, valid or not, so that a bad agency record is
        # reported once, not again at every inspection that names it.
        self.ids: dict[str, set[str]] = {"agencies": set(), "enterprises": set()}

    def add(self, code: str, path: str, message: str, record: str | None = None) -> None:
        self.problems.append(Problem(code=code, path=path, message=message, record=record))

    def get(
        self,
        obj: Mapping[str, Any],
        key: str,
        kind: type,
        *,
        path: str,
        record: str | None = None,
        default: Any = _MISSING,
        nullable: bool = False,
    ) -> Any:
        """`obj[key]` when present and of `kind`; else a problem and `_MISSING` (or `default`)."""
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.add("missing_key", path, f"缺少必填字段 {key}", record)
            return default
        if value is None and nullable:
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.add(
                "wrong_type",
                path,
                f"{key} 应为{_TYPE_NAMES.get(kind, kind.__name__)},实际为 {json.dumps(value, ensure_ascii=False)[:40]}",
                record,
            )
            return _MISSING
        return value

    def day(self, value: Any, *, field: str, path: str, record: str | None = None) -> date | None:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            self.add("bad_date", path, f"{field} 不是 YYYY-MM-DD 格式的日期: {value!r}", record)
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.add("bad_date", path, f"{field} 不是有效日期: {value}", record)
            return None

    def get_day(
        self, obj: Mapping[str, Any], key: str, *, path: str, record: str | None = None
    ) -> date | None:
        value = self.get(obj, key, str, path=path, record=record)
        if value is _MISSING:
            return None
        return self.day(value, field=key, path=path, record=record)

    def days(
        self, obj: Mapping[str, Any], key: str, *, path: str, record: str | None = None
    ) -> frozenset[date]:
        values = self.get(obj, key, list, path=path, record=record, default=[])
        if values is _MISSING:
            return frozenset()
        out = (
            self.day(v, field=f"{key}[{k}]", path=path, record=record) for k, v in enumerate(values)
        )
        return frozenset(d for d in out if d is not None)

    def records(
        self, doc: Mapping[str, Any], key: str, *, required: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, record) for each object of the list `doc[key]`."""
        items = self.get(doc, key, list, path=key, default=_MISSING if required else [])
        if items is _MISSING:
            return
        for k, item in enumerate(items):
            path = f"{key}[{k}]"
            if not isinstance(item, dict):
                self.add("wrong_type", path, "应为对象")
                continue
            yield path, item

    def record_id(self, item: Mapping[str, Any], path: str, key: str = "id") -> str | None:
        value = self.get(item, key, str, path=path)
        if value is _MISSING:
            return None
        if not value.strip():
            self.add("empty_id", path, f"{key} 不能为空")
            return None
        return str(value)

    def unique(self, seen: dict[str, str], ident: str, path: str) -> bool:
        first = seen.get(ident)
        if first is not None:
            self.add("duplicate_id", path, f"id 与 {first} 重复", ident)
            return False
        seen[ident] = path
        return True

    def count(
        self,
        obj: Mapping[str, Any],
        key: str,
        *,
        path: str,
        record: str | None,
        default: Any = _MISSING,
    ) -> int | None:
        """A non-negative integer; null is a wrong type like any other."""
        value = self.get(obj, key, int, path=path, record=record, default=default)
        if value is _MISSING or value is None:
            return None
        if value < 0:
            self.add("negative_number", path, f"{key} 不能为负数: {value}", record)
            return None
        return int(value)


def _caps(
    r: _Reader, obj: Mapping[str, Any], *, path: str, record: str | None
) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for key, value in obj.items():
        if key not in CAP_KEYS:
            r.add("unknown_cap", path, f"未知的频次上限 {key}(可用: {', '.join(CAP_KEYS)})", record)
            continue
        if value is None:
            out[key] = None
            continue
        n = r.count(obj, key, path=path, record=record)
        if n is not None:
            out[key] = n
    return out


def _policy(r: _Reader, item: Mapping[str, Any], *, path: str, pid: str) -> QuietPolicy:
    ranges: list[tuple[int, int]] = []
    raw = r.get(item, "month_days", list, path=path, record=pid, default=[])
    for k, rng in enumerate(raw if raw is not _MISSING else []):
        ok = (
            isinstance(rng, list)
            and len(rng) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in rng)
        )
        if not ok or not 1 <= rng[0] <= rng[1] <= 31:
            r.add(
                "bad_policy_rule",
                path,
                f"month_days[{k}] 应为 [起, 止],1 ≤ 起 ≤ 止 ≤ 31: {rng}",
                pid,
            )
            continue
        ranges.append((rng[0], rng[1]))
    weekdays: set[int] = set()
    raw = r.get(item, "weekdays", list, path=path, record=pid, default=[])
    for k, w in enumerate(raw if raw is not _MISSING else []):
        if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 7:
            r.add("bad_policy_rule", path, f"weekdays[{k}] 应为 1(周一)到 7(周日): {w!r}", pid)
            continue
        weekdays.add(w)
    dates = r.days(item, "dates", path=path, record=pid)
    return QuietPolicy(id=pid, month_days=tuple(ranges), weekdays=frozenset(weekdays), dates=dates)


def _horizon(r: _Reader, doc: Mapping[str, Any]) -> Horizon | None:
    obj = r.get(doc, "horizon", dict, path="horizon")
    if obj is _MISSING:
        return None
    start = r.get_day(obj, "start", path="horizon")
    end = r.get_day(obj, "end", path="horizon")
    if start is None or end is None:
        return None
    if end < start:
        r.add("horizon_inverted", "horizon", f"end {end} 早于 start {start}")
        return None
    return Horizon(start, end)


def _calendar(
    r: _Reader, doc: Mapping[str, Any], horizon: Horizon | None
) -> WorkingCalendar | None:
    obj = r.get(doc, "calendar", dict, path="calendar", default={})
    if obj is _MISSING:
        return None
    country = r.get(obj, "country", str, path="calendar", default="CN")
    extra_h = r.days(obj, "extra_holidays", path="calendar")
    extra_w = r.days(obj, "extra_workdays", path="calendar")
    if country is _MISSING:
        return None
    if country not in SUPPORTED_COUNTRIES:
        r.add("calendar_country_unsupported", "calendar", f"不支持的国家日历 {country}(支持: CN)")
        return None
    if horizon is None:
        return None
    years = range(horizon.start.year, horizon.end.year + 1)
    cal = WorkingCalendar(official_calendar(country, years), frozenset(extra_h), frozenset(extra_w))
    for year in years:
        if not cal.covers(year):
            r.add(
                "calendar_year_unknown",
                "calendar",
                f"排期范围含 {year} 年,但该年官方节假日安排尚未公布;"
                f"请在 extra_holidays/extra_workdays 中给出 {year} 年的节假日与调休",
            )
    return cal


def _agencies(r: _Reader, doc: Mapping[str, Any]) -> dict[AgencyId, Agency]:
    out: dict[AgencyId, Agency] = {}
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "agencies", required=True):
        aid = r.record_id(item, path)
        if aid is None or not r.unique(seen, aid, path):
            continue
        r.ids["agencies"].add(aid)
        name = r.get(item, "name", str, path=path, record=aid, default=aid)
        region = r.get(item, "region", str, path=path, record=aid, default="")
        capacity = r.count(item, "daily_capacity", path=path, record=aid)
        by_date: dict[date, int] = {}
        raw = r.get(item, "capacity_by_date", dict, path=path, record=aid, default={})
        for key, _value in (raw if raw is not _MISSING else {}).items():
            day = r.day(key, field=f"capacity_by_date 的键 {key!r}", path=path, record=aid)
            n = r.count(raw, key, path=path, record=aid)
            if day is not None and n is not None:
                by_date[day] = n
        if capacity is None or name is _MISSING or region is _MISSING:
            continue
        out[AgencyId(aid)] = Agency(AgencyId(aid), name, region, capacity, by_date)
    return out


def _enterprises(
    r: _Reader, doc: Mapping[str, Any], policies: Mapping[PolicyId, QuietPolicy]
) -> dict[EnterpriseId, Enterprise]:
    out: dict[EnterpriseId, Enterprise] = {}
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "enterprises", required=True):
        eid = r.record_id(item, path)
        if eid is None or not r.unique(seen, eid, path):
            continue
        r.ids["enterprises"].add(eid)
        name = r.get(item, "name", str, path=path, record=eid, default=eid)
        region = r.get(item, "region", str, path=path, record=eid, default="")
        policy = r.get(item, "quiet_policy", str, path=path, record=eid)
        if policy is not _MISSING and policy not in policies:
            r.add("unknown_policy", path, f"quiet_policy {policy} 未在 quiet_policies 中定义", eid)
            policy = _MISSING
        blackout = r.days(item, "blackout", path=path, record=eid)
        white = r.get(item, "whitelisted", bool, path=path, record=eid, default=False)
        raw_caps = r.get(item, "caps", dict, path=path, record=eid, default={})
        caps = _caps(r, raw_caps, path=path, record=eid) if raw_caps is not _MISSING else {}
        if _MISSING in (name, region, policy, white):
            continue
        out[EnterpriseId(eid)] = Enterprise(
            EnterpriseId(eid), name, region, PolicyId(policy), blackout, white, caps
        )
    return out


_KINDS = frozenset(k.value for k in Kind)


def _references(
    r: _Reader, item: Mapping[str, Any], *, path: str, record: str | None
) -> tuple[Any, Any, Any]:
    """The `agency`, `enterprise` and `kind` of a record, each checked against what exists."""
    agency = r.get(item, "agency", str, path=path, record=record)
    if agency is not _MISSING and agency not in r.ids["agencies"]:
        r.add("unknown_agency", path, f"agency {agency} 不在 agencies 中", record)
    ent = r.get(item, "enterprise", str, path=path, record=record)
    if ent is not _MISSING and ent not in r.ids["enterprises"]:
        r.add("unknown_enterprise", path, f"enterprise {ent} 不在 enterprises 中", record)
    kind = r.get(item, "kind", str, path=path, record=record)
    if kind is not _MISSING and kind not in _KINDS:
        r.add("unknown_kind", path, f"kind {kind} 应为 routine、special、case 或 requested", record)
    return agency, ent, kind


def _inspections(
    r: _Reader, doc: Mapping[str, Any], *, horizon: Horizon | None
) -> list[Inspection]:
    out: list[Inspection] = []
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "inspections", required=True):
        iid = r.record_id(item, path)
        if iid is None or not r.unique(seen, iid, path):
            continue
        before = len(r.problems)
        agency, ent, kind = _references(r, item, path=path, record=iid)
        items = r.get(item, "items", list, path=path, record=iid, default=[])
        if items is not _MISSING and not all(isinstance(x, str) for x in items):
            r.add("wrong_type", path, "items 应为字符串数组", iid)
        priority = r.get(item, "priority", int, path=path, record=iid, default=PRIORITY_MIN)
        if priority is not _MISSING and not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            r.add("priority_range", path, f"priority {priority} 超出 1 至 100", iid)
        exempt = r.get(
            item, "exempt_reason", str, path=path, record=iid, default=None, nullable=True
        )
        earliest = r.get_day(item, "earliest", path=path, record=iid)
        latest = r.get_day(item, "latest", path=path, record=iid)
        if earliest and latest:
            if latest < earliest:
                r.add("window_inverted", path, f"latest {latest} 早于 earliest {earliest}", iid)
            elif horizon and (latest < horizon.start or earliest > horizon.end):
                r.add(
                    "window_outside_horizon",
                    path,
                    f"窗口 {earliest} 至 {latest} 在排期范围 {horizon.start} 至 {horizon.end} 之外",
                    iid,
                )
        if len(r.problems) > before or earliest is None or latest is None:
            continue
        out.append(
            Inspection(
                id=InspectionId(iid),
                agency=AgencyId(agency),
                enterprise=EnterpriseId(ent),
                kind=Kind(kind),
                earliest=earliest,
                latest=latest,
                items=tuple(items),
                priority=priority,
                exempt_reason=exempt or None,
            )
        )
    return out


def _history(r: _Reader, doc: Mapping[str, Any]) -> list[HistoryEntry]:
    out: list[HistoryEntry] = []
    for path, item in r.records(doc, "history", required=False):
        before = len(r.problems)
        agency, ent, kind = _references(r, item, path=path, record=None)
        day = r.get_day(item, "date", path=path)
        if len(r.problems) == before and day is not None:
            out.append(HistoryEntry(EnterpriseId(ent), AgencyId(agency), day, Kind(kind)))
    return out


def _pins(r: _Reader, doc: Mapping[str, Any]) -> list[Pin]:
    out: list[Pin] = []
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "pinned", required=False):
        iid = r.record_id(item, path, key="inspection")
        day = r.get_day(item, "date", path=path, record=iid)
        if iid is None or day is None:
            continue
        if iid in seen:
            r.add("pin_duplicate", path, f"与 {seen[iid]} 重复固定同一检查", iid)
            continue
        seen[iid] = path
        out.append(Pin(InspectionId(iid), day))
    return out


def _previous(r: _Reader, doc: Mapping[str, Any]) -> dict[InspectionId, date]:
    raw = r.get(doc, "previous", dict, path="previous", default={})
    out: dict[InspectionId, date] = {}
    for key, value in (raw if raw is not _MISSING else {}).items():
        day = r.day(value, field="日期", path=f"previous[{key!r}]", record=key)
        if day is not None:
            out[InspectionId(key)] = day
    return out


def pin_problems(instance: Instance) -> list[Problem]:
    """A pin that breaks a hard rule, alone or with the other pins and history, is refused."""
    where = {p.inspection: k for k, p in enumerate(instance.pinned)}
    problems: list[Problem] = []
    for v in placement_violations(instance, instance.pins):
        for iid in v.inspections or ():
            if iid in where:
                problems.append(
                    Problem(
                        f"pin_{v.code}",
                        f"pinned[{where[iid]}]",
                        f"已发布的排期违反规则: {v.message}",
                        iid,
                    )
                )
                break
    return problems


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _document(
    text: str | bytes, error: type[InstanceError] | type[SolutionError], fmt: str
) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error([Problem("json_invalid", "", f"不是有效的 JSON: {exc}")]) from None
    except RecursionError:
        raise error([Problem("json_invalid", "", "JSON 嵌套过深")]) from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise error(
            [Problem("json_invalid", "", f"JSON 中有无法读取的值: {str(exc)[:80]}")]
        ) from None
    if not isinstance(doc, dict):
        raise error([Problem("wrong_type", "", "文档应为 JSON 对象")])
    if _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise error(
                [Problem("bad_text", "", "文档含有无效的 Unicode 字符(孤立的代理项)")]
            ) from None
    if doc.get("format") != fmt:
        raise error(
            [
                Problem(
                    "format_unknown", "format", f"应为 {fmt},实际为 {str(doc.get('format'))[:40]!r}"
                )
            ]
        )
    return doc


def parse_instance(text: str | bytes) -> Instance:
    """A validated `Instance` from JSON text, or `InstanceError` listing every problem."""
    doc = _document(text, InstanceError, INSTANCE_FORMAT)
    r = _Reader()
    name = r.get(doc, "name", str, path="name", default="")
    horizon = _horizon(r, doc)
    calendar = _calendar(r, doc, horizon)
    policies: dict[PolicyId, QuietPolicy] = {}
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "quiet_policies", required=False):
        pid = r.record_id(item, path)
        if pid is not None and r.unique(seen, pid, path):
            policies[PolicyId(pid)] = _policy(r, item, path=path, pid=pid)
    raw_caps = r.get(doc, "caps", dict, path="caps", default={})
    caps = _caps(r, raw_caps, path="caps", record=None) if raw_caps is not _MISSING else {}
    agencies = _agencies(r, doc)
    enterprises = _enterprises(r, doc, policies)
    inspections = _inspections(r, doc, horizon=horizon)
    history = _history(r, doc)
    pins = _pins(r, doc)
    previous = _previous(r, doc)
    if r.problems or horizon is None or calendar is None:
        raise InstanceError(r.problems or [Problem("invalid", "", "实例无效")])
    instance = Instance(
        name=name,
        horizon=horizon,
        calendar=calendar,
        quiet_policies=policies,
        caps=Caps().overridden(caps),
        agencies=agencies,
        enterprises=enterprises,
        inspections=tuple(inspections),
        history=tuple(history),
        pinned=tuple(pins),
        previous=previous,
        country=calendar.official.country,
    )
    problems = pin_problems(instance)
    if problems:
        raise InstanceError(problems)
    return instance


_GZIP_MAGIC = b"\x1f\x8b"


def _file_bytes(path: str | Path, error: type[InstanceError] | type[SolutionError]) -> bytes:
    """A document file as JSON bytes: gzip-compressed ones (`.json.gz`, or a download saved
    with its transfer coding) are read through gzip, whatever their name."""
    raw = Path(path).read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise error([Problem("bad_gzip", "", f"gzip 文件已损坏或不完整: {exc}")]) from None


def load_instance(path: str | Path) -> Instance:
    return parse_instance(_file_bytes(path, InstanceError))


def _visits(r: _Reader, doc: Mapping[str, Any]) -> list[Visit]:
    out: list[Visit] = []
    for path, item in r.records(doc, "visits", required=True):
        ent = r.get(item, "enterprise", str, path=path)
        day = r.get_day(item, "date", path=path)
        iids = r.get(item, "inspections", list, path=path)
        lead = r.get(item, "lead_agency", str, path=path)
        if iids is not _MISSING and not all(isinstance(i, str) for i in iids):
            r.add("wrong_type", path, "inspections 应为字符串数组")
            continue
        if _MISSING in (ent, iids, lead) or day is None:
            continue
        out.append(
            Visit(EnterpriseId(ent), day, tuple(InspectionId(i) for i in iids), AgencyId(lead))
        )
    return out


def _unscheduled(r: _Reader, doc: Mapping[str, Any]) -> list[Unscheduled]:
    out: list[Unscheduled] = []
    reasons = {x.value for x in Reason}
    for path, item in r.records(doc, "unscheduled", required=True):
        iid = r.get(item, "inspection", str, path=path)
        reason = r.get(item, "reason", str, path=path, record=iid if iid is not _MISSING else None)
        detail = r.get(item, "detail", str, path=path, default="")
        if reason is not _MISSING and reason not in reasons:
            r.add("unknown_reason", path, f"reason {reason} 不是规范中的原因", iid)
            continue
        if _MISSING not in (iid, reason, detail):
            out.append(Unscheduled(InspectionId(iid), Reason(reason), detail))
    return out


def _stats(r: _Reader, doc: Mapping[str, Any]) -> SolveStats | None:
    obj = r.get(doc, "stats", dict, path="stats", default=None, nullable=True)
    if obj is None or obj is _MISSING:
        return None
    status = obj.get("status")
    if not isinstance(status, str) or status not in {s.value for s in Status}:
        r.add(
            "unknown_status",
            "stats",
            f"status {str(status)[:40]!r} 应为 optimal、feasible、time_limit 或 cancelled",
        )
        return None
    scheduled = r.count(obj, "scheduled", path="stats", record=None, default=0)
    visits = r.count(obj, "visits", path="stats", record=None, default=0)
    numbers: dict[str, float | None] = {}
    for key in ("wall_seconds", "objective_bound"):
        value = obj.get(key)
        ok = value is None or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
        if not ok:
            r.add("wrong_type", "stats", f"{key} 应为有限的数字或 null")
        numbers[key] = float(value) if ok and value is not None else None
    known = {"status", "wall_seconds", "scheduled", "visits", "objective_bound"}
    return SolveStats(
        status=Status(status),
        scheduled=scheduled or 0,
        visits=visits or 0,
        wall_seconds=numbers["wall_seconds"],
        objective_bound=numbers["objective_bound"],
        extra={k: v for k, v in obj.items() if k not in known},
    )


def parse_solution(text: str | bytes) -> Solution:
    """A `Solution` from JSON text, or `SolutionError`; whether it is valid is the checker's call."""
    doc = _document(text, SolutionError, SOLUTION_FORMAT)
    r = _Reader()
    name = r.get(doc, "instance", str, path="instance", default="")
    visits = _visits(r, doc)
    unscheduled = _unscheduled(r, doc)
    stats = _stats(r, doc)
    if r.problems:
        raise SolutionError(r.problems)
    return Solution(
        instance=name, visits=tuple(visits), unscheduled=tuple(unscheduled), stats=stats
    )


def load_solution(path: str | Path) -> Solution:
    return parse_solution(_file_bytes(path, SolutionError))


# --- writing -------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _layout(
    head: Mapping[str, Any], lists: Mapping[str, Iterable[Any]], tail: Mapping[str, Any]
) -> Iterator[str]:
    """A JSON object, top-level keys one per line and each list element on its own line."""
    parts: list[tuple[str, Iterable[Any] | None, Any]] = [(k, None, v) for k, v in head.items()]
    parts += [(k, v, None) for k, v in lists.items()]
    parts += [(k, None, v) for k, v in tail.items()]
    yield "{\n"
    for n, (key, elements, value) in enumerate(parts):
        comma = "," if n < len(parts) - 1 else ""
        if elements is None:
            yield f"  {_json(key)}: {_json(value)}{comma}\n"
            continue
        yield f"  {_json(key)}: ["
        first = True
        for element in elements:
            yield ("\n" if first else ",\n") + f"    {_json(element)}"
            first = False
        yield ("]" if first else "\n  ]") + f"{comma}\n"
    yield "}\n"


def _iso(days: Iterable[date]) -> list[str]:
    return sorted(d.isoformat() for d in days)


def _instance_parts(
    instance: Instance,
) -> tuple[dict[str, Any], dict[str, Iterable[dict[str, Any]]], dict[str, Any]]:
    """Head, record lists (lazy: each record is made when it is written) and tail."""
    head = {
        "format": INSTANCE_FORMAT,
        "name": instance.name,
        "horizon": {
            "start": instance.horizon.start.isoformat(),
            "end": instance.horizon.end.isoformat(),
        },
        "calendar": {
            "country": instance.country,
            "extra_holidays": _iso(instance.calendar.extra_holidays),
            "extra_workdays": _iso(instance.calendar.extra_workdays),
        },
    }
    lists: dict[str, Iterable[dict[str, Any]]] = {
        "quiet_policies": map(_policy_dict, instance.quiet_policies.values()),
        "agencies": map(_agency_dict, instance.agencies.values()),
        "enterprises": map(_enterprise_dict, instance.enterprises.values()),
        "inspections": map(_inspection_dict, instance.inspections),
        "history": (
            {
                "enterprise": h.enterprise,
                "agency": h.agency,
                "date": h.date.isoformat(),
                "kind": h.kind.value,
            }
            for h in instance.history
        ),
        "pinned": (
            {"inspection": p.inspection, "date": p.date.isoformat()} for p in instance.pinned
        ),
    }
    tail = {"previous": {k: v.isoformat() for k, v in instance.previous.items()}}
    return head, lists, tail


def instance_to_dict(instance: Instance) -> dict[str, Any]:
    """The instance as the spec's JSON object (records in their given order)."""
    head, lists, tail = _instance_parts(instance)
    caps = {"caps": {k: getattr(instance.caps, k) for k in CAP_KEYS}}
    return {**head, **caps, **{k: list(v) for k, v in lists.items()}, **tail}


def _policy_dict(p: QuietPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {"id": p.id}
    if p.month_days:
        out["month_days"] = [list(r) for r in p.month_days]
    if p.weekdays:
        out["weekdays"] = sorted(p.weekdays)
    if p.dates:
        out["dates"] = _iso(p.dates)
    return out


def _agency_dict(a: Agency) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "region": a.region,
        "daily_capacity": a.daily_capacity,
        "capacity_by_date": {d.isoformat(): n for d, n in sorted(a.capacity_by_date.items())},
    }


def _enterprise_dict(e: Enterprise) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "region": e.region,
        "quiet_policy": e.quiet_policy,
        "blackout": _iso(e.blackout),
        "whitelisted": e.whitelisted,
        "caps": dict(e.cap_overrides),
    }


def _inspection_dict(i: Inspection) -> dict[str, Any]:
    return {
        "id": i.id,
        "agency": i.agency,
        "enterprise": i.enterprise,
        "kind": i.kind.value,
        "items": list(i.items),
        "earliest": i.earliest.isoformat(),
        "latest": i.latest.isoformat(),
        "priority": i.priority,
        "exempt_reason": i.exempt_reason,
    }


def _instance_chunks(instance: Instance) -> Iterator[str]:
    head, lists, tail = _instance_parts(instance)
    head["caps"] = {k: getattr(instance.caps, k) for k in CAP_KEYS}
    return _layout(head, lists, tail)


def dump_instance(instance: Instance) -> str:
    return "".join(_instance_chunks(instance))


def write_instance(instance: Instance, path: str | Path) -> None:
    """Streamed record by record: a province's instance is never held as one string."""
    _write_atomically(Path(path), _instance_chunks(instance))


def _stats_dict(stats: SolveStats) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": stats.status.value,
        "wall_seconds": stats.wall_seconds,
        "scheduled": stats.scheduled,
        "visits": stats.visits,
        "objective_bound": stats.objective_bound,
    }
    out.update(stats.extra)
    return out


def _visit_dict(v: Visit) -> dict[str, Any]:
    return {
        "enterprise": v.enterprise,
        "date": v.date.isoformat(),
        "inspections": list(v.inspections),
        "lead_agency": v.lead_agency,
    }


def _unscheduled_dict(u: Unscheduled) -> dict[str, Any]:
    return {"inspection": u.inspection, "reason": u.reason.value, "detail": u.detail}


def solution_to_dict(solution: Solution) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": SOLUTION_FORMAT,
        "instance": solution.instance,
        "visits": [_visit_dict(v) for v in solution.visits],
        "unscheduled": [_unscheduled_dict(u) for u in solution.unscheduled],
    }
    if solution.stats is not None:
        out["stats"] = _stats_dict(solution.stats)
    return out


def _solution_chunks(solution: Solution) -> Iterator[str]:
    head = {"format": SOLUTION_FORMAT, "instance": solution.instance}
    lists = {
        "visits": map(_visit_dict, solution.visits),
        "unscheduled": map(_unscheduled_dict, solution.unscheduled),
    }
    tail = {"stats": _stats_dict(solution.stats)} if solution.stats is not None else {}
    return _layout(head, lists, tail)


def dump_solution(solution: Solution) -> str:
    return "".join(_solution_chunks(solution))


def write_solution(solution: Solution, path: str | Path) -> None:
    _write_atomically(Path(path), _solution_chunks(solution))


def _write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write beside the target, then rename: a reader never sees half a file, and a failed
    write leaves nothing behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.writelines(chunks)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
