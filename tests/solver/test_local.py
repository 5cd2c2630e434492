"""The local search's relieve move (one ejection) on blocked days (capacity 1 here): an occupant
moved aside onto another of its visit days, or onto a new day when it has none, an occupant of
lower priority dropped, the enterprise's own inspection carried off a month its cap has used up
(onto the waiting one's day: one visit); a day relieve remembers as stuck (neither worked)
tried again once a move changes it, and still given to what outranks its cheapest occupant;
and a polish cut short at once still places what fits and merges what shares a day (the
finishing pass)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from helpers import doc, insp, load
from quietday.domain.model import EnterpriseId, Inspection, InspectionId, Instance, Reason
from quietday.generate import GeneratorConfig, generate
from quietday.solver import local
from quietday.solver.greedy import greedy
from quietday.solver.local import Schedule, polish, relieve
from quietday.solver.prepare import prepare

D1, D2, D4 = "2026-07-21", "2026-07-22", "2026-07-24"


def _agencies() -> list[dict[str, Any]]:
    return [
        {"id": "A", "name": "东湖区市场监督管理局", "region": "360102", "daily_capacity": 1},
        {"id": "B", "name": "东湖区消防救援大队", "region": "360102", "daily_capacity": 1},
    ]


def _enterprises(n: int) -> list[dict[str, Any]]:
    policy = {"region": "360102", "quiet_policy": "jx-1-20"}
    return [{"id": f"E{k}", "name": f"江西{k}号实业有限公司", **policy} for k in range(1, n + 1)]


def _on(day: str, **kw: Any) -> dict[str, Any]:
    return {"earliest": day, "latest": day, **kw}


def _relieved(
    inspections: list[dict[str, Any]],
    placed: dict[str, str],
    waiting: list[str],
    caps: dict[str, int | None] | None = None,
) -> tuple[int, dict[InspectionId, date]]:
    changes: dict[str, Any] = {"caps": {**doc()["caps"], **caps}} if caps else {}
    inst = load(
        doc(agencies=_agencies(), enterprises=_enterprises(5), inspections=inspections, **changes)
    )
    prepared = prepare(inst)
    s = Schedule(prepared, {InspectionId(i): date.fromisoformat(d) for i, d in placed.items()})
    n = relieve(s, [inst.by_id[InspectionId(i)] for i in waiting])
    return n, s.at


def _days(at: dict[InspectionId, date]) -> dict[str, str]:
    return {str(i): d.isoformat() for i, d in sorted(at.items())}


def test_an_occupant_with_another_visit_day_moves_aside() -> None:
    n, at = _relieved(
        [
            insp("a1", enterprise="E1", priority=9),
            insp("b1", agency="B", enterprise="E1", **_on(D2)),
            insp("w", enterprise="E2", **_on(D1)),
        ],
        {"a1": D1, "b1": D2},
        ["w"],
    )
    assert n == 1
    assert _days(at) == {"a1": D2, "b1": D2, "w": D1}


def test_an_occupant_without_another_visit_day_moves_to_a_new_day() -> None:
    n, at = _relieved(
        [insp("a1", enterprise="E1", priority=9), insp("w", enterprise="E2", **_on(D1))],
        {"a1": D1},
        ["w"],
    )
    assert (n, _days(at)) == (1, {"a1": "2026-07-31", "w": D1})


def test_an_occupant_of_lower_priority_is_dropped_and_a_higher_one_kept() -> None:
    w = insp("w", enterprise="E2", priority=3, **_on(D1))
    low = _relieved([insp("a1", enterprise="E1", priority=2, **_on(D1)), w], {"a1": D1}, ["w"])
    assert (low[0], _days(low[1])) == (1, {"w": D1})
    high = _relieved([insp("a1", enterprise="E1", priority=3, **_on(D1)), w], {"a1": D1}, ["w"])
    assert (high[0], _days(high[1])) == (0, {"a1": D1})


def test_a_month_used_up_by_the_enterprise_itself_is_freed_by_carrying_its_inspection() -> None:
    # E1's July is used by a1 (one date a month); w, of another agency, can only come on D2.
    n, at = _relieved(
        [
            insp("a1", enterprise="E1", latest="2026-08-31"),
            insp("w", agency="B", enterprise="E1", priority=5, **_on(D2)),
        ],
        {"a1": D1},
        ["w"],
        caps={"enterprise_per_month": 1},
    )
    assert (n, _days(at)) == (1, {"a1": D2, "w": D2})


def test_a_stuck_day_is_tried_again_once_a_move_frees_its_occupant() -> None:
    # A's D1 is E1's a1, which cannot be carried to D2 (its only other day: too close to E1's
    # b1 on D4, the gap being 3 days) nor be dropped for w1. Relieving w2 drops b1 from B's D4:
    # now a1 can go to D2, and w3 (waiting for A's D1 too, after w1) takes its place.
    n, at = _relieved(
        [
            insp("a1", enterprise="E1", priority=10, earliest=D1, latest=D2),
            insp("b1", agency="B", enterprise="E1", priority=1, **_on(D4)),
            insp("w1", enterprise="E2", priority=9, **_on(D1)),
            insp("w2", agency="B", enterprise="E5", priority=8, **_on(D4)),
            insp("w3", enterprise="E4", priority=7, **_on(D1)),
        ],
        {"a1": D1, "b1": D4},
        ["w1", "w2", "w3"],
        caps={"min_gap_days": 3},
    )
    assert n == 2
    assert _days(at) == {"a1": D2, "w2": D4, "w3": D1}


def test_a_stuck_day_still_goes_to_what_outranks_its_cheapest_occupant() -> None:
    # w1 finds A's D1 stuck (a1 cannot go aside, and outranks it); w2, after it, outranks a1.
    n, at = _relieved(
        [
            insp("a1", enterprise="E1", priority=5, **_on(D1)),
            insp("w1", enterprise="E2", priority=4, **_on(D1)),
            insp("w2", enterprise="E3", priority=6, **_on(D1)),
        ],
        {"a1": D1},
        ["w1", "w2"],
    )
    assert (n, _days(at)) == (1, {"w2": D1})


def test_a_polish_stopped_at_once_still_places_what_fits() -> None:
    inst = load(
        doc(
            agencies=_agencies(),
            enterprises=_enterprises(2),
            inspections=[
                insp("a1", enterprise="E1", **_on(D1)),
                insp("b1", agency="B", enterprise="E1"),
                insp("a2", enterprise="E2", **_on(D1)),
            ],
        )
    )
    placed = polish(
        prepare(inst), {InspectionId("a1"): date.fromisoformat(D1)}, should_stop=lambda: True
    ).assignment
    assert _days(placed) == {"a1": D1, "b1": D1}


@pytest.mark.parametrize(
    ("rounds", "stopped"),
    [
        pytest.param(0, False, id="no_rounds"),
        pytest.param(4, True, id="stopped_at_once"),
        pytest.param(4, False, id="rounds_run"),
    ],
)
def test_the_finishing_pass_merges_visits_the_rounds_left_apart(rounds: int, stopped: bool) -> None:
    """E1 is visited on D1 by A and on D2 by B, both free to move, nothing waiting: whether
    the rounds ran (their merge), were stopped at once or not given, it ends as one visit."""
    inst = load(
        doc(
            agencies=_agencies(),
            enterprises=_enterprises(1),
            inspections=[insp("a1", earliest=D1, latest=D2), insp("b1", agency="B")],
        )
    )
    start = {InspectionId("a1"): date.fromisoformat(D1), InspectionId("b1"): date.fromisoformat(D2)}
    placed = polish(prepare(inst), start, rounds=rounds, should_stop=lambda: stopped).assignment
    assert set(placed) == set(start)
    assert len(set(placed.values())) == 1


@pytest.mark.parametrize("rival_door", [True, False], ids=["rival_visited_again", "rival_once"])
def test_a_merge_moves_a_rival_aside_onto_its_other_visit_day(rival_door: bool) -> None:
    """E1 is visited on D1 by A and on D2 by B (fixed); A's one unit on D2 is E2's. When E2 is
    visited on D4 too, its A inspection goes there and E1's joins D2: one door fewer each.
    When D2 is E2's only visit, nothing moves (it would open a door)."""
    inspections = [
        insp("a1", earliest=D1, latest=D2),
        insp("b1", agency="B", **_on(D2)),
        insp("a2", enterprise="E2", earliest=D2, latest=D4),
    ]
    start = {"a1": D1, "b1": D2, "a2": D2}
    if rival_door:
        inspections.append(insp("b2", agency="B", enterprise="E2", **_on(D4)))
        start["b2"] = D4
    inst = load(doc(agencies=_agencies(), enterprises=_enterprises(2), inspections=inspections))
    s = Schedule(prepare(inst), {InspectionId(i): date.fromisoformat(d) for i, d in start.items()})
    merged = local.merge(s, [EnterpriseId("E1")])
    if rival_door:
        assert (merged, _days(s.at)) == (1, {"a1": D2, "a2": D4, "b1": D2, "b2": D4})
    else:
        assert (merged, _days(s.at)) == (0, start)


