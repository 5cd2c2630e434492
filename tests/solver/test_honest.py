"""Unscheduled reasons judged by the independent verifier (tests/verifier.py, written from the
spec alone): it catches a false `priority`, a free day and a false `cap` in hand-made solutions,
and finds nothing to say against the solver on the spec's example, the golden county and a
small generated county (no false reason, no inspection one move would place)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from helpers import FIXTURES, doc, insp
from quietday.domain.explain import explain_unscheduled
from quietday.domain.model import Status
from quietday.formats import dump_instance, dump_solution, parse_instance
from quietday.generate import GeneratorConfig, generate
from quietday.solver import SolverConfig, local, solve, whole
from quietday.solver.whole import schedule, solve_whole
from verifier import Verdict, verify

D1, D2 = "2026-07-21", "2026-07-22"
ONE_A_DAY = [{"id": "A", "name": "东湖区市场监督管理局", "region": "360102", "daily_capacity": 1}]


def _solution(visits: dict[str, list[str]], unscheduled: dict[str, str]) -> dict[str, Any]:
    """A solution of one visit per enterprise-day `E1@2026-07-21` -> its inspections."""
    return {
        "format": "quietday.solution/1",
        "instance": "tiny",
        "visits": [
            {"enterprise": k.split("@")[0], "date": k.split("@")[1], "inspections": ids}
            for k, ids in visits.items()
        ],
        "unscheduled": [
            {"inspection": i, "reason": r, "detail": "手工"} for i, r in unscheduled.items()
        ],
    }


def _full_day(occupant_latest: str) -> dict[str, Any]:
    """A's only unit on D1 is E1's a1 (priority 9); E2's w (priority 1) can only come on D1."""
    return doc(
        agencies=ONE_A_DAY,
        inspections=[
            insp("a1", enterprise="E1", priority=9, earliest=D1, latest=occupant_latest),
            insp("w", enterprise="E2", **{"earliest": D1, "latest": D1}),
        ],
    )


def test_a_false_priority_is_caught_when_the_occupant_could_move() -> None:
    verdict = verify(_full_day(D2), _solution({f"E1@{D1}": ["a1"]}, {"w": "priority"}))
    assert len(verdict.violations) == 1
    assert "priority 不成立" in verdict.violations[0]
    assert "['a1'] 挪到 2026-07-22" in verdict.violations[0]
    assert len(verdict.improvements) == 1


def test_a_true_priority_passes_when_the_occupant_cannot_move() -> None:
    verdict = verify(_full_day(D1), _solution({f"E1@{D1}": ["a1"]}, {"w": "priority"}))
    assert verdict == Verdict([], [])


def test_a_free_day_is_caught() -> None:
    # a1 moved to D2 leaves D1 free for w, which the solution leaves out anyway.
    verdict = verify(_full_day(D2), _solution({f"E1@{D2}": ["a1"]}, {"w": "capacity"}))
    assert len(verdict.violations) == 1
    assert "无任何规则阻挡" in verdict.violations[0]


def test_a_cap_named_where_capacity_blocks_is_caught() -> None:
    verdict = verify(_full_day(D1), _solution({f"E1@{D1}": ["a1"]}, {"w": "cap"}))
    assert len(verdict.violations) == 1
    assert "原因 cap" in verdict.violations[0]


def test_a_cheaper_occupant_refutes_priority() -> None:
    d = _full_day(D1)
    d["inspections"][0]["priority"] = 1
    d["inspections"][1]["priority"] = 5
    verdict = verify(d, _solution({f"E1@{D1}": ["a1"]}, {"w": "priority"}))
    assert len(verdict.violations) == 1
    assert "取消" in verdict.violations[0]


def _judged(instance_text: str, solution_text: str) -> Verdict:
    return verify(json.loads(instance_text), json.loads(solution_text))


def _solved(instance_text: str, time_limit: float) -> Verdict:
    instance = parse_instance(instance_text)
    config = SolverConfig(time_limit=time_limit, deterministic=True, workers=2, seed=0)
    return _judged(instance_text, dump_solution(solve(instance, config).solution))


def test_the_spec_example_is_explained_honestly() -> None:
    assert _solved((FIXTURES / "spec-example-valid.json").read_text("utf-8"), 2.0) == Verdict(
        [], []
    )


def test_the_golden_solution_is_explained_honestly() -> None:
    golden = FIXTURES / "golden"
    verdict = _judged(
        (golden / "instance.json").read_text("utf-8"), (golden / "solution.json").read_text("utf-8")
    )
    assert verdict == Verdict([], [])


