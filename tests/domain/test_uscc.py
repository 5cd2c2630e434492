"""统一社会信用代码 per GB 32100-2015, on published codes of real companies."""

from __future__ import annotations

import pytest

from quietday.domain.uscc import check_character, organisation_check, uscc_problem


@pytest.mark.parametrize("code", ["91330100799655058B", "9144030071526726XG", "914403001922038216"])
def test_published_codes_are_valid(code: str) -> None:
    assert uscc_problem(code) is None


def test_letters_first_organisation_codes() -> None:
    body = "MA35K2L8"
    first17 = "91360100" + body + organisation_check(body)
    assert uscc_problem(first17 + check_character(first17)) is None


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91330100799655058", "18 位"),
        ("91330100799655058I", "非法字符"),
        ("9133010079965505xB", "非法字符"),
        ("91AB0100799655058B", "行政区划码"),
        ("91330100799655059B", "第 17 位"),
        ("91330100799655058C", "第 18 位"),
    ],
)
def test_broken_codes_say_why(code: str, fragment: str) -> None:
    problem = uscc_problem(code)
    assert problem is not None
    assert fragment in problem
