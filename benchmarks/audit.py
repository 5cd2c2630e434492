"""audit: 100,000 enterprises in PostgreSQL with a synthetic year of published visits and
check-ins (flagged by the core checker); pages of the frequency audit over HTTP per
enterprise, agency, county and city, timed request by request."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import Echo, fresh_database, postgres_reachable, server, settle
from quietday.domain.model import AgencyId, EnterpriseId, Horizon, Inspection, Instance, Kind
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import make_engine, session_scope
from quietday.persistence.frequency import BulkLoader
from quietday.persistence.tables import CheckInFlagRow, CheckInRow, PlanRow, VisitRow
from quietday.planning.checkins import ENTRY_FLAGS, entry_id, rule_flags
from quietday.planning.frequency import rebuild_rollups
from quietday.planning.keys import create_key
from quietday.planning.province import CLI, load_province

AUDIT = GeneratorConfig(enterprises=100_000, seed=11, horizon="quarter", year=2026, quarter=1)
AUDIT_DB = "bench_audit"
AUDIT_YEAR = Horizon(date(2026, 1, 1), date(2026, 12, 31))
_VISITS_PER_YEAR = ((0, 10), (1, 25), (2, 30), (3, 20), (4, 10), (6, 5))
_AGENCIES_PER_VISIT = ((1, 70), (2, 22), (3, 8))
_KINDS = (("routine", 70), ("special", 15), ("case", 10), ("requested", 5))
_STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def _pick(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


@dataclass
class _Year:
    """Rows of a synthetic year; plans and entries refer to their visit by index (-1: none)."""

    visits: list[dict[str, Any]] = field(default_factory=list)
    plans: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _entry(
    agency: str, enterprise: str, day: date, kind: str, exempt: str | None
) -> dict[str, Any]:
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
    return {
        "agency_id": agency,
        "enterprise_id": enterprise,
        "at": at,
        "day": day,
        "kind": kind,
        "exempt_reason": exempt,
        "certificates": [],
        "created_at": _STAMP,
    }


def _audit_year(instance: Instance, rng: random.Random) -> _Year:
    """A year of published visits (random, not solved: the audit reads whatever was
    published; 10 % fall on a quiet day with an exempt reason) and of check-ins: 92 % on the
    day, 3 % a day late, 5 % missed, and unplanned routine entries at 1 % of enterprises."""
    working = instance.calendar.working_days(AUDIT_YEAR.start, AUDIT_YEAR.end)
    open_days = {
        pid: [d for d in working if not policy.is_quiet(d)]
        for pid, policy in instance.quiet_policies.items()
    }
    local: dict[str, list[str]] = {}
    for known in sorted(instance.agencies.values(), key=lambda a: a.id):
        local.setdefault(known.region, []).append(known.id)
    year = _Year()
    for ent in sorted(instance.enterprises.values(), key=lambda e: e.id):
        choices = local.get(ent.region, []) + local.get(ent.region[:4], [])
        days = set(rng.sample(open_days[ent.quiet_policy] or working, _pick(rng, _VISITS_PER_YEAR)))
        days = {rng.choice(working) if rng.random() < 0.1 else d for d in days}
        for day in sorted(days):
            crew = rng.sample(choices, min(len(choices), _pick(rng, _AGENCIES_PER_VISIT)))
            index = len(year.visits)
            year.visits.append(
                {
                    "enterprise_id": ent.id,
                    "day": day,
                    "lead_agency_id": crew[0],
                    "status": "published",
                    "sequence": 0,
                    "created_at": _STAMP,
                    "updated_at": _STAMP,
                }
            )
            quiet = instance.is_quiet(ent.id, day) or day in ent.blackout
            for agency in crew:
                kind = _pick(rng, _KINDS)
                exempt = "投诉举报" if kind == "case" or quiet else None
                year.plans.append(
                    (
                        index,
                        {
                            "agency_id": agency,
                            "enterprise_id": ent.id,
                            "kind": kind,
                            "items": ["日常监督检查"],
                            "earliest": day,
                            "latest": day,
                            "priority": 1,
                            "exempt_reason": exempt,
                            "unannounced": False,
                            "status": "published",
                            "version": 1,
                            "published_date": day,
                            "created_at": _STAMP,
                            "updated_at": _STAMP,
                        },
                    )
                )
                roll = rng.random()
                if roll >= 0.05:
                    on = day + timedelta(days=1) if roll < 0.08 else day
                    year.entries.append((index, _entry(agency, ent.id, on, kind, exempt)))
        if choices and rng.random() < 0.01:
            day = rng.choice(working)
            year.entries.append((-1, _entry(rng.choice(choices), ent.id, day, "routine", None)))
    return year


def _flags(
    instance: Instance, year: _Year, visit_days: list[date], entry_ids: list[int]
) -> list[dict[str, Any]]:
    """Flags of the synthetic entries: unplanned and another day, and the core checker's
    (`flag_entries`, enterprise by enterprise, as `planning.checkins` does)."""
    entries = [
        Inspection(
            id=entry_id(cid),
            agency=AgencyId(e["agency_id"]),
            enterprise=EnterpriseId(e["enterprise_id"]),
            kind=Kind(e["kind"]),
            earliest=e["day"],
            latest=e["day"],
            exempt_reason=e["exempt_reason"],
        )
        for cid, (_, e) in zip(entry_ids, year.entries, strict=True)
    ]
    actual = Instance(
        name="bench-actuals",
        horizon=AUDIT_YEAR,
        calendar=instance.calendar,
        quiet_policies=instance.quiet_policies,
        caps=instance.caps,
        agencies={a: replace(x, daily_capacity=10**6) for a, x in instance.agencies.items()},
        enterprises=instance.enterprises,
        inspections=tuple(entries),
    )
    rows: list[dict[str, Any]] = []
    by_enterprise: dict[str, dict[int, date]] = {}
    for cid, (index, e) in zip(entry_ids, year.entries, strict=True):
        by_enterprise.setdefault(e["enterprise_id"], {})[cid] = e["day"]
        if index < 0:
            rows.append(
                {"check_in_id": cid, "code": "unplanned", "detail": ENTRY_FLAGS["unplanned"]}
            )
        elif visit_days[index] != e["day"]:
            code = "different_day"
            rows.append({"check_in_id": cid, "code": code, "detail": ENTRY_FLAGS[code]})
    for days in by_enterprise.values():
        rows += [flag.model_dump() for flag in rule_flags(actual, days)]
    return rows


def _load_audit_year(url: str, instance: Instance, year: _Year) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=CLI) as session:
            load_province(session, replace(instance, inspections=(), history=()))
            bulk = BulkLoader(session)
            visit_ids = bulk.insert(VisitRow, year.visits)
            bulk.insert(PlanRow, [{**p, "visit_id": visit_ids[i]} for i, p in year.plans])
            entry_ids = bulk.insert(
                CheckInRow,
                [{**e, "visit_id": visit_ids[i] if i >= 0 else None} for i, e in year.entries],
            )
            flags = _flags(instance, year, [v["day"] for v in year.visits], entry_ids)
            bulk.insert_plain(CheckInFlagRow, flags)
            _, key = create_key(session, role="supervisor", label="bench")
        # Rows written past the application need their monthly rollups built once.
        t0 = time.perf_counter()
        with session_scope(engine, actor=CLI) as session:
            rebuild_rollups(session, AUDIT_YEAR.start, AUDIT_YEAR.end)
        rollup_seconds = time.perf_counter() - t0
    finally:
        engine.dispose()
    return {
        "visits": len(year.visits),
        "plans": len(year.plans),
        "check_ins": len(year.entries),
        "flags": len(flags),
        "rollup_build_seconds": round(rollup_seconds, 1),
        "key": key,
    }


def _timed_get(client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    r = client.get(path, params=params)
    seconds = time.perf_counter() - t0
    r.raise_for_status()
    return seconds, r.json() if "json" in r.headers["content-type"] else r.content


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    if not postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    progress(f"生成 {AUDIT.enterprises:,} 家企业和一年的入企、扫码入企记录并写入 PostgreSQL……")
    instance = generate(AUDIT)
    instance = replace(
        instance, horizon=AUDIT_YEAR, inspections=(), history=(), pinned=(), previous={}
    )
    t0 = time.perf_counter()
    year = _audit_year(instance, random.Random(AUDIT.seed))
    url = fresh_database(out, AUDIT_DB, pg=True)
    loaded = _load_audit_year(url, instance, year)
    key = str(loaded.pop("key"))
    results: dict[str, Any] = {
        "enterprises": len(instance.enterprises),
        **loaded,
        "load_seconds": round(time.perf_counter() - t0, 1),
    }
    settle(AUDIT_DB)
    pages: dict[str, Any] = {}
    middle = sorted(instance.enterprises)[len(instance.enterprises) // 2]
    with (
        server(url) as (base, _),
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as client,
    ):
        progress("逐页查询频次监督(全年)……")
        for dim, period, after in [
            ("enterprise", "2026", None),
            ("enterprise", "2026", middle),
            ("enterprise", "2026-Q3", middle),
            ("enterprise", "2026-07", middle),
            ("agency", "2026", None),
            ("county", "2026", None),
            ("city", "2026", None),
        ]:
            params: dict[str, Any] = {"by": dim, "period": period, "limit": 100}
            if after is not None:
                params["after"] = after
            times = []
            for _ in range(3):
                seconds, body = _timed_get(client, "/api/v1/audit/frequency", params)
                times.append(seconds)
            name = f"{dim}/{period}/{'middle' if after else 'first'}"
            pages[name] = {"seconds": [round(t, 3) for t in times], "rows": len(body["items"])}
            if body["next_cursor"] is not None:
                seconds, _ = _timed_get(
                    client, "/api/v1/audit/frequency", {**params, "after": body["next_cursor"]}
                )
                pages[name]["next_page_seconds"] = round(seconds, 3)
        progress("导出全部部门(CSV)……")
        seconds, body = _timed_get(
            client, "/api/v1/audit/frequency.csv", {"by": "agency", "period": "2026"}
        )
        results["export_agencies_csv_seconds"] = round(seconds, 2)
    results["pages"] = pages
    slowest = max(max(p["seconds"] + [p.get("next_page_seconds", 0)]) for p in pages.values())
    results["slowest_page_seconds"] = round(slowest, 3)
    results["bars"] = {"page_at_most_2_seconds": slowest <= 2.0}
    return results


def print_figures(au: dict[str, Any], echo: Echo) -> None:
    echo(
        f"频次监督: 企业 {au['enterprises']:,} 家, 入企 {au['visits']:,} 次, 扫码入企 {au['check_ins']:,} 条, "
        f"标记 {au['flags']:,} 个; 最慢一页 {au['slowest_page_seconds']} 秒"
    )
    for name, page in au["pages"].items():
        echo(f"  {name}: {page['seconds']} 秒, 下一页 {page.get('next_page_seconds', '-')} 秒")
