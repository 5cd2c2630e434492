"""双随机 draws: each agency's inclusion probability holds (a statistical test over many seeds),
coordinated samples overlap as much as their ratios allow, and a draw re-run from its seed is
the same sample.

The statistical checks use Bernstein's inequality for sums of independent variables in [0, 1]:
P(|S - E S| >= t) <= 2 exp(-t^2 / (2 (Var S + t / 3))). Each check's threshold t is set so
that its false-failure chance is at most ALPHA / CHECKS, so a correct sampler fails one of the
CHECKS checks with probability at most ALPHA = 1e-6 (treating SHA-256 of distinct seeds as
independent uniform numbers). The seeds are fixed, so the test itself is deterministic; the
same checks reject a sampler that is wrong by the size of a draw or by its spread."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import pytest

from quietday.domain.sampling import (
    Coordination,
    Request,
    commitment,
    draw,
    draw_all,
    number,
    sample_size,
)

ALPHA = 1e-6
SEEDS = [f"seed-{k}" for k in range(3000)]

# 60 enterprises: 30 of class A, 20 of B, 10 of D.
CLASSES = {f"E{i:03d}": ("A" if i < 30 else "B" if i < 50 else "D") for i in range(60)}
REQUESTS = (
    Request("SCJG", dict(CLASSES), {"A": 0.1, "B": 0.25, "D": 0.55}),
    Request("STHJ", {e: c for e, c in CLASSES.items() if e < "E040"}, {"A": 0.05, "B": 0.4}),
    Request("YJGL", {e: c for e, c in CLASSES.items() if c != "A"}, {"B": 0.15, "D": 1.0}),
)
Drawer = Callable[[Request, str], list[str]]


def bernstein_bound(*, variance: float, checks: int) -> float:
    """The t with 2 exp(-t^2 / (2 (variance + t / 3))) = ALPHA / checks."""
    log = math.log(2 * checks / ALPHA)
    b = 2 * log / 3
    return (b + math.sqrt(b * b + 8 * log * variance)) / 2


def inclusion_failures(drawer: Drawer) -> list[str]:
    """Every check a drawer fails over SEEDS: each enterprise's count of inclusions against K p,
    and each stratum's total sample size against K p N."""
    checks = sum(len(r.population) + len(r.ratios) for r in REQUESTS)
    k = len(SEEDS)
    failures = []
    for request in REQUESTS:
        counts: Counter[str] = Counter()
        for seed in SEEDS:
            counts.update(drawer(request, seed))
        sizes = Counter(request.population.values())
        for enterprise, stratum in request.population.items():
            p = request.ratios.get(stratum, 0.0)
            t = bernstein_bound(variance=k * p * (1 - p), checks=checks)
            if abs(counts[enterprise] - k * p) > t:
                failures.append(f"{request.agency} {enterprise}: {counts[enterprise]} vs {k * p}")
        for stratum, p in request.ratios.items():
            n = sizes[stratum]
            total = sum(counts[e] for e, s in request.population.items() if s == stratum)
            frac = p * n - math.floor(p * n)
            t = bernstein_bound(variance=k * frac * (1 - frac), checks=checks)
            if abs(total - k * p * n) > t:
                failures.append(f"{request.agency} {stratum}: {total} vs {k * p * n}")
    return failures


@pytest.mark.parametrize("coordination", list(Coordination))
def test_each_agency_keeps_its_inclusion_probability(coordination: Coordination) -> None:
    assert inclusion_failures(lambda r, s: draw(r, seed=s, coordination=coordination)) == []


def test_the_check_rejects_a_draw_that_never_takes_the_extra_one() -> None:
    def floor_only(request: Request, seed: str) -> list[str]:
        whole = {
            s: math.floor(p * Counter(request.population.values())[s])
            for s, p in request.ratios.items()
        }
        ranked = sorted(request.population, key=lambda e: number(seed, e))
        taken: Counter[str] = Counter()
        out = []
        for e in ranked:
            s = request.population[e]
            if taken[s] < whole.get(s, 0):
                taken[s] += 1
                out.append(e)
        return out

    assert any(f.split()[1] in ("A:", "B:", "D:") for f in inclusion_failures(floor_only))


