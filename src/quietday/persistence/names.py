"""Pinyin initials of enterprise names (`江西测试` -> `jxcs`), so that a clerk finds an enterprise
by typing `jxcs`: computed by `pypinyin` whenever an enterprise row is inserted or its name
changes (an ORM event, so every writer keeps it: the registry, the demo's loader), and by
migration 0019 for the rows there were."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pypinyin import Style, lazy_pinyin

from quietday.persistence.tables import EnterpriseRow

__all__ = ["initials"]

MAX_INITIALS = 200


def initials(name: str) -> str:
    """The first letters of each character's pinyin, lower case; Latin letters and digits as they
    are (lower case), everything else dropped."""
    letters = lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")
    return "".join(c for c in "".join(letters).lower() if c.isascii() and c.isalnum())[
        :MAX_INITIALS
    ]


@sa.event.listens_for(EnterpriseRow, "before_insert")
@sa.event.listens_for(EnterpriseRow, "before_update")
def _keep_initials(mapper: Any, connection: Any, row: EnterpriseRow) -> None:
    row.name_initials = initials(row.name)
