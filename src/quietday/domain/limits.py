"""The limits of what a person may enter, declared once: the API's schemas, the intake and the
spreadsheet import all read them."""

from __future__ import annotations

from datetime import date

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_AGENCY_ID",
    "MAX_BATCH",
    "MAX_ENTERPRISE_ID",
    "MAX_EXEMPT_REASON",
    "MAX_EXTERNAL_REF",
    "MAX_HORIZON_DAYS",
    "MAX_ITEM",
    "MAX_ITEMS",
    "MAX_PRIORITY",
    "MAX_WINDOW_DAYS",
    "YEARS",
]

YEARS = (2000, 2100)  # every date a person enters lies in these years
FIRST_DAY, LAST_DAY = date(YEARS[0], 1, 1), date(YEARS[1], 12, 31)
MAX_ENTERPRISE_ID = 18  # 统一社会信用代码
MAX_AGENCY_ID = 64
MAX_EXTERNAL_REF = 100
MAX_ITEMS, MAX_ITEM = 50, 64  # 检查事项: how many, and the characters of each
MAX_PRIORITY = 100  # priorities are 1 to this
MAX_EXEMPT_REASON = 200
MAX_WINDOW_DAYS = 366
MAX_HORIZON_DAYS = 366
MAX_BATCH = 10_000  # plans in one batch or one spreadsheet
