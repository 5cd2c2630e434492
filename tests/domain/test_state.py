"""`ScheduleState.closed_days` (candidate days in bulk) agrees with asking `allows` day by day,
whatever the caps, capacities, history and placements, across a year boundary."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import doc, insp, load
from quietday.domain.model import EnterpriseId, Instance, Reason
from quietday.domain.state import HISTORY, ScheduleState, carry_targets
from quietday.solver.prepare import prepare

START, END = date(2025, 12, 1), date(2026, 1, 31)
DAYS = [START + timedelta(days=k) for k in range((END - START).days + 1)]
# History may lie before and after the horizon: the gap and yearly caps reach into it.
HISTORY_DAYS = [date(2025, 11, 10) + timedelta(days=k) for k in range(0, 100, 3)]
CAP = st.none() | st.integers(0, 3)


@st.composite
def states(draw: st.DrawFn) -> tuple[Instance, ScheduleState]:
    ents = [
        {
            "id": f"E{k}",
            "name": f"企业{k}",
            "region": "360102",
            "quiet_policy": draw(st.sampled_from(["jx-1-20", "none"])),
            "caps": draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "min_gap_days": st.none() | st.integers(0, 12),
                        "agency_enterprise_per_year": CAP,
                        "enterprise_per_month": CAP,
                    },
                )
            ),
        }
        for k in range(3)
    ]
    items = [
        insp(
            f"P-{k}",
            agency=draw(st.sampled_from(["A", "B"])),
            enterprise=f"E{draw(st.integers(0, 2))}",
            kind=draw(st.sampled_from(["routine", "special", "case", "requested"])),
            earliest=START.isoformat(),
            latest=END.isoformat(),
        )
        for k in range(draw(st.integers(1, 10)))
    ]
    d: dict[str, Any] = doc(
        horizon={"start": START.isoformat(), "end": END.isoformat()},
        enterprises=ents,
        inspections=items,
        caps={
            "agency_enterprise_per_year": draw(CAP),
            "enterprise_per_month": draw(CAP),
            "enterprise_per_year": draw(CAP),
            "min_gap_days": draw(st.integers(0, 15)),
        },
        history=[
            {
                "enterprise": f"E{draw(st.integers(0, 2))}",
                "agency": draw(st.sampled_from(["A", "B"])),
                "date": draw(st.sampled_from(HISTORY_DAYS)).isoformat(),
                "kind": draw(st.sampled_from(["routine", "special", "case"])),
            }
            for _ in range(draw(st.integers(0, 6)))
        ],
    )
    for agency in d["agencies"]:
        agency["daily_capacity"] = draw(st.integers(0, 2))
        agency["capacity_by_date"] = {
            day.isoformat(): draw(st.integers(0, 3))
            for day in draw(st.lists(st.sampled_from(DAYS), max_size=4, unique=True))
        }
    inst = load(d)
    state = ScheduleState(inst)
    # Placements need not obey the rules: the state only counts them (each inspection once).
    chosen = draw(st.lists(st.sampled_from(inst.inspections), unique_by=lambda i: i.id))
    placed = [(item, draw(st.sampled_from(DAYS))) for item in chosen]
    for item, day in placed:
        state.place(item, day)
        state.closed_days(item)  # fills the per-agency cache that later changes must renew
    for item, day in placed[: draw(st.integers(0, len(placed)))]:
        state.remove(item, day)
    return inst, state


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_closed_days_are_the_days_allows_refuses(case: tuple[Instance, ScheduleState]) -> None:
    inst, state = case
    for item in inst.inspections:
        expected = {d for d in inst.working_days if not state.allows(item, d)}
        assert state.closed_days(item) == expected, item


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_allows_is_true_exactly_where_no_rule_blocks(case: tuple[Instance, ScheduleState]) -> None:
    """`allows` checks the rules without making blockers: it must agree with `blockers`."""
    inst, state = case
    for item in inst.inspections:
        for day in DAYS:
            assert state.allows(item, day) == (not state.blockers(item, day)), (item.id, day)


def _users(inst: Instance, state: ScheduleState, ent: str, day: date, agency: str | None) -> set:
    """What uses a cap on `day` for `ent` (of `agency` only when given), from scratch: its
    capped placed inspections and, for a capped history record, `HISTORY`."""
    placed = {
        iid
        for iid in state.visits_of(EnterpriseId(ent)).get(day, ())
        if inst.by_id[iid].capped and agency in (None, inst.by_id[iid].agency)
    }
    history = any(
        h.capped and h.enterprise == ent and h.date == day and agency in (None, h.agency)
        for h in inst.history
    )
    return placed | ({HISTORY} if history else set())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_a_blocker_names_every_use_of_its_rule_and_nothing_else(
    case: tuple[Instance, ScheduleState],
) -> None:
    """The state counts uses; who they are is worked out when a blocker is made: the capped
    placed inspections and history of each date, the agency's own for its yearly cap."""
    inst, state = case
    for item in inst.inspections:
        for day in DAYS:
            for b in state.blockers(item, day):
                if b.reason == Reason.CAPACITY:
                    continue
                agency = item.agency if "年对该企业" in b.detail else None
                uses = b.uses()  # none where a cap is 0
                for used, who in uses.items():
                    assert set(who) == _users(inst, state, item.enterprise, used, agency)
                if agency is not None:
                    year = {
                        d
                        for d in {*HISTORY_DAYS, *DAYS}
                        if d.year == day.year and _users(inst, state, item.enterprise, d, agency)
                    }
                    assert set(uses) == year, (item.id, day)


