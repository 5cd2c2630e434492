"""`quietday.instance/1`: read (every problem collected; pins checked against the rules) and
written (one record per line, keys in a fixed order)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from quietday.domain.calendar import QuietPolicy, WorkingCalendar
from quietday.domain.check import placement_violations
from quietday.domain.limits import MAX_PRIORITY
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
)
from quietday.errors import InstanceError, Problem
from quietday.formats.reader import (
    MISSING,
    Member,
    Reader,
    document_file,
    iso_days,
    layout,
    read_members,
    write_atomically,
)
from quietday.official import SUPPORTED_COUNTRIES, official_calendar

__all__ = [
    "INSTANCE_FORMAT",
    "dump_instance",
    "instance_to_dict",
    "load_instance",
    "parse_instance",
    "pin_problems",
    "write_instance",
]

INSTANCE_FORMAT = "quietday.instance/1"

_KINDS = {k.value: k for k in Kind}


def _caps(
    r: Reader, obj: Mapping[str, Any], *, path: str, record: str | None
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


def _policy(r: Reader, item: Mapping[str, Any], *, path: str, pid: str) -> QuietPolicy:
    ranges: list[tuple[int, int]] = []
    raw = r.get(item, "month_days", list, path=path, record=pid, default=[])
    for k, rng in enumerate(raw if raw is not MISSING else []):
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
    for k, w in enumerate(raw if raw is not MISSING else []):
        if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 7:
            r.add("bad_policy_rule", path, f"weekdays[{k}] 应为 1(周一)到 7(周日): {w!r}", pid)
            continue
        weekdays.add(w)
    dates = r.days(item, "dates", path=path, record=pid)
    return QuietPolicy(id=pid, month_days=tuple(ranges), weekdays=frozenset(weekdays), dates=dates)


def _horizon(r: Reader, doc: Mapping[str, Any]) -> Horizon | None:
    obj = r.get(doc, "horizon", dict, path="horizon")
    if obj is MISSING:
        return None
    start = r.get_day(obj, "start", path="horizon")
    end = r.get_day(obj, "end", path="horizon")
    if start is None or end is None:
        return None
    if end < start:
        r.add("horizon_inverted", "horizon", f"end {end} 早于 start {start}")
        return None
    return Horizon(start, end)


def _calendar(r: Reader, doc: Mapping[str, Any], horizon: Horizon | None) -> WorkingCalendar | None:
    obj = r.get(doc, "calendar", dict, path="calendar", default={})
    if obj is MISSING:
        return None
    country = r.get(obj, "country", str, path="calendar", default="CN")
    extra_h = r.days(obj, "extra_holidays", path="calendar")
    extra_w = r.days(obj, "extra_workdays", path="calendar")
    if country is MISSING:
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


def _agencies(r: Reader, doc: Mapping[str, Any]) -> dict[AgencyId, Agency]:
    out: dict[AgencyId, Agency] = {}
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "agencies", required=True):
        aid = r.record_id(item, path)
        if aid is None or not r.unique(seen, aid, path):
            continue
        r.ids["agencies"][aid] = aid
        name = r.get(item, "name", str, path=path, record=aid, default=aid)
        region = r.get(item, "region", str, path=path, record=aid, default="")
        capacity = r.count(item, "daily_capacity", path=path, record=aid)
        by_date: dict[date, int] = {}
        raw = r.get(item, "capacity_by_date", dict, path=path, record=aid, default={})
        for key, _value in (raw if raw is not MISSING else {}).items():
            day = r.day(key, field=f"capacity_by_date 的键 {key!r}", path=path, record=aid)
            n = r.count(raw, key, path=path, record=aid)
            if day is not None and n is not None:
                by_date[day] = n
        if capacity is None or name is MISSING or region is MISSING:
            continue
        out[AgencyId(aid)] = Agency(AgencyId(aid), name, region, capacity, by_date)
    return out


# Records valid as they stand are read in one go (`_plain_*`: a province's file has millions,
# and reading each field through `Reader` was most of its reading time). These accept only what
# the full reading below them accepts, and make the same record of it; anything else (a field
# missing without a default, of another type, out of range, a reference unknown, a date not yet
# read) goes the full way, which names every problem.


def _plain_enterprise(
    r: Reader, item: dict[str, Any], policies: Mapping[PolicyId, QuietPolicy]
) -> Enterprise | None:
    eid, name, region = item.get("id"), item.get("name"), item.get("region", "")
    policy, white = item.get("quiet_policy"), item.get("whitelisted", False)
    blackout, caps = item.get("blackout", []), item.get("caps", {})
    if not (
        type(eid) is str
        and eid.strip()
        and type(name) is str
        and type(region) is str
        and type(policy) is str
        and policy in policies
        and type(white) is bool
        and type(blackout) is list
        and type(caps) is dict
        and all(
            key in CAP_KEYS and (n is None or (type(n) is int and n >= 0))
            for key, n in caps.items()
        )
    ):
        return None
    known = r.dates
    if not all(type(d) is str and d in known for d in blackout):
        return None
    days = frozenset(known[d] for d in blackout)
    return _enterprise(
        r, eid, name=name, region=region, policy=policy, blackout=days, white=white, caps=caps
    )


def _enterprise(
    r: Reader,
    eid: str,
    *,
    name: str,
    region: str,
    policy: str,
    blackout: frozenset[date],
    white: bool,
    caps: dict[str, int | None],
) -> Enterprise:
    """The record, with the values it repeats from records read before it shared with them."""
    return Enterprise(
        EnterpriseId(eid),
        name,
        r.same(region),
        r.same(PolicyId(policy)),
        r.same(blackout),
        white,
        r.same_caps(caps),
    )


def _plain_references(r: Reader, agency: Any, ent: Any, kind: Any) -> bool:
    """`_references` finds nothing wrong."""
    return (
        type(agency) is str
        and agency in r.ids["agencies"]
        and type(ent) is str
        and ent in r.ids["enterprises"]
        and type(kind) is str
        and kind in _KINDS
    )


def _all_text(values: list[Any]) -> bool:
    """Every value a string: `str.join` takes no other (and JSON makes no subclass of str)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True