@pytest.mark.parametrize("seed", [3, 7])
def test_a_generated_county_is_explained_honestly(seed: int) -> None:
    instance = generate(GeneratorConfig(enterprises=400, seed=seed, counties=1))
    assert _solved(dump_instance(instance), 2.0) == Verdict([], [])


def _jumping(later: float) -> Callable[[], float]:
    """A clock that reads 0 first, then `later` for ever."""
    ticks = itertools.chain([0.0], itertools.repeat(later))
    return lambda: next(ticks)


@pytest.mark.parametrize(
    ("limit", "later", "strategy"),
    [
        pytest.param(5.0, 1000.0, "out_of_time", id="greedy_used_the_time_up"),
        # 0.3 s left after the polish, in a process that has not loaded OR-Tools.
        pytest.param(1.0, 0.6, "no_search", id="no_time_to_load_or_tools"),
    ],
)
def test_a_solve_without_a_search_still_places_what_fits(
    limit: float, later: float, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the greedy has used the time up (the clock jumps past the deadline), or the polish
    leaves less time than loading OR-Tools takes, no search is made, and the finishing pass
    still leaves nothing out that fits or one move places. It goes on from the schedule the
    polish indexed (0.07 s of a county's 2-second solve to index again)."""
    monkeypatch.setattr(whole, "_or_tools_loaded", lambda: False)
    indexed: list[int] = []
    index = local.Schedule.__init__

    def counted(s: local.Schedule, *args: Any) -> None:
        indexed.append(1)
        index(s, *args)

    monkeypatch.setattr(local.Schedule, "__init__", counted)
    instance = generate(GeneratorConfig(enterprises=400, seed=3, counties=1))
    config = SolverConfig(time_limit=limit, workers=1)
    result = solve_whole(instance, config, clock=_jumping(later))
    stats = result.solution.stats
    assert stats is not None
    assert stats.extra["strategy"] == strategy
    assert "search" not in result.timings
    assert ("polish" in result.timings) == (strategy == "no_search")
    assert result.greedy_metrics is not None
    assert result.metrics.total_priority > result.greedy_metrics.total_priority
    assert len(indexed) == 1
    text = dump_instance(instance)
    assert _judged(text, dump_solution(result.solution)) == Verdict([], [])


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(None, id="searched"),
        pytest.param(0.6, id="no_search"),  # 0.3 s left after the polish, OR-Tools not loaded
        pytest.param(1000.0, id="out_of_time"),  # the limit used up by the greedy
    ],
)
def test_explanations_are_made_on_the_finishing_passs_own_state(
    later: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule state the finishing pass leaves is handed to the explanations instead of being
    made again: it holds exactly the schedule, and the explanations made on it are those made
    on a fresh state, and leave it as it was."""
    monkeypatch.setattr(whole, "_or_tools_loaded", lambda: False)
    instance = generate(GeneratorConfig(enterprises=400, seed=3, counties=1))
    clock = time.monotonic if later is None else _jumping(later)
    done = schedule(instance, SolverConfig(time_limit=1.0, workers=1), clock=clock)
    assert done.state is not None
    held = {
        (iid, day)
        for ent in instance.enterprises
        for day, iids in done.state.visits_of(ent).items()
        for iid in iids
    }
    assert held == set(done.assignment.items())
    fresh = explain_unscheduled(instance, done.assignment)
    assert fresh
    assert explain_unscheduled(instance, done.assignment, state=done.state) == fresh
    assert explain_unscheduled(instance, done.assignment, state=done.state) == fresh


def test_the_finishing_pass_goes_on_from_what_the_search_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last polish starts from the search's schedule, not from the one the search began
    with (which would throw away what it found)."""
    instance = generate(GeneratorConfig(enterprises=400, seed=3, counties=1))
    found: list[dict[str, Any]] = []

    def search(*args: Any) -> tuple[dict[str, Any], Status, None]:
        found.append(dict(args[2]))  # as good as what it was given: kept
        return found[-1], Status.TIME_LIMIT, None

    starts: list[object] = []
    real_polish = whole.polish

    def polish(prepared: Any, start: Any, **kwargs: Any) -> Any:
        starts.append(start)
        return real_polish(prepared, start, **kwargs)

    monkeypatch.setattr(whole, "_search", search)
    monkeypatch.setattr(whole, "polish", polish)
    schedule(instance, SolverConfig(time_limit=5.0, workers=1, deterministic=True))
    assert len(found) == 1
    assert len(starts) == 2
    assert starts[1] is found[0]
