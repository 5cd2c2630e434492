"""Every package states its public names in `__all__`, and each one exists."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "quietday.domain",
    "quietday.solver",
    "quietday.errors",
    "quietday.formats",
    "quietday.planning",
    "quietday.planning.audit",
    "quietday.planning.calendar",
    "quietday.planning.dashboard",
    "quietday.planning.signin",
    "quietday.generate",
    "quietday.official",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.{public}"


def test_error_tree() -> None:
    from quietday.errors import (
        CalendarError,
        InputError,
        InstanceError,
        QuietdayError,
        SolutionError,
    )

    assert issubclass(InstanceError, InputError)
    assert issubclass(SolutionError, InputError)
    assert issubclass(InputError, QuietdayError)
    assert issubclass(CalendarError, QuietdayError)
