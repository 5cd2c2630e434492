"""OR-Tools (with the pandas and numpy its Python layer loads) is loaded by a process that
searches, and by no other: not by the web app, the command line, a greedy solve or a solve
with too little time left to search. Nor does `quietday solve` load the web and database
stacks or the service's settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from quietday.generate import GeneratorConfig
from quietday.planning import generate_file

_SOLVES = """
import itertools, json, sys
import quietday.api.app, quietday.cli
from quietday.generate import GeneratorConfig, generate
from quietday.solver import SolverConfig, solve

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & {"ortools", "pandas"})

seen = [loaded()]
instance = generate(GeneratorConfig(enterprises=300, seed=1, counties=1))
solve(instance, SolverConfig(time_limit=5, method="greedy"))
seen.append(loaded())
# 0.3 s left after the greedy and the polish: less than loading OR-Tools takes.
ticks = itertools.chain([0.0, 0.0], itertools.repeat(0.6))
quick = solve(instance, SolverConfig(time_limit=1.0), clock=lambda: next(ticks))
seen.append(loaded())
result = solve(instance, SolverConfig(time_limit=2))
seen.append(loaded())
strategies = [r.solution.stats.extra["strategy"] for r in (quick, result)]
print(json.dumps([seen, strategies]))
"""

_PRELOADED = """
import importlib, json, sys
from quietday.planning import parts
from quietday.solver import pool

loaded = "ortools.sat.python.cp_model" in sys.modules
for name in {server}._PRELOAD:
    if name != "__main__":
        importlib.import_module(name)
print(json.dumps([loaded, "ortools.sat.python.cp_model" in sys.modules]))
"""


_CLI_SOLVE = """
import json, sys
from quietday.cli import app

sys.argv = ["quietday", "solve", {instance!r}, "--out", {out!r}, "--time-limit", "1"]
app(standalone_mode=False)
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {{
    "fastapi", "sqlalchemy", "sqlmodel", "pydantic_settings"
}})))
"""


def _run(code: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_only_a_search_loads_or_tools() -> None:
    seen, strategies = _run(_SOLVES)  # type: ignore[misc]
    assert seen == [[], [], [], ["ortools", "pandas"]]
    assert strategies == ["no_search", "whole"]


@pytest.mark.parametrize("server", ["pool", "parts"])
def test_the_pools_processes_start_with_or_tools_loaded(server: str) -> None:
    """Each part or unit runs in a fresh process forked from a server, the local pool's or a
    queue worker's: the search is loaded there once, not by each process (0.65 s each)."""
    assert _run(_PRELOADED.format(server=server)) == [False, True]


def test_the_solve_command_loads_no_web_database_or_settings(tmp_path: Path) -> None:
    """What `quietday solve` imports is what a planner waits for: 0.1 s for the settings alone."""
    instance, out = tmp_path / "county.json", tmp_path / "solution.json"
    generate_file(GeneratorConfig(enterprises=300, seed=1, counties=1), instance)
    assert _run(_CLI_SOLVE.format(instance=str(instance), out=str(out))) == []
    assert out.exists()
