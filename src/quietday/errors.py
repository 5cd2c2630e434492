"""The one error hierarchy of quietday; it knows nothing of HTTP or the terminal.

QuietdayError                 each carries a stable `code` and a Chinese message
 ├── InputError              input that cannot be used; carries every Problem found, not just the first
 │    ├── InstanceError      a quietday.instance/1 document that must not be solved
 │    └── SolutionError      a quietday.solution/1 document that cannot be read
 ├── NotFoundError           no such record, or not one the caller may see
 ├── ConflictError           the request clashes with the current state (stale run, reused key, ...)
 ├── AuthenticationError     no key, or a key that is unknown or revoked
 ├── ForbiddenError          a valid key asking for what only a supervisor may do
 ├── TooManyError            more of something in a period than one party may send (a flood)
 └── CalendarError           a date in a year whose official working-day calendar is not known
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AuthenticationError",
    "CalendarError",
    "ConflictError",
    "ForbiddenError",
    "InputError",
    "InstanceError",
    "NotFoundError",
    "Problem",
    "QuietdayError",
    "SolutionError",
    "TooManyError",
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

    code = "error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InputError(QuietdayError):
    """Input that cannot be used; `problems` lists everything found wrong with it."""

    code = "invalid_input"

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


class NotFoundError(QuietdayError):
    """No such record, or one the caller may not see (never told apart, so nothing leaks)."""

    code = "not_found"


class ConflictError(QuietdayError):
    """The request clashes with the current state."""

    code = "conflict"


class AuthenticationError(QuietdayError):
    """No API key, or an unknown or revoked one."""

    code = "unauthenticated"


class ForbiddenError(QuietdayError):
    """A known key asking for a supervisor's action (never used to hide a record: that is 404)."""

    code = "forbidden"


class TooManyError(QuietdayError):
    """More requests of one kind from one party in a period than the service takes."""

    code = "too_many"


class CalendarError(QuietdayError):
    """Asked whether a day is a working day in a year with no official calendar and no overrides."""

    code = "calendar_year_unknown"
