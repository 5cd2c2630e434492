"""An independent verifier of a solution's unscheduled list, written from the spec alone
(`quietday.instance/1`, `quietday.solution/1`: ../shared/spec/instance-format.md).

It reads both files as plain dicts and imports nothing of quietday: its own working days (the
`holidays` package's China calendar, as the spec says, with `extra_holidays`/`extra_workdays`),
quiet days, caps, capacity and pins. For every unscheduled inspection it checks that

- no open day of its window is free: placing it there would break a rule, given the final
  schedule, the pins and the history;
- its reason holds: `no_allowed_day` (no open day), `whitelisted` (a routine inspection of a
  whitelisted enterprise), `cap`/`min_gap`/`capacity` (that rule blocks every open day; where
  different rules block different days and nothing placed could make room on any of them, the
  rule blocking the most days may be named: the spec has no reason for that case), `priority`
  (every open day is blocked, some day could be opened by displacing placed inspections, no
  one-move ejection opens one and no displaced group of lower total priority does).

A **one-move ejection** moves one group of placed, non-pinned inspections that share a date (an
agency's inspections of an enterprise, or their capped part, or the enterprise's whole visit or
its capped part) to one other open day of all of them where the rules allow it, after which the
unscheduled inspection fits on a day that was blocked: it is placed with nothing dropped. A
**cheaper drop** unschedules such a group of lower total priority instead. Either raises the
total priority, so the solution was not as good as it could be; `improvements` lists them for
every reason, and `violations` counts them against `priority`, whose sentence they refute.

Violations are readable strings; an empty list means the unscheduled list is honest.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import holidays

__all__ = ["Verdict", "improvements", "verify", "verify_files", "violations"]

CAPPED_KINDS = ("routine", "special")
CAP_KEYS = ("agency_enterprise_per_year", "enterprise_per_month", "enterprise_per_year")
BLOCKING = ("cap", "min_gap", "capacity")


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _working_days(inst: dict[str, Any]) -> list[date]:
    start, end = _day(inst["horizon"]["start"]), _day(inst["horizon"]["end"])
    cal = inst["calendar"]
    years = list(range(start.year, end.year + 1))
    table = holidays.country_holidays(cal["country"], years=years)
    adjusted = set(getattr(table, "weekend_workdays", ()))
    extra_off = {_day(d) for d in cal.get("extra_holidays", [])}
    extra_on = {_day(d) for d in cal.get("extra_workdays", [])}
    days = []
    d = start
    while d <= end:
        official = (d.weekday() < 5 and d not in table) or d in adjusted
        if (official or d in extra_on) and d not in extra_off:
            days.append(d)
        d += timedelta(days=1)
    return days


def _quiet(policy: dict[str, Any], day: date) -> bool:
    for lo, hi in policy.get("month_days", []):
        if lo <= day.day <= hi:
            return True
    if day.isoweekday() in policy.get("weekdays", []):
        return True
    return day.isoformat() in policy.get("dates", [])


@dataclass
class Problem:
    """The instance as the rules read it."""

    raw: dict[str, Any]
    working: list[date] = field(init=False)
    insp: dict[str, dict[str, Any]] = field(init=False)
    ent: dict[str, dict[str, Any]] = field(init=False)
    agency: dict[str, dict[str, Any]] = field(init=False)
    policy: dict[str, dict[str, Any]] = field(init=False)
    pins: dict[str, date] = field(init=False)
    _open: dict[str, tuple[date, ...]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        raw = self.raw
        self.working = _working_days(raw)
        self.insp = {i["id"]: i for i in raw["inspections"]}
        self.ent = {e["id"]: e for e in raw["enterprises"]}
        self.agency = {a["id"]: a for a in raw["agencies"]}
        self.policy = {p["id"]: p for p in raw["quiet_policies"]}
        self.pins = {
            p["inspection"]: _day(p["date"])
            for p in raw.get("pinned", [])
            if p["inspection"] in self.insp
        }

    def caps(self, ent: str) -> dict[str, int | None]:
        caps = dict(self.raw["caps"])
        caps.update(self.ent[ent].get("caps") or {})
        return caps

    def capacity(self, agency: str, day: date) -> int:
        a = self.agency[agency]
        return int((a.get("capacity_by_date") or {}).get(day.isoformat(), a["daily_capacity"]))

    def capped(self, iid: str) -> bool:
        return self.insp[iid]["kind"] in CAPPED_KINDS

    def whitelisted_routine(self, iid: str) -> bool:
        i = self.insp[iid]
        return i["kind"] == "routine" and bool(self.ent[i["enterprise"]].get("whitelisted"))

    def open_days(self, iid: str) -> tuple[date, ...]:
        """Working days of the window clipped to the horizon, not quiet unless exempt."""
        days = self._open.get(iid)
        if days is None:
            i = self.insp[iid]
            e = self.ent[i["enterprise"]]
            lo, hi = _day(i["earliest"]), _day(i["latest"])
            exempt = bool(i.get("exempt_reason"))
            policy = self.policy[e["quiet_policy"]]
            blackout = set(e.get("blackout", []))
            days = tuple(
                d
                for d in self.working
                if lo <= d <= hi
                and (exempt or (not _quiet(policy, d) and d.isoformat() not in blackout))
            )
            self._open[iid] = days
        return days


class Book:
    """Who is on which date: agency loads, capped dates (schedule and history), visits."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.at: dict[str, date] = {}
        self.load: dict[tuple[str, date], dict[str, set[str]]] = defaultdict(dict)
        # Capped dates per enterprise and per (agency, enterprise): who uses each.
        self.ent_dates: dict[str, dict[date, set[str]]] = defaultdict(dict)
        self.ae_dates: dict[tuple[str, str], dict[date, set[str]]] = defaultdict(dict)
        self.visits: dict[str, dict[date, set[str]]] = defaultdict(dict)
        for k, h in enumerate(problem.raw.get("history", [])):
            if h["kind"] in CAPPED_KINDS:
                self._count(h["agency"], h["enterprise"], _day(h["date"]), f"历史#{k}")

    def _count(self, agency: str, ent: str, day: date, who: str) -> None:
        self.ent_dates[ent].setdefault(day, set()).add(who)
        self.ae_dates[(agency, ent)].setdefault(day, set()).add(who)

    def _uncount(self, agency: str, ent: str, day: date, who: str) -> None:
        for table in (self.ent_dates[ent], self.ae_dates[(agency, ent)]):
            table[day].discard(who)
            if not table[day]:
                del table[day]

    def add(self, iid: str, day: date) -> None:
        i = self.p.insp[iid]
        self.at[iid] = day
        self.load[(i["agency"], day)].setdefault(i["enterprise"], set()).add(iid)
        self.visits[i["enterprise"]].setdefault(day, set()).add(iid)
        if self.p.capped(iid):
            self._count(i["agency"], i["enterprise"], day, iid)

    def remove(self, iid: str) -> date:
        i = self.p.insp[iid]
        day = self.at.pop(iid)
        unit = self.load[(i["agency"], day)]
        unit[i["enterprise"]].discard(iid)
        if not unit[i["enterprise"]]:
            del unit[i["enterprise"]]
        visit = self.visits[i["enterprise"]]
        visit[day].discard(iid)
        if not visit[day]:
            del visit[day]
        if self.p.capped(iid):
            self._uncount(i["agency"], i["enterprise"], day, iid)
        return day

    def blocks(self, iid: str, day: date) -> list[tuple[str, str, list[date]]]:
        """The rules that placing `iid` on `day` would break: (rule, sentence, the dates of
        placed inspections that use it up)."""
        i = self.p.insp[iid]
        agency, ent = i["agency"], i["enterprise"]
        found: list[tuple[str, str, list[date]]] = []
        load = self.load.get((agency, day), {})
        room = self.p.capacity(agency, day)
        if ent not in load and len(load) >= room:
            found.append(("capacity", f"{agency} 在 {day} 已有 {len(load)}/{room} 家", [day]))
        if not self.p.capped(iid):
            return found
        caps = self.p.caps(ent)
        ae = self.ae_dates.get((agency, ent), {})
        limit = caps.get("agency_enterprise_per_year")
        same_year = [d for d in ae if d.year == day.year]
        if limit is not None and day not in ae and len(same_year) >= limit:
            found.append(("cap", f"{agency} 对 {ent} {day.year} 年已 {limit} 次", same_year))
        dates = self.ent_dates.get(ent, {})
        if day not in dates:
            month = [d for d in dates if (d.year, d.month) == (day.year, day.month)]
            year = [d for d in dates if d.year == day.year]
            m_cap, y_cap = caps.get("enterprise_per_month"), caps.get("enterprise_per_year")
            if m_cap is not None and len(month) >= m_cap:
                found.append(("cap", f"{ent} {day:%Y-%m} 已 {m_cap} 天", month))
            if y_cap is not None and len(year) >= y_cap:
                found.append(("cap", f"{ent} {day.year} 年已 {y_cap} 天", year))
            gap = caps.get("min_gap_days") or 0
            near = [d for d in dates if abs((d - day).days) < gap]
            if near:
                found.append(("min_gap", f"{ent} 与 {near} 间隔不足 {gap} 天", near))
        return found

    def fits(self, iid: str, day: date) -> bool:
        p = self.p
        return (
            day in p.open_days(iid) and not p.whitelisted_routine(iid) and not self.blocks(iid, day)
        )


