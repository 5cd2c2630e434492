"""Spreadsheets out, CSV and XLSX, whose every cell is inert: a name a user typed (say
`=HYPERLINK("http://…"&A2)`) is never a formula when a supervisor opens the file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

__all__ = ["FORMULA_TRIGGERS", "Cell", "csv_bytes", "inert", "inert_cell", "xlsx_bytes"]

# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP, CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | float | None


def inert(value: Cell) -> Cell:
    """OWASP's rule for CSV: text starting with a trigger gets a leading apostrophe; numbers stay
    numbers (a negative headroom is a figure, not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """UTF-8 with BOM, so that Excel reads the Chinese headers."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for row in chain([header], rows):
        writer.writerow(["" if v is None else inert(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(*, title: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title)
    for row in chain([header], rows):
        sheet.append([inert_cell(sheet, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def inert_cell(sheet: Any, value: Cell) -> WriteOnlyCell:
    """A write-only cell; text as a string cell, whatever it starts with: openpyxl makes any
    text starting with `=` a formula (and `#N/A` an error). Text that would be a formula if
    typed is marked as Excel marks `'=…` typed by hand (quotePrefix), so editing the cell keeps
    it text."""
    cell = WriteOnlyCell(sheet, value)
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
    return cell
