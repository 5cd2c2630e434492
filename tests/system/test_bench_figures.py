"""What the load benchmark reads off wrk's report (its bars are decided from these figures),
and the distributed benchmark's probe of what two processes give."""

from __future__ import annotations

import json

from benchmarks.distributed import _pair_probe
from benchmarks.load import _ms, _wrk_figures
from benchmarks.scale import _verified
from quietday.formats import write_instance, write_solution
from quietday.generate import GeneratorConfig, generate
from quietday.solver import SolverConfig
from quietday.solver.whole import solve_whole

REPORT = """Running 1m test @ http://127.0.0.1:41234
  2 threads and 196 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    95.10ms  110.21ms   1.20s    88.52%
    Req/Sec   162.30     40.12   280.00     70.00%
  Latency Distribution
     50%   78.22ms
     75%  120.00ms
     90%  210.00ms
     99%    1.02s
  19393 requests in 1.00m, 95.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    322.75
Transfer/sec:      1.58MB
"""


def test_latencies_in_milliseconds() -> None:
    assert _ms("850.00us") == 0.85
    assert _ms("78.22ms") == 78.22
    assert _ms("1.02s") == 1020.0
    assert _ms("") is None


def test_a_wrk_report_read_whole() -> None:
    assert _wrk_figures(REPORT) == {
        "requests": 19393,
        "requests_per_second": 322.75,
        "p50_ms": 78.22,
        "p99_ms": 1020.0,
        "non_2xx_3xx": 7,
        "socket_errors": 5,
    }


def test_the_pair_probe_times_one_part_alone_and_two_copies_at_once() -> None:
    instance = generate(GeneratorConfig(enterprises=300, seed=5, horizon="quarter"))
    probe = _pair_probe(instance, limit=0.5, rounds=1)
    assert probe["inspections"] == len(instance.inspections)  # one part: the whole quarter
    [alone] = probe["alone_seconds"]
    [pair] = probe["pair_seconds"]
    assert alone > 0
    assert len(pair) == 2
    assert 0 < pair[0] <= pair[1]
    assert probe["two_process_throughput"] == round(2 * alone / pair[1], 3)


def test_the_scale_bench_reads_the_verifiers_verdict(tmp_path) -> None:
    """The scale benchmark's bar on unscheduled inspections is the verifier's own count: 0 on
    an honest schedule, and more once a placed inspection is listed as unscheduled instead."""
    instance = generate(GeneratorConfig(enterprises=300, seed=3, horizon="quarter"))
    result = solve_whole(instance, SolverConfig(method="greedy"))
    write_instance(instance, tmp_path / "instance.json")
    write_solution(result.solution, tmp_path / "honest.json")
    assert _verified(tmp_path / "instance.json", tmp_path / "honest.json") == {
        "violations": 0,
        "one_move_placements": 0,
    }
    doc = json.loads((tmp_path / "honest.json").read_text(encoding="utf-8"))
    visit = next(v for v in doc["visits"] if len(v["inspections"]) > 1)
    left = visit["inspections"].pop()
    doc["unscheduled"].append({"inspection": left, "reason": "capacity", "detail": "部门能力已满"})
    (tmp_path / "dropped.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    verdict = _verified(tmp_path / "instance.json", tmp_path / "dropped.json")
    assert verdict["violations"] >= 1