def _groups(book: Book, ent: str, day: date) -> Iterator[frozenset[str]]:
    """The groups one move may carry off `day` for enterprise `ent`: each agency's
    inspections, their capped part, the whole visit and its capped part (pins excluded)."""
    visit = book.visits.get(ent, {}).get(day, set())
    if any(i in book.p.pins for i in visit):
        visit = {i for i in visit if i not in book.p.pins}
    by_agency: dict[str, set[str]] = defaultdict(set)
    for iid in visit:
        by_agency[book.p.insp[iid]["agency"]].add(iid)
    seen: set[frozenset[str]] = set()
    for part in [*by_agency.values(), visit]:
        for group in (frozenset(part), frozenset(i for i in part if book.p.capped(i))):
            if group and group not in seen:
                seen.add(group)
                yield group


@dataclass(frozen=True)
class Move:
    """Carry `group` to `target` (None: unschedule it), then place `inspection` on `day`."""

    inspection: str
    day: date
    group: frozenset[str]
    target: date | None

    def __str__(self) -> str:
        where = f"挪到 {self.target}" if self.target else "取消"
        return f"把 {sorted(self.group)} {where} 后 {self.inspection} 可排在 {self.day}"


def _try(book: Book, iid: str, day: date, group: frozenset[str], target: date | None) -> bool:
    """Whether the move leaves every placement lawful and places `iid` on `day` (undone)."""
    before = {g: book.remove(g) for g in sorted(group)}
    added: list[str] = []
    ok = True
    if target is not None:
        for g in sorted(group):
            if not book.fits(g, target):
                ok = False
                break
            book.add(g, target)
            added.append(g)
    ok = ok and book.fits(iid, day)
    for g in added:
        book.remove(g)
    for g, d in before.items():
        book.add(g, d)
    return ok


