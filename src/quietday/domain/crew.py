"""随机选派: which of an agency's inspectors go on each of its visits of a month (双随机、一公开).

The draw is a pure function of its inputs and a seed: the visits in order of day then id; for
each, the eligible inspectors (active, certified on that day, not 回避 for that enterprise,
under the day's limit when there is one) with the fewest visits of the month so far go, ties
broken by SHA-256 of (seed, visit, inspector). So every inspector's load over the month stays
within one of every other's where all are eligible everywhere, and the same inputs and seed
give the same teams, which anyone holding them (`inputs_digest` names them) can check.

Visits of the record (`open=False`: passed, checked in) and visits that keep the team a person
chose (unless `redraw`) count in the load and are never changed. A kept team one of whose
members is no longer eligible or is 回避, or that is short of two (`MIN_TEAM`; one was taken off
it), is drawn again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = [
    "MIN_TEAM",
    "CrewDraw",
    "CrewInspector",
    "CrewVisit",
    "Lapse",
    "crew_violations",
    "digest_of",
    "draw_crews",
    "draw_seed",
    "inputs_digest",
    "inputs_json",
]


# The enforcement rules send at least two inspectors: a kept team with fewer is drawn again.
MIN_TEAM = 2


@dataclass(frozen=True, slots=True)
class CrewVisit:
    """A visit of the agency: its enterprise and day, the agency's inspectors on it now, and
    whether the draw may choose its team (`open`) or it is the record."""

    visit_id: int
    enterprise_id: str
    day: date
    assigned: tuple[int, ...] = ()
    open: bool = True


class Lapse(StrEnum):
    """Why an inspector may not go on visits of a day."""

    INACTIVE = "inactive"
    NO_CERTIFICATE = "no_certificate"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return _LAPSES[self]


_LAPSES = {
    Lapse.INACTIVE: "已停用",
    Lapse.NO_CERTIFICATE: "未登记执法证号",
    Lapse.EXPIRED: "执法证已过期",
}


@dataclass(frozen=True, slots=True)
class CrewInspector:
    """An inspector as the draw sees one: active, their certificate number, and the last day
    the certificate holds (None: no expiry)."""

    inspector_id: int
    active: bool
    certificate_no: str
    certified_until: date | None = None

    def eligible_on(self, day: date) -> bool:
        """May go on a visit that day: active, with a certificate that holds then."""
        return self.refusal_on(day) is None

    def refusal_on(self, day: date) -> Lapse | None:
        """Why the inspector may not go on a visit that day, or None."""
        if not self.active:
            return Lapse.INACTIVE
        if not self.certificate_no.strip():
            return Lapse.NO_CERTIFICATE
        if self.certified_until is not None and self.certified_until < day:
            return Lapse.EXPIRED
        return None


@dataclass(frozen=True, slots=True)
class CrewDraw:
    """What a draw decided: the teams it chose, the visits that kept their team, the visits
    left without one (with the Chinese reason), and each inspector's visits of the month."""

    teams: dict[int, tuple[int, ...]]
    kept: tuple[int, ...]
    unplaced: dict[int, str]
    load: dict[int, int]


def draw_seed(*, run_seeds: Iterable[int | None], agency_id: str, month: str) -> int:
    """The draw's seed: SHA-256 of the seeds of the runs that published the month's visits
    (sorted, a visit published by no run as `none`), the agency and the month (`YYYY-MM`)."""
    seeds = sorted({"none" if s is None else str(s) for s in run_seeds})
    text = "|".join([",".join(seeds), agency_id, month])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _rank(seed: int, visit_id: int, inspector_id: int) -> bytes:
    return hashlib.sha256(f"{seed}:{visit_id}:{inspector_id}".encode("ascii")).digest()


def _valid_member(
    inspector: CrewInspector | None, visit: CrewVisit, conflicts: frozenset[tuple[int, str]]
) -> bool:
    return (
        inspector is not None
        and inspector.eligible_on(visit.day)
        and (inspector.inspector_id, visit.enterprise_id) not in conflicts
    )


def draw_crews(
    *,
    visits: Sequence[CrewVisit],
    inspectors: Sequence[CrewInspector],
    conflicts: Iterable[tuple[int, str]],
    team_size: int,
    seed: int,
    per_day: int | None = None,
    redraw: bool = False,
) -> CrewDraw:
    """Choose a team of `team_size` for each open visit (see the module's docstring); `per_day`,
    when given, is the most visits an inspector goes on in one day."""
    if team_size < 1:
        raise ValueError("team_size must be at least 1")
    if per_day is not None and per_day < 1:
        raise ValueError("per_day must be at least 1")
    barred = frozenset(conflicts)
    people = {i.inspector_id: i for i in inspectors}
    order = sorted(visits, key=lambda v: (v.day, v.visit_id))
    load: Counter[int] = Counter(dict.fromkeys(people, 0))
    daily: Counter[tuple[int, date]] = Counter()
    to_draw: list[CrewVisit] = []
    kept: list[int] = []
    for v in order:
        keep = bool(v.assigned) and (
            not v.open
            or (
                not redraw
                and len(set(v.assigned)) >= min(team_size, MIN_TEAM)
                and all(_valid_member(people.get(i), v, barred) for i in v.assigned)
            )
        )
        if keep:
            if v.open:
                kept.append(v.visit_id)
            for i in v.assigned:
                load[i] += 1
                daily[i, v.day] += 1
        elif v.open:
            to_draw.append(v)
    teams: dict[int, tuple[int, ...]] = {}
    unplaced: dict[int, str] = {}
    for v in to_draw:
        candidates: list[int] = []
        refused: Counter[str] = Counter()
        for i in sorted(people):
            lapse = people[i].refusal_on(v.day)
            if lapse is not None:
                refused[lapse.label] += 1
            elif (i, v.enterprise_id) in barred:
                refused["回避"] += 1
            elif per_day is not None and daily[i, v.day] >= per_day:
                refused[f"当天已满 {per_day} 次"] += 1
            else:
                candidates.append(i)
        if len(candidates) < team_size:
            unplaced[v.visit_id] = _reason(len(people), len(candidates), team_size, refused)
            continue
        candidates.sort(key=lambda i: (load[i], _rank(seed, v.visit_id, i), i))
        team = tuple(sorted(candidates[:team_size]))
        teams[v.visit_id] = team
        for i in team:
            load[i] += 1
            daily[i, v.day] += 1
    return CrewDraw(
        teams=teams, kept=tuple(kept), unplaced=unplaced, load=dict(sorted(load.items()))
    )