def _waiting_for_a_cap(s: Schedule, waiting: list[Inspection]) -> set[EnterpriseId]:
    """Enterprises where an inspection waits for a cap (the month's, the agency's) on a day."""
    return {
        i.enterprise
        for i in waiting
        if i.id not in s.at
        for d in s.prepared.candidates[i.id]
        if any(b.reason == Reason.CAP for b in s.state.blockers(i, d))
    }


def _shake(s: Schedule, moved: list[Inspection], rng: random.Random) -> None:
    """Take each of `moved` off, and put half of them on another day where it fits."""
    for one in moved:
        s.take(one)
        days = [d for d in s.prepared.candidates[one.id] if s.fits(one, d)]
        if days and rng.random() < 0.5:
            s.put(one, rng.choice(days))


@pytest.mark.parametrize(("seed", "month_cap"), [(3, 2), (7, 2), (7, 1)])
def test_what_a_change_may_let_in_holds_every_inspection_it_lets_in(
    seed: int, month_cap: int
) -> None:
    """After a fill that placed all it could, and random moves (taken off, moved elsewhere):
    every waiting inspection `_reached` leaves out still fits no day, and some it keeps do.
    Caps of two days a month per enterprise (as generated) and one: a move also lets in other
    agencies' inspections of its enterprise."""
    generated = generate(GeneratorConfig(enterprises=1500, seed=seed, counties=1))
    assert generated.caps.enterprise_per_month == 2
    caps = replace(generated.caps, enterprise_per_month=month_cap)
    instance = replace(generated, caps=caps)
    prepared = prepare(instance)
    s = Schedule(prepared, greedy(prepared))
    waiting = sorted(
        (i for i in prepared.free if prepared.candidates[i.id]), key=lambda i: (-i.priority, i.id)
    )
    while local.fill(s, waiting):
        pass
    before = dict(s.at)
    rng = random.Random(seed)
    # Moves at enterprises where an inspection waits for a cap (the month's, the agency's),
    # and elsewhere.
    capped = _waiting_for_a_cap(s, waiting)
    near = [i for i in waiting if i.id in s.at and i.enterprise in capped]
    far = [i for i in waiting if i.id in s.at and i.enterprise not in capped]
    _shake(s, rng.sample(near, min(len(near), 20)) + rng.sample(far, 10), rng)
    reached = {i.id for i in local._reached(s, waiting, before)}
    left = {i.id for i in waiting if i.id not in before}  # waiting since the fill
    fitting = {
        i.id
        for i in waiting
        if i.id not in s.at and any(s.fits(i, d) for d in prepared.candidates[i.id])
    }
    assert fitting <= reached
    assert len(reached & left) < len(left)
    assert fitting & left