def test_a_cap_names_history_and_the_placed_inspections_that_use_it() -> None:
    """On 07-21 E1 has A's history, A's placed PA and B's placed PB (one date, three uses):
    A's yearly cap names PA and the history there, not B's PB; the monthly cap names all
    three; uncapped or removed inspections are not named."""
    d = doc(
        caps={
            "agency_enterprise_per_year": 1,
            "enterprise_per_month": 1,
            "enterprise_per_year": None,
            "min_gap_days": 0,
        },
        inspections=[
            insp("PA", agency="A"),
            insp("PB", agency="B"),
            insp("PC", agency="B", kind="case"),
            insp("PD", agency="B"),
            insp("W", agency="A"),
        ],
        history=[{"enterprise": "E1", "agency": "A", "date": "2026-07-21", "kind": "routine"}],
    )
    inst = load(d)
    state = ScheduleState(inst)
    d1, d2 = date(2026, 7, 21), date(2026, 7, 22)
    for iid in ("PA", "PB", "PC", "PD"):
        state.place(inst.by_id[iid], d1)
    state.remove(inst.by_id["PD"], d1)
    uses = {b.detail.split(" ")[0]: b.uses() for b in state.blockers(inst.by_id["W"], d2)}
    assert uses == {
        inst.agencies["A"].name: {d1: frozenset({"PA", HISTORY})},
        "该企业": {d1: frozenset({"PA", "PB", HISTORY})},
    }


def _rebuilt(inst: Instance, state: ScheduleState) -> ScheduleState:
    """A new state with the placements of `state`."""
    fresh = ScheduleState(inst)
    for ent in inst.enterprises:
        for day, iids in state.visits_of(ent).items():
            for iid in iids:
                fresh.place(inst.by_id[iid], day)
    return fresh


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states(), st.data())
def test_what_a_full_day_could_give_up_is_kept_only_while_true(
    case: tuple[Instance, ScheduleState], data: st.DataObject
) -> None:
    """The groups of a day full for capacity are kept between calls: after any placements
    and removals they are those a state built afresh gives."""
    inst, state = case
    for _ in range(3):
        for item in inst.inspections:
            for day in DAYS:
                state.groups(item, day, blockers=state.blockers(item, day))
        for item in data.draw(st.lists(st.sampled_from(inst.inspections), max_size=4)):
            placed = [d for d, iids in state.visits_of(item.enterprise).items() if item.id in iids]
            if placed:
                state.remove(item, placed[0])
            else:
                state.place(item, data.draw(st.sampled_from(DAYS)))
        fresh = _rebuilt(inst, state)
        for item in inst.inspections:
            for day in DAYS:
                kept = state.groups(item, day, blockers=state.blockers(item, day))
                assert kept == fresh.groups(item, day, blockers=fresh.blockers(item, day))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_trying_ejections_keeps_what_full_days_could_give_up(
    case: tuple[Instance, ScheduleState],
) -> None:
    """The explanations try many ejections on a schedule that stays as it is: each try puts
    the placements back, so the groups of a day full for capacity found before it are still
    those a state built afresh gives, and are kept rather than made again."""
    inst, state = case
    found = {
        (item.id, day): state.groups(item, day, blockers=state.blockers(item, day))
        for item in inst.inspections
        for day in DAYS
    }
    for (iid, day), groups in found.items():
        for source, group in groups:
            for target in (None, *DAYS):
                state.ejects(inst.by_id[iid], day, group=group, source=source, target=target)
    fresh = _rebuilt(inst, state)
    for (iid, day), groups in found.items():
        item = inst.by_id[iid]
        blockers = state.blockers(item, day)
        again = state.groups(item, day, blockers=blockers)
        assert again == fresh.groups(item, day, blockers=fresh.blockers(item, day))
        if {b.reason for b in blockers} == {Reason.CAPACITY}:
            assert again is groups


