"""The official calendar the supervisor keeps: a year's State Council notice imported (the
holiday-cn JSON format or a plain CSV), the provisional calendar of a year without one, the
calendar runs and the audit read, and the published visits a notice leaves on days off.

A year whose notice is stored is official. A year without one is planned provisionally on what
the law lets one compute (`quietday.official.provisional_calendar`); runs record it. Importing a
notice replaces the year's days, is audit-logged, and lists every published visit of the year
that now falls on a non-working day: the next run over it moves them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from quietday.domain.calendar import SATURDAY, OfficialCalendar, WorkingCalendar, days_between
from quietday.domain.text import readable, text_problem
from quietday.errors import InputError, Problem
from quietday.official import as_instance_calendar, combine, provisional_calendar
from quietday.persistence import Session
from quietday.persistence.calendar import OfficialYearRepository, VisitOnDay
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import OfficialYearRow, utcnow
from quietday.planning.audit import plain, record

__all__ = [
    "CSV_HEADER",
    "FIRST_YEAR",
    "LAST_YEAR",
    "MAX_BYTES",
    "PROVISIONAL_SOURCE",
    "DayLine",
    "DisturbedPage",
    "DisturbedVisit",
    "ImportReport",
    "Notice",
    "Source",
    "YearListing",
    "disturbed_visits",
    "effective_calendar",
    "every_disturbed",
    "import_notice",
    "list_years",
    "parse_notice",
    "provisional_years",
    "stored_years",
    "working_calendar",
    "year_days",
]

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_BYTES = 256 * 1024  # a year's notice in holiday-cn JSON is about 4 KB
MAX_DAYS = 366
MAX_NAME = 50
MAX_PAPERS = 20
MAX_PAPER = 500
CSV_HEADER = ("date", "kind", "name")
OFF, ON = "休", "班"
PROVISIONAL_SOURCE = "推算(全国年节及纪念日放假办法)"
# How many disturbed visits an import's answer lists; the rest are paged through the listing.
IMPORT_LISTED = 200
_WEEKDAYS = "一二三四五六日"


class Source(StrEnum):
    HOLIDAY_CN = "holiday-cn"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class Notice:
    """A year's notice as imported: its days off and weekend working days, with their names."""

    year: int
    holidays: dict[date, str]
    workdays: dict[date, str]
    source: Source
    papers: tuple[str, ...] = ()


# -- reading a notice ------------------------------------------------------------------------