def _plain_inspection(r: Reader, item: dict[str, Any], horizon: Horizon) -> Inspection | None:
    iid, earliest, latest = item.get("id"), item.get("earliest"), item.get("latest")
    agency: Any = item.get("agency")
    ent: Any = item.get("enterprise")
    kind: Any = item.get("kind")
    items, priority = item.get("items", []), item.get("priority", 1)
    exempt = item.get("exempt_reason")
    if not (
        type(iid) is str
        and iid.strip()
        and _plain_references(r, agency, ent, kind)
        and type(earliest) is str
        and type(latest) is str
        and type(items) is list
        and _all_text(items)
        and type(priority) is int
        and 1 <= priority <= MAX_PRIORITY
        and (exempt is None or type(exempt) is str)
    ):
        return None
    first, last = r.dates.get(earliest), r.dates.get(latest)
    if first is None or last is None or last < first or last < horizon.start or first > horizon.end:
        return None
    return _inspection(
        r,
        iid,
        agency=agency,
        ent=ent,
        kind=kind,
        first=first,
        last=last,
        items=items,
        priority=priority,
        exempt=exempt,
    )


def _inspection(
    r: Reader,
    iid: str,
    *,
    agency: str,
    ent: str,
    kind: str,
    first: date,
    last: date,
    items: list[str],
    priority: int,
    exempt: str | None,
) -> Inspection:
    """The record, its references its records' own ids and its items shared."""
    ids = r.ids
    return Inspection(
        InspectionId(iid),
        AgencyId(ids["agencies"][agency]),
        EnterpriseId(ids["enterprises"][ent]),
        _KINDS[kind],
        first,
        last,
        r.same(tuple(items)),
        priority,
        r.same(exempt) if exempt else None,
    )


def _plain_history(r: Reader, item: dict[str, Any]) -> HistoryEntry | None:
    agency: Any = item.get("agency")
    ent: Any = item.get("enterprise")
    kind: Any = item.get("kind")
    day = item.get("date")
    if not (_plain_references(r, agency, ent, kind) and type(day) is str):
        return None
    when = r.dates.get(day)
    if when is None:
        return None
    return _history_entry(r, ent, agency, when, kind)


def _history_entry(r: Reader, ent: str, agency: str, day: date, kind: str) -> HistoryEntry:
    ids = r.ids
    return HistoryEntry(
        EnterpriseId(ids["enterprises"][ent]), AgencyId(ids["agencies"][agency]), day, _KINDS[kind]
    )