def test_prepare_keeps_the_open_days_the_pins_and_history_leave() -> None:
    """A capacity used up by a pin, a monthly cap filled by history and a gap around a pin."""
    d = doc(
        caps={
            "agency_enterprise_per_year": None,
            "enterprise_per_month": 1,
            "enterprise_per_year": None,
            "min_gap_days": 3,
        },
        inspections=[
            insp("PIN", agency="A", enterprise="E1", earliest="2026-07-21", latest="2026-07-21"),
            insp("X", agency="A", enterprise="E2", earliest="2026-07-21", latest="2026-08-31"),
            insp("Y", agency="B", enterprise="E1", earliest="2026-07-21", latest="2026-08-31"),
        ],
        history=[{"enterprise": "E2", "agency": "B", "date": "2026-08-03", "kind": "routine"}],
        pinned=[{"inspection": "PIN", "date": "2026-07-21"}],
    )
    d["agencies"][0]["daily_capacity"] = 1
    prepared = prepare(load(d))
    x, y = prepared.candidates["X"], prepared.candidates["Y"]
    # X: A is full on 07-21 (the pin); August is used up by E2's history.
    assert x == (date(2026, 7, 22), date(2026, 7, 23), date(2026, 7, 24), *_july_end())
    # Y: joins E1's pinned visit on 07-21; the rest of July is closed by E1's monthly cap
    # (07-22 and 07-23 by the gap as well); August is open from the 21st.
    august = tuple(date(2026, 8, d) for d in (21, 24, 25, 26, 27, 28, 31))
    assert y == (date(2026, 7, 21), *august)


def _july_end() -> tuple[date, ...]:
    return tuple(date(2026, 7, d) for d in (27, 28, 29, 30, 31))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_a_carry_a_blocker_calls_used_up_again_never_lets_the_inspection_in(
    case: tuple[Instance, ScheduleState],
) -> None:
    """Relieve and the explanations skip carrying an enterprise's own dates to where a cap or
    the gap is used up again (`Blocker.again`): each such carry must indeed fail."""
    inst, state = case
    for item in inst.inspections:
        for day in inst.working_days:
            blockers = state.blockers(item, day)
            for source, group in state.groups(item, day, blockers=blockers):
                if group[0].enterprise != item.enterprise:
                    continue
                kept = carry_targets(blockers, day, inst.working_days)
                for target in inst.working_days:
                    if target not in (day, source, *kept):
                        assert not state.ejects(
                            item, day, group=group, source=source, target=target
                        ), (item.id, day, source, target)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_where_capacity_and_a_cap_both_block_no_one_move_lets_the_inspection_in(
    case: tuple[Instance, ScheduleState],
) -> None:
    """`groups` names no group on a day blocked by capacity and by a cap or the gap at once
    (another enterprise's unit lifts the one, the enterprise's own dates the other): indeed
    no carry or drop of any enterprise's inspections on any one date lets the inspection in."""
    inst, state = case
    for item in inst.inspections:
        for day in inst.working_days:
            blockers = state.blockers(item, day)
            reasons = {b.reason for b in blockers}
            if Reason.CAPACITY not in reasons or len(reasons) == 1:
                continue
            assert state.groups(item, day, blockers=blockers) == []
            for ent in inst.enterprises:
                for source, ids in list(state.visits_of(ent).items()):
                    everything = tuple(inst.by_id[i] for i in list(ids) if i != item.id)
                    groups = {everything, *((g,) for g in everything)}
                    for group in (g for g in groups if g):
                        for target in (None, *inst.working_days):
                            assert not state.ejects(
                                item, day, group=group, source=source, target=target
                            ), (item.id, day, source, target)
