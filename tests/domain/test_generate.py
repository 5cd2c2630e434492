"""The generated province: reproducible, Jiangxi-shaped, valid codes, pins that obey the rules."""

from __future__ import annotations

from collections import Counter

from quietday.domain.uscc import uscc_problem
from quietday.formats import dump_instance, parse_instance
from quietday.generate import CITIES, GeneratorConfig, generate, registry


def test_same_seed_same_instance_and_other_seed_differs() -> None:
    cfg = GeneratorConfig(enterprises=200, seed=5)
    assert dump_instance(generate(cfg)) == dump_instance(generate(cfg))
    assert dump_instance(generate(GeneratorConfig(enterprises=200, seed=6))) != dump_instance(
        generate(cfg)
    )


def test_province_shape() -> None:
    assert len(CITIES) == 11
    assert sum(n for _, _, n in CITIES) == 100
    inst = generate(GeneratorConfig(enterprises=3000, seed=1))
    county_agencies = [a for a in inst.agencies if not a.split("-")[0].endswith("00")]
    city_agencies = [a for a in inst.agencies if a.split("-")[0].endswith("00")]
    assert len(county_agencies) == 100 * 10
    assert len(city_agencies) == 11 * 3
    assert len({e.region for e in inst.enterprises.values()}) > 80


def test_realistic_mix_and_valid_records() -> None:
    inst = generate(GeneratorConfig(enterprises=2000, seed=3, counties=4))
    kinds = Counter(i.kind.value for i in inst.inspections)
    assert kinds["routine"] > kinds["special"] > 0
    assert kinds["case"] > 0
    assert kinds["requested"] > 0
    assert any(i.exempt_reason for i in inst.inspections)
    assert any(e.whitelisted for e in inst.enterprises.values())
    assert any(e.blackout for e in inst.enterprises.values())
    assert inst.history
    assert inst.pinned
    assert inst.previous
    assert all(uscc_problem(e) is None for e in inst.enterprises)
    assert 1.5 <= len(inst.inspections) / len(inst.enterprises) <= 2.5


def test_generated_instance_reads_back_with_its_pins_checked() -> None:
    inst = generate(GeneratorConfig(enterprises=1500, seed=9, counties=2))
    again = parse_instance(dump_instance(inst))
    assert len(again.pins) == len(inst.pinned) > 0


def test_year_horizon() -> None:
    inst = generate(GeneratorConfig(enterprises=100, seed=2, horizon="year"))
    assert (inst.horizon.start.isoformat(), inst.horizon.end.isoformat()) == (
        "2026-01-01",
        "2026-12-31",
    )
    assert {(i.earliest.month - 1) // 3 for i in inst.inspections} == {0, 1, 2, 3}


def test_the_registry_is_the_one_behind_the_instance() -> None:
    cfg = GeneratorConfig(enterprises=300, seed=4)
    instance = generate(cfg)
    reg = registry(cfg)
    assert set(reg.profiles) == set(instance.enterprises)
    assert {p.risk for p in reg.profiles.values()} == {"A", "B", "C", "D"}
    assert set(reg.agency_sectors) == set(instance.agencies)
    whitelisted = [e for e in instance.enterprises.values() if e.whitelisted]
    assert whitelisted
    assert all(reg.profiles[e.id].risk == "A" for e in whitelisted)
