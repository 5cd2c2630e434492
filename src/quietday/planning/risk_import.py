"""SAMR's monthly reclassification into the registry: a CSV (UTF-8 or GB18030) with the columns
统一社会信用代码, 风险分类 (A-D, full-width letters too), 分类日期 (not after today, China) and,
optionally, 无感监管 (是/否; blank keeps the flag).

All or nothing: every bad row is named (row, column, message), unknown enterprises and codes
given twice included, and nothing is kept. A row whose 分类日期 is older than the class stored
for its enterprise does not overwrite it (a late file of an earlier month); the answer counts and
lists those rows. The import is audit-logged with its counts."""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from quietday.domain.limits import MAX_AGENCY_ID, YEARS
from quietday.domain.sampling import RISK_CLASSES
from quietday.domain.text import text_problem
from quietday.errors import InputError, Problem
from quietday.persistence import Session
from quietday.persistence.risk import RiskRepository
from quietday.planning.audit import RowDigest, record
from quietday.planning.imports import NO, YES, cell_date, csv_rows

__all__ = ["COLUMNS", "MAX_RISK_ROWS", "Older", "RiskImportReport", "import_risk_classes"]

# (header, field, required)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("统一社会信用代码", "enterprise_id", True),
    ("风险分类", "risk_class", True),
    ("分类日期", "classified_on", True),
    ("无感监管", "low_risk", False),
)
HEADERS = {name: header for header, name, _ in COLUMNS}
# A province's monthly file: far above a county's, the upload's byte limit binds first.
MAX_RISK_ROWS = 200_000
MAX_LISTED = 100  # rows listed in the answer as not overwriting a newer class
_CELL = {"enterprise_id": MAX_AGENCY_ID, "risk_class": 10, "classified_on": 40, "low_risk": 10}


@dataclass(frozen=True, slots=True)
class Older:
    """A row that did not overwrite: its class is dated before the one stored."""

    row: int
    enterprise_id: str
    classified_on: date
    stored_on: date


@dataclass(frozen=True, slots=True)
class RiskImportReport:
    rows: int
    updated: int
    unchanged: int
    skipped_older: int
    older: list[Older] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Line:
    line: int
    enterprise_id: str
    risk_class: str
    classified_on: date
    low_risk: bool | None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _problem(line: int, name: str, message: str, record: str | None = None) -> Problem:
    return Problem(
        "bad_cell", f"rows[{line - 2}].{name}", f"第 {line} 行「{HEADERS[name]}」{message}", record
    )


def _read(
    values: Mapping[str, Any], line: int, problems: list[Problem], today: date
) -> _Line | None:
    """The row, or None with its problems added."""
    found = len(problems)
    text: dict[str, str] = {}
    for _, name, required in COLUMNS:
        raw = values.get(name)
        if isinstance(raw, str) and len(raw) > _CELL[name]:
            problems.append(_problem(line, name, f"超过 {_CELL[name]} 个字符"))
            text[name] = ""
            continue
        text[name] = _text(raw)
        bad = text_problem(text[name])
        if bad is not None:
            problems.append(_problem(line, name, bad))
            text[name] = ""
        elif required and not text[name]:
            problems.append(_problem(line, name, "不能为空"))
    ent = text["enterprise_id"] or None
    cls = unicodedata.normalize("NFKC", text["risk_class"]).upper().removesuffix("类").strip()
    if text["risk_class"] and cls not in RISK_CLASSES:
        message = f"应为 {'、'.join(RISK_CLASSES)} 之一: {text['risk_class']}"
        problems.append(_problem(line, "risk_class", message, ent))
    day = cell_date(text["classified_on"]) if text["classified_on"] else None
    if text["classified_on"] and day is None:
        message = f"不是日期(应为 YYYY-MM-DD): {text['classified_on']}"
        problems.append(_problem(line, "classified_on", message, ent))
    elif day is not None and not YEARS[0] <= day.year <= YEARS[1]:
        message = f"{day} 超出 {YEARS[0]}-{YEARS[1]} 年"
        problems.append(_problem(line, "classified_on", message, ent))
    elif day is not None and day > today:
        message = f"{day} 晚于今天 {today},不能导入尚未作出的分类"
        problems.append(_problem(line, "classified_on", message, ent))
    flag = text["low_risk"].lower()
    if flag not in YES | NO:
        problems.append(_problem(line, "low_risk", f"应为 是 或 否: {text['low_risk']}", ent))
    if len(problems) > found or ent is None or day is None:
        return None
    return _Line(line, ent, cls, day, None if not flag else flag in YES)


