"""统一社会信用代码 (unified social credit code) per GB 32100-2015.

18 characters: registration authority (1), organisation category (1), administrative division
(6 digits), organisation code (9, per GB 11714 with its own check character) and a final check
character. The alphabet is 0-9 and the capital letters without I, O, Z, S and V.
"""

from __future__ import annotations

__all__ = ["ALPHABET", "check_character", "organisation_check", "uscc_problem"]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: n for n, c in enumerate(ALPHABET)}
_WEIGHTS = tuple(pow(3, k, 31) for k in range(17))
# GB 11714: the body of an organisation code uses digits and capital letters (A = 10 ... Z = 35).
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_LENGTH = 18


def _org_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - ord("A") + 10


def organisation_check(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    rest = 11 - sum(_org_value(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(rest, str(rest))


def check_character(first17: str) -> str:
    """The GB 32100 final check character of the first 17 characters."""
    rest = 31 - sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 31
    return ALPHABET[0 if rest == 31 else rest]


def uscc_problem(code: str) -> str | None:
    """None when `code` is a valid unified social credit code, else why not (in Chinese)."""
    if len(code) != _LENGTH:
        return f"统一社会信用代码应为 18 位,实际 {len(code)} 位"
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        return f"统一社会信用代码含非法字符 {''.join(bad)}(不使用 I、O、Z、S、V 与小写字母)"
    if not code[2:8].isdigit():
        return "统一社会信用代码第 3-8 位应为行政区划码(数字)"
    body = code[8:16]
    if not all(c.isdigit() or "A" <= c <= "Z" for c in body):
        return "统一社会信用代码第 9-16 位应为组织机构代码本体"
    if organisation_check(body) != code[16]:
        return f"统一社会信用代码第 17 位(组织机构代码校验码)应为 {organisation_check(body)}"
    if check_character(code[:17]) != code[17]:
        return f"统一社会信用代码第 18 位(校验码)应为 {check_character(code[:17])}"
    return None
