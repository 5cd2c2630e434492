"""Spreadsheet intake: CSV (UTF-8 or GB18030) or XLSX with Chinese column headers, the template,
and the uploaded sheet given back with its bad cells marked.

Rows stream through in chunks: each chunk is checked and, while no row anywhere was bad, added
to the open transaction; a bad row stops the adding but not the checking, so one answer lists
every problem of every row (`第 3 行「最晚日期」…`), unknown enterprises included, and nothing
is kept. Memory stays flat in the row count.

An upload is untrusted: an XLSX is a zip whose parts openpyxl inflates, so its declared sizes are
checked before openpyxl opens it (zipfile never inflates a member past its declared size), and
rows, columns and cell lengths are capped while reading, for CSV and XLSX alike.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any
from xml.etree import ElementTree

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from quietday.domain.filing import TRIGGER_LABELS
from quietday.domain.limits import MAX_AGENCY_ID, MAX_BATCH, MAX_EXEMPT_REASON, MAX_EXTERNAL_REF
from quietday.domain.text import ascii_int, text_problem
from quietday.errors import InputError, Problem
from quietday.persistence import Session
from quietday.persistence.registry import AgencyRepository, EnterpriseRepository
from quietday.planning.audit import record
from quietday.planning.keys import Actor
from quietday.planning.plans import Intake, PlanInput, Wording
from quietday.planning.spreadsheets import csv_bytes, inert_cell, xlsx_bytes

log = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "ImportReport",
    "cell_date",
    "csv_rows",
    "example_row",
    "import_plans",
    "marked_sheet",
    "next_quarter",
    "template_csv",
    "template_xlsx",
]

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
    ("触发事由", "trigger", False),
    ("检查方式", "remote", False),
)
HEADERS = {name: header for header, name, _ in COLUMNS}
KIND_WORDS = {
    "日常检查": "routine", "日常": "routine", "routine": "routine",
    "专项检查": "special", "专项": "special", "special": "special",
    "个案检查": "case", "个案": "case", "case": "case",
    "应企业申请": "requested", "企业申请": "requested", "requested": "requested",
}  # fmt: skip
# A case's trigger, by its Chinese name or its code.
TRIGGER_WORDS = {
    **{label: code for code, label in TRIGGER_LABELS.items()},
    **{c: c for c in TRIGGER_LABELS},
}
# 检查方式: on site (blank too) or remote (非现场: a document or video review).
MODE_WORDS = {
    "": False, "现场": False, "现场检查": False, "onsite": False,
    "非现场": True, "非现场检查": True, "remote": True,
}  # fmt: skip
YES = {"是", "y", "yes", "true", "1"}
NO = {"否", "n", "no", "false", "0", ""}
_CHUNK = 500
# Caps on what a sheet may hold: far above any real plan sheet (10,000 rows of ten columns are
# about 3 MB of sheet XML and a few hundred KB of shared strings), far below what hurts.
MAX_ROWS = 2 * MAX_BATCH  # physical rows, blank ones included
MAX_COLUMNS = 50
MAX_CELL = 4000  # characters: MAX_ITEMS items of MAX_ITEM characters and separators fit
# The most characters a cell of each column may hold; a longer one is refused unread, never
# echoed (a sheet of long strings in every cell once held 400 MB of messages quoting them).
_CELL_LIMITS = {
    "external_ref": MAX_EXTERNAL_REF, "agency_id": MAX_AGENCY_ID, "enterprise_id": MAX_AGENCY_ID,
    "kind": 20, "items": MAX_CELL, "earliest": 40, "latest": 40, "priority": 20,
    "exempt_reason": MAX_EXEMPT_REASON, "unannounced": 10, "trigger": 20, "remote": 20,
}  # fmt: skip
# An XLSX's parts, inflated, by their declared content type: openpyxl streams a worksheet in
# read-only mode (10,000 rows are about 6 MB), holds the shared strings whole, and parses every
# other XML part whole into objects (512 KB of `<xf/>` styles: +63 MB and 6 s, measured).
MAX_XLSX_TOTAL = 64 << 20
MAX_XLSX_SHEET = 32 << 20
MAX_XLSX_STRINGS = 16 << 20
MAX_XLSX_XML = 512 << 10  # any other XML part (styles, workbook, relations, properties...)
MAX_XLSX_MEMBERS = 1000
MAX_XLSX_DIRECTORY = 1 << 20  # the zip's central directory, read whole by zipfile
MAX_XLSX_RATIO = 200  # inflated / compressed, for parts over 1 MB (sheet XML is 5-20x)
_RATIO_FROM = 1 << 20
_DATE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})|(\d{4})年(\d{1,2})月(\d{1,2})日?", re.ASCII
)
_MULTILINE = {"exempt_reason"}
_ROW_PATH = re.compile(r"^rows\[(\d+)\]\.(\w+)$")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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
    if isinstance(value, datetime):
        value = value.date()
    return str(value).strip()


def cell_date(value: Any) -> date | None:
    """A cell's date: a spreadsheet date, or text 2026-07-01, 2026/7/1 or 2026年7月1日."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    m = _DATE.fullmatch(_text(value))
    if m is None:
        return None
    year, month, day = (int(g) for g in m.groups() if g is not None)
    try:
        return date(year, month, day)
    except ValueError:
        return None