def test_the_check_rejects_a_draw_that_favours_some_enterprises() -> None:
    def tilted(request: Request, seed: str) -> list[str]:
        def key(e: str) -> float:
            u = number(seed, e)
            return u if int(e[1:]) % 2 else math.sqrt(u)

        out = []
        for stratum, p in request.ratios.items():
            members = sorted((e for e, s in request.population.items() if s == stratum), key=key)
            out += members[: sample_size(ratio=p, size=len(members), chance=number(seed, stratum))]
        return out

    failures = inclusion_failures(tilted)
    assert any(f.split()[1].startswith("E") for f in failures)


def test_a_draw_rerun_from_its_seed_is_the_same_sample() -> None:
    first = draw_all(REQUESTS, seed="2026Q3-通报-7f3a")
    assert draw_all(REQUESTS, seed="2026Q3-通报-7f3a") == first
    assert draw_all(REQUESTS, seed="2026Q3-通报-7f3b") != first
    shuffled = [Request(r.agency, dict(reversed(r.population.items())), r.ratios) for r in REQUESTS]
    assert draw_all(shuffled, seed="2026Q3-通报-7f3a") == first


def test_coordinated_samples_nest_where_populations_meet() -> None:
    for seed in SEEDS[:200]:
        drawn = draw_all(REQUESTS, seed=seed)
        scjg, sthj = set(drawn["SCJG"]), set(drawn["STHJ"])
        a_sthj = {e for e in sthj if CLASSES[e] == "A"}
        a_scjg = {e for e in scjg if CLASSES[e] == "A" and e < "E040"}
        # Both draw class A among E000-E029 (SCJG 10 %, STHJ 5 %): the smaller lies inside.
        assert a_sthj <= a_scjg or a_scjg <= a_sthj


def test_coordinated_draws_share_more_enterprises_than_independent_ones() -> None:
    population = {f"F{i:04d}": "B" for i in range(2000)}
    one = Request("one", population, {"B": 0.1})
    two = Request("two", population, {"B": 0.2})
    coordinated = draw_all([one, two], seed="s")
    independent = draw_all([one, two], seed="s", coordination=Coordination.INDEPENDENT)
    assert set(coordinated["one"]) <= set(coordinated["two"])
    shared = len(set(independent["one"]) & set(independent["two"]))
    assert 20 <= shared <= 70  # about 0.1 x 0.2 x 2000 = 40


def test_a_window_start_rotates_the_sample() -> None:
    population = {f"F{i:04d}": "A" for i in range(1000)}
    request = Request("one", population, {"A": 0.1})
    first = set(draw(request, seed="s", start=0.0))
    later = set(draw(request, seed="s", start=0.5))
    assert len(first) == len(later) == 100
    assert len(first & later) < 10


def test_the_commitment_binds_the_seed() -> None:
    assert commitment("abc") == commitment("abc")
    assert commitment("abc") != commitment("abd")
    assert len(commitment("abc")) == 64


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan")])
def test_a_ratio_outside_zero_to_one_is_refused(ratio: float) -> None:
    with pytest.raises(ValueError, match="ratio"):
        Request("x", {}, {"A": ratio})


def test_sample_size_is_floor_or_one_more() -> None:
    assert sample_size(ratio=0.25, size=10, chance=0.49) == 3
    assert sample_size(ratio=0.25, size=10, chance=0.5) == 2
    assert sample_size(ratio=1.0, size=7, chance=0.0) == 7
    assert sample_size(ratio=0.0, size=7, chance=0.0) == 0


def test_sample_sizes_do_not_depend_on_the_coordination() -> None:
    for seed in SEEDS[:100]:
        coordinated = draw_all(REQUESTS, seed=seed)
        independent = draw_all(REQUESTS, seed=seed, coordination=Coordination.INDEPENDENT)
        for agency, drawn in coordinated.items():
            assert Counter(CLASSES[e] for e in drawn) == Counter(
                CLASSES[e] for e in independent[agency]
            )
