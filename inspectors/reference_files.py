"""Reference datasets from the regulator's files: strict parsing, every problem reported.

A file is accepted whole or not at all. Parsing collects every problem with
where it is (line and column for CSV, the entry's DN for a directory) so one
correction round fixes the file. Accepted rows are canonical (normalised
values, multi-valued fields sorted, rows sorted by key), so the same
content always has the same version.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .reference import DATASETS, DRUG_CATEGORIES, PRACTITIONER_ROLES, PRACTITIONER_STATUSES

__all__ = [
    "COLUMNS",
    "OPTIONAL_FLAGS",
    "ReferenceFileError",
    "ReferenceProblem",
    "SourceRow",
    "parse_reference_csv",
    "parse_reference_rows",
]

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?")
_TRUE = frozenset({"true", "yes", "1", "是", "y"})
_FALSE = frozenset({"false", "no", "0", "否", "n"})
#: Anything beyond this is not a reference file but a mistake (a database dump, say).
_MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class ReferenceProblem:
    """One thing wrong with a reference file: where, which column, and what.

    ``key`` and ``params`` say the same as ``message`` in a form a reader's language can
    say again (the portal does); ``message`` is the English the command line prints.
    """

    where: str
    column: str
    message: str
    key: str = ""
    params: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        column = f" ({self.column})" if self.column else ""
        return f"{self.where}{column}: {self.message}"


class InvalidValueError(ValueError):
    """A value refused: the English text, and its key and parameters for other languages."""

    def __init__(self, key: str, english: str, **params: str) -> None:
        super().__init__(english % params if params else english)
        self.key = key
        self.params = params


def _problem(where: str, column: str, key: str, english: str, **params: str) -> ReferenceProblem:
    return ReferenceProblem(where, column, english % params if params else english, key, params)


class ReferenceFileError(Exception):
    """The file is rejected whole; ``problems`` lists every problem found."""

    def __init__(self, dataset: str, problems: Sequence[ReferenceProblem]) -> None:
        self.dataset = dataset
        self.problems = tuple(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"{dataset} rejected, {len(self.problems)} problem(s); "
            f"the version in force is unchanged:\n{shown}{tail}"
        )


#: A parsed value, or the reason it is not one.
_Parser = Callable[[str | list[str]], Any]


def _text(value: str | list[str]) -> str:
    if isinstance(value, list):
        raise InvalidValueError("several", "one value expected, several given")
    value = value.strip()
    if not value:
        raise InvalidValueError("required", "required")
    if len(value) > 200:
        raise InvalidValueError("too_long", "longer than 200 characters")
    return value


def _code(value: str | list[str]) -> str:
    text = _text(value)
    if not _CODE.fullmatch(text):
        raise InvalidValueError(
            "not_code", "%(value)s is not a code (letters, digits, '.', '_', '-')", value=repr(text)
        )
    return text


def _codes(value: str | list[str]) -> list[str]:
    parts = value if isinstance(value, list) else value.split(";")
    codes = sorted({_code(p) for p in parts if p.strip()})
    return codes


def _day(value: str | list[str]) -> str:
    text = _text(value)
    try:
        parsed: date | None = date.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or len(text) != 10:
        raise InvalidValueError(
            "not_date", "%(value)s is not a date (YYYY-MM-DD)", value=repr(text)
        )
    return text


def _optional_day(value: str | list[str]) -> str | None:
    if isinstance(value, str) and not value.strip():
        return None
    return _day(value)


def _choice(options: Sequence[str]) -> _Parser:
    def parse(value: str | list[str]) -> str:
        text = _text(value).lower()
        if text not in options:
            raise InvalidValueError(
                "not_choice",
                "%(value)s is not one of %(options)s",
                value=repr(text),
                options=", ".join(options),
            )
        return text

    return parse


def _boolean(value: str | list[str]) -> bool:
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValueError("not_boolean", "%(value)s is not true or false", value=repr(text))


def _flag(value: str | list[str]) -> bool:
    """An optional yes/no column: an empty cell is no."""
    if isinstance(value, str) and not value.strip():
        return False
    return _boolean(value)


def _price(value: str | list[str]) -> str:
    text = _text(value)
    if not _DECIMAL.fullmatch(text):
        raise InvalidValueError(
            "not_price", "%(value)s is not a price in yuan (e.g. 25.00)", value=repr(text)
        )
    try:
        return str(Decimal(text).quantize(Decimal("0.0001")).normalize())
    except InvalidOperation as e:  # pragma: no cover - the pattern admits only decimals
        raise InvalidValueError("not_price", "%(value)s is not a number", value=repr(text)) from e


def _optional_days(value: str | list[str]) -> int | None:
    if isinstance(value, str) and not value.strip():
        return None
    text = _text(value)
    if not text.isdigit() or not 1 <= int(text) <= 366:
        raise InvalidValueError(
            "not_days", "%(value)s is not a number of days between 1 and 366", value=repr(text)
        )
    return int(text)


COLUMNS: Mapping[str, Mapping[str, _Parser]] = {
    "registry": {
        "license_no": _code,
        "name": _text,
        "role": _choice(PRACTITIONER_ROLES),
        "status": _choice(PRACTITIONER_STATUSES),
        "valid_from": _day,
        "valid_to": _optional_day,
        "practice_start": _day,
        "primary_institution_code": _code,
        "multi_site_institution_codes": _codes,
        "departments": _codes,
    },
    "prices": {
        "item_code": _code,
        "item_name": _text,
        "unit": _text,
        "ceiling_price": _price,
        "valid_from": _day,
        "valid_to": _optional_day,
        "insurance_covered": _boolean,
    },
    "drugs": {
        "drug_code": _code,
        "drug_name": _text,
        "category": _choice(DRUG_CATEGORIES),
        "online_prescribable": _boolean,
        "max_days_supply": _optional_days,
        "cold_chain": _flag,
    },
}
#: Yes/no columns a file may leave out (added after versions without them were imported). A
#: canonical row carries such a flag only when it is true, so a row without it keeps the
#: version it always had, and adding the column marks only the rows it makes true.
OPTIONAL_FLAGS: Mapping[str, frozenset[str]] = {
    "registry": frozenset(),
    "prices": frozenset(),
    "drugs": frozenset({"cold_chain"}),
}
_KEY = {"registry": "license_no", "prices": "item_code", "drugs": "drug_code"}


@dataclass(frozen=True)
class SourceRow:
    """One row of raw text values and where it came from (for problems)."""

    where: str
    values: Mapping[str, str | list[str]]
    #: Column name -> its position in the file, for "column N" in problems (CSV only).
    positions: Mapping[str, int] | None = None


def _where(row: SourceRow, column: str) -> str:
    if row.positions is not None and column in row.positions:
        return f"{row.where}, column {row.positions[column]}"
    return row.where


def _whole_file_problems(
    dataset: str, parsed: list[tuple[SourceRow, dict[str, Any]]]
) -> list[ReferenceProblem]:
    """What no single row shows: duplicate keys, overlapping validity windows."""
    problems = []
    key = _KEY[dataset]
    windows: dict[str, list[tuple[str, str | None, SourceRow]]] = {}
    first_seen: dict[str, str] = {}
    for source, row in parsed:
        if dataset == "prices":
            windows.setdefault(row[key], []).append((row["valid_from"], row["valid_to"], source))
        elif row[key] in first_seen:
            problems.append(
                _problem(
                    _where(source, key),
                    key,
                    "duplicate",
                    "%(code)s appears again (first at %(first)s)",
                    code=row[key],
                    first=first_seen[row[key]],
                )
            )
        else:
            first_seen[row[key]] = source.where
    for code, spans in windows.items():
        spans.sort(key=lambda span: span[0])
        for (_, end, earlier), (start, _, later) in itertools.pairwise(spans):
            if end is None or start <= end:
                problems.append(
                    _problem(
                        _where(later, "valid_from"),
                        "valid_from",
                        "overlap",
                        "%(code)s's validity overlaps the row at %(other)s",
                        code=code,
                        other=earlier.where,
                    )
                )
    return problems


def parse_reference_rows(dataset: str, rows: Sequence[SourceRow]) -> list[dict[str, Any]]:
    """Canonical rows of ``dataset`` from raw rows; raises ``ReferenceFileError`` listing all."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown reference dataset {dataset!r}")
    columns = COLUMNS[dataset]
    optional = OPTIONAL_FLAGS[dataset]
    problems: list[ReferenceProblem] = []
    parsed: list[tuple[SourceRow, dict[str, Any]]] = []
    if not rows:
        problems.append(_problem("the file", "", "no_rows", "has no rows"))
    for source in rows:
        row: dict[str, Any] = {}
        failed = False
        for column, parse in columns.items():
            try:
                value = parse(source.values.get(column, ""))
            except ValueError as e:
                failed = True
                key, params = (e.key, e.params) if isinstance(e, InvalidValueError) else ("", {})
                problems.append(
                    ReferenceProblem(_where(source, column), column, str(e), key, params)
                )
                continue
            if column not in optional or value is True:
                row[column] = value
        if row.get("valid_to") and row.get("valid_from") and row["valid_to"] < row["valid_from"]:
            problems.append(
                _problem(
                    _where(source, "valid_to"), "valid_to", "ends_early", "ends before valid_from"
                )
            )
        elif not failed:
            parsed.append((source, row))
    problems += _whole_file_problems(dataset, parsed)
    if problems:
        raise ReferenceFileError(dataset, problems)
    key = _KEY[dataset]
    return sorted((row for _, row in parsed), key=lambda r: (r[key], r.get("valid_from", "")))