def _moves(book: Book, iid: str) -> Iterator[Move]:
    """Every one-move ejection and every cheaper drop that would place `iid`."""
    p = book.p
    i = p.insp[iid]
    for day in p.open_days(iid):
        blocks = book.blocks(iid, day)
        touched = {(i["enterprise"], d) for rule, _, ds in blocks if rule != "capacity" for d in ds}
        if any(rule == "capacity" for rule, _, _ in blocks):
            touched |= {(e, day) for e in book.load.get((i["agency"], day), {})}
        for ent, at in sorted(touched):
            for group in _groups(book, ent, at):
                frees = _try(book, iid, day, group, None)
                if frees and sum(p.insp[g]["priority"] for g in group) < i["priority"]:
                    yield Move(iid, day, group, None)
                # Placing the group anywhere only adds to loads and counts: unless taking it
                # away alone lets `iid` in, only joining `iid`'s own day can help.
                targets = set.intersection(*(set(p.open_days(g)) for g in group)) - {at}
                for target in sorted(targets if frees else targets & {day}):
                    if _try(book, iid, day, group, target):
                        yield Move(iid, day, group, target)


@dataclass(frozen=True)
class Verdict:
    violations: list[str]
    improvements: list[str]


def _displaceable(fixed: Book, iid: str) -> bool:
    """Some open day is free once every placed, non-pinned inspection is taken away (`fixed`
    holds the history and the pins only)."""
    return any(fixed.fits(iid, d) for d in fixed.p.open_days(iid))


def _check_placed(problem: Problem, book: Book) -> Iterator[str]:
    for iid, day in sorted(book.at.items()):
        if day not in problem.open_days(iid):
            yield f"{iid}: 排在 {day},不是它窗口内的开放工作日"
        if problem.whitelisted_routine(iid):
            yield f"{iid}: 白名单企业的日常检查被排在 {day}"
        if iid in problem.pins and problem.pins[iid] != day:
            yield f"{iid}: 已发布排期 {problem.pins[iid]},却排在 {day}"
        book.remove(iid)
        broken = book.blocks(iid, day)
        book.add(iid, day)
        if broken:
            yield f"{iid}: 排在 {day} 违反规则: {'; '.join(b[1] for b in broken)}"


