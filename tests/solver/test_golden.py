"""Golden files: a generated county and its deterministic schedule, byte for byte.

After an intended change, refresh them with
`QUIETDAY_UPDATE_GOLDEN=1 pytest tests/solver/test_golden.py` and review the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import FIXTURES
from quietday.domain import find_violations
from quietday.formats import dump_instance, dump_solution, parse_instance
from quietday.generate import GeneratorConfig, generate
from quietday.solver import SolverConfig, solve

GOLDEN = FIXTURES / "golden"
CONFIG = GeneratorConfig(enterprises=120, seed=11, counties=1)
SOLVER = SolverConfig(time_limit=0.5, deterministic=True, workers=2, seed=0)
UPDATE = os.environ.get("QUIETDAY_UPDATE_GOLDEN") == "1"


def compare(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    assert path.read_text("utf-8") == text, f"{path.name} changed; see this module's docstring"


def test_generator_golden() -> None:
    compare(GOLDEN / "instance.json", dump_instance(generate(CONFIG)))


def test_solution_golden() -> None:
    instance = parse_instance((GOLDEN / "instance.json").read_bytes())
    result = solve(instance, SOLVER)
    assert find_violations(instance, result.solution) == []
    compare(GOLDEN / "solution.json", dump_solution(result.solution))


@pytest.mark.slow
def test_neighbourhood_search_is_deterministic_too() -> None:
    """Large enough for neighbourhoods instead of one model: still the same bytes twice."""
    instance = generate(GeneratorConfig(enterprises=1500, seed=4, counties=1))
    config = SolverConfig(time_limit=3.0, deterministic=True, workers=2, seed=3)
    first = solve(instance, config)
    assert first.solution.stats is not None
    assert first.solution.stats.extra["strategy"] == "neighbourhoods"
    second = solve(instance, config)
    assert dump_solution(second.solution) == dump_solution(first.solution)
