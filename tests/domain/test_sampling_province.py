"""双随机 on a generated province as the sampling benchmark draws it: each agency's population
(its region, its trades, no whitelisted enterprise), sample sizes at the requested ratios,
coordinated draws opening no more doors than independent ones, and the routine inspections
replaced by the draws."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.sampling import MODES, RATIOS, draw_requests, drawn_instance, size_check
from quietday.domain.model import Instance, Kind
from quietday.domain.sampling import Coordination, Request, draw_all
from quietday.generate import RISK_PRIORITY, GeneratorConfig, Registry, generate, registry

CFG = GeneratorConfig(enterprises=3_000, seed=7, counties=2)


@pytest.fixture(scope="module")
def province() -> tuple[Instance, Registry, list[Request]]:
    instance = generate(CFG)
    reg = registry(CFG)
    return instance, reg, draw_requests(instance, reg, counties=CFG.counties, ratios=RATIOS)


def test_each_population_is_its_region_in_its_trades(
    province: tuple[Instance, Registry, list[Request]],
) -> None:
    instance, reg, requests = province
    assert [r.agency for r in requests] == sorted(instance.agencies)
    for request in requests:
        agency = instance.agencies[request.agency]
        expected = {
            e.id: reg.profiles[e.id].risk
            for e in instance.enterprises.values()
            if e.region.startswith(agency.region)
            and reg.profiles[e.id].sector in reg.agency_sectors[request.agency]
            and not e.whitelisted
        }
        assert dict(request.population) == expected
        assert request.ratios == RATIOS
    city = next(r for r in requests if r.agency.startswith("360100-"))
    assert {instance.enterprises[e].region for e in city.population} == {"360102", "360103"}


@pytest.mark.parametrize("seed", [f"s{k}" for k in range(5)])
def test_sizes_follow_the_ratios_and_coordinated_draws_open_fewer_doors(
    province: tuple[Instance, Registry, list[Request]], seed: str
) -> None:
    _, _, requests = province
    modes = {m.value: draw_all(requests, seed=seed, coordination=m) for m in MODES}
    for draws in modes.values():
        for request in requests:
            sizes = Counter(request.population[e] for e in draws[request.agency])
            for stratum, members in Counter(request.population.values()).items():
                assert abs(sizes[stratum] - RATIOS[stratum] * members) < 1
    sizes = size_check(requests, modes)
    assert sizes["largest_gap_to_ratio"] < 1
    assert sizes["largest_difference_between_modes"] <= 1
    doors = {
        mode: len({e for chosen in draws.values() for e in chosen}) for mode, draws in modes.items()
    }
    assert doors[Coordination.COORDINATED] < doors[Coordination.INDEPENDENT]


def test_the_draws_replace_the_routine_inspections(
    province: tuple[Instance, Registry, list[Request]],
) -> None:
    instance, reg, requests = province
    draws = draw_all(requests, seed="s0", coordination=Coordination.COORDINATED)
    drawn = drawn_instance(instance, reg, draws, label="coordinated")
    others = [i for i in instance.inspections if i.kind != Kind.ROUTINE]
    routine = [i for i in drawn.inspections if i.kind == Kind.ROUTINE]
    assert [i for i in drawn.inspections if i.kind != Kind.ROUTINE] == others
    assert sorted((i.agency, i.enterprise) for i in routine) == sorted(
        (a, e) for a, chosen in draws.items() for e in chosen
    )
    for insp in routine:
        lo, hi = RISK_PRIORITY[reg.profiles[insp.enterprise].risk]
        assert lo <= insp.priority <= hi
        assert (insp.earliest, insp.latest) == (instance.horizon.start, instance.horizon.end)
        assert insp.items[0].startswith(insp.agency.split("-")[1] + "-")
    assert set(drawn.pins) == {p.inspection for p in instance.pinned} & {i.id for i in others}
    assert drawn.history == instance.history
    again = drawn_instance(instance, reg, draws, label="coordinated")
    assert again.inspections == drawn.inspections