def _header(header: Sequence[Any]) -> dict[int, str]:
    names = {h: n for h, n, _ in COLUMNS}
    found: dict[int, str] = {}
    for k, cell in enumerate(header):
        name = names.get(_text(cell).lstrip("\ufeff"))
        if name is not None and name not in found.values():
            found[k] = name
    missing = [h for h, n, required in COLUMNS if required and n not in found.values()]
    if missing:
        raise InputError([Problem("missing_column", "header", f"缺少列「{h}」") for h in missing])
    return found


def _lines(stream: IO[bytes], problems: list[Problem], today: date) -> list[_Line]:
    rows = csv_rows(stream, limit=MAX_RISK_ROWS, header=True)
    header = next(rows, None)
    if header is None:
        raise InputError([Problem("empty_file", "file", "文件为空")])
    columns = _header(header)
    out: list[_Line] = []
    seen: dict[str, int] = {}
    for k, raw in enumerate(rows):
        if not any(_text(v) for v in raw):
            continue
        line = k + 2
        values = {name: raw[i] if i < len(raw) else None for i, name in columns.items()}
        got = _read(values, line, problems, today)
        if got is None:
            continue
        first = seen.setdefault(got.enterprise_id, line)
        if first != line:
            message = f"{got.enterprise_id} 与第 {first} 行重复"
            problems.append(_problem(line, "enterprise_id", message, got.enterprise_id))
            continue
        out.append(got)
    return out


def import_risk_classes(
    session: Session, stream: IO[bytes], *, filename: str, today: date
) -> RiskImportReport:
    """Import a classification CSV, all or nothing (InputError lists every problem of every row,
    in file order; a 分类日期 after `today`, China, is one); rows dated before an enterprise's
    stored class are skipped and reported."""
    problems: list[Problem] = []
    try:
        lines = _lines(stream, problems, today)
    except UnicodeDecodeError:
        raise InputError(
            [Problem("bad_encoding", "file", "CSV 文件编码无法识别(请用 UTF-8 或 GB18030)")]
        ) from None
    except csv.Error as exc:
        raise InputError([Problem("bad_file", "file", f"CSV 格式错误: {exc}")]) from None
    repo = RiskRepository(session)
    stored = repo.classes(x.enterprise_id for x in lines)
    for x in lines:
        if x.enterprise_id not in stored:
            message = f"企业 {x.enterprise_id} 不在企业名录中"
            problems.append(_problem(x.line, "enterprise_id", message, x.enterprise_id))
    if problems:
        raise InputError(sorted(problems, key=_order))
    if not lines:
        raise InputError([Problem("empty_file", "file", "文件中没有数据行")])
    older: list[Older] = []
    changes: list[dict[str, Any]] = []
    digest = RowDigest()
    unchanged = 0
    for x in lines:
        now = stored[x.enterprise_id]
        if now.risk_classified_on is not None and x.classified_on < now.risk_classified_on:
            older.append(Older(x.line, x.enterprise_id, x.classified_on, now.risk_classified_on))
            continue
        low = now.low_risk if x.low_risk is None else x.low_risk
        new = {"risk_class": x.risk_class, "risk_classified_on": x.classified_on, "low_risk": low}
        if (now.risk_class, now.risk_classified_on, now.low_risk) == tuple(new.values()):
            unchanged += 1
            continue
        changes.append({"enterprise_id": x.enterprise_id, **new})
        digest.add(x.enterprise_id, {"id": x.enterprise_id, **new})
    repo.set_classes(changes)
    record(
        session,
        "enterprise.risk_import",
        "enterprises",
        {
            "file": filename[:200],
            "rows": len(lines),
            "updated": digest.summary(),
            "unchanged": unchanged,
            "skipped_older": len(older),
        },
    )
    return RiskImportReport(len(lines), len(changes), unchanged, len(older), older[:MAX_LISTED])


def _order(p: Problem) -> tuple[int, int]:
    names = [n for _, n, _ in COLUMNS]
    head, _, name = p.path.partition(".")
    if not head.startswith("rows["):
        return 0, 0
    return int(head[5:-1]), names.index(name) if name in names else len(names)