@dataclass
class _Row:
    """One spreadsheet row read into a plan: bad cells hold a placeholder and are `unread`."""

    line: int
    problems: list[Problem]
    unread: set[str]

    @property
    def path(self) -> str:
        return f"rows[{self.line - 2}]"

    def bad(self, name: str, message: str) -> None:
        self.problems.append(Problem("bad_cell", f"{self.path}.{name}", message))
        self.unread.add(name)


def _row_to_plan(values: Mapping[str, Any], line: int, today: date) -> tuple[PlanInput, _Row]:
    """The row as a plan, with every cell's problem; unreadable cells get placeholders."""
    row = _Row(line, [], set())
    text: dict[str, str] = {}
    for _, name, required in COLUMNS:
        raw = values.get(name)
        if isinstance(raw, str) and len(raw) > _CELL_LIMITS[name]:
            row.bad(name, f"超过 {_CELL_LIMITS[name]} 个字符")
            text[name] = ""
            continue
        text[name] = _text(raw)
        problem = text_problem(text[name], multiline=name in _MULTILINE)
        if problem is not None:
            row.bad(name, problem)
            text[name] = ""
        elif required and not text[name]:
            row.bad(name, "不能为空")
    kind = KIND_WORDS.get(text["kind"])
    if kind is None and "kind" not in row.unread:
        row.bad("kind", f"应为 日常检查、专项检查、个案检查 或 应企业申请: {text['kind']}")
    days: dict[str, date] = {}
    for name in ("earliest", "latest"):
        day = cell_date(values.get(name)) if name not in row.unread else None
        if day is None and name not in row.unread:
            row.bad(name, f"不是日期(应为 YYYY-MM-DD): {text[name]}")
        days[name] = day or today
    priority = ascii_int(text["priority"] or "1", maximum=100)
    if priority is None and "priority" not in row.unread:
        row.bad("priority", f"应为 1 至 100 的整数: {text['priority']}")
    trigger = TRIGGER_WORDS.get(text["trigger"]) if text["trigger"] else None
    if text["trigger"] and trigger is None:
        row.bad("trigger", f"应为 {'、'.join(TRIGGER_LABELS.values())} 之一: {text['trigger']}")
    remote = MODE_WORDS.get(text["remote"].lower())
    if remote is None and "remote" not in row.unread:
        row.bad("remote", f"应为 现场 或 非现场: {text['remote']}")
    flag = text["unannounced"].lower()
    if flag not in YES | NO and "unannounced" not in row.unread:
        row.bad("unannounced", "应为 是 或 否")
    items = tuple(
        s.strip()
        for s in text["items"].replace("；", "、").replace(";", "、").replace(",", "、").split("、")
        if s.strip()
    )
    plan = PlanInput(
        enterprise_id=text["enterprise_id"],
        kind=kind or "routine",
        earliest=days["earliest"],
        latest=days["latest"],
        items=items,
        priority=1 if priority is None else priority,
        exempt_reason=text["exempt_reason"] or None,
        unannounced=flag in YES,
        external_ref=text["external_ref"] or None,
        agency_id=text["agency_id"] or None,
        trigger=trigger,
        remote=bool(remote),
    )
    return plan, row


def _header_map(header: Sequence[Any]) -> tuple[dict[int, str], list[Problem]]:
    names = {h: n for h, n, _ in COLUMNS}
    found: dict[int, str] = {}
    for k, cell in enumerate(header[:MAX_COLUMNS]):
        name = names.get(_text(cell).lstrip("\ufeff"))
        if name is not None:
            found[k] = name
    missing = [h for h, n, required in COLUMNS if required and n not in found.values()]
    problems = [Problem("missing_column", "header", f"缺少列「{h}」") for h in missing]
    return found, problems