def verify(instance: dict[str, Any], solution: dict[str, Any]) -> Verdict:
    """Violations of the spec by `solution`'s unscheduled list (and by its placements, which
    the reasons are judged against), and the improvements one move would make."""
    problem = Problem(instance)
    book = Book(problem)
    out: list[str] = []
    better: list[str] = []
    listed: list[str] = []
    for visit in solution["visits"]:
        day = _day(visit["date"])
        for iid in visit["inspections"]:
            listed.append(iid)
            if iid not in problem.insp:
                out.append(f"{iid}: 不是实例中的检查")
                continue
            if problem.insp[iid]["enterprise"] != visit["enterprise"]:
                out.append(f"{iid}: 在企业 {visit['enterprise']} 的入企中,却属于另一家企业")
            book.add(iid, day)
    unscheduled = {u["inspection"]: u for u in solution["unscheduled"]}
    listed += list(unscheduled)
    counts: dict[str, int] = defaultdict(int)
    for iid in listed:
        counts[iid] += 1
    out += [f"{iid}: 出现 {n} 次" for iid, n in sorted(counts.items()) if n > 1]
    out += [f"{iid}: 既未排期也未列入未排" for iid in sorted(set(problem.insp) - set(counts))]
    out += list(_check_placed(problem, book))
    fixed = Book(problem)
    for pin, day in problem.pins.items():
        fixed.add(pin, day)
    for iid, entry in sorted(unscheduled.items()):
        if iid in problem.insp:
            found, move = _judge(book, fixed, iid, entry["reason"])
            out += found
            better += [] if move is None else [f"{iid}({entry['reason']}): {move}"]
    return Verdict(out, better)


def _judge(book: Book, fixed: Book, iid: str, reason: str) -> tuple[list[str], Move | None]:
    """What is false in `iid`'s reason, and a move that would have placed it."""
    problem = book.p
    days = problem.open_days(iid)
    if problem.whitelisted_routine(iid) and reason in ("whitelisted", "no_allowed_day"):
        return ([] if reason == "whitelisted" or not days else [f"{iid}: 有开放日期"]), None
    if reason == "whitelisted":
        return [f"{iid}: 原因 whitelisted,但它不是白名单企业的日常检查"], None
    if reason == "no_allowed_day":
        return (
            [f"{iid}: 原因 no_allowed_day,但 {days[0]} 等 {len(days)} 天开放"] if days else []
        ), None
    blocks = {d: book.blocks(iid, d) for d in days}
    free = [d for d, b in blocks.items() if not b]
    if free:
        return [f"{iid}: 原因 {reason},但 {free[:3]} 等 {len(free)} 天无任何规则阻挡"], None
    if not days:
        return [f"{iid}: 原因 {reason},但窗口内没有开放日期(应为 no_allowed_day)"], None
    move = next(_moves(book, iid), None)
    found: list[str] = []
    if reason in BLOCKING:
        rules = {d: {b[0] for b in bs} for d, bs in blocks.items()}
        missed = [d for d, r in rules.items() if reason not in r]
        if missed:
            tally = {r: sum(1 for rs in rules.values() if r in rs) for r in BLOCKING}
            movable_day = _displaceable(fixed, iid)
            if movable_day or tally[reason] < max(tally.values()):
                found.append(
                    f"{iid}: 原因 {reason},但 {missed[:3]} 等 {len(missed)} 天不受它阻挡"
                    f"(各规则阻挡天数 {tally}"
                    f"{',且挪开已排检查可腾出日期' if movable_day else ''})"
                )
    elif reason == "priority":
        if not _displaceable(fixed, iid):
            found.append(f"{iid}: 原因 priority,但挪开任何已排检查都腾不出日期")
        if move is not None:
            found.append(f"{iid}: 原因 priority 不成立: {move}")
    elif reason != "not_solved":
        found.append(f"{iid}: 未知原因 {reason}")
    return found, move


def verify_files(instance: Path, solution: Path) -> Verdict:
    return verify(json.loads(instance.read_bytes()), json.loads(solution.read_bytes()))


def violations(instance: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    return verify(instance, solution).violations


def improvements(instance: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    return verify(instance, solution).improvements


def _main(args: Iterable[str]) -> None:
    inst, sol = (Path(a) for a in args)
    verdict = verify_files(inst, sol)
    for line in verdict.violations:
        print("违规:", line)
    print(f"违规 {len(verdict.violations)} 条, 一步可排入 {len(verdict.improvements)} 项")


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
