"""Record search over the projections: by institution, practitioner licence, patient (through
the keyed pseudonym of the ID number, never the number itself), record type, rule, dates,
pharmacy (its records and the prescriptions it dispensed) and drug, ordered by the time the
regulator chooses (occurred or received, newest or oldest first)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, Select, func, select, tuple_, union

from ledger.database import read_transaction
from reports.spreadsheet import SpreadsheetWriter, bilingual_header, china_time_text
from supervisor.database import tables

__all__ = [
    "COUNT_LIMIT",
    "CSV_HEADERS",
    "DEFAULT_SORT",
    "PAGE_SIZE",
    "SORTS",
    "RecordQuery",
    "SearchResult",
    "csv_rows",
    "search_records",
]

_PSEUDONYM = re.compile(r"[0-9a-f]{16,64}")
#: Dates a search may name: none of the records can be older, and the day's bounds in
#: China Standard Time stay within Python's datetimes.
_EARLIEST, _LATEST = date(1900, 1, 1), date(9998, 12, 31)

PAGE_SIZE = 50
#: Matches are counted up to here, not beyond: counting every prescription of a province
#: reads millions of index entries on each search, and that cost grows with the ledger.
#: A result this large is narrowed (dates, institution) or exported, not paged through.
COUNT_LIMIT = 10_000
EXPORT_LIMIT = 100_000
_r = tables.records.c
_TYPES = (
    "consultation",
    "prescription",
    "charge",
    "practitioner",
    "institution",
    "pharmacy",
    "dispensing",
    "delivery",
)
#: The orders a search may ask for: ``<time column>_<direction>`` (see ``_ordered``).
SORTS = ("received_desc", "received_asc", "occurred_desc", "occurred_asc")
#: The newest received first: what has just reached the ledger (the order before sorting).
DEFAULT_SORT = "received_desc"


@dataclass(frozen=True)
class RecordQuery:
    institution: str = ""
    practitioner: str = ""
    patient_id: str = ""  # typed by the regulator (a form field only); never stored
    patient: str = ""  # the keyed pseudonym of an ID number: what addresses may carry
    record_type: str = ""
    rule: str = ""
    occurred_from: date | None = None
    occurred_to: date | None = None
    page: int = 1
    sort: str = DEFAULT_SORT
    #: A pharmacy's code: its own records and the prescriptions it dispensed.
    pharmacy: str = ""
    drug: str = ""  # a drug code: the prescriptions and dispensings naming it

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}; expected one of {', '.join(SORTS)}")

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> tuple[RecordQuery, list[str]]:
        """The query and the problems with what was typed (shown, not fatal)."""
        problems: list[str] = []

        def text(name: str, limit: int = 64) -> str:
            value = args.get(name, "")
            return value.strip()[:limit] if isinstance(value, str) else ""

        def day(name: str) -> date | None:
            value = text(name, 10)
            if not value:
                return None
            try:
                found = date.fromisoformat(value)
            except ValueError:
                problems.append(name)
                return None
            if not _EARLIEST <= found <= _LATEST:  # beyond them, time arithmetic overflows
                problems.append(name)
                return None
            return found

        record_type = text("type")
        if record_type and record_type not in _TYPES:
            problems.append("type")
            record_type = ""
        try:
            page = max(1, min(100_000, int(text("page") or "1")))
        except ValueError:
            page = 1
        patient = text("patient")
        if patient and not _PSEUDONYM.fullmatch(patient):
            problems.append("patient")
            patient = ""
        sort = text("sort", 20) or DEFAULT_SORT
        if sort not in SORTS:  # an old or edited address: the default order, said on the page
            problems.append("sort")
            sort = DEFAULT_SORT
        query = cls(
            text("institution"),
            text("practitioner"),
            text("patient_id"),
            patient,
            record_type,
            text("rule", 40),
            day("from"),
            day("to"),
            page,
            sort,
            pharmacy=text("pharmacy"),
            drug=text("drug"),
        )
        return query, problems

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.institution,
                self.practitioner,
                self.patient_id,
                self.patient,
                self.record_type,
                self.rule,
                self.occurred_from,
                self.occurred_to,
                self.pharmacy,
                self.drug,
            )
        )

    def to_args(
        self, patient: str | None = None, page: int | None = None, sort: str | None = None
    ) -> dict[str, Any]:
        """The query as URL parameters: the first page unless ``page`` is given, in this
        query's order unless ``sort`` is given (the default order is left out). Never the ID
        number: the patient goes by pseudonym."""
        sort = sort if sort is not None else self.sort
        args = {
            "institution": self.institution,
            "practitioner": self.practitioner,
            "patient": patient if patient is not None else self.patient,
            "type": self.record_type,
            "rule": self.rule,
            "from": self.occurred_from.isoformat() if self.occurred_from else "",
            "to": self.occurred_to.isoformat() if self.occurred_to else "",
            "page": str(page) if page and page > 1 else "",
            "sort": sort if sort != DEFAULT_SORT else "",
            "pharmacy": self.pharmacy,
            "drug": self.drug,
        }
        return {name: value for name, value in args.items() if value}


@dataclass(frozen=True)
class SearchResult:
    rows: list[dict[str, Any]]
    total: int  # exact, or the count limit when ``more``
    page: int
    pages: int
    more: bool = False  # more matches than were counted


def _midnight(day: date) -> datetime:
    # Dates are China Standard Time days, the regulator's calendar.
    return datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=8)


def _of_pharmacy(code: str) -> Any:
    """The pharmacy's own records, and the prescriptions it dispensed: the keys its fills
    name, reached from its records by the institution index, then each prescription by its
    key. Both halves are index reads, joined as ledger indices, so that a type filter
    beside it filters them instead of leading the planner to every record of that type."""
    fills = tables.prescription_fills.c
    mine = tables.records.alias("own")  # not the searched table: no correlation
    dispensed = tables.records.alias("dispensed")
    keys = (
        select(fills.prescription_institution_code, fills.prescription_record_id)
        .join(mine, mine.c.entry_index == fills.entry_index)
        .where(mine.c.institution_code == code)
    )
    matching = union(
        select(mine.c.entry_index).where(mine.c.institution_code == code),
        select(dispensed.c.entry_index).where(
            tuple_(dispensed.c.institution_code, dispensed.c.record_id).in_(keys)
        ),
    )
    return _r.entry_index.in_(matching)


def _select(query: RecordQuery, patient_pseudonym: str | None) -> Select[Any]:
    statement = select(tables.records)
    if query.institution:
        statement = statement.where(_r.institution_code == query.institution)
    if query.practitioner:
        statement = statement.where(_r.practitioner_license_no == query.practitioner)
    if patient_pseudonym is not None:
        statement = statement.where(_r.patient_pseudonym == patient_pseudonym)
    if query.record_type:
        statement = statement.where(_r.record_type == query.record_type)
    if query.rule:
        flagged = select(tables.findings.c.record_index).where(
            tables.findings.c.rule_id == query.rule
        )
        statement = statement.where(_r.entry_index.in_(flagged))
    if query.pharmacy:
        statement = statement.where(_of_pharmacy(query.pharmacy))
    if query.drug:
        naming = select(tables.record_drugs.c.entry_index).where(
            tables.record_drugs.c.drug_code == query.drug
        )
        statement = statement.where(_r.entry_index.in_(naming))
    if query.occurred_from is not None:
        statement = statement.where(_r.occurred_at >= _midnight(query.occurred_from))
    if query.occurred_to is not None:
        statement = statement.where(_r.occurred_at < _midnight(query.occurred_to + timedelta(1)))
    return statement


def _row(r: Any) -> dict[str, Any]:
    return {
        "entry_index": r.entry_index,
        "record_id": r.record_id,
        "record_type": r.record_type,
        "institution_code": r.institution_code,
        "practitioner_license_no": r.practitioner_license_no or "",
        "occurred_at": tables.read_time(r.occurred_at),
        "received_at": tables.read_time(r.received_at),
    }


def _ordered(statement: Select[Any], sort: str) -> Select[Any]:
    """``statement`` in the order ``sort`` names.

    Received is the ledger's order: the index is the order in which the province committed
    the records, and cannot tie. (``received_at`` is stamped when a batch's request
    arrives, before the append lock, so two batches in flight at once may carry stamps a
    few milliseconds the other way round.) Occurred ties go by ledger index the same way,
    so pages never overlap or skip a record. By type and dates, both orders read an index
    in order. By institution, the institution's matches are sorted: at the province's sizes
    that takes milliseconds (0.1 to 0.4 s only for one institution holding a tenth of a
    million-record ledger). Two indexes that spared it were tried and left out: two more
    B-trees on the most written table, for a choice of order (ops/bench/RESULTS.md)."""
    column, direction = sort.split("_")
    keys = [_r.entry_index] if column == "received" else [_r.occurred_at, _r.entry_index]
    return statement.order_by(*(key.desc() if direction == "desc" else key.asc() for key in keys))


def search_records(
    engine: Engine,
    query: RecordQuery,
    patient_pseudonym: str | None,
    *,
    count_limit: int | None = None,
) -> SearchResult:
    """One page of matches in the query's order, and how many there are (up to
    ``count_limit``, by default ``COUNT_LIMIT``)."""
    if count_limit is None:
        count_limit = COUNT_LIMIT
    statement = _select(query, patient_pseudonym)
    with read_transaction(engine) as connection:
        counted = connection.execute(
            select(func.count()).select_from(statement.limit(count_limit + 1).subquery())
        ).scalar_one()
        more = counted > count_limit
        total = min(counted, count_limit)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(query.page, pages)
        rows = connection.execute(
            _ordered(statement, query.sort).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).all()
    return SearchResult([_row(r) for r in rows], total, page, pages, more)


#: The export's columns: machine name, and the Chinese a regulator reads beside it.
CSV_HEADERS = {
    "entry_index": "账本序号",
    "record_id": "记录编号",
    "record_type": "记录类型",
    "institution_code": "机构代码",
    "practitioner_license_no": "医师执业证号",
    "occurred_at": "发生时间（北京时间）",
    "received_at": "接收时间（北京时间）",
}


def csv_rows(engine: Engine, query: RecordQuery, patient_pseudonym: str | None) -> Iterator[str]:
    """The whole result as CSV text (UTF-8 BOM first, for spreadsheets), at most 100,000 rows,
    in the query's order; headers in Chinese and machine names, times with ``+08:00``."""
    buffer = io.StringIO()
    writer = SpreadsheetWriter(buffer, lineterminator="\n")
    writer.writerow(bilingual_header(CSV_HEADERS))
    yield "\ufeff" + buffer.getvalue()
    statement = _ordered(_select(query, patient_pseudonym), query.sort).limit(EXPORT_LIMIT)
    with read_transaction(engine) as connection:
        rows = connection.execute(statement).all()
    for r in rows:
        buffer.seek(0)
        buffer.truncate()
        row = _row(r)
        writer.writerow(
            [
                china_time_text(row[c]) if isinstance(row[c], datetime) else row[c]
                for c in CSV_HEADERS
            ]
        )
        yield buffer.getvalue()
