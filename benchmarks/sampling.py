"""sampling: 双随机 draws coordinated against independent, on the demo province and on the
100,000-enterprise quarter.

Each generated province keeps its agencies, enterprises, calendar, quiet policies, caps,
history and its special, case and requested inspections (with their pins and draft), but its
routine inspections are replaced by 双随机 draws at the same ratios per credit-risk class: an
agency's population is the enterprises of its region (a county agency: its county; a city
agency: the city's counties) in the trades it inspects, whitelisted ones left out (无事不扰);
each drawn enterprise gets a routine inspection of that agency over the quarter. Coordinated
draws share one seed's numbers; independent ones give each agency its own numbers (same seed).
Each instance is solved by `quietday solve` (same seed, same limit for both) and checked; the
draws alone are repeated over many seeds for the spread of the enterprises drawn."""

from __future__ import annotations

import random
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.harness import Echo, measured
from quietday.domain.model import (
    AgencyId,
    EnterpriseId,
    Inspection,
    InspectionId,
    Instance,
    Kind,
)
from quietday.domain.sampling import RISK_CLASSES, Coordination, Request, draw_all
from quietday.formats import write_instance
from quietday.generate import RISK_PRIORITY, GeneratorConfig, Registry, generate, regions, registry
from quietday.planning import check_files

# The share of each credit-risk class an agency draws in a quarter (the policy defaults).
RATIOS: dict[str, float] = {"A": 0.03, "B": 0.05, "C": 0.10, "D": 0.20}
DRAW_SEED = "bench-0"
# The draws alone (no solve) over this many seeds on the 100,000-enterprise registry.
SPREAD_SEEDS = 20


@dataclass(frozen=True, slots=True)
class Province:
    """One benchmarked province: its generator config and the solve's limit (seconds, or
    deterministic time units when `deterministic`)."""

    name: str
    cfg: GeneratorConfig
    time_limit: float
    deterministic: bool


# The demo province is `quietday demo`'s size and seed, over one quarter (2026 Q3).
PROVINCES = (
    Province("demo", GeneratorConfig(enterprises=3_000, seed=2026), 8.0, deterministic=False),
    Province(
        "quarter-100k",
        GeneratorConfig(enterprises=100_000, seed=1, horizon="quarter"),
        60.0,
        deterministic=False,
    ),
)
MODES = (Coordination.COORDINATED, Coordination.INDEPENDENT)


def draw_requests(
    instance: Instance, reg: Registry, *, counties: int | None, ratios: Mapping[str, float]
) -> list[Request]:
    """Each agency's draw: the enterprises of its region in its trades, keyed by risk class
    (whitelisted enterprises are not drawn), at `ratios`; sorted by agency."""
    parent = {code: up for code, _, level, up in regions(counties) if level == "county"}
    by_county_sector: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for eid, ent in instance.enterprises.items():
        if not ent.whitelisted:
            profile = reg.profiles[eid]
            by_county_sector[(ent.region, profile.sector)][eid] = profile.risk
    requests = []
    for aid in sorted(instance.agencies):
        region = instance.agencies[aid].region
        counties_of = [c for c, city in parent.items() if region in (c, city)]
        population: dict[str, str] = {}
        for county in counties_of:
            for sector in reg.agency_sectors[aid]:
                population.update(by_county_sector.get((county, sector), {}))
        requests.append(Request(aid, population, dict(ratios)))
    return requests


