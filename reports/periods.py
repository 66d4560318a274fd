"""Reporting periods: a day, a month or a quarter of the province's calendar (UTC+8).

Days are counted from 1970-01-01 in China Standard Time, so a record's period
follows from one integer. A period is the half-open day range ``[first_day,
end_day)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["PROVINCE_TIME", "Period", "date_of_day", "day_number", "day_of_date", "parse_period"]

PROVINCE_TIME = timezone(timedelta(hours=8), "CST")
_EPOCH = date(1970, 1, 1)
_KINDS = ("day", "month", "quarter")


def day_number(moment: datetime) -> int:
    """The province-calendar day of an aware ``moment``, counted from 1970-01-01."""
    return (moment.astimezone(PROVINCE_TIME).date() - _EPOCH).days


def day_of_date(on: date) -> int:
    """The day number of a calendar date."""
    return (on - _EPOCH).days


def date_of_day(number: int) -> date:
    """The calendar date of a day number."""
    return _EPOCH + timedelta(days=number)


_day = date_of_day


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period. ``key`` is ``2026-11-23``, ``2026-11`` or ``2026-Q4``."""

    first_day: int
    end_day: int
    kind: str
    key: str

    @classmethod
    def day(cls, on: date) -> Period:
        number = (on - _EPOCH).days
        return cls(number, number + 1, "day", on.isoformat())

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        start = date(year, month, 1)
        end = date(year + month // 12, month % 12 + 1, 1)
        return cls((start - _EPOCH).days, (end - _EPOCH).days, "month", f"{year:04d}-{month:02d}")

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        first = cls.month(year, 3 * quarter - 2)
        last = cls.month(year, 3 * quarter)
        return cls(first.first_day, last.end_day, "quarter", f"{year:04d}-Q{quarter}")

    @property
    def start(self) -> date:
        return _day(self.first_day)

    @property
    def last(self) -> date:
        return _day(self.end_day - 1)

    @property
    def start_time(self) -> datetime:
        """The first instant of the period, in UTC."""
        return datetime.combine(self.start, datetime.min.time(), PROVINCE_TIME).astimezone(UTC)

    @property
    def end_time(self) -> datetime:
        """The first instant after the period, in UTC."""
        return datetime.combine(_day(self.end_day), datetime.min.time(), PROVINCE_TIME).astimezone(
            UTC
        )

    def contains(self, day: int) -> bool:
        return self.first_day <= day < self.end_day

    def previous(self) -> Period:
        start = self.start
        if self.kind == "day":
            return Period.day(start - timedelta(days=1))
        if self.kind == "month":
            year, month = (start.year, start.month - 1) if start.month > 1 else (start.year - 1, 12)
            return Period.month(year, month)
        quarter = (start.month - 1) // 3 + 1
        year, quarter = (start.year, quarter - 1) if quarter > 1 else (start.year - 1, 4)
        return Period.quarter(year, quarter)

    def history(self, count: int) -> list[Period]:
        """This period and the ``count - 1`` before it, oldest first."""
        periods = [self]
        while len(periods) < count:
            periods.append(periods[-1].previous())
        return periods[::-1]

    @classmethod
    def containing(cls, kind: str, on: date) -> Period:
        if kind == "day":
            return cls.day(on)
        if kind == "month":
            return cls.month(on.year, on.month)
        if kind == "quarter":
            return cls.quarter(on.year, (on.month - 1) // 3 + 1)
        raise ValueError(f"unknown period kind {kind!r}; use one of {', '.join(_KINDS)}")


_PERIOD = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>0[1-9]|1[0-2])(?:-(?P<day>[0-3][0-9]))?|-Q(?P<q>[1-4]))"
)


def parse_period(text: str) -> Period:
    """``2026-11-23`` (a day), ``2026-11`` (a month) or ``2026-Q4`` (a quarter)."""
    match = _PERIOD.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a period: write 2026-11-23, 2026-11 or 2026-Q4")
    year = int(match["year"])
    if match["q"]:
        return Period.quarter(year, int(match["q"]))
    if match["day"]:
        try:
            return Period.day(date(year, int(match["month"]), int(match["day"])))
        except ValueError as e:
            raise ValueError(f"{text!r} is not a calendar day") from e
    return Period.month(year, int(match["month"]))