def _too_many_rows(limit: int = MAX_ROWS) -> InputError:
    return InputError([Problem("too_many_rows", "file", f"表格最多 {limit} 行(含空行)")])


def _too_many_data_rows(limit: int) -> InputError:
    message = f"表格除表头外最多 {limit:,} 行(空行也计入)"
    return InputError([Problem("too_many_rows", "file", message)])


def csv_rows(
    stream: IO[bytes], *, limit: int = MAX_ROWS, header: bool = False
) -> Iterator[list[Any]]:
    """The rows of a CSV upload (UTF-8 or GB18030), at most `limit` (InputError past it; with
    `header`, `limit` rows after the first, and the message says so) and `MAX_COLUMNS` cells
    each; a bad encoding raises UnicodeDecodeError as it is met."""
    head = stream.read(65536)
    stream.seek(0)
    try:
        head.decode("utf-8")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        encoding = "utf-8-sig" if exc.start >= len(head) - 3 else "gb18030"
    reader = codecs.getreader(encoding)(stream, "strict")
    for k, row in enumerate(csv.reader(reader)):
        if k >= limit + (1 if header else 0):
            raise _too_many_data_rows(limit) if header else _too_many_rows(limit)
        yield row[:MAX_COLUMNS]


def _unreadable(exc: Exception) -> InputError:
    log.info("unreadable XLSX: %s: %s", type(exc).__name__, exc)
    return InputError(
        [
            Problem(
                "bad_file",
                "file",
                "无法读取 XLSX 文件: 文件已损坏,或不是 Excel 2007 及以后的 .xlsx 格式",
            )
        ]
    )


def _too_large(message: str) -> InputError:
    return InputError([Problem("xlsx_too_large", "file", f"XLSX 文件解压后过大: {message}")])


def _directory_size(stream: IO[bytes]) -> int | None:
    """The size of the zip's central directory, from its end record (None: no end record)."""
    stream.seek(0, io.SEEK_END)
    stream.seek(max(0, stream.tell() - (22 + 65535)))
    tail = stream.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    return int.from_bytes(tail[at + 12 : at + 16], "little")


def _check_zip(stream: IO[bytes]) -> None:
    """Refuse an XLSX whose parts would inflate past the caps, from the sizes its zip directory
    declares (zipfile stops every member at its declared size, so they cannot lie)."""
    directory = _directory_size(stream)
    if directory is not None and directory > MAX_XLSX_DIRECTORY:
        stream.seek(0)
        raise _too_large(f"目录 {directory >> 10} KB(最多 {MAX_XLSX_DIRECTORY >> 10} KB)")
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
            if len(members) > MAX_XLSX_MEMBERS:
                raise _too_large(f"含 {len(members)} 个部件(最多 {MAX_XLSX_MEMBERS} 个)")
            total = sum(m.file_size for m in members)
            if total > MAX_XLSX_TOTAL:
                raise _too_large(f"共 {total >> 20} MB(最多 {MAX_XLSX_TOTAL >> 20} MB)")
            kind_of = _content_types(archive)
    except (zipfile.BadZipFile, ElementTree.ParseError, OSError, ValueError, EOFError) as exc:
        raise _unreadable(exc) from None
    finally:
        stream.seek(0)
    for m in members:
        limit = {"sheet": MAX_XLSX_SHEET, "strings": MAX_XLSX_STRINGS, "xml": MAX_XLSX_XML}.get(
            kind_of(m.filename), MAX_XLSX_TOTAL
        )
        if m.file_size > limit:
            raise _too_large(f"{m.filename} {_kb(m.file_size)}(最多 {_kb(limit)})")
        if m.file_size > _RATIO_FROM and m.file_size > MAX_XLSX_RATIO * max(m.compress_size, 1):
            raise _too_large(f"{m.filename} 压缩比超过 {MAX_XLSX_RATIO}")


def _kb(size: int) -> str:
    return f"{size >> 20} MB" if size >= 1 << 20 else f"{size >> 10} KB"


_TYPES = "[Content_Types].xml"
_KINDS = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml": "sheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml": "strings",
}


