"""The decomposed solver: parts, capacity shares, quarters, and what the merged schedule keeps."""

from __future__ import annotations

import pickle
import time
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

import pytest

from helpers import doc, insp, load
from quietday.domain.assemble import visits_from
from quietday.domain.check import find_violations, measure, placement_violations
from quietday.domain.model import HistoryEntry, Reason
from quietday.formats import dump_instance, write_instance
from quietday.generate import GeneratorConfig, generate
from quietday.planning import files
from quietday.solver import (
    LocalPool,
    SolverConfig,
    decompose,
    partition,
    run_job,
    solve,
    start_job_server,
)
from quietday.solver.decompose import Decomposed
from quietday.solver.jobs import PartJob
from quietday.solver.partition import capacity_shares, components, plan_parts, quarters, slice_of
from quietday.solver.whole import schedule, solve_whole, summary

YEAR = {"start": "2026-01-01", "end": "2026-12-31"}


@pytest.fixture(scope="module")
def province():
    return generate(GeneratorConfig(enterprises=1200, seed=21, horizon="year", plan_rate=0.5))


def test_components_never_share_an_agency_and_lie_in_one_city(province):
    groups = components(province)
    assert len(groups) > 1
    seen: dict[str, int] = {}
    of = {e: k for k, g in enumerate(groups) for e in g}
    for i in province.inspections:
        assert seen.setdefault(i.agency, of[i.enterprise]) == of[i.enterprise], i.agency
    for g in groups:
        assert len({province.enterprises[e].region[:4] for e in g}) == 1


def test_cut_components_share_capacity_day_by_day_and_keep_pins(province):
    plan = plan_parts(province, part_size=150)
    assert plan.split_components, "part size 150 must cut some city"
    pinned: dict[tuple[int, str], dict] = defaultdict(lambda: defaultdict(set))
    part_of = {e: p.index for p in plan.parts for e in p.enterprises}
    for iid, day in province.pins.items():
        i = province.by_id[iid]
        pinned[(part_of[i.enterprise], i.agency)][day].add(i.enterprise)
    shared = {a for p in plan.parts for a in p.capacity}
    assert shared
    for agency in shared:
        holders = [p for p in plan.parts if agency in p.capacity]
        assert len(holders) > 1
        for day in province.working_days:
            total = sum(p.capacity[agency][day] for p in holders)
            assert total == province.agencies[agency].capacity_on(day), (agency, day)
            for p in holders:
                assert p.capacity[agency][day] >= len(pinned[(p.index, agency)].get(day, ()))


def test_capacity_shares_follow_the_weights_over_the_horizon(province):
    agency = next(iter(province.agencies))
    shares = capacity_shares(province, agency, [3, 1], [{}, {}])
    days = province.working_days
    first = sum(shares[0][d] for d in days)
    second = sum(shares[1][d] for d in days)
    cap = sum(province.agencies[agency].capacity_on(d) for d in days)
    assert first + second == cap
    assert abs(first - 3 * second) <= 4


