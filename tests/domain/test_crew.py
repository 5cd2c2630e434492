"""随机选派 (`domain.crew`): over many random instances and seeds, no team holds an inspector who
is inactive, uncertified, expired or 回避 on that visit, and the checker that says so catches
each kind of bad team; the month's load is balanced within one; the same inputs and seed give
the same teams; kept and recorded teams count in the load and stay."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from quietday.domain.crew import (
    CrewDraw,
    CrewInspector,
    CrewVisit,
    crew_violations,
    draw_crews,
    draw_seed,
    inputs_digest,
)

JULY = date(2026, 7, 1)


def random_instance(
    rnd: random.Random,
) -> tuple[list[CrewVisit], list[CrewInspector], set[tuple[int, str]]]:
    """Up to 60 visits of 12 enterprises over July, up to 10 inspectors of whom some are
    inactive, without a certificate number or expiring mid-month, and random 回避."""
    enterprises = [f"E{k:02d}" for k in range(12)]
    visits = [
        CrewVisit(
            visit_id=rnd.randrange(1, 10_000) * 100 + k,
            enterprise_id=rnd.choice(enterprises),
            day=JULY + timedelta(days=rnd.randrange(31)),
            assigned=(),
            open=True,
        )
        for k in range(rnd.randrange(1, 60))
    ]
    inspectors = [
        CrewInspector(
            inspector_id=i,
            active=rnd.random() > 0.15,
            certificate_no="" if rnd.random() < 0.1 else f"C-{i}",
            certified_until=(
                JULY + timedelta(days=rnd.randrange(-5, 40)) if rnd.random() < 0.4 else None
            ),
        )
        for i in range(1, rnd.randrange(2, 11))
    ]
    conflicts = {
        (i.inspector_id, rnd.choice(enterprises))
        for i in inspectors
        for _ in range(rnd.randrange(3))
    }
    return visits, inspectors, conflicts


def bad_members(
    visits: list[CrewVisit],
    inspectors: list[CrewInspector],
    conflicts: set[tuple[int, str]],
    draw: CrewDraw,
) -> list[tuple[int, int]]:
    """(visit, inspector) pairs a draw should never make, worked out from the rules directly."""
    people = {i.inspector_id: i for i in inspectors}
    days = {v.visit_id: v for v in visits}
    out = []
    for visit_id, team in draw.teams.items():
        v = days[visit_id]
        for i in team:
            p = people[i]
            expired = p.certified_until is not None and p.certified_until < v.day
            if not p.active or not p.certificate_no or expired or (i, v.enterprise_id) in conflicts:
                out.append((visit_id, i))
    return out


@pytest.mark.parametrize("instance_seed", range(300))
def test_no_draw_picks_an_ineligible_or_conflicted_inspector(instance_seed: int) -> None:
    rnd = random.Random(instance_seed)
    visits, inspectors, conflicts = random_instance(rnd)
    team_size = rnd.choice([2, 2, 3])
    per_day = rnd.choice([None, 1, 2])
    draw = draw_crews(
        visits=visits,
        inspectors=inspectors,
        conflicts=conflicts,
        team_size=team_size,
        seed=rnd.randrange(2**63),
        per_day=per_day,
    )
    assert bad_members(visits, inspectors, conflicts, draw) == []
    assert (
        crew_violations(
            visits=visits,
            inspectors=inspectors,
            conflicts=conflicts,
            draw=draw,
            team_size=team_size,
            per_day=per_day,
        )
        == []
    )
    # Every visit is either given a team or told why not; one is unplaced only when it had to be.
    assert set(draw.teams) | set(draw.unplaced) == {v.visit_id for v in visits}
    assert not set(draw.teams) & set(draw.unplaced)
    for visit_id, reason in draw.unplaced.items():
        v = next(x for x in visits if x.visit_id == visit_id)
        able = [
            i
            for i in inspectors
            if i.eligible_on(v.day) and (i.inspector_id, v.enterprise_id) not in conflicts
        ]
        if per_day is None:
            assert len(able) < team_size
        assert f"每次入企须 {team_size} 名" in reason


def test_the_checker_catches_each_kind_of_bad_team() -> None:
    day = JULY + timedelta(days=9)
    visits = [
        CrewVisit(1, "E1", day),
        CrewVisit(2, "E2", day),
        CrewVisit(3, "E3", day, assigned=(1, 2), open=False),
    ]
    inspectors = [
        CrewInspector(1, True, "C-1"),
        CrewInspector(2, True, "C-2", certified_until=day),
        CrewInspector(3, True, "C-3", certified_until=day - timedelta(days=1)),
        CrewInspector(4, False, "C-4"),
        CrewInspector(5, True, " "),
        CrewInspector(6, True, "C-6"),
    ]
    conflicts = {(6, "E2")}

    def check(teams: dict[int, tuple[int, ...]], per_day: int | None = None) -> list[str]:
        draw = CrewDraw(teams=teams, kept=(), unplaced={}, load={})
        return crew_violations(
            visits=visits,
            inspectors=inspectors,
            conflicts=conflicts,
            draw=draw,
            team_size=2,
            per_day=per_day,
        )

    assert check({1: (1, 2), 2: (1, 6)}) == [
        "入企 2:执法人员 6 须回避企业 E2",
    ]
    assert check({1: (1, 3)}) == ["入企 1:执法人员 3 执法证已过期"]
    assert check({1: (1, 4)}) == ["入企 1:执法人员 4 已停用"]
    assert check({1: (1, 5)}) == ["入企 1:执法人员 5 未登记执法证号"]
    assert check({1: (1, 9)}) == ["入企 1:执法人员 9 不是本部门的执法人员"]
    assert check({1: (1,)}) == ["入企 1 的执法人员应为 2 名不同的人"]
    assert check({1: (1, 1)}) == ["入企 1 的执法人员应为 2 名不同的人"]
    assert check({3: (1, 2)}) == ["入企 3 不是可以选派的入企"]
    # The recorded visit 3 counts: 1 goes three times that day.
    assert check({1: (1, 2), 2: (1, 2)}, per_day=2) == [
        f"执法人员 1 在 {day.isoformat()} 有 3 次入企,超过每天 2 次",
        f"执法人员 2 在 {day.isoformat()} 有 3 次入企,超过每天 2 次",
    ]


@pytest.mark.parametrize("instance_seed", range(100))
def test_load_is_balanced_within_one_when_everyone_is_eligible(instance_seed: int) -> None:
    rnd = random.Random(instance_seed)
    n = rnd.randrange(2, 12)
    team_size = rnd.randrange(2, n + 1)
    visits = [
        CrewVisit(k + 1, f"E{rnd.randrange(20)}", JULY + timedelta(days=rnd.randrange(31)))
        for k in range(rnd.randrange(1, 80))
    ]
    inspectors = [CrewInspector(i, True, f"C-{i}") for i in range(1, n + 1)]
    draw = draw_crews(
        visits=visits, inspectors=inspectors, conflicts=(), team_size=team_size, seed=instance_seed
    )
    assert draw.unplaced == {}
    assert max(draw.load.values()) - min(draw.load.values()) <= 1
    assert sum(draw.load.values()) == team_size * len(visits)


def test_the_same_inputs_and_seed_give_the_same_teams_and_another_seed_others() -> None:
    visits = [CrewVisit(k, f"E{k % 5}", JULY + timedelta(days=k % 20)) for k in range(1, 41)]
    conflicts = {(1, "E0"), (2, "E3")}
    inspectors = [CrewInspector(i, True, f"C-{i}") for i in range(1, 9)]
    args = {"visits": visits, "inspectors": inspectors, "conflicts": conflicts, "team_size": 2}
    first = draw_crews(**args, seed=11)
    shuffled = list(reversed(visits))
    again = draw_crews(
        visits=shuffled, inspectors=list(reversed(inspectors)), conflicts=conflicts, team_size=2,
        seed=11,
    )  # fmt: skip
    assert again == first
    assert draw_crews(**args, seed=12).teams != first.teams
    digest = inputs_digest(**args, seed=11, per_day=None, redraw=False)
    assert digest == inputs_digest(
        visits=shuffled, inspectors=inspectors, conflicts=conflicts, team_size=2, seed=11,
        per_day=None, redraw=False,
    )  # fmt: skip
    assert digest != inputs_digest(**args, seed=12, per_day=None, redraw=False)


def test_the_seed_comes_from_the_runs_the_agency_and_the_month() -> None:
    base = draw_seed(run_seeds=[5, 3, None, 3], agency_id="A", month="2026-07")
    assert base == draw_seed(run_seeds=[None, 3, 5], agency_id="A", month="2026-07")
    assert base != draw_seed(run_seeds=[3, 5], agency_id="A", month="2026-07")
    assert base != draw_seed(run_seeds=[5, 3, None], agency_id="B", month="2026-07")
    assert base != draw_seed(run_seeds=[5, 3, None], agency_id="A", month="2026-08")
    assert 0 <= base < 2**64


def test_kept_and_recorded_teams_count_and_stay_unless_redrawn() -> None:
    day = JULY + timedelta(days=1)
    inspectors = [CrewInspector(i, True, f"C-{i}") for i in range(1, 5)]
    visits = [
        CrewVisit(1, "E1", JULY, assigned=(1, 2), open=False),  # the record
        CrewVisit(2, "E2", day, assigned=(1, 2)),  # chosen by hand
        CrewVisit(3, "E3", day, assigned=(1, 3)),  # 3 is 回避 for E3 since
        CrewVisit(4, "E4", day),
    ]
    draw = draw_crews(
        visits=visits, inspectors=inspectors, conflicts={(3, "E3")}, team_size=2, seed=1
    )
    assert draw.kept == (2,)
    # 1 and 2 went twice already: visits 3 and 4 go to 3 and 4 where they may.
    assert draw.teams[4] == (3, 4)
    assert 3 not in draw.teams[3]
    assert draw.load[1] + draw.load[2] + draw.load[3] + draw.load[4] == 8
    redrawn = draw_crews(
        visits=visits, inspectors=inspectors, conflicts={(3, "E3")}, team_size=2, seed=1,
        redraw=True,
    )  # fmt: skip
    assert redrawn.kept == ()
    assert set(redrawn.teams) == {2, 3, 4}
    assert 1 not in redrawn.teams


def test_a_visit_without_enough_eligible_inspectors_is_told_why() -> None:
    inspectors = [
        CrewInspector(1, True, "C-1"),
        CrewInspector(2, True, "C-2", certified_until=JULY - timedelta(days=1)),
        CrewInspector(3, False, "C-3"),
        CrewInspector(4, True, "C-4"),
    ]
    draw = draw_crews(
        visits=[CrewVisit(1, "E1", JULY)],
        inspectors=inspectors,
        conflicts={(4, "E1")},
        team_size=2,
        seed=0,
    )
    assert draw.teams == {}
    assert draw.unplaced == {
        1: "符合条件的执法人员只有 1 名,每次入企须 2 名"
        "(本部门 4 名执法人员中:已停用 1 名、执法证已过期 1 名、回避 1 名)"
    }


def test_at_most_per_day_visits_a_day() -> None:
    inspectors = [CrewInspector(i, True, f"C-{i}") for i in range(1, 5)]
    visits = [CrewVisit(k, f"E{k}", JULY) for k in range(1, 4)]
    draw = draw_crews(visits=visits, inspectors=inspectors, conflicts=(), team_size=2, seed=3,
                      per_day=1)  # fmt: skip
    assert len(draw.teams) == 2
    assert set(draw.teams[1]) | set(draw.teams[2]) == {1, 2, 3, 4}
    assert "当天已满 1 次 4 名" in draw.unplaced[3]


def test_a_team_short_of_two_is_drawn_again_without_redraw() -> None:
    """One of a team was taken off (a 回避 declared, a certificate ended): the one left is no
    team, so a draw without redraw gives the visit a whole one; a team of two is kept."""
    inspectors = [CrewInspector(i, True, f"C-{i}") for i in range(1, 5)]
    visits = [CrewVisit(1, "E1", JULY, assigned=(1,)), CrewVisit(2, "E2", JULY, assigned=(3, 4))]
    draw = draw_crews(visits=visits, inspectors=inspectors, conflicts=(), team_size=2, seed=7)
    assert draw.kept == (2,)
    assert set(draw.teams) == {1}
    assert len(draw.teams[1]) == 2
