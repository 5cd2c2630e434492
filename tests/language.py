"""The one check of "Chinese for its reader" that the language tests share: a text a user reads
has Chinese in it and no run of three English words (code names, URLs and identifiers aside)."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3400-\u9fff]")
# Code spans, URLs and dotted or snake_case identifiers are names, not English prose.
_CODE = re.compile(r"`[^`]*`|https?://\S+|\b\w+(?:[._/:-]\w+)+\b|\b[a-z]+_[a-z_]+\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
# Names a Chinese sentence uses as they are.
NAMES = {
    "api", "http", "https", "icalendar", "csv", "xlsx", "json", "uid", "id", "url", "utf", "bom",
    "excel", "gzip", "sha", "rfc", "iso", "cp", "sat", "null", "true", "false", "bearer",
    "authorization", "quietday", "webcal", "csrf", "cookie", "yyyy", "mm", "dd", "gb", "qr",
    "postgresql", "sqlite", "cli", "key", "agency", "supervisor", "runner", "holiday", "cn",
    "holidays", "plan", "run", "publish", "update", "date", "kind", "name", "q",
}  # fmt: skip


def english_run(text: str) -> str | None:
    """The first run of three or more English words that are not code names, if any."""
    prose = _CODE.sub(" | ", text)
    run: list[str] = []
    for token in re.split(r"(\s+)", prose):
        if token.isspace() or not token:
            continue
        word = _WORD.fullmatch(token.strip(",.;:()!?\"'"))
        if word and word.group(0).lower() not in NAMES and not word.group(0).isupper():
            run.append(word.group(0))
            if len(run) >= 3:
                return " ".join(run)
        else:
            run = []
    return None


def foreign(text: str) -> str | None:
    """Why `text` is not Chinese for a reader, or None when it is."""
    if not CJK.search(text):
        return "no Chinese"
    run = english_run(text)
    return f"English words: {run!r}" if run else None