def test_a_decomposed_problem_packs_only_components_under_a_quarter_part():
    """Each component over a quarter of a part is a part of its own (none is cut), the smaller
    ones share parts; a problem that fits one part stays one part."""
    quarter = generate(GeneratorConfig(enterprises=1200, seed=21, horizon="quarter"))
    sizes = sorted((len([i for i in quarter.inspections if i.enterprise in set(g)]), tuple(g))
                   for g in components(quarter))  # fmt: skip
    size = sizes[-1][0]
    big = {ents for n, ents in sizes if n > size // 4}
    small = {e for n, ents in sizes if n <= size // 4 for e in ents}
    assert big, "the quarter must have components over a quarter part"
    assert small, "the quarter must have components under a quarter part"
    plan = plan_parts(quarter, size)
    assert not plan.split_components
    alone = {tuple(sorted(p.enterprises)) for p in plan.parts}
    assert big <= alone
    packed = [p for p in plan.parts if tuple(sorted(p.enterprises)) not in big]
    assert {e for p in packed for e in p.enterprises} == small
    assert len(packed) < len([s for s in sizes if s[0] <= size // 4])
    whole = plan_parts(quarter, len(quarter.inspections))
    assert len(whole.parts) == 1
    assert not whole.decomposed


def test_quarters_cut_at_calendar_quarters():
    inst = load(doc(horizon={"start": "2026-02-10", "end": "2026-07-05"}))
    assert [(h.start.isoformat(), h.end.isoformat()) for h in quarters(inst.horizon)] == [
        ("2026-02-10", "2026-03-31"),
        ("2026-04-01", "2026-06-30"),
        ("2026-07-01", "2026-07-05"),
    ]


def test_decomposed_schedule_keeps_every_rule_and_is_no_worse_than_the_greedy(province):
    config = SolverConfig(time_limit=4, part_size=150, deterministic=True)
    result = solve(province, config)
    assert result.solution.stats.extra["decomposition"]["split_components"] > 0
    assert find_violations(province, result.solution) == []
    assert result.placement_violations == ()
    # The units' figures add up to the whole's: a run stores them without measuring again.
    assert result.metrics == measure(province, result.solution)
    greedy = solve_whole(province, replace(config, method="greedy"))
    m, g = result.metrics, greedy.metrics
    assert (m.total_priority, -m.visits) > (g.total_priority, -g.visits)
    assert result.greedy_metrics is not None
    assert result.greedy_metrics.total_priority == g.total_priority
    assert result.greedy_metrics.visits == g.visits


def test_the_decomposed_greedy_is_exactly_the_whole_greedy(province):
    config = SolverConfig(time_limit=10, part_size=150, method="greedy", processes=2)
    parts = solve(province, config)
    whole = solve_whole(province, config)
    assert parts.solution.assignment() == whole.solution.assignment()
    assert parts.solution.unscheduled == whole.solution.unscheduled


def test_a_quarters_parts_hand_their_greedy_to_the_last_stage():
    """Over one quarter an uncut part is its own unit: the greedy its worker made is the
    unit's, and together they are still exactly the greedy of the whole problem."""
    quarter = generate(GeneratorConfig(enterprises=1200, seed=21, horizon="quarter"))
    size = max(len(c) for c in components(quarter)) * 4
    config = SolverConfig(time_limit=2, part_size=size, deterministic=True, processes=2)
    plan = plan_parts(quarter, size)
    assert len(plan.parts) > 1
    assert not plan.split_components
    assert len(plan.slices) == 1
    result = solve(quarter, config)
    whole = solve_whole(quarter, replace(config, method="greedy"))
    assert result.greedy_metrics is not None
    assert summary(result.greedy_metrics) == summary(whole.metrics)
    assert find_violations(quarter, result.solution) == []
    assert result.metrics == measure(quarter, result.solution)


def test_gaps_are_reported_per_part_and_in_total(province):
    result = solve(province, SolverConfig(time_limit=2, part_size=150, deterministic=True))
    extra = result.solution.stats.extra
    lower = result.visits_lower_bound
    assert extra["visits_gap"] == round(result.metrics.visits / lower - 1, 4)
    assert extra["visits_gap"] >= 0
    for part in extra["parts"]:
        assert part["visits_gap"] == round(part["visits"] / part["visits_lower_bound"] - 1, 4)
        if part["objective_bound"] is None:
            assert part["objective_gap"] is None
        else:
            assert 0 <= part["objective_gap"] <= 1
    assert any(p["objective_gap"] is not None for p in extra["parts"])


def test_same_schedule_with_one_or_two_processes(province):
    config = SolverConfig(time_limit=2, part_size=150, deterministic=True)
    one = solve(province, config)
    two = solve(province, replace(config, processes=2))
    assert one.solution.assignment() == two.solution.assignment()
    assert one.solution.unscheduled == two.solution.unscheduled


class _EagerPool:
    """Runs each job in this process, a finished job's follow-ups before the jobs waiting,
    and records the order (kind, label)."""

    width = 2

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []

    def run(self, kind, jobs, cancel, then=None):
        todo = [(kind, job) for job in jobs]
        while todo:
            kind_, job = todo.pop(0)
            self.ran.append((kind_, job.label))
            result = run_job(kind_, job)
            todo[:0] = then(result) if then is not None else []
            yield result


def test_a_stages_jobs_are_made_as_the_pool_takes_them(province, monkeypatch):
    """Each part's or unit's instance is made when the pool takes its job, not all before the
    first: the first jobs solve while this process makes the rest."""
    made: list[str] = []

    def counted(instance, chosen, *, name):
        made.append(name)
        return real(instance, chosen, name=name)

    real = partition.sub_instance
    monkeypatch.setattr(partition, "sub_instance", counted)
    monkeypatch.setattr(decompose, "sub_instance", counted)
    taken: list[tuple[str, str, int]] = []

    class Taking:
        width = 2

        def run(self, kind, jobs, cancel, then=None):
            for job in jobs:
                taken.append((kind, job.label, len(made)))
                yield run_job(kind, job)

    config = SolverConfig(time_limit=2, part_size=150, deterministic=True)
    result = solve(province, config, pool=Taking())
    assert len({kind for kind, _, _ in taken}) == 2
    assert len(taken) > 20
    for kind, label, count in taken:
        assert made[count - 1] == label, (kind, label, "made before the jobs ahead of it ran")
    assert len(made) == len(taken)
    assert not find_violations(province, result.solution)


@pytest.mark.parametrize("cut", [False, True])
def test_a_quarters_units_start_as_their_parts_end_with_the_same_schedule(cut):
    quarter = generate(GeneratorConfig(enterprises=1200, seed=21, horizon="quarter"))
    largest = max(len(c) for c in components(quarter))
    size = largest // 2 if cut else largest * 4
    config = SolverConfig(time_limit=2, part_size=size, deterministic=True)
    plan = plan_parts(quarter, size)
    assert bool(plan.split_components) == cut
    eager = _EagerPool()
    early = solve(quarter, config, pool=eager)
    after_all = solve(quarter, config, pool=LocalPool(1))
    assert early.solution.assignment() == after_all.solution.assignment()
    assert early.solution.unscheduled == after_all.solution.unscheduled
    # An uncut part finishes as its unit in its own job; a cut component's unit runs once,
    # right after the last of its parts.
    units = {u[0]: [f"q1-p{p.index}" for p in u[2]] for u in Decomposed(
        quarter, plan, config, eager, on_progress=None, cancel=None, clock=time.monotonic,
        started=0.0).units()}  # fmt: skip
    cut_units = {unit: parts for unit, parts in units.items() if len(parts) > 1}
    assert bool(cut_units) == cut
    assert {f["unit"] for f in early.solution.stats.extra["units"]} == set(units)
    order = [label for _, label in eager.ran]
    assert sorted(label for kind, label in eager.ran if kind == "unit") == sorted(cut_units)
    assert sum(kind == "part" for kind, _ in eager.ran) == len(plan.parts)
    for unit, parts in cut_units.items():
        assert order.index(unit) == max(order.index(p) for p in parts) + 1


def _lpt_end(durations: list[float], processes: int) -> float:
    """When the last job ends, handed largest first to whichever process is free first."""
    ends = [0.0] * processes
    for d in sorted(durations, reverse=True):
        ends.sort()
        ends[0] += d
    return max(ends)


def test_part_budgets_end_together_by_the_quarters_deadline(province):
    """Five parts on two processes: sharing the time by size alone (2 x size / total) ran the
    100k quarter 12 s past its deadline; the budgets must fit the order the parts run in."""
    config = SolverConfig(time_limit=100, part_size=150, processes=2)
    plan = plan_parts(province, config.part_size)
    run = Decomposed(
        province,
        plan,
        config,
        LocalPool(config.processes),
        on_progress=None,
        cancel=None,
        clock=lambda: 0.0,
        started=0.0,
    )
    sizes = [38_900, 38_288, 37_203, 34_178, 32_511]
    budgets = [run.part_budget(size, sizes, slices_left=1) for size in sizes]
    deadline = run.solve_deadline
    assert _lpt_end(budgets, 2) == pytest.approx(deadline)
    assert budgets[0] / budgets[-1] == pytest.approx(sizes[0] / sizes[-1])
    assert _lpt_end([run.part_budget(size, sizes, slices_left=4) for size in sizes], 2) == (
        pytest.approx(deadline / 4)
    )


def _decomposed(instance, config):
    plan = plan_parts(instance, config.part_size)
    pool = LocalPool(config.processes)
    return Decomposed(
        instance, plan, config, pool, on_progress=None, cancel=None, clock=lambda: 0.0, started=0.0
    )


def test_the_quarters_leave_the_units_their_own_work(province):
    """The units' preparation, greedy, finishing pass, explanations and check are outside any
    budget. Keeping a fixed share of the limit for them ran the province year 114 s past a
    limit of 300 s; the quarters' deadline now leaves that work out, by the units' sizes as two
    processes take them, and a unit's repair gets a share of what is left beyond it."""
    config = SolverConfig(time_limit=100, part_size=150, processes=2)
    run = _decomposed(province, config)
    sizes = [sum(len(p.inspections) for p in parts) for _, _, parts in run.units()]
    assert len(sizes) > 2
    own = decompose._UNIT_SECONDS_PER_INSPECTION * _lpt_end(sizes, 2)
    assert run.last_stage == pytest.approx(own)
    assert run.solve_deadline == pytest.approx((100 - own) * (1 - decompose._FINISH_SHARE))
    assert run.repair_seconds(sizes[0], left=own, units=len(sizes)) == 0
    assert run.repair_seconds(sizes[0], left=own + 10, units=len(sizes)) > 0
    short = _decomposed(province, replace(config, time_limit=own / 2))
    assert short.solve_deadline == 0
    sized = [short.part_budget(size, sizes, slices_left=4) for size in sizes]
    assert sized == [decompose._MIN_PART_SECONDS] * len(sizes)


def test_a_one_quarter_solves_units_finish_with_their_parts():
    """Without a last stage of its own (a one-quarter solve's units finish in their parts' jobs
    or as soon as their parts end), the quarter keeps the limit less the finish share."""
    quarter = generate(GeneratorConfig(enterprises=1200, seed=21, horizon="quarter"))
    run = _decomposed(quarter, SolverConfig(time_limit=100, part_size=150, processes=2))
    assert len(run.plan.slices) == 1
    assert run.last_stage == 0
    assert run.solve_deadline == pytest.approx(100 * (1 - decompose._FINISH_SHARE))


def test_the_solve_command_counts_reading_checking_and_writing(tmp_path, monkeypatch):
    """`quietday solve --time-limit` is the whole wait: the solver gets the limit less the
    time reading took and what checking and writing take by the number of inspections (the
    province year's 2.03 M: 14.5 s here, where one second was kept)."""
    inst = _yearly_cap_instance()
    path = tmp_path / "year.json"
    write_instance(inst, path)
    ticks = iter([10.0, 11.5])
    monkeypatch.setattr(files, "_WRITE_SECONDS_PER_INSPECTION", 3.0)
    report = files.solve_file(
        path, tmp_path / "out.json", SolverConfig(time_limit=30), clock=lambda: next(ticks, 11.5)
    )
    assert len(inst.inspections) == 2
    assert report.result.solution.stats.extra["config"]["time_limit"] == pytest.approx(30 - 1.5 - 6)


def _yearly_cap_instance(**changes):
    return load(
        doc(
            name="rolling",
            horizon=YEAR,
            caps={
                "agency_enterprise_per_year": 1,
                "enterprise_per_month": None,
                "enterprise_per_year": None,
                "min_gap_days": 0,
            },
            inspections=[
                insp("Q1", earliest="2026-01-01", latest="2026-03-31", priority=5),
                insp("Q3", earliest="2026-07-01", latest="2026-09-30", priority=9),
            ],
            **changes,
        )
    )


def test_a_yearly_cap_holds_across_quarters():
    inst = _yearly_cap_instance()
    result = solve(inst, SolverConfig(time_limit=2, deterministic=True))
    assert result.solution.stats.extra["decomposition"]["quarters"] == 4
    assert find_violations(inst, result.solution) == []
    assert len(result.solution.assignment()) == 1
    (left,) = result.solution.unscheduled
    assert left.reason == Reason.CAP


def test_a_pin_in_a_later_quarter_counts_in_the_earlier_ones():
    inst = _yearly_cap_instance(pinned=[{"inspection": "Q3", "date": "2026-09-24"}])
    result = solve(inst, SolverConfig(time_limit=2, deterministic=True))
    assert find_violations(inst, result.solution) == []
    assert {k: v.isoformat() for k, v in result.solution.assignment().items()} == {
        "Q3": "2026-09-24"
    }
    assert [(u.inspection, u.reason) for u in result.solution.unscheduled] == [("Q1", Reason.CAP)]


def test_a_window_across_quarters_is_tried_again_in_the_next():
    # Agency A has no capacity left in March: the inspection goes to April, its window's rest.
    inst = load(
        doc(
            name="carry",
            horizon={"start": "2026-03-01", "end": "2026-04-30"},
            agencies=[
                {
                    "id": "A",
                    "name": "东湖区市场监督管理局",
                    "region": "360102",
                    "daily_capacity": 0,
                    "capacity_by_date": {"2026-04-24": 1},
                },
            ],
            inspections=[insp("X", earliest="2026-03-01", latest="2026-04-30")],
        )
    )
    result = solve(inst, SolverConfig(time_limit=2, deterministic=True))
    assert result.solution.stats.extra["decomposition"]["quarters"] == 2
    assert {k: v.isoformat() for k, v in result.solution.assignment().items()} == {
        "X": "2026-04-24"
    }


def test_instances_are_written_record_by_record_as_dumped(tmp_path, province):
    path = tmp_path / "p.json"
    write_instance(province, path)
    assert path.read_text(encoding="utf-8") == dump_instance(province)


def test_plan_rate_thins_the_plans():
    full = generate(GeneratorConfig(enterprises=800, seed=3))
    thin = generate(GeneratorConfig(enterprises=800, seed=3, plan_rate=0.3))
    assert 0.2 * len(full.inspections) < len(thin.inspections) < 0.4 * len(full.inspections)
    with pytest.raises(ValueError, match="plan_rate"):
        GeneratorConfig(enterprises=1, plan_rate=0)


def test_a_parts_job_pickles_back_to_the_same_problem(province):
    """Parts go to other processes as pickles; records pickle as their fields (`model.py`)."""
    plan = plan_parts(province, part_size=150)
    sub = slice_of(province, plan.parts[0], plan.slices[0], placed={}, name="p0")
    assert sub.inspections
    assert sub.history
    back = pickle.loads(pickle.dumps(sub, protocol=pickle.HIGHEST_PROTOCOL))
    assert back.inspections == sub.inspections
    assert back.history == sub.history
    assert back.enterprises == sub.enterprises
    assert back.agencies == sub.agencies
    assert back.pins == sub.pins
    visits = visits_from(sub, {sub.inspections[0].id: sub.inspections[0].earliest})
    assert pickle.loads(pickle.dumps(visits)) == visits


def test_a_later_quarters_part_leaves_out_enterprises_with_nothing_to_place(province):
    """A part of the second quarter holds only the enterprises it places inspections of, and
    their history; solved, it gives the schedule that the part with every enterprise and all
    their dates as history gives."""
    plan = plan_parts(province, part_size=150)
    part = max(plan.parts, key=lambda p: len(p.inspections))
    config = SolverConfig(time_limit=1, deterministic=True)
    first = slice_of(province, part, plan.slices[0], placed={}, name="q1")
    placed = schedule(first, config).assignment
    sub = slice_of(province, part, plan.slices[1], placed=placed, name="q2")
    ents = {i.enterprise for i in sub.inspections}
    assert set(sub.enterprises) == ents < part.enterprises
    assert {h.enterprise for h in sub.history} <= ents
    dropped = part.enterprises - ents
    earlier = [
        HistoryEntry(i.enterprise, i.agency, placed[i.id], i.kind)
        for i in part.inspections
        if i.enterprise in dropped and i.id in placed and i.capped
    ]
    assert earlier, "some enterprise must have had its dates in the first quarter only"
    whole = replace(
        sub,
        enterprises={e: province.enterprises[e] for e in sorted(part.enterprises)},
        history=(*sub.history, *(h for h in part.history if h.enterprise in dropped), *earlier),
    )
    assert schedule(sub, config).assignment == schedule(whole, config).assignment


def test_the_units_judge_the_placement_rules_as_the_whole_does(province):
    """A decomposed solve's placement check is made unit by unit in its workers; no rule links
    two units, so on any assignment, however broken, their verdicts add up to the whole's."""
    plan = plan_parts(province, part_size=150)
    greedy = solve_whole(province, SolverConfig(method="greedy"))
    assignment = greedy.solution.assignment()
    first = province.horizon.start
    span = (province.horizon.end - first).days + 1
    days = [first + timedelta(k) for k in range(span)]
    days = [d for d in days if d.day <= 20 or d.weekday() >= 5]
    broken = {i: (days[k % len(days)] if k % 5 == 0 else d)
              for k, (i, d) in enumerate(sorted(assignment.items()))}  # fmt: skip
    whole = placement_violations(province, broken)
    assert len({v.code for v in whole}) >= 3
    d = Decomposed(province, plan, SolverConfig(), LocalPool(1), on_progress=None, cancel=None,
                   clock=time.monotonic, started=time.monotonic())  # fmt: skip
    units = d.units()
    jobs = [d._unit_job(u, broken, 0.0, len(units)) for u in units]
    assert sum(len(j.instance.inspections) for j in jobs) == len(province.inspections)
    by_units = [v for j in jobs for v in placement_violations(j.instance, j.assignment)]
    assert sorted(map(repr, by_units)) == sorted(map(repr, whole))


def test_a_large_files_worker_processes_are_made_ready_while_it_is_read(
    province, tmp_path, monkeypatch
):
    """`solve_file` starts the server that forks the parts' processes before it reads a file
    of more bytes than a part's inspections take, and not for a smaller file; the parts then
    run on that server."""
    path = tmp_path / "province.json"
    write_instance(province, path)
    events: list[str] = []
    real_load = files.load_instance

    def start() -> None:
        events.append("server")
        start_job_server()

    def read(source):
        events.append("read")
        return real_load(source)

    monkeypatch.setattr(files, "start_job_server", start)
    monkeypatch.setattr(files, "load_instance", read)
    config = SolverConfig(time_limit=10, part_size=150, method="greedy", processes=2)
    report = files.solve_file(path, tmp_path / "parts.json", config)
    assert events == ["server", "read"]
    assert report.violations == []
    assert report.result.solution.stats.extra["decomposition"]["parts"] > 1
    events.clear()
    whole = replace(config, part_size=path.stat().st_size)
    files.solve_file(path, tmp_path / "whole.json", whole)
    assert events == ["read"]


def test_the_local_pool_takes_a_job_only_when_a_process_is_about_to_be_free(province):
    """A job is made only when at most as many jobs as processes are on their way (one more
    than processes at most): the pool never holds every part's instance at once."""
    plan = plan_parts(province, part_size=150)
    config = SolverConfig(time_limit=0.2, method="greedy")
    results: list[str] = []
    ahead: list[int] = []

    def jobs():
        for part in plan.parts[:8]:
            label = f"p{part.index}"
            ahead.append(len(ahead) - len(results))
            yield PartJob(label, slice_of(province, part, plan.slices[0], placed={}, name=label),
                          config)  # fmt: skip

    for done in LocalPool(2).run("part", jobs(), None):
        results.append(done.label)
    assert sorted(results) == sorted(f"p{p.index}" for p in plan.parts[:8])
    assert max(ahead) == 2, ahead