def _content_types(archive: zipfile.ZipFile) -> Callable[[str], str]:
    """What each part is to openpyxl, by the content types it declares: `sheet` (streamed),
    `strings`, `xml` (parsed whole) or `other` (never read). The styles are read by their fixed
    name, whatever type they claim."""
    found = next((m for m in archive.infolist() if m.filename == _TYPES), None)
    if found is None:
        raise _unreadable(KeyError(_TYPES))
    if found.file_size > MAX_XLSX_XML:
        raise _too_large(f"{_TYPES} {_kb(found.file_size)}(最多 {_kb(MAX_XLSX_XML)})")
    root = ElementTree.fromstring(archive.read(found))
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for node in root:
        kind = node.get("ContentType", "")
        if node.tag.endswith("Default"):
            defaults[node.get("Extension", "").lower()] = kind
        elif node.tag.endswith("Override"):
            overrides[node.get("PartName", "").lstrip("/").lower()] = kind

    def kind_of(name: str) -> str:
        lowered = name.lower()
        if lowered == "xl/styles.xml" or name == _TYPES:
            return "xml"
        declared = overrides.get(lowered) or defaults.get(lowered.rsplit(".", 1)[-1], "")
        if declared in _KINDS:
            return _KINDS[declared]
        return "xml" if declared.endswith("xml") or lowered.endswith((".xml", ".rels")) else "other"

    return kind_of


def _xlsx_rows(stream: IO[bytes]) -> Iterator[list[Any]]:
    _check_zip(stream)
    # A broken zip, XML or cell fails in many library-specific ways, and every one of them is
    # the same answer to the user.
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:
        raise _unreadable(exc) from None
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(max_row=MAX_ROWS + 1, max_col=MAX_COLUMNS, values_only=True)
        for k in range(MAX_ROWS + 1):
            try:
                row = next(rows, None)
            except Exception as exc:
                raise _unreadable(exc) from None
            if row is None:
                return
            if k == MAX_ROWS:
                raise _too_many_rows()
            yield list(row)
    finally:
        book.close()


def _rows(stream: IO[bytes], filename: str) -> Iterator[list[Any]]:
    return _xlsx_rows(stream) if filename.lower().endswith(".xlsx") else csv_rows(stream)


def _placed(problem: Problem) -> Problem:
    """A row's problem as a person reads it: `第 3 行「最晚日期」…`."""
    m = _ROW_PATH.match(problem.path)
    if m is None:
        return problem
    line, name = int(m.group(1)) + 2, m.group(2)
    header = HEADERS.get(name, name)
    return Problem(problem.code, problem.path, f"第 {line} 行「{header}」{problem.message}")


def _line_and_column(problem: Problem) -> tuple[int, int]:
    m = _ROW_PATH.match(problem.path)
    if m is None:
        return 1, 0
    names = [n for _, n, _ in COLUMNS]
    name = m.group(2)
    return int(m.group(1)) + 2, names.index(name) if name in names else len(names)


def import_plans(
    session: Session, actor: Actor, stream: IO[bytes], *, filename: str, today: date
) -> ImportReport:
    """Import a CSV or XLSX file of plans, all or nothing (InputError lists every problem of
    every row, in sheet order)."""
    intake = Intake(session, actor, today, wording=Wording(HEADERS), keep_rows=False)
    rows = _rows(stream, filename)
    try:
        header = next(rows, None)
        if header is None:
            raise InputError([Problem("empty_file", "file", "文件为空")])
        columns, problems = _header_map(header)
        if problems:
            raise InputError(problems)
        chunk: list[tuple[str, PlanInput]] = []
        unread: dict[str, frozenset[str]] = {}
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
            plan, row = _row_to_plan(values, k + 2, today)
            intake.problems.extend(row.problems)
            chunk.append((row.path, plan))
            unread[row.path] = frozenset(row.unread)
            if len(chunk) >= _CHUNK:
                intake.check_and_add(chunk, unread=unread)
                chunk, unread = [], {}
        intake.check_and_add(chunk, unread=unread)
    except UnicodeDecodeError:
        raise InputError(
            [Problem("bad_encoding", "file", "CSV 文件编码无法识别(请用 UTF-8 或 GB18030)")]
        ) from None
    except csv.Error as exc:
        raise InputError([Problem("bad_file", "file", f"CSV 格式错误: {exc}")]) from None
    if intake.problems:
        # All of them, in sheet order (the answer lists the first; the marked sheet marks all).
        found = sorted(intake.problems, key=_line_and_column)
        raise InputError([_placed(p) for p in found])
    if count == 0:
        raise InputError([Problem("empty_file", "file", "文件中没有数据行")])
    if intake.created:
        summary = {**intake.digest.summary(), "rows": count, "unchanged": intake.unchanged}
        record(session, "plan.import", "plans", {**summary, "file": filename[:200]})
    return ImportReport(rows=count, created=intake.created, unchanged=intake.unchanged)