def parse_reference_csv(dataset: str, content: bytes) -> list[dict[str, Any]]:
    """Canonical rows of a reference CSV (UTF-8, optional BOM, header row naming the columns)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown reference dataset {dataset!r}")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ReferenceFileError(
            dataset, [_problem(f"byte {e.start}", "", "not_utf8", "the file is not UTF-8")]
        ) from e
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ReferenceFileError(
                dataset, [_problem("line 1", "", "empty", "the file is empty")]
            )
        names = [name.strip() for name in header]
        expected = list(COLUMNS[dataset])
        optional = OPTIONAL_FLAGS[dataset]
        missing = [c for c in expected if c not in names and c not in optional]
        unknown = [n for n in names if n not in expected]
        if missing or unknown or len(set(names)) != len(names):
            detail = []
            if missing:
                detail.append(f"missing {', '.join(missing)}")
            if unknown:
                detail.append(f"unknown {', '.join(unknown)}")
            if len(set(names)) != len(names):
                detail.append("a column appears twice")
            raise ReferenceFileError(
                dataset,
                [
                    _problem(
                        "line 1",
                        "",
                        "header",
                        "header: %(detail)s (expected %(expected)s)",
                        detail="; ".join(detail),
                        expected=", ".join(expected),
                        missing=", ".join(missing),
                        unknown=", ".join(unknown),
                        twice="yes" if len(set(names)) != len(names) else "",
                    )
                ],
            )
        positions = {name: i + 1 for i, name in enumerate(names)}
        rows: list[SourceRow] = []
        problems: list[ReferenceProblem] = []
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines are harmless
            if len(values) != len(names):
                problems.append(
                    _problem(
                        f"line {line}",
                        "",
                        "field_count",
                        "%(fields)s fields, the header has %(header)s",
                        fields=str(len(values)),
                        header=str(len(names)),
                    )
                )
                continue
            rows.append(SourceRow(f"line {line}", dict(zip(names, values, strict=True)), positions))
            if len(rows) > _MAX_ROWS:
                problems.append(_problem(f"line {line}", "", "too_many_rows", "too many rows"))
                break
    except csv.Error as e:
        raise ReferenceFileError(
            dataset,
            [
                _problem(
                    f"line {reader.line_num}",
                    "",
                    "not_csv",
                    "not valid CSV: %(detail)s",
                    detail=str(e),
                )
            ],
        ) from e
    try:
        parsed = parse_reference_rows(dataset, rows)
    except ReferenceFileError as e:
        raise ReferenceFileError(dataset, [*problems, *e.problems]) from None
    if problems:
        raise ReferenceFileError(dataset, problems)
    return parsed