def _enterprises(
    r: Reader, doc: Mapping[str, Any], policies: Mapping[PolicyId, QuietPolicy]
) -> dict[EnterpriseId, Enterprise]:
    out: dict[EnterpriseId, Enterprise] = {}
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "enterprises", required=True):
        plain = _plain_enterprise(r, item, policies)
        if plain is not None:
            if r.unique(seen, plain.id, path):
                r.ids["enterprises"][plain.id] = plain.id
                out[plain.id] = plain
            continue
        eid = r.record_id(item, path)
        if eid is None or not r.unique(seen, eid, path):
            continue
        r.ids["enterprises"][eid] = eid
        name = r.get(item, "name", str, path=path, record=eid, default=eid)
        region = r.get(item, "region", str, path=path, record=eid, default="")
        policy = r.get(item, "quiet_policy", str, path=path, record=eid)
        if policy is not MISSING and policy not in policies:
            r.add("unknown_policy", path, f"quiet_policy {policy} 未在 quiet_policies 中定义", eid)
            policy = MISSING
        blackout = r.days(item, "blackout", path=path, record=eid)
        white = r.get(item, "whitelisted", bool, path=path, record=eid, default=False)
        raw_caps = r.get(item, "caps", dict, path=path, record=eid, default={})
        caps = _caps(r, raw_caps, path=path, record=eid) if raw_caps is not MISSING else {}
        if MISSING in (name, region, policy, white):
            continue
        out[EnterpriseId(eid)] = _enterprise(
            r,
            eid,
            name=name,
            region=region,
            policy=policy,
            blackout=blackout,
            white=white,
            caps=caps,
        )
    return out


def _references(
    r: Reader, item: Mapping[str, Any], *, path: str, record: str | None
) -> tuple[Any, Any, Any]:
    """The `agency`, `enterprise` and `kind` of a record, each checked against what exists."""
    agency = r.get(item, "agency", str, path=path, record=record)
    if agency is not MISSING and agency not in r.ids["agencies"]:
        r.add("unknown_agency", path, f"agency {agency} 不在 agencies 中", record)
    ent = r.get(item, "enterprise", str, path=path, record=record)
    if ent is not MISSING and ent not in r.ids["enterprises"]:
        r.add("unknown_enterprise", path, f"enterprise {ent} 不在 enterprises 中", record)
    kind = r.get(item, "kind", str, path=path, record=record)
    if kind is not MISSING and kind not in _KINDS:
        r.add("unknown_kind", path, f"kind {kind} 应为 routine、special、case 或 requested", record)
    return agency, ent, kind


def _inspections(r: Reader, doc: Mapping[str, Any], *, horizon: Horizon | None) -> list[Inspection]:
    out: list[Inspection] = []
    seen: dict[str, str] = {}
    for path, item in r.records(doc, "inspections", required=True):
        plain = None if horizon is None else _plain_inspection(r, item, horizon)
        if plain is not None:
            if r.unique(seen, plain.id, path):
                out.append(plain)
            continue
        iid = r.record_id(item, path)
        if iid is None or not r.unique(seen, iid, path):
            continue
        before = len(r.problems)
        agency, ent, kind = _references(r, item, path=path, record=iid)
        items = r.get(item, "items", list, path=path, record=iid, default=[])
        if items is not MISSING and not all(isinstance(x, str) for x in items):
            r.add("wrong_type", path, "items 应为字符串数组", iid)
        priority = r.get(item, "priority", int, path=path, record=iid, default=1)
        if priority is not MISSING and not 1 <= priority <= MAX_PRIORITY:
            r.add("priority_range", path, f"priority {priority} 超出 1 至 {MAX_PRIORITY}", iid)
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
            _inspection(
                r,
                iid,
                agency=agency,
                ent=ent,
                kind=kind,
                first=earliest,
                last=latest,
                items=items,
                priority=priority,
                exempt=exempt,
            )
        )
    return out


def _history(r: Reader, doc: Mapping[str, Any]) -> list[HistoryEntry]:
    out: list[HistoryEntry] = []
    for path, item in r.records(doc, "history", required=False):
        plain = _plain_history(r, item)
        if plain is not None:
            out.append(plain)
            continue
        before = len(r.problems)
        agency, ent, kind = _references(r, item, path=path, record=None)
        day = r.get_day(item, "date", path=path)
        if len(r.problems) == before and day is not None:
            out.append(_history_entry(r, ent, agency, day, kind))
    return out


def _pins(r: Reader, doc: Mapping[str, Any]) -> list[Pin]:
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


def _previous(r: Reader, doc: Mapping[str, Any]) -> dict[InspectionId, date]:
    raw = r.get(doc, "previous", dict, path="previous", default={})
    out: dict[InspectionId, date] = {}
    for key, value in (raw if raw is not MISSING else {}).items():
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


