"""The reading and writing both formats share: a reader that collects every problem (code,
path, record id, Chinese message) instead of stopping at the first, the document and file
checks, and the line-per-record JSON layout written atomically."""

from __future__ import annotations

import codecs
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from quietday.errors import InstanceError, Problem, SolutionError

__all__ = [
    "MISSING",
    "Elements",
    "JsonText",
    "Member",
    "Reader",
    "document_file",
    "iso_days",
    "layout",
    "read_members",
    "to_json",
    "write_atomically",
]

_T = TypeVar("_T")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MISSING = object()  # a key not there (its default not given either)

_TYPE_NAMES = {str: "字符串", int: "整数", bool: "布尔值", list: "数组", dict: "对象"}


class Reader:
    """Walks a parsed JSON document, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # Ids of every record with a usable id, valid or not, so that a bad agency record is
        # reported once, not again at every inspection that names it; each maps to the record's
        # own id, which a reference to it then shares.
        self.ids: dict[str, dict[str, str]] = {"agencies": {}, "enterprises": {}}
        # Each valid date text read, as its one `date` (a province's instance repeats a few
        # hundred dates millions of times).
        self.dates: dict[str, date] = {}
        # Values that repeat (regions, item lists, blackouts), each kept once: a province's
        # records would otherwise hold millions of equal copies.
        self.kept: dict[Any, Any] = {}
        # Each set of cap overrides read, as its one (read-only) mapping.
        self.caps: dict[frozenset[tuple[str, int | None]], Mapping[str, int | None]] = {}

    def same(self, value: _T) -> _T:
        """The equal value read before, if any, else `value` (then kept)."""
        kept: _T = self.kept.setdefault(value, value)
        return kept

    def same_caps(self, caps: dict[str, int | None]) -> Mapping[str, int | None]:
        """The equal cap overrides read before, if any, else `caps` (then kept)."""
        return self.caps.setdefault(frozenset(caps.items()), caps)

    def add(self, code: str, path: str, message: str, record: str | None = None) -> None:
        self.problems.append(Problem(code=code, path=path, message=message, record=record))

    def get(
        self,
        obj: Mapping[str, Any],
        key: str,
        kind: type,
        *,
        path: str,
        record: str | None = None,
        default: Any = MISSING,
        nullable: bool = False,
    ) -> Any:
        """`obj[key]` when present and of `kind`; else a problem and `MISSING` (or `default`)."""
        value = obj.get(key, MISSING)
        if value is MISSING:
            if default is MISSING:
                self.add("missing_key", path, f"缺少必填字段 {key}", record)
            return default
        if value is None and nullable:
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.add(
                "wrong_type",
                path,
                f"{key} 应为{_TYPE_NAMES.get(kind, kind.__name__)},实际为 {json.dumps(value, ensure_ascii=False)[:40]}",
                record,
            )
            return MISSING
        return value

    def day(self, value: Any, *, field: str, path: str, record: str | None = None) -> date | None:
        known = self.dates.get(value) if isinstance(value, str) else None
        if known is not None:
            return known
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            self.add("bad_date", path, f"{field} 不是 YYYY-MM-DD 格式的日期: {value!r}", record)
            return None
        try:
            made = self.dates[value] = date.fromisoformat(value)
        except ValueError:
            self.add("bad_date", path, f"{field} 不是有效日期: {value}", record)
            return None
        return made

    def get_day(
        self, obj: Mapping[str, Any], key: str, *, path: str, record: str | None = None
    ) -> date | None:
        value = self.get(obj, key, str, path=path, record=record)
        if value is MISSING:
            return None
        return self.day(value, field=key, path=path, record=record)

    def days(
        self, obj: Mapping[str, Any], key: str, *, path: str, record: str | None = None
    ) -> frozenset[date]:
        values = self.get(obj, key, list, path=path, record=record, default=[])
        if values is MISSING:
            return frozenset()
        out = (
            self.day(v, field=f"{key}[{k}]", path=path, record=record) for k, v in enumerate(values)
        )
        return frozenset(d for d in out if d is not None)

    def records(
        self, doc: Mapping[str, Any], key: str, *, required: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, record) for each object of the array `doc[key]`: its `Elements`, each
        decoded as it is taken, or a list held, each let go from it once read (a province's
        records would otherwise stay beside what they are read into until the last)."""
        items = doc.get(key)
        if not isinstance(items, Elements):
            items = self.get(doc, key, list, path=key, default=MISSING if required else [])
            if items is MISSING:
                return
        for k, item in enumerate(items):
            if isinstance(items, list):
                items[k] = None
            path = f"{key}[{k}]"
            if not isinstance(item, dict):
                self.add("wrong_type", path, "应为对象")
                continue
            yield path, item

    def record_id(self, item: Mapping[str, Any], path: str, key: str = "id") -> str | None:
        value = self.get(item, key, str, path=path)
        if value is MISSING:
            return None
        if not value.strip():
            self.add("empty_id", path, f"{key} 不能为空")
            return None
        return str(value)

    def unique(self, seen: dict[str, str], ident: str, path: str) -> bool:
        first = seen.get(ident)
        if first is not None:
            self.add("duplicate_id", path, f"id 与 {first} 重复", ident)
            return False
        seen[ident] = path
        return True

    def count(
        self,
        obj: Mapping[str, Any],
        key: str,
        *,
        path: str,
        record: str | None,
        default: Any = MISSING,
    ) -> int | None:
        """A non-negative integer; null is a wrong type like any other."""
        value = self.get(obj, key, int, path=path, record=record, default=default)
        if value is MISSING or value is None:
            return None
        if value < 0:
            self.add("negative_number", path, f"{key} 不能为负数: {value}", record)
            return None
        return int(value)