def drawn_instance(
    instance: Instance, reg: Registry, draws: Mapping[str, Sequence[str]], *, label: str
) -> Instance:
    """`instance` with its routine inspections (and their pins and draft dates) replaced by one
    routine inspection per drawn (agency, enterprise) over the horizon; its priority is drawn
    as the generator draws a routine one's (by risk class) and its item from the agency's
    list, both from the pair alone, so the same pair gets the same inspection in every mode."""
    kept = [i for i in instance.inspections if i.kind != Kind.ROUTINE]
    kept_ids = {i.id for i in kept}
    drawn: list[Inspection] = []
    for agency in sorted(draws):
        code = agency.split("-")[1]
        for enterprise in draws[agency]:
            rnd = random.Random(f"{agency}|{enterprise}")
            lo, hi = RISK_PRIORITY[reg.profiles[EnterpriseId(enterprise)].risk]
            drawn.append(
                Inspection(
                    id=InspectionId(f"S-{len(drawn) + 1:07d}"),
                    agency=AgencyId(agency),
                    enterprise=EnterpriseId(enterprise),
                    kind=Kind.ROUTINE,
                    earliest=instance.horizon.start,
                    latest=instance.horizon.end,
                    items=(f"{code}-{rnd.randint(1, 40):04d}",),
                    priority=rnd.randint(lo, hi),
                )
            )
    return replace(
        instance,
        name=f"{instance.name}-{label}",
        inspections=(*kept, *drawn),
        pinned=tuple(p for p in instance.pinned if p.inspection in kept_ids),
        previous={i: d for i, d in instance.previous.items() if i in kept_ids},
    )


