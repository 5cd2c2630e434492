"""A run's progress moves with its solve and speaks Chinese (on both databases)."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

from quietday.generate import GeneratorConfig, generate
from quietday.persistence import Engine, session_scope
from quietday.persistence.runs import RunRepository
from quietday.planning.keys import Actor, create_key
from quietday.planning.province import load_province
from quietday.planning.runs import RunRequest, create_run, execute_run

PHASES = re.compile(r"\b(prepare|greedy|polish|build|search|finish|explain)\b")


def test_progress_moves_while_a_run_solves(engine: Engine) -> None:
    province = generate(GeneratorConfig(enterprises=400, seed=5, counties=2))
    horizon = province.horizon
    with session_scope(engine, actor="test") as s:
        load_province(s, province)
        key, _ = create_key(s, role="supervisor")
        actor = Actor(key_id=int(key.id or 0), role="supervisor", agency_id=None)
        request = RunRequest(horizon.start, horizon.end, time_limit=6, workers=1)
        run_id = int(
            create_run(
                s,
                actor,
                request,
                today=horizon.start - timedelta(days=1),
                max_time_limit=60,
                max_workers=2,
            ).id
            or 0
        )
    solving = threading.Thread(target=execute_run, args=(engine, run_id))
    solving.start()
    seen: list[tuple[float, str]] = []
    stages: list[str] = []
    while solving.is_alive():
        with session_scope(engine) as s:
            row = RunRepository(s).get_or_raise(run_id)
            seen.append((row.progress, row.message))
            if not stages or stages[-1] != row.stage:
                stages.append(row.stage)
        time.sleep(0.25)
    solving.join()
    with session_scope(engine) as s:
        final = RunRepository(s).get_or_raise(run_id)
        assert (final.status, final.progress, final.message) == ("succeeded", 1.0, "完成")
        assert final.stage == "done"
    # The stages come in order (a quick one may pass between two looks), solving among them,
    # and while solving the share stays between the instance built (5 %) and the check (96 %).
    order = ["queued", "build", "solve", "check", "store", "done"]
    assert [order.index(st) for st in stages] == sorted(order.index(st) for st in stages)
    assert "solve" in stages, stages
    shares = [p for p, _ in seen]
    assert shares == sorted(shares)
    assert len({p for p in shares if 0.05 <= p <= 0.95}) >= 3, seen
    for _, message in seen:
        assert re.search(r"[\u4e00-\u9fff]", message), message
        assert not PHASES.search(message), message