def _reason(total: int, eligible: int, team_size: int, refused: Mapping[str, int]) -> str:
    """Why a visit got no team: how many were eligible, and why the others were not (the
    lapses in their order, then 回避, then the day's limit)."""
    order = [lapse.label for lapse in Lapse]
    parts = [
        f"{why} {refused[why]} 名"
        for why in sorted(
            refused, key=lambda w: order.index(w) if w in order else len(order) + (w != "回避")
        )
    ]
    detail = f"(本部门 {total} 名执法人员中:{'、'.join(parts)})" if parts else ""
    return f"符合条件的执法人员只有 {eligible} 名,每次入企须 {team_size} 名{detail}"


def crew_violations(
    *,
    visits: Sequence[CrewVisit],
    inspectors: Sequence[CrewInspector],
    conflicts: Iterable[tuple[int, str]],
    draw: CrewDraw,
    team_size: int,
    per_day: int | None = None,
) -> list[str]:
    """Everything wrong with a draw's teams (Chinese, one line each): a visit not open or
    unknown, a team of the wrong size or with someone twice, an unknown, ineligible or 回避
    member, an inspector over `per_day` visits a day (the record and kept teams counted)."""
    barred = frozenset(conflicts)
    people = {i.inspector_id: i for i in inspectors}
    by_id = {v.visit_id: v for v in visits}
    out: list[str] = []
    daily: Counter[tuple[int, date]] = Counter()
    kept = set(draw.kept)
    for counted in visits:
        if counted.visit_id not in draw.teams and (not counted.open or counted.visit_id in kept):
            daily.update((i, counted.day) for i in counted.assigned)
    for visit_id, team in sorted(draw.teams.items()):
        v = by_id.get(visit_id)
        if v is None or not v.open:
            out.append(f"入企 {visit_id} 不是可以选派的入企")
            continue
        if len(team) != team_size or len(set(team)) != len(team):
            out.append(f"入企 {visit_id} 的执法人员应为 {team_size} 名不同的人")
        for i in team:
            person = people.get(i)
            lapse = None if person is None else person.refusal_on(v.day)
            why = "不是本部门的执法人员" if person is None else lapse and lapse.label
            if why is None and (i, v.enterprise_id) in barred:
                why = f"须回避企业 {v.enterprise_id}"
            if why is not None:
                out.append(f"入企 {visit_id}:执法人员 {i} {why}")
            daily[i, v.day] += 1
    if per_day is not None:
        out.extend(
            f"执法人员 {i} 在 {day.isoformat()} 有 {n} 次入企,超过每天 {per_day} 次"
            for (i, day), n in sorted(daily.items())
            if n > per_day
        )
    return out


def inputs_digest(
    *,
    visits: Sequence[CrewVisit],
    inspectors: Sequence[CrewInspector],
    conflicts: Iterable[tuple[int, str]],
    team_size: int,
    seed: int,
    per_day: int | None,
    redraw: bool,
) -> str:
    """SHA-256 of the draw's inputs as canonical JSON (`inputs_json`): equal digests, equal
    teams."""
    text = inputs_json(
        visits=visits,
        inspectors=inspectors,
        conflicts=conflicts,
        team_size=team_size,
        seed=seed,
        per_day=per_day,
        redraw=redraw,
    )
    return digest_of(text)


def digest_of(inputs: str) -> str:
    """The digest of inputs already written by `inputs_json`."""
    return hashlib.sha256(inputs.encode("utf-8")).hexdigest()


def inputs_json(
    *,
    visits: Sequence[CrewVisit],
    inspectors: Sequence[CrewInspector],
    conflicts: Iterable[tuple[int, str]],
    team_size: int,
    seed: int,
    per_day: int | None,
    redraw: bool,
) -> str:
    """The draw's inputs as canonical JSON (sorted, compact): what a re-run needs (`draw_crews`
    of them, without `redraw`, gives the same teams)."""
    data = {
        "visits": [
            # A redraw ignores the teams of open visits: written without them, the inputs draw
            # the same teams without a redraw, and equal a first draw's.
            [
                v.visit_id,
                v.enterprise_id,
                v.day.isoformat(),
                [] if redraw and v.open else sorted(v.assigned),
                v.open,
            ]
            for v in sorted(visits, key=lambda v: (v.day, v.visit_id))
        ],
        "inspectors": [
            [
                i.inspector_id,
                i.active,
                i.certificate_no,
                None if i.certified_until is None else i.certified_until.isoformat(),
            ]
            for i in sorted(inspectors, key=lambda i: i.inspector_id)
        ],
        "conflicts": sorted([i, e] for i, e in set(conflicts)),
        "team_size": team_size,
        "seed": seed,
        "per_day": per_day,
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