@dataclass
class _Days:
    """The days read so far, and every problem found (the answer names each one)."""

    year: int
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)
    seen: dict[date, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def bad(self, code: str, path: str, message: str, record: str | None = None) -> None:
        self.problems.append(Problem(code, path, message, record))

    def add(self, *, where: str, raw_date: Any, off: Any, name: Any, label: str) -> None:
        """One listed day: `where` is its path, `label` how the messages name it."""
        day = _iso_day(raw_date)
        if day is None:
            self.bad(
                "bad_date", f"{where}.date", f"{label}的日期应为 YYYY-MM-DD: {_show(raw_date)}"
            )
        elif day.year != self.year:
            self.bad("wrong_year", f"{where}.date", f"{label}的日期 {day} 不在 {self.year} 年")
            day = None
        elif day in self.seen:
            self.bad(
                "duplicate_date",
                f"{where}.date",
                f"{label}的日期 {day} 重复(又见 {self.seen[day]})",
                day.isoformat(),
            )
            day = None
        if not isinstance(name, str) or not name.strip():
            self.bad("bad_name", f"{where}.name", f"{label}的名称应为非空文字")
            name = None
        elif len(name.strip()) > MAX_NAME:
            self.bad("bad_name", f"{where}.name", f"{label}的名称不能超过 {MAX_NAME} 字")
            name = None
        elif (why := text_problem(name)) is not None:
            self.bad("bad_name", f"{where}.name", f"{label}的名称{why}")
            name = None
        if day is None or name is None or not isinstance(off, bool):
            return
        self.seen[day] = where
        if off:
            self.holidays[day] = name.strip()
        elif day.weekday() < SATURDAY:
            self.bad(
                "workday_not_weekend",
                f"{where}.date",
                f"{label}: {day} 是周{_WEEKDAYS[day.weekday()]},调休上班日应为周六或周日",
                day.isoformat(),
            )
        else:
            self.workdays[day] = name.strip()

    def notice(self, source: Source, papers: tuple[str, ...]) -> Notice:
        if not self.holidays and not self.problems:
            self.bad(
                "no_holidays",
                "days",
                f"没有任何放假日期: {self.year} 年的国务院节假日安排可能尚未发布",
            )
        if self.problems:
            raise InputError(self.problems)
        return Notice(
            self.year,
            dict(sorted(self.holidays.items())),
            dict(sorted(self.workdays.items())),
            source,
            papers,
        )


def _iso_day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _show(value: Any) -> str:
    """A value from the file, short and safe to echo in an answer."""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return readable(text[:40])


def parse_notice(data: bytes, *, year: int) -> Notice:
    """A notice from the bytes of a holiday-cn JSON file or a CSV (`date,kind,name`, kind 休 or
    班), checked strictly: every problem is reported by field or row, nothing is half-read."""
    if len(data) > MAX_BYTES:
        raise InputError(
            [Problem("file_too_large", "file", f"文件不能超过 {MAX_BYTES // 1024} KB")]
        )
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InputError([Problem("encoding", "file", "文件应为 UTF-8 编码")]) from None
    if text.lstrip().startswith("{"):
        return _parse_json(text, year)
    return _parse_csv(text, year)


def _parse_json(text: str, year: int) -> Notice:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            [Problem("json_invalid", "file", f"不是有效的 JSON: {exc}"[:200])]
        ) from None
    if not isinstance(doc, dict):
        raise InputError([Problem("wrong_type", "file", "文件应为 JSON 对象")])
    days = _Days(year)
    stated = doc.get("year")
    if isinstance(stated, bool) or not isinstance(stated, int | float) or not math.isfinite(stated):
        days.bad("bad_year", "year", "year 应为年份数字")
    elif stated != year:
        days.bad(
            "year_mismatch", "year", f"文件中的年份 {_show(stated)} 与导入的年份 {year} 不一致"
        )
    papers = doc.get("papers")
    if not isinstance(papers, list) or len(papers) > MAX_PAPERS:
        days.bad("bad_papers", "papers", f"papers 应为国务院文件网址的数组(最多 {MAX_PAPERS} 个)")
        papers = []
    for k, paper in enumerate(papers):
        if not isinstance(paper, str) or not paper.startswith(("https://", "http://")):
            days.bad("bad_paper", f"papers[{k}]", "应为 http(s) 网址")
        elif len(paper) > MAX_PAPER or text_problem(paper) is not None or " " in paper:
            days.bad(
                "bad_paper",
                f"papers[{k}]",
                f"网址应为不超过 {MAX_PAPER} 个字符、不含空白与控制字符",
            )
    listed = doc.get("days")
    if not isinstance(listed, list):
        days.bad("bad_days", "days", "days 应为数组")
        listed = []
    if len(listed) > MAX_DAYS:
        raise InputError([Problem("too_many_days", "days", f"days 最多 {MAX_DAYS} 项")])
    for k, item in enumerate(listed):
        where = f"days[{k}]"
        if not isinstance(item, dict):
            days.bad("wrong_type", where, f"{where} 应为对象")
            continue
        off = item.get("isOffDay")
        if not isinstance(off, bool):
            days.bad(
                "bad_is_off_day", f"{where}.isOffDay", f"{where} 的 isOffDay 应为 true 或 false"
            )
        days.add(
            where=where, raw_date=item.get("date"), off=off, name=item.get("name"), label=where
        )
    return days.notice(Source.HOLIDAY_CN, tuple(p for p in papers if isinstance(p, str)))