# A `\ud800`-`\udfff` escape, searched for in the bytes as they are read: a value is then
# checked for a lone surrogate half, which no UTF-8 text (nor a database) can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_BLANKS = " \t\n\r"
_WHITESPACE = re.compile(f"[{_BLANKS}]*")
_SEPARATOR = re.compile(f"[{_BLANKS}]*,[{_BLANKS}]*")  # between two elements
_PIECE = 1 << 20  # bytes read at a time
# A decoding error this far before the end of what is held is in the text itself, not where
# the text was cut.
_SLACK = 64
_GZIP_MAGIC = b"\x1f\x8b"

Error = type[InstanceError] | type[SolutionError]


class JsonText:
    """JSON text read a piece at a time, each value decoded as soon as it is whole: a
    province's document is never held as one string or one tree, only its records as they come
    (`members`, `Elements`). Errors are the JSON errors of the whole text, with its line and
    column."""

    def __init__(self, source: str | bytes | Callable[[int], bytes], error: Error) -> None:
        self.error = error
        self.decode = codecs.getincrementaldecoder("utf-8-sig")().decode
        # raw_decode without its Python frame; raises StopIteration where no value starts.
        self.scan: Callable[[str, int], tuple[Any, int]]
        self.scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters before `buf`
        self.lines = 0  # line breaks before `buf`
        self.line_start = 0  # where the line `buf` starts in began
        self.escapes = False
        self.tail = b""
        if isinstance(source, str):
            self.buf, self.done = source, True
            self.escapes = _SURROGATE_ESCAPE.search(source) is not None
            self.read: Callable[[int], bytes] = lambda _size: b""
        else:
            self.read = io.BytesIO(source).read if isinstance(source, bytes) else source
            self.done = False

    def invalid(self, message: str, at: int) -> InstanceError | SolutionError:
        before = self.buf.rfind("\n", 0, at)
        line = self.lines + self.buf.count("\n", 0, at) + 1
        column = at - before if before >= 0 else self.offset + at - self.line_start + 1
        where = f"line {line} column {column} (char {self.offset + at})"
        return self.error([Problem("json_invalid", "", f"不是有效的 JSON: {message}: {where}")])

    def grow(self, wanted: int) -> bool:
        """Let go of what was read and read on, a piece or more, until `wanted` characters
        more are held (or the text ends); False when the text had ended."""
        if self.done:
            return False
        used, buf = self.pos, self.buf
        breaks = buf.count("\n", 0, used)
        if breaks:
            self.lines += breaks
            self.line_start = self.offset + buf.rfind("\n", 0, used) + 1
        self.offset += used
        pieces, held = [buf[used:]], len(buf) - used
        target = held + max(wanted, 1)
        while held < target and not self.done:
            raw = self.read(_PIECE)
            if not self.escapes and _SURROGATE_ESCAPE_BYTES.search(self.tail + raw):
                self.escapes = True
            self.tail = (self.tail + raw)[-3:]  # an escape cut between pieces
            try:
                text = self.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise self.error(
                    [Problem("json_invalid", "", f"不是有效的 JSON(应为 UTF-8): {exc}")]
                ) from None
            self.done = not raw
            pieces.append(text)
            held += len(text)
        self.buf, self.pos = "".join(pieces), 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        buf, pos = self.buf, self.pos
        if pos < len(buf) and buf[pos] not in _BLANKS:  # as after a record: its comma
            return buf[pos]
        while True:
            match = _WHITESPACE.match(self.buf, self.pos)
            assert match is not None  # the pattern matches the empty string
            self.pos = match.end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.grow(1):
                return ""

    def expect(self, char: str, message: str) -> None:
        if self.peek() != char:
            raise self.invalid(message, self.pos)
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                try:
                    obj, end = self.scan(self.buf, self.pos)
                except StopIteration as stop:  # no value starts there
                    raise json.JSONDecodeError("Expecting value", self.buf, stop.value) from None
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self.buf) - _SLACK or exc.msg.startswith("Unterminated")
                if cut and self.grow(2 * (len(self.buf) - self.pos)):
                    continue
                raise self.invalid(exc.msg, exc.pos) from None
            except RecursionError:
                raise self.error([Problem("json_invalid", "", "JSON 嵌套过深")]) from None
            except ValueError as exc:  # e.g. an integer of thousands of digits
                raise self.error(
                    [Problem("json_invalid", "", f"JSON 中有无法读取的值: {str(exc)[:80]}")]
                ) from None
            # A value that ends where the text held ends may go on (a number's digits).
            if end < len(self.buf) or not self.grow(2 * (len(self.buf) - self.pos)):
                break
        self.pos = end
        if self.escapes:
            try:
                json.dumps(obj, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise self.error(
                    [Problem("bad_text", "", "文档含有无效的 Unicode 字符(孤立的代理项)")]
                ) from None
        return obj

    def members(self, lists: Collection[str]) -> Iterator[tuple[str, Any]]:
        """(key, value) of the top-level object in the order written; the value of a key in
        `lists` that is an array comes as its `Elements`, to be read before the next member."""
        if self.peek() != "{":
            self.value()
            self.end()
            raise self.error([Problem("wrong_type", "", "文档应为 JSON 对象")])
        self.pos += 1
        if self.peek() == "}":
            self.pos += 1
        else:
            while True:
                if self.peek() != '"':
                    raise self.invalid(
                        "Expecting property name enclosed in double quotes", self.pos
                    )
                key = self.value()
                self.expect(":", "Expecting ':' delimiter")
                if key in lists and self.peek() == "[":
                    self.pos += 1
                    elements = Elements(self)
                    yield key, elements
                    elements.drain()
                else:
                    yield key, self.value()
                if self.peek() == "}":
                    self.pos += 1
                    break
                self.expect(",", "Expecting ',' delimiter")
        self.end()

    def end(self) -> None:
        if self.peek():
            raise self.invalid("Extra data", self.pos)


class Elements:
    """The elements of one top-level array, each decoded when it is taken."""

    def __init__(self, text: JsonText) -> None:
        self.text = text
        self.first = True
        self.over = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        text = self.text
        if self.over:
            raise StopIteration
        if not self.first:  # the usual case first: a comma, and the next element held
            separator = _SEPARATOR.match(text.buf, text.pos)
            if separator is not None and separator.end() < len(text.buf):
                text.pos = separator.end()
                return text.value()
        char = text.peek()
        if char == "]":
            text.pos += 1
            self.over = True
            raise StopIteration
        if not self.first:
            if char != ",":
                raise text.invalid("Expecting ',' delimiter", text.pos)
            text.pos += 1
        self.first = False
        return text.value()

    def drain(self) -> None:
        for _ in self:
            pass


@dataclass(frozen=True)
class Member:
    """A top-level member a document's reading wants: `read` is given a mapping of its key to
    its value (empty when the document has none) once the members it `needs` were read."""

    key: str
    read: Callable[[Mapping[str, Any]], None]
    needs: tuple[str, ...] = ()
    records: bool = False  # an array of records, each read as it comes when it can be


def read_members(
    source: str | bytes | Callable[[int], bytes], error: Error, fmt: str, wanted: Sequence[Member]
) -> None:
    """Reads a document of format `fmt` member by member into `wanted`, in the document's
    order where each member's needs are met (a document written by this project always is),
    else holding it until they are; unknown keys are skipped, a key twice is refused."""
    text = JsonText(source, error)
    by_key = {m.key: m for m in wanted}
    held: dict[str, Any] = {}
    done: set[str] = set()
    checked = False

    def ready(m: Member) -> bool:
        return checked and all(n in done for n in m.needs)

    def run(m: Member, value: Any) -> None:
        m.read({m.key: value})
        done.add(m.key)
        release()

    def release() -> None:
        for m in wanted:
            if m.key in held and ready(m):
                run(m, held.pop(m.key))

    for key, value in text.members([m.key for m in wanted if m.records]):
        if key == "format":
            if value != fmt:
                raise _format_unknown(error, fmt, value)
            checked = True
            release()
            continue
        member = by_key.get(key)
        if member is None:
            continue
        if key in done or key in held:
            raise error([Problem("duplicate_key", key, f"文档中 {key} 出现了不止一次")])
        if ready(member):
            run(member, value)
        else:
            held[key] = list(value) if isinstance(value, Elements) else value
    if not checked:
        raise _format_unknown(error, fmt, None)
    for m in wanted:
        if m.key not in done:
            m.read({m.key: held.pop(m.key)} if m.key in held else {})


def _format_unknown(error: Error, fmt: str, value: Any) -> InstanceError | SolutionError:
    return error([Problem("format_unknown", "format", f"应为 {fmt},实际为 {str(value)[:40]!r}")])


@contextmanager
def document_file(path: str | Path, error: Error) -> Iterator[Callable[[int], bytes]]:
    """A document file read a piece at a time: gzip-compressed ones (`.json.gz`, or a
    download saved with its transfer coding) through gzip, whatever their name."""
    with open(path, "rb") as raw:
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            yield raw.read
            return
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw) as unzipped:

            def read(size: int) -> bytes:
                try:
                    return unzipped.read(size)
                except (OSError, EOFError, zlib.error) as exc:
                    raise error(
                        [Problem("bad_gzip", "", f"gzip 文件已损坏或不完整: {exc}")]
                    ) from None

            yield read


# --- writing -------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def layout(
    head: Mapping[str, Any], lists: Mapping[str, Iterable[Any]], tail: Mapping[str, Any]
) -> Iterator[str]:
    """A JSON object, top-level keys one per line and each list element on its own line."""
    parts: list[tuple[str, Iterable[Any] | None, Any]] = [(k, None, v) for k, v in head.items()]
    parts += [(k, v, None) for k, v in lists.items()]
    parts += [(k, None, v) for k, v in tail.items()]
    yield "{\n"
    for n, (key, elements, value) in enumerate(parts):
        comma = "," if n < len(parts) - 1 else ""
        if elements is None:
            yield f"  {to_json(key)}: {to_json(value)}{comma}\n"
            continue
        yield f"  {to_json(key)}: ["
        first = True
        for element in elements:
            yield ("\n" if first else ",\n") + f"    {to_json(element)}"
            first = False
        yield ("]" if first else "\n  ]") + f"{comma}\n"
    yield "}\n"


def iso_days(days: Iterable[date]) -> list[str]:
    return sorted(d.isoformat() for d in days)


def write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write beside the target, then rename: a reader never sees half a file, and a failed
    write leaves nothing behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.writelines(chunks)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