class _Read:
    """What an instance document's members are read into, each as it comes."""

    def __init__(self) -> None:
        self.r = Reader()
        self.name = ""
        self.horizon: Horizon | None = None
        self.calendar: WorkingCalendar | None = None
        self.caps: dict[str, int | None] = {}
        self.policies: dict[PolicyId, QuietPolicy] = {}
        self.agencies: dict[AgencyId, Agency] = {}
        self.enterprises: dict[EnterpriseId, Enterprise] = {}
        self.inspections: list[Inspection] = []
        self.history: list[HistoryEntry] = []
        self.pins: list[Pin] = []
        self.previous: dict[InspectionId, date] = {}

    def members(self) -> list[Member]:
        """In the order a problem is listed in when each member comes in its place."""
        r = self.r
        return [
            Member("name", self._name),
            Member("horizon", self._horizon),
            Member("calendar", self._calendar, ("horizon",)),
            Member("caps", self._caps),
            Member("quiet_policies", self._policies, records=True),
            Member("agencies", lambda doc: self.agencies.update(_agencies(r, doc)), records=True),
            Member(
                "enterprises",
                lambda doc: self.enterprises.update(_enterprises(r, doc, self.policies)),
                ("quiet_policies",),
                records=True,
            ),
            Member(
                "inspections",
                lambda doc: self.inspections.extend(_inspections(r, doc, horizon=self.horizon)),
                ("horizon", "agencies", "enterprises"),
                records=True,
            ),
            Member(
                "history",
                lambda doc: self.history.extend(_history(r, doc)),
                ("agencies", "enterprises"),
                records=True,
            ),
            Member("pinned", lambda doc: self.pins.extend(_pins(r, doc)), records=True),
            Member("previous", lambda doc: self.previous.update(_previous(r, doc))),
        ]

    def _name(self, doc: Mapping[str, Any]) -> None:
        self.name = self.r.get(doc, "name", str, path="name", default="")

    def _horizon(self, doc: Mapping[str, Any]) -> None:
        self.horizon = _horizon(self.r, doc)

    def _calendar(self, doc: Mapping[str, Any]) -> None:
        self.calendar = _calendar(self.r, doc, self.horizon)

    def _caps(self, doc: Mapping[str, Any]) -> None:
        raw = self.r.get(doc, "caps", dict, path="caps", default={})
        if raw is not MISSING:
            self.caps = _caps(self.r, raw, path="caps", record=None)

    def _policies(self, doc: Mapping[str, Any]) -> None:
        r, seen = self.r, dict[str, str]()
        for path, item in r.records(doc, "quiet_policies", required=False):
            pid = r.record_id(item, path)
            if pid is not None and r.unique(seen, pid, path):
                self.policies[PolicyId(pid)] = _policy(r, item, path=path, pid=pid)


def parse_instance(source: str | bytes | Callable[[int], bytes]) -> Instance:
    """A validated `Instance` from JSON text (or a function reading its bytes a piece at a
    time), or `InstanceError` listing every problem."""
    got = _Read()
    read_members(source, InstanceError, INSTANCE_FORMAT, got.members())
    r, horizon, calendar = got.r, got.horizon, got.calendar
    if r.problems or horizon is None or calendar is None:
        raise InstanceError(r.problems or [Problem("invalid", "", "实例无效")])
    instance = Instance(
        name=got.name,
        horizon=horizon,
        calendar=calendar,
        quiet_policies=got.policies,
        caps=Caps().overridden(got.caps),
        agencies=got.agencies,
        enterprises=got.enterprises,
        inspections=tuple(got.inspections),
        history=tuple(got.history),
        pinned=tuple(got.pins),
        previous=got.previous,
        country=calendar.official.country,
    )
    problems = pin_problems(instance)
    if problems:
        raise InstanceError(problems)
    return instance


def load_instance(path: str | Path) -> Instance:
    with document_file(path, InstanceError) as read:
        return parse_instance(read)


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
            "extra_holidays": iso_days(instance.calendar.extra_holidays),
            "extra_workdays": iso_days(instance.calendar.extra_workdays),
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
        out["dates"] = iso_days(p.dates)
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
        "blackout": iso_days(e.blackout),
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
    return layout(head, lists, tail)


def dump_instance(instance: Instance) -> str:
    return "".join(_instance_chunks(instance))


def write_instance(instance: Instance, path: str | Path) -> None:
    """Streamed record by record: a province's instance is never held as one string."""
    write_atomically(Path(path), _instance_chunks(instance))
