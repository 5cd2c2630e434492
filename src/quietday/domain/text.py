"""One rule for text from outside, on every entry path (JSON, CSV, XLSX, forms, cookies, headers,
path ids): no lone surrogate (it cannot be stored or sent as UTF-8), no NUL (PostgreSQL refuses
it) and no other control character; only a free-text field keeps line breaks and tabs.
Integers typed by people are ASCII digits of bounded length (`²` and `５` are digits to Python).
"""

from __future__ import annotations

import re

__all__ = ["MAX_ID", "ascii_int", "readable", "text_problem"]

# The largest record id (a PostgreSQL integer): a longer number names no record.
MAX_ID = 2**31 - 1

# C0 controls, DEL and C1 controls; a lone surrogate (U+D800–U+DFFF) never pairs in a str.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_FORBIDDEN_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` cannot be kept (Chinese), or None when it can."""
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).search(value)
    if found is None:
        return None
    char = found.group()
    if _SURROGATE.match(char):
        return f"含有无效的 Unicode 字符(单独的代理项 U+{ord(char):04X})"
    return f"含有控制字符 U+{ord(char):04X}"


def ascii_int(text: str, *, maximum: int) -> int | None:
    """The integer from 0 to `maximum` that `text` spells in ASCII digits, else None."""
    if len(text) > len(str(maximum)) or _DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= maximum else None


def readable(value: str) -> str:
    """`value` safe to echo back in an answer: lone surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", value)
