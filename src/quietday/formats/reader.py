"""The reading and writing both formats share: a reader that collects every problem (code,
path, record id, Chinese message) instead of stopping at the first, the document and file
checks, and the line-per-record JSON layout written atomically."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from quietday.errors import InstanceError, Problem, SolutionError

__all__ = [
    "MISSING",
    "Reader",
    "file_bytes",
    "iso_days",
    "layout",
    "read_document",
    "to_json",
    "write_atomically",
]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MISSING = object()  # a key not there (its default not given either)

_TYPE_NAMES = {str: "字符串", int: "整数", bool: "布尔值", list: "数组", dict: "对象"}


class Reader:
    """Walks a parsed JSON document, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # Ids of every record with a usable id, valid or not, so that a bad agency record is
        # reported once, not again at every inspection that names it.
        self.ids: dict[str, set[str]] = {"agencies": set(), "enterprises": set()}
        # Each valid date text read, as its one `date` (a province's instance repeats a few
        # hundred dates millions of times).
        self.dates: dict[str, date] = {}

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
        """(path, record) for each object of the list `doc[key]`, each let go from the list
        once read (the document is the reader's own: a province's records would otherwise
        stay beside what they are read into until the last)."""
        items = self.get(doc, key, list, path=key, default=MISSING if required else [])
        if items is MISSING:
            return
        for k, item in enumerate(items):
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


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# The same on the bytes, which a province's file is read as: decoding it again to search it
# would hold a second copy of the document, twice its size in Chinese text, beside its tree.
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def read_document(
    text: str | bytes, error: type[InstanceError] | type[SolutionError], fmt: str
) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error([Problem("json_invalid", "", f"不是有效的 JSON: {exc}")]) from None
    except RecursionError:
        raise error([Problem("json_invalid", "", "JSON 嵌套过深")]) from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise error(
            [Problem("json_invalid", "", f"JSON 中有无法读取的值: {str(exc)[:80]}")]
        ) from None
    if not isinstance(doc, dict):
        raise error([Problem("wrong_type", "", "文档应为 JSON 对象")])
    if (
        _SURROGATE_ESCAPE.search(text)
        if isinstance(text, str)
        else _SURROGATE_ESCAPE_BYTES.search(text)
    ):
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise error(
                [Problem("bad_text", "", "文档含有无效的 Unicode 字符(孤立的代理项)")]
            ) from None
    if doc.get("format") != fmt:
        raise error(
            [
                Problem(
                    "format_unknown", "format", f"应为 {fmt},实际为 {str(doc.get('format'))[:40]!r}"
                )
            ]
        )
    return doc


_GZIP_MAGIC = b"\x1f\x8b"


def file_bytes(path: str | Path, error: type[InstanceError] | type[SolutionError]) -> bytes:
    """A document file as JSON bytes: gzip-compressed ones (`.json.gz`, or a download saved
    with its transfer coding) are read through gzip, whatever their name."""
    raw = Path(path).read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise error([Problem("bad_gzip", "", f"gzip 文件已损坏或不完整: {exc}")]) from None


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