def _parse_csv(text: str, year: int) -> Notice:
    rows = csv.reader(io.StringIO(text))
    try:
        header = next(rows, [])
        if tuple(h.strip() for h in header) != CSV_HEADER:
            raise InputError(
                [Problem("csv_header", "file", "第 1 行应为表头 date,kind,name(kind 为 休 或 班)")]
            )
        days = _Days(year)
        for line, cells in enumerate(rows, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(days.seen) + len(days.problems) >= MAX_DAYS:
                raise InputError([Problem("too_many_days", "file", f"最多 {MAX_DAYS} 行日期")])
            where, label = f"rows[{line}]", f"第 {line} 行"
            if len(cells) != len(CSV_HEADER):
                days.bad("csv_row", where, f"{label}应有 3 列(date,kind,name),实有 {len(cells)} 列")
                continue
            raw_date, kind, name = (c.strip() for c in cells)
            if kind not in (OFF, ON):
                days.bad(
                    "bad_kind", f"{where}.kind", f"{label}的 kind 应为 {OFF} 或 {ON}: {_show(kind)}"
                )
            days.add(
                where=where,
                raw_date=raw_date,
                off={OFF: True, ON: False}.get(kind),
                name=name,
                label=label,
            )
    except csv.Error as exc:
        raise InputError([Problem("csv_invalid", "file", f"不是有效的 CSV: {exc}")]) from None
    return days.notice(Source.CSV, ())


# -- the calendar that planning reads -------------------------------------------------------


def _stored(row: OfficialYearRow) -> OfficialCalendar:
    off = {date.fromisoformat(d): n for d, n in row.holidays.items()}
    work = {date.fromisoformat(d): n for d, n in row.workdays.items()}
    return OfficialCalendar(
        country="CN",
        years=frozenset({row.year}),
        holidays=frozenset(off),
        workdays=frozenset(work),
        names={**off, **work},
    )


def effective_calendar(
    session: Session, years: Iterable[int], *, provisional: bool = True
) -> tuple[OfficialCalendar, frozenset[int]]:
    """The stored notices of `years`, the provisional calendar for those without one (unless
    `provisional` is false: then those years stay unknown), and which years are provisional."""
    wanted = frozenset(years)
    rows = OfficialYearRepository(session).of(wanted)
    missing = wanted - set(rows)
    stored = [_stored(rows[y]) for y in sorted(rows)]
    if not provisional:
        return combine(*stored), frozenset()
    return combine(*stored, provisional_calendar(missing)), frozenset(missing)


def working_calendar(
    session: Session, years: Iterable[int], *, provisional: bool = True
) -> tuple[WorkingCalendar, frozenset[int]]:
    """The working days of `years` as an instance carries them (the package's calendar plus
    extras where the stored or provisional days differ, the `calendar` setting's overrides on
    top), so that the instance file says the same on its own; and the provisional years."""
    cal, missing = effective_calendar(session, years, provisional=provisional)
    overrides = SettingRepository(session).value("calendar")
    return (
        as_instance_calendar(
            cal,
            extra_holidays=frozenset(
                date.fromisoformat(d) for d in overrides.get("extra_holidays", [])
            ),
            extra_workdays=frozenset(
                date.fromisoformat(d) for d in overrides.get("extra_workdays", [])
            ),
        ),
        missing,
    )


def provisional_years(session: Session, years: Iterable[int]) -> list[int]:
    """Those of `years` with no stored notice."""
    wanted = set(years)
    return sorted(wanted - set(OfficialYearRepository(session).of(wanted)))


def stored_years(session: Session) -> list[int]:
    """The years whose notice is stored."""
    return [row.year for row in OfficialYearRepository(session).list()]


def _days_off(cal: OfficialCalendar, year: int) -> dict[date, str]:
    """The non-working days of `year` by `cal`, each with why (its name, or the weekday)."""
    working = WorkingCalendar(cal)
    return {
        d: cal.names.get(d) or f"周{_WEEKDAYS[d.weekday()]}"
        for d in days_between(date(year, 1, 1), date(year, 12, 31))
        if not working.is_working_day(d)
    }


# -- disturbed visits ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisturbedVisit:
    visit: VisitOnDay
    why: str


@dataclass(frozen=True, slots=True)
class DisturbedPage:
    year: int
    total: int
    items: list[DisturbedVisit]
    next_cursor: int | None


def disturbed_visits(
    session: Session, *, year: int, after: int | None = None, limit: int = 100
) -> DisturbedPage:
    """Published visits of `year` on a non-working day of its calendar, by visit id."""
    cal, _ = effective_calendar(session, [year])
    off = _days_off(cal, year)
    repo = OfficialYearRepository(session)
    rows = repo.visits_on(off, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return DisturbedPage(
        year=year,
        total=repo.count_on(off),
        items=[DisturbedVisit(v, off[v.day]) for v in rows],
        next_cursor=rows[-1].visit_id if more and rows else None,
    )


def every_disturbed(session: Session, *, year: int) -> Iterator[DisturbedVisit]:
    """Every disturbed visit of `year`, a page at a time."""
    after: int | None = None
    while True:
        page = disturbed_visits(session, year=year, after=after, limit=1000)
        yield from page.items
        if page.next_cursor is None:
            return
        after = page.next_cursor


# -- importing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    year: int
    source: Source
    holidays: int
    workdays: int
    replaced: str | None
    changed: list[date]
    disturbed: DisturbedPage


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(
            [Problem("year_range", "year", f"年份应在 {FIRST_YEAR} 至 {LAST_YEAR} 之间")]
        )


def import_notice(session: Session, *, year: int, data: bytes) -> ImportReport:
    """Store `data` (holiday-cn JSON or CSV) as `year`'s notice, replacing what the year had;
    the days whose working status changed, and the published visits now on a day off."""
    _check_year(year)
    notice = parse_notice(data, year=year)
    before, _ = effective_calendar(session, [year])
    repo = OfficialYearRepository(session)
    row = repo.get(year)
    replaced = None if row is None else _row_state(row)
    if row is None:
        row = OfficialYearRow(year=year, source=notice.source, imported_by="")
    row.holidays = {d.isoformat(): n for d, n in notice.holidays.items()}
    row.workdays = {d.isoformat(): n for d, n in notice.workdays.items()}
    row.papers = list(notice.papers)
    row.source = notice.source
    row.imported_at = utcnow()
    row.imported_by = str(session.info.get("actor", ""))[:200]
    repo.add(row)
    after, _ = effective_calendar(session, [year])
    was, now = WorkingCalendar(before), WorkingCalendar(after)
    changed = [
        d
        for d in days_between(date(year, 1, 1), date(year, 12, 31))
        if was.is_working_day(d) != now.is_working_day(d)
    ]
    disturbed = disturbed_visits(session, year=year, limit=IMPORT_LISTED)
    record(
        session,
        "calendar.import",
        f"calendar:{year}",
        {
            **_row_state(row),
            "replaced": replaced,
            "changed_days": changed,
            "disturbed_visits": disturbed.total,
        },
    )
    return ImportReport(
        year=year,
        source=notice.source,
        holidays=len(notice.holidays),
        workdays=len(notice.workdays),
        replaced=None if replaced is None else str(replaced["source"]),
        changed=changed,
        disturbed=disturbed,
    )


def _row_state(row: OfficialYearRow) -> dict[str, Any]:
    return {
        "source": row.source,
        "holidays": dict(row.holidays),
        "workdays": dict(row.workdays),
        "papers": list(row.papers),
        "imported_by": row.imported_by,
        "imported_at": plain(row.imported_at),
    }


# -- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YearListing:
    year: int
    provisional: bool
    source: str
    holidays: int
    workdays: int
    imported_at: datetime | None
    imported_by: str | None
    papers: list[str]
    disturbed: int


@dataclass(frozen=True, slots=True)
class DayLine:
    day: date
    off: bool
    name: str

    @property
    def weekday(self) -> str:
        return f"周{_WEEKDAYS[self.day.weekday()]}"


def _listing(session: Session, year: int, row: OfficialYearRow | None) -> YearListing:
    cal, _ = effective_calendar(session, [year])
    disturbed = OfficialYearRepository(session).count_on(_days_off(cal, year))
    if row is None:
        return YearListing(
            year, True, PROVISIONAL_SOURCE, len(cal.holidays), 0, None, None, [], disturbed
        )
    return YearListing(
        year,
        False,
        row.source,
        len(row.holidays),
        len(row.workdays),
        row.imported_at,
        row.imported_by,
        list(row.papers),
        disturbed,
    )


def list_years(session: Session, *, today: date) -> list[YearListing]:
    """Every stored year, and this year and the next when they have no notice yet (they are
    planned provisionally), newest first."""
    rows = {row.year: row for row in OfficialYearRepository(session).list()}
    years = set(rows) | {today.year, today.year + 1}
    return [_listing(session, y, rows.get(y)) for y in sorted(years, reverse=True)]


def year_days(session: Session, year: int) -> tuple[YearListing, list[DayLine]]:
    """A year's listing and the days its calendar names (days off and 调休 working days)."""
    _check_year(year)
    cal, _ = effective_calendar(session, [year])
    listing = _listing(session, year, OfficialYearRepository(session).get(year))
    lines = [DayLine(d, True, cal.names.get(d, "")) for d in cal.holidays]
    lines += [DayLine(d, False, cal.names.get(d, "")) for d in cal.workdays]
    return listing, sorted(lines, key=lambda line: line.day)