_BAD_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
_BAD_FONT = Font(color="FF9C0006")


def _xml(text: str) -> str:
    """XML 1.0 cannot hold these: shown as escapes, so that the person can find them."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _cell(
    sheet: WriteOnlyWorksheet, value: Any, messages: Sequence[str], *, limit: int
) -> WriteOnlyCell:
    if isinstance(value, str):
        value = _xml(value if len(value) <= limit else value[:limit] + "…(已截断)")
    cell = inert_cell(sheet, value)
    if messages:
        cell.fill = _BAD_FILL
        cell.font = _BAD_FONT
        cell.comment = Comment(_xml("\n".join(messages)), "quietday", width=320, height=120)
    return cell


def marked_sheet(stream: IO[bytes], *, filename: str, problems: Sequence[Problem]) -> bytes:
    """The uploaded sheet (CSV or XLSX) back as XLSX: each bad cell filled red and commented
    with its problems, and a second sheet listing every problem. A problem of the file itself
    (a missing column, an unreadable file) is a comment on the first cell."""
    by_cell: dict[tuple[int, int], list[str]] = {}
    widest: dict[int, int] = {}
    limits: dict[int, int] = {}  # a column's longest cell (longer ones are cut in the copy)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("检查计划(已标注)")
    try:
        for k, raw in enumerate(_rows(stream, filename)):
            line = k + 1
            if line == 1:
                columns = {name: i for i, name in _header_map(raw)[0].items()}
                limits = {i: _CELL_LIMITS[name] for name, i in columns.items()}
                for p in problems:
                    m = _ROW_PATH.match(p.path)
                    if m is None:
                        by_cell.setdefault((1, 0), []).append(p.message)
                        continue
                    column = columns.get(m.group(2), 0)
                    by_cell.setdefault((int(m.group(1)) + 2, column), []).append(p.message)
                for r, c in by_cell:
                    widest[r] = max(widest.get(r, 0), c + 1)
            width = max(len(raw), widest.get(line, 0))
            cells = [raw[i] if i < len(raw) else None for i in range(width)]
            sheet.append(
                [
                    _cell(sheet, v, by_cell.get((line, i), []), limit=limits.get(i, MAX_CELL))
                    for i, v in enumerate(cells)
                ]
            )
    except (InputError, UnicodeDecodeError, csv.Error):
        # The file itself could not be read (the problems say why): the list below remains.
        pass
    listing = book.create_sheet("问题清单")
    listing.append(["位置", "代码", "说明"])
    for p in problems:
        listing.append([_xml(p.path), p.code, _xml(p.message)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def next_quarter(today: date) -> tuple[date, date]:
    """The first and last day of the quarter after `today`'s."""
    n = today.year * 4 + (today.month - 1) // 3 + 1  # quarters since year 0, the next one
    start, after = (date(q // 4, q % 4 * 3 + 1, 1) for q in (n, n + 1))
    return start, after - timedelta(days=1)


def example_row(session: Session, actor: Actor, *, today: date) -> tuple[str, ...]:
    """The template's example row, importable as it is by `actor`: the registry's first
    enterprise (and, for a supervisor, its first agency), in the quarter after `today`."""
    first = EnterpriseRepository(session).page(after=None, limit=1)
    enterprise = first[0].id if first else "91330100799655058B"
    agency = ""
    if actor.is_supervisor:
        agencies = AgencyRepository(session).list()
        agency = agencies[0].id if agencies else ""
    start, end = next_quarter(today)
    ref = f"示例-{start:%Y}-Q{(start.month + 2) // 3}-0001"
    return (ref, agency, enterprise, "日常检查", "SCJG-0101、SCJG-0102",
            start.isoformat(), end.isoformat(), "3", "", "否", "", "现场")  # fmt: skip


def template_csv(example: Sequence[str]) -> bytes:
    return csv_bytes([h for h, _, _ in COLUMNS], [example])


def template_xlsx(example: Sequence[str]) -> bytes:
    return xlsx_bytes(title="检查计划", header=[h for h, _, _ in COLUMNS], rows=[example])
