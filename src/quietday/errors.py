"""The one error hierarchy of quietday; it knows nothing of HTTP or the terminal.

QuietdayError
 ├── InputError          input that cannot be used; carries every Problem found, not just the first
 │    ├── InstanceError  a quietday.instance/1 document that must not be solved
 │    └── SolutionError  a quietday.solution/1 document that cannot be read
 └── CalendarError       a date in a year whose official working-day calendar is not known
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CalendarError",
    "InputError",
    "InstanceError",
    "Problem",
    "QuietdayError",
    "SolutionError",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: a stable code, where it is, and a Chinese sentence."""

    code: str
    path: str
    message: str
    record: str | None = None

    def __str__(self) -> str:
        where = f"{self.path} ({self.record})" if self.record else self.path
        return f"{where}: {self.message}" if where else self.message


class QuietdayError(Exception):
    """Base of every error quietday raises on purpose."""


class InputError(QuietdayError):
    """Input that cannot be used; `problems` lists everything found wrong with it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("an InputError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        head = "; ".join(str(p) for p in self.problems[:3])
        more = f" (另有 {len(self.problems) - 3} 处错误)" if len(self.problems) > 3 else ""
        super().__init__(head + more)


class InstanceError(InputError):
    """A quietday.instance/1 document that is malformed or breaks a rule by its own pins."""


class SolutionError(InputError):
    """A quietday.solution/1 document that cannot be read."""


class CalendarError(QuietdayError):
    """Asked whether a day is a working day in a year with no official calendar and no overrides."""
