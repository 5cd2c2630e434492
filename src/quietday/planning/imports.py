"""Spreadsheet intake: CSV (UTF-8 or GB18030) or XLSX with Chinese column headers, and the template.

Rows stream through in chunks: each chunk is checked and, while no row anywhere was bad, added
to the open transaction; a bad row stops the adding but not the checking, so the answer lists
every bad row (by index and field) and nothing is kept. Memory stays flat in the row count.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from openpyxl import load_workbook

from quietday.errors import InputError, Problem
from quietday.persistence import Session
from quietday.planning.access import Actor
from quietday.planning.audit import record
from quietday.planning.plans import MAX_BATCH, Intake, PlanInput
from quietday.planning.spreadsheets import csv_bytes, xlsx_bytes

__all__ = ["COLUMNS", "ImportReport", "import_plans", "template_csv", "template_xlsx"]

# (header, field, required)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("外部编号", "external_ref", False),
    ("部门编码", "agency_id", False),
    ("统一社会信用代码", "enterprise_id", True),
    ("检查类型", "kind", True),
    ("检查事项", "items", False),
    ("最早日期", "earliest", True),
    ("最晚日期", "latest", True),
    ("优先级", "priority", False),
    ("豁免事由", "exempt_reason", False),
    ("不提前告知", "unannounced", False),
)
KIND_WORDS = {
    "日常检查": "routine", "日常": "routine", "routine": "routine",
    "专项检查": "special", "专项": "special", "special": "special",
    "个案检查": "case", "个案": "case", "case": "case",
    "应企业申请": "requested", "企业申请": "requested", "requested": "requested",
}  # fmt: skip
YES = {"是", "y", "yes", "true", "1"}
NO = {"否", "n", "no", "false", "0", ""}
_CHUNK = 500
_MAX_PROBLEMS = 1000
EXAMPLE = ("JX-2026-0001", "", "91330100799655058B", "日常检查", "SCJG-0101、SCJG-0102",
           "2026-07-01", "2026-09-30", "3", "", "否")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    created: int
    unchanged: int


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value).replace("/", "-").replace(".", "-")
    try:
        parts = [int(p) for p in text.split("-")]
        return date(parts[0], parts[1], parts[2]) if len(parts) == 3 else None
    except ValueError:
        return None


def _row_to_plan(
    values: dict[str, Any], path: str, line: int
) -> tuple[PlanInput | None, list[Problem]]:
    problems: list[Problem] = []

    def bad(name: str, header: str, message: str) -> None:
        problems.append(Problem("bad_cell", f"{path}.{name}", f"第 {line} 行「{header}」{message}"))

    for header, name, required in COLUMNS:
        if required and not _text(values.get(name)):
            bad(name, header, "不能为空")
    kind = KIND_WORDS.get(_text(values.get("kind")))
    if _text(values.get("kind")) and kind is None:
        bad("kind", "检查类型", "应为 日常检查、专项检查、个案检查 或 应企业申请")
    days = {}
    for name, header in (("earliest", "最早日期"), ("latest", "最晚日期")):
        raw = values.get(name)
        days[name] = _day(raw)
        if _text(raw) and days[name] is None:
            bad(name, header, f"不是日期: {_text(raw)}")
    priority_text = _text(values.get("priority")) or "1"
    if not priority_text.isdigit():
        bad("priority", "优先级", f"应为 1 至 100 的整数: {priority_text}")
    flag = _text(values.get("unannounced")).lower()
    if flag not in YES | NO:
        bad("unannounced", "不提前告知", "应为 是 或 否")
    if problems or kind is None or days["earliest"] is None or days["latest"] is None:
        return None, problems
    items = tuple(
        s.strip()
        for s in _text(values.get("items"))
        .replace("；", "、")
        .replace(";", "、")
        .replace(",", "、")
        .split("、")
        if s.strip()
    )
    return (
        PlanInput(
            enterprise_id=_text(values.get("enterprise_id")),
            kind=kind,
            earliest=days["earliest"],
            latest=days["latest"],
            items=items,
            priority=int(priority_text),
            exempt_reason=_text(values.get("exempt_reason")) or None,
            unannounced=flag in YES,
            external_ref=_text(values.get("external_ref")) or None,
            agency_id=_text(values.get("agency_id")) or None,
        ),
        [],
    )


def _header_map(header: Sequence[Any]) -> tuple[dict[int, str], list[Problem]]:
    names = {h: n for h, n, _ in COLUMNS}
    found: dict[int, str] = {}
    for k, cell in enumerate(header):
        name = names.get(_text(cell).lstrip("\ufeff"))
        if name is not None:
            found[k] = name
    missing = [h for h, n, required in COLUMNS if required and n not in found.values()]
    problems = [Problem("missing_column", "header", f"缺少列「{h}」") for h in missing]
    return found, problems


def _csv_rows(stream: IO[bytes]) -> Iterator[list[str]]:
    head = stream.read(65536)
    stream.seek(0)
    try:
        head.decode("utf-8")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        encoding = "utf-8-sig" if exc.start >= len(head) - 3 else "gb18030"
    reader = codecs.getreader(encoding)(stream, "strict")
    yield from csv.reader(reader)


def _unreadable(exc: Exception) -> InputError:
    return InputError([Problem("bad_file", "file", f"无法读取 XLSX 文件({type(exc).__name__})")])


def _xlsx_rows(stream: IO[bytes]) -> Iterator[list[Any]]:
    # An uploaded workbook is untrusted: a broken zip, XML or cell fails in many library-specific
    # ways, and every one of them is the same answer to the user.
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:
        raise _unreadable(exc) from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        while True:
            try:
                row = next(rows, None)
            except Exception as exc:
                raise _unreadable(exc) from None
            if row is None:
                return
            yield list(row)
    finally:
        book.close()


def import_plans(
    session: Session, actor: Actor, stream: IO[bytes], *, filename: str
) -> ImportReport:
    """Import a CSV or XLSX file of plans, all or nothing (InputError lists every bad row)."""
    is_xlsx = filename.lower().endswith(".xlsx")
    rows = _xlsx_rows(stream) if is_xlsx else _csv_rows(stream)
    intake = Intake(session, actor, keep_rows=False)
    try:
        header = next(rows, None)
        if header is None:
            raise InputError([Problem("empty_file", "file", "文件为空")])
        columns, problems = _header_map(header)
        if problems:
            raise InputError(problems)
        chunk: list[tuple[str, PlanInput]] = []
        count = 0
        for k, raw in enumerate(rows):
            if not any(_text(v) for v in raw):
                continue
            count += 1
            if count > MAX_BATCH:
                raise InputError(
                    [Problem("batch_too_large", "file", f"一次最多导入 {MAX_BATCH} 行")]
                )
            values = {name: raw[i] if i < len(raw) else None for i, name in columns.items()}
            plan, row_problems = _row_to_plan(values, f"rows[{k}]", k + 2)
            if len(intake.problems) < _MAX_PROBLEMS:
                intake.problems.extend(row_problems)
            if plan is not None:
                chunk.append((f"rows[{k}]", plan))
            if len(chunk) >= _CHUNK:
                intake.check_and_add(chunk)
                chunk = []
        intake.check_and_add(chunk)
    except UnicodeDecodeError:
        raise InputError(
            [Problem("bad_encoding", "file", "CSV 文件编码无法识别(请用 UTF-8 或 GB18030)")]
        ) from None
    except csv.Error as exc:
        raise InputError([Problem("bad_file", "file", f"CSV 格式错误: {exc}")]) from None
    if intake.problems:
        raise InputError(intake.problems[:_MAX_PROBLEMS])
    if count == 0:
        raise InputError([Problem("empty_file", "file", "文件中没有数据行")])
    if intake.created:
        summary = {**intake.digest.summary(), "rows": count, "unchanged": intake.unchanged}
        record(session, "plan.import", "plans", {**summary, "file": filename[:200]})
    return ImportReport(rows=count, created=intake.created, unchanged=intake.unchanged)


def template_csv() -> bytes:
    return csv_bytes([h for h, _, _ in COLUMNS], [EXAMPLE])


def template_xlsx() -> bytes:
    return xlsx_bytes(title="检查计划", header=[h for h, _, _ in COLUMNS], rows=[EXAMPLE])