def draw_figures(requests: Sequence[Request], draws: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What a draw gives before any solve: inspections per class, the enterprises drawn (every
    one is at least one door-opening) and those drawn by two or more agencies."""
    per_class: Counter[str] = Counter()
    agencies_per_enterprise: Counter[str] = Counter()
    for request in requests:
        chosen = draws[request.agency]
        per_class.update(request.population[e] for e in chosen)
        agencies_per_enterprise.update(chosen)
    return {
        "inspections": sum(per_class.values()),
        "inspections_by_class": {c: per_class[c] for c in RISK_CLASSES},
        "enterprises_drawn": len(agencies_per_enterprise),
        "enterprises_drawn_twice_or_more": sum(
            1 for n in agencies_per_enterprise.values() if n > 1
        ),
    }


def size_check(
    requests: Sequence[Request], modes: Mapping[str, Mapping[str, Sequence[str]]]
) -> dict[str, Any]:
    """Per agency and class, each mode's sample size against ratio x population: the largest
    gap (under one by construction), how many (agency, class) pairs the modes size differently
    (by at most one: each agency's size number is its own when independent), and the expected
    inspections per class (the sum of ratio x population, the mean of both modes' totals)."""
    sizes: dict[str, dict[tuple[str, str], int]] = {}
    worst = 0.0
    for mode, draws in modes.items():
        counted: Counter[tuple[str, str]] = Counter()
        for request in requests:
            counted.update((request.agency, request.population[e]) for e in draws[request.agency])
        sizes[mode] = dict(counted)
    expected: dict[str, float] = defaultdict(float)
    for request in requests:
        for stratum, members in Counter(request.population.values()).items():
            mean = request.ratios.get(stratum, 0.0) * members
            expected[stratum] += mean
            for mode_sizes in sizes.values():
                worst = max(worst, abs(mode_sizes.get((request.agency, stratum), 0) - mean))
    coordinated, independent = (sizes[m.value] for m in MODES)
    pairs = set(coordinated) | set(independent)
    gaps = [abs(coordinated.get(p, 0) - independent.get(p, 0)) for p in pairs]
    return {
        "expected_by_class": {c: round(expected[c], 1) for c in RISK_CLASSES},
        "largest_gap_to_ratio": round(worst, 4),
        "agency_class_pairs": len({(r.agency, s) for r in requests for s in r.population.values()}),
        "pairs_sized_differently": sum(1 for g in gaps if g),
        "largest_difference_between_modes": max(gaps, default=0),
    }


def _solve(
    out: Path, instance: Instance, province: Province, mode: str, progress: Echo
) -> dict[str, Any]:
    path = out / f"sampling-{province.name}-{mode}.json"
    write_instance(instance, path)
    solution = out / f"sampling-{province.name}-{mode}-solution.json"
    limit = "确定性时间" if province.deterministic else "秒"
    progress(f"{province.name} {mode}: quietday solve(时限 {province.time_limit} {limit})……")
    cmd = [sys.executable, "-m", "quietday", "solve", str(path), "--out", str(solution)]
    cmd += ["--time-limit", str(province.time_limit), "--seed", "0"]
    if province.deterministic:
        cmd.append("--deterministic")
    code, wall, rss, stderr = measured(cmd)
    (out / f"sampling-{province.name}-{mode}.log").write_text(stderr, encoding="utf-8")
    if code != 0:
        raise RuntimeError(f"quietday solve failed:\n{stderr[-2000:]}")
    checked = check_files(path, solution)
    m = checked.metrics
    stats = checked.solution.stats
    lower = int(stats.extra.get("visits_lower_bound", 0)) if stats else 0
    return {
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(rss),
        "status": stats.status.value if stats else None,
        "inspections": m.inspections,
        "scheduled": m.scheduled,
        "unscheduled": m.inspections - m.scheduled,
        "unscheduled_by_reason": dict(m.unscheduled_by_reason),
        "total_priority": m.total_priority,
        "visits": m.visits,
        "joint_visits": m.joint_visits,
        "joint_rate": round(m.joint_rate, 4),
        "visits_per_scheduled": round(m.visits / m.scheduled, 4) if m.scheduled else None,
        "visits_lower_bound": lower,
        "violations": len(checked.violations),
        "decomposed": bool(stats and "decomposition" in stats.extra),
    }


def spread(
    requests: Sequence[Request], *, seeds: int, progress: Echo
) -> dict[str, dict[str, float]]:
    """Enterprises and inspections drawn by each mode over `seeds` seeds (mean, standard
    deviation, range), and the coordinated draw's enterprises as a share of the independent
    one's (mean and range over seeds)."""
    figures: dict[str, list[int]] = defaultdict(list)
    for k in range(seeds):
        progress(f"抽取 种子 {k + 1}/{seeds} ……")
        for mode in MODES:
            draws = draw_all(requests, seed=f"bench-{k}", coordination=mode)
            figures[mode.value].append(len({e for chosen in draws.values() for e in chosen}))
            figures[f"{mode.value}_inspections"].append(sum(map(len, draws.values())))
    out: dict[str, dict[str, float]] = {
        name: {
            "mean": round(statistics.fmean(values), 1),
            "stdev": round(statistics.stdev(values), 1),
            "min": min(values),
            "max": max(values),
        }
        for name, values in figures.items()
    }
    coordinated, independent = (figures[m.value] for m in MODES)
    shares = [c / i for c, i in zip(coordinated, independent, strict=True)]
    out["coordinated_over_independent"] = {
        "mean": round(statistics.fmean(shares), 4),
        "min": round(min(shares), 4),
        "max": round(max(shares), 4),
    }
    return out


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    """Both provinces drawn both ways and solved; the draws' spread over seeds on the larger."""
    rows: dict[str, Any] = {"ratios": dict(RATIOS), "draw_seed": DRAW_SEED}
    for province in PROVINCES:
        progress(f"生成 {province.name} ……")
        base = generate(province.cfg)
        reg = registry(province.cfg)
        requests = draw_requests(base, reg, counties=province.cfg.counties, ratios=RATIOS)
        modes = {m.value: draw_all(requests, seed=DRAW_SEED, coordination=m) for m in MODES}
        row: dict[str, Any] = {
            "generator": asdict(province.cfg),
            "time_limit": province.time_limit,
            "deterministic": province.deterministic,
            "population": sum(len(r.population) for r in requests),
            "routine_replaced": sum(1 for i in base.inspections if i.kind == Kind.ROUTINE),
            "sizes": size_check(requests, modes),
        }
        for mode, draws in modes.items():
            instance = drawn_instance(base, reg, draws, label=mode)
            row[mode] = {
                "draw": draw_figures(requests, draws),
                "enterprises_with_inspections": len({i.enterprise for i in instance.inspections}),
                **_solve(out, instance, province, mode, progress),
            }
            del instance
        coordinated, independent = (row[m.value] for m in MODES)
        row["visits_ratio"] = round(coordinated["visits"] / independent["visits"], 4)
        row["spread"] = spread(requests, seeds=SPREAD_SEEDS, progress=progress)
        rows[province.name] = row
    big = rows["quarter-100k"]
    rows["bars"] = {
        "quarter_100k_coordinated_fewer_visits": big["coordinated"]["visits"]
        < big["independent"]["visits"],
        "zero_violations": all(
            rows[p.name][m.value]["violations"] == 0 for p in PROVINCES for m in MODES
        ),
    }
    return rows


LABELS = {
    "inspections": "检查计划",
    "scheduled": "已排",
    "unscheduled": "未排",
    "total_priority": "优先级合计",
    "visits": "入企次数",
    "joint_visits": "联合检查",
    "joint_rate": "综合查一次率",
    "visits_per_scheduled": "入企/已排",
    "visits_lower_bound": "入企下界",
    "enterprises_with_inspections": "有检查的企业",
    "violations": "违规",
    "wall_seconds": "求解秒数",
}
DRAW_LABELS = {
    "inspections": "抽中检查",
    "enterprises_drawn": "抽中企业",
    "enterprises_drawn_twice_or_more": "被两部门以上抽中",
}


def _ratio(a: Any, b: Any) -> str:
    return f"{a / b:.3f}" if isinstance(a, int | float) and isinstance(b, int | float) and b else ""


def print_figures(rows: dict[str, Any], echo: Echo) -> None:
    echo(f"双随机抽取比例: {', '.join(f'{c} {p:.0%}' for c, p in rows['ratios'].items())}")
    for name, row in rows.items():
        if name in ("ratios", "draw_seed", "bars"):
            continue
        c, i = row["coordinated"], row["independent"]
        kind = "确定性时间" if row["deterministic"] else "秒"
        echo(
            f"{name}: 抽取总体 {row['population']:,}(部门×企业), 替换原日常检查 "
            f"{row['routine_replaced']:,} 项, 求解时限 {row['time_limit']} {kind}"
        )
        echo(f"{'':<14}{'协同':>12}{'独立':>12}{'协同/独立':>12}")
        for key, label in DRAW_LABELS.items():
            a, b = c["draw"][key], i["draw"][key]
            echo(f"{label:<14}{a!s:>12}{b!s:>12}{_ratio(a, b):>12}")
        for key, label in LABELS.items():
            a, b = c[key], i[key]
            echo(f"{label:<14}{a!s:>12}{b!s:>12}{_ratio(a, b):>12}")
        by_class = ", ".join(
            f"{k} {c['draw']['inspections_by_class'][k]}/{i['draw']['inspections_by_class'][k]}"
            for k in RISK_CLASSES
        )
        s = row["sizes"]
        echo(
            f"各类抽中数(协同/独立): {by_class}; 与比例×总体之差至多 {s['largest_gap_to_ratio']}, "
            f"{s['agency_class_pairs']} 个部门×类别中两种方式数目不同的 {s['pairs_sized_differently']} 个"
            f"(至多差 {s['largest_difference_between_modes']})"
        )
        reasons = "; ".join(
            f"{label} " + ", ".join(f"{k} {v}" for k, v in r["unscheduled_by_reason"].items())
            for label, r in (("协同", c), ("独立", i))
        )
        echo(f"未排原因: {reasons}")
        expected = ", ".join(f"{k} {v:,}" for k, v in s["expected_by_class"].items())
        echo(f"各类期望检查数(比例×总体): {expected}")
        sp = row["spread"]
        for what, suffix in (("抽中企业", ""), ("抽中检查", "_inspections")):
            co, ind = sp[f"coordinated{suffix}"], sp[f"independent{suffix}"]
            echo(
                f"{SPREAD_SEEDS} 个种子的{what}: 协同 {co['mean']:,}±{co['stdev']}"
                f"({co['min']:,}-{co['max']:,}), 独立 {ind['mean']:,}±{ind['stdev']}"
                f"({ind['min']:,}-{ind['max']:,})"
            )
        share = sp["coordinated_over_independent"]
        echo(f"抽中企业 协同/独立: 均值 {share['mean']}(范围 {share['min']}-{share['max']})")
