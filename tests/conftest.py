"""Fixtures shared by the tests.

A test that needs something outside the project (the shared data sets now, real services later)
skips with a clear reason on a developer's machine, and fails under CI (CI=true), where a skip
would hide that the thing was never tested.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import SHARED


def require(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {reason}")
    pytest.skip(reason)


@pytest.fixture
def shared() -> Path:
    require((SHARED / "data").is_dir(), f"../shared/data not found at {SHARED}")
    return SHARED