@pytest.mark.parametrize("seed", [3, 7])
@pytest.mark.parametrize(
    "case",
    [("fill", "_reached", False, 0.5), ("relieve", "_reopened", True, 1.0)],
    ids=["fill", "relieve"],
)
def test_the_finishing_pass_tries_again_only_what_a_change_may_let_in(
    seed: int, case: tuple[str, str, bool, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its first fill (relieve) the finishing pass fills (relieves) only the waiting
    inspections that what moved may let in (open to one ejection); its schedule is the one it
    makes when every fill (relieve) tries them all."""
    step, narrowing, tight, shrink = case
    instance = _tight(seed) if tight else generate(GeneratorConfig(1500, seed=seed, counties=1))
    prepared = prepare(instance)
    start = greedy(prepared)
    tried: list[int] = []
    real = getattr(local, step)

    def counted(s: Schedule, waiting: Any, stop: Any = lambda: False, **kw: Any) -> int:
        tried.append(len(waiting))
        return int(real(s, waiting, stop, **kw))

    monkeypatch.setattr(local, step, counted)
    narrowed = polish(prepared, start, should_stop=lambda: True).assignment
    assert len(tried) > 1
    assert max(tried[1:]) < tried[0] * shrink, tried
    monkeypatch.setattr(
        local, narrowing, lambda s, waiting, before: [i for i in waiting if i.id not in s.at]
    )
    everything = polish(prepared, start, should_stop=lambda: True).assignment
    assert narrowed == everything
    assert len(narrowed) > len(start)


@pytest.mark.parametrize("rounds", [1, 4])
def test_a_relieve_after_a_whole_one_tries_only_what_it_may_place(
    rounds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every relieve after one that ran to the end, in the rounds and in the finishing pass,
    tries only what one ejection may place since that one began: fewer than all that waits,
    for the same schedule as when each tries all that waits."""
    prepared = prepare(_tight(7))
    start = greedy(prepared)
    tried: list[int] = []

    def counted(s: Schedule, waiting: Any, stop: Any = lambda: False, **kw: Any) -> int:
        tried.append(len(waiting))
        return int(relieve(s, waiting, stop, **kw))

    monkeypatch.setattr(local, "relieve", counted)
    narrowed = polish(prepared, start, rounds=rounds).assignment
    few = list(tried)
    tried.clear()
    monkeypatch.setattr(
        local, "_reopened", lambda s, waiting, before: [i for i in waiting if i.id not in s.at]
    )
    assert polish(prepared, start, rounds=rounds).assignment == narrowed
    assert few[0] == tried[0]
    assert len(few) == len(tried)
    assert all(n < m for n, m in zip(few[1:], tried[1:], strict=True)), (few, tried)


def _tight(seed: int, month_cap: int = 2) -> Instance:
    """A generated county with a third of its capacity: most agency days full, many
    inspections waiting."""
    generated = generate(GeneratorConfig(enterprises=1500, seed=seed, counties=1))
    agencies = {
        k: replace(a, daily_capacity=max(1, a.daily_capacity // 3))
        for k, a in generated.agencies.items()
    }
    caps = replace(generated.caps, enterprise_per_month=month_cap)
    return replace(generated, caps=caps, agencies=agencies)


@pytest.mark.parametrize(("seed", "month_cap"), [(3, 2), (7, 2), (7, 1)])
def test_what_a_change_may_open_to_one_ejection_holds_every_inspection_it_places(
    seed: int, month_cap: int
) -> None:
    """After a polish (nothing left that one ejection places) and random moves (taken off a
    full agency day, moved elsewhere): no waiting inspection that `_reopened` leaves out is
    placed by a relieve, though what it keeps is. Among the moves, some free a day that an
    occupant of another full day could then move to."""
    prepared = prepare(_tight(seed, month_cap))
    s = Schedule(prepared, polish(prepared, greedy(prepared)).assignment)
    waiting = sorted(
        (i for i in prepared.free if prepared.candidates[i.id]), key=lambda i: (-i.priority, i.id)
    )
    assert relieve(s, [i for i in waiting if i.id not in s.at]) == 0
    before = dict(s.at)
    rng = random.Random(seed)
    placed = [i for i in waiting if i.id in s.at]
    full = [i for i in placed if s.at[i.id] in s.state.full_days(i.agency)]
    # Enterprises where an inspection waits for a cap: moving one of their dates may let it in.
    capped = _waiting_for_a_cap(s, waiting)
    near = [i for i in placed if i.enterprise in capped]
    _shake(s, rng.sample(full, 3) + rng.sample(near, 3) + rng.sample(placed, 2), rng)
    kept = local._reopened(s, waiting, before)
    unplaced = [i for i in waiting if i.id not in s.at]
    left_out = [i for i in unplaced if i not in kept]
    assert left_out
    assert kept
    assert [i.id for i in left_out if relieve(s, [i])] == []
    assert relieve(s, kept) > 0


@pytest.mark.parametrize(("seed", "month_cap"), [(3, 2), (7, 2), (7, 1)])
def test_what_a_change_may_let_merge_holds_every_enterprise_that_merges(
    seed: int, month_cap: int
) -> None:
    """After a polish (no merge left) and random moves (taken off full agency days, moved
    elsewhere): no enterprise that `_unmerged` leaves out merges, though some it keeps do.
    The moves free room on full days, where visits of other days may join, and change
    enterprises that occupy full days (whether they can step aside)."""
    prepared = prepare(_tight(seed, month_cap))
    s = Schedule(prepared, polish(prepared, greedy(prepared)).assignment)
    while local.merge(s, sorted(e for e, d in s.doors.items() if len(d) > 1)):
        pass  # until a merge of every enterprise's visits finds nothing
    before = dict(s.at)
    rng = random.Random(seed)
    placed = [i for i in prepared.free if i.id in s.at]
    full = [i for i in placed if s.at[i.id] in s.state.full_days(i.agency)]
    _shake(s, rng.sample(full, 8) + rng.sample(placed, 4), rng)
    several = sorted(e for e, d in s.doors.items() if len(d) > 1)
    kept = local._unmerged(s, several, before)
    left_out = [e for e in several if e not in kept]
    assert left_out
    assert kept
    assert [e for e in left_out if local.merge(s, [e])] == []
    assert local.merge(s, kept) > 0


@pytest.mark.parametrize("rounds", [1, 4])
def test_a_merge_after_a_whole_one_tries_only_what_may_merge(
    rounds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every merge of all visits after one that ran to the end, in the rounds and in the
    finishing pass, tries only the enterprises a change since may let merge: fewer than all
    visited twice. (The schedules may differ: a merge that a change made during a pass allows
    waits for the next pass.)"""
    prepared = prepare(_tight(7))
    start = greedy(prepared)
    tried: list[int] = []
    real = local.merge

    def counted(s: Schedule, enterprises: Any, stop: Any = lambda: False) -> int:
        enterprises = list(enterprises)
        if len(enterprises) > 50:  # not the finishing pass's merge of what it moved
            tried.append(len(enterprises))
        return int(real(s, enterprises, stop))

    monkeypatch.setattr(local, "merge", counted)
    polish(prepared, start, rounds=rounds)
    few = list(tried)
    tried.clear()
    monkeypatch.setattr(local, "_unmerged", lambda s, several, before: list(several))
    polish(prepared, start, rounds=rounds)
    assert few[0] == tried[0]
    assert len(few) > 1
    assert sum(few[1:]) < sum(tried[1:]), (few, tried)


@pytest.mark.parametrize(("seed", "month_cap"), [(3, 2), (7, 2), (7, 1)])
def test_a_relieve_going_on_from_what_one_before_found_places_what_a_fresh_one_does(
    seed: int, month_cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relieve told of the moves since the last one (taken off full agency days, moved
    elsewhere) places what a relieve that remembers nothing
    places on the same schedule, with fewer tries of carrying a full day's occupants."""
    prepared = prepare(_tight(seed, month_cap))
    done = polish(prepared, greedy(prepared)).assignment
    waiting = sorted(
        (i for i in prepared.free if prepared.candidates[i.id]), key=lambda i: (-i.priority, i.id)
    )
    s = Schedule(prepared, done)
    memory = local._Memory()
    assert relieve(s, [i for i in waiting if i.id not in s.at], memory=memory) == 0
    rng = random.Random(seed)
    placed = [i for i in waiting if i.id in s.at]
    full = [i for i in placed if s.at[i.id] in s.state.full_days(i.agency)]
    _shake(s, list(dict.fromkeys(rng.sample(full, 6) + rng.sample(placed, 6))), rng)
    fresh = Schedule(prepared, dict(s.at))
    tries: list[str] = []
    real = local._eject

    def counted(*args: Any, **kw: Any) -> Any:
        tries.append("told" if args[0] is s else "fresh")
        return real(*args, **kw)

    monkeypatch.setattr(local, "_eject", counted)
    told = relieve(s, [i for i in waiting if i.id not in s.at], memory=memory)
    again = relieve(fresh, [i for i in waiting if i.id not in fresh.at])
    assert told == again > 0
    assert s.at == fresh.at
    assert tries.count("told") < tries.count("fresh")
