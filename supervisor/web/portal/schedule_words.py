"""A five-field cron expression (China time) as a regulator reads it: "every day at 00:30",
"on day 1 of January, April, July and October at 03:00". Forms it cannot say plainly are
shown as they are, beside the words the page gives anyway."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["cron_words"]


def _numbers(field: str, low: int, high: int) -> list[int] | None:
    """The values of a field of plain numbers and commas (None for anything else)."""
    values = []
    for part in field.split(","):
        if not part.isdigit() or not low <= int(part) <= high:
            return None
        values.append(int(part))
    return values


def _join(_: Callable[[str], str], items: list[str]) -> str:
    # The list separator of the reader's language ("、" in Chinese).
    return _(", ").join(items)


def _month_names(_: Callable[[str], str]) -> list[str]:
    return [
        _("January"), _("February"), _("March"), _("April"), _("May"), _("June"), _("July"),
        _("August"), _("September"), _("October"), _("November"), _("December"),
    ]  # fmt: skip


def _weekday_names(_: Callable[[str], str]) -> list[str]:
    return [
        _("Sunday"), _("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"),
        _("Saturday"), _("Sunday"),
    ]  # fmt: skip


def cron_words(expression: str, _: Callable[[str], str]) -> str | None:
    """The schedule in words, or None if it is not a form said plainly."""
    fields = expression.split()
    if len(fields) != 5:
        return None
    minute, hour, day, month, weekday = fields
    if fields == ["*"] * 5:
        return _("every minute")
    if hour == "*" and day == month == weekday == "*" and (m := _numbers(minute, 0, 59)):
        if len(m) == 1:
            return _("every hour at minute %(minute)s") % {"minute": m[0]}
        return None
    minutes, hours = _numbers(minute, 0, 59), _numbers(hour, 0, 23)
    if minutes is None or hours is None or len(minutes) != 1:
        return None
    times = _join(_, [f"{h:02d}:{minutes[0]:02d}" for h in hours])
    if day == month == weekday == "*":
        return _("every day at %(time)s") % {"time": times}
    if day == month == "*" and (days := _numbers(weekday, 0, 7)):
        names = _weekday_names(_)
        return _("every %(weekday)s at %(time)s") % {
            "weekday": _join(_, [names[d] for d in days]),
            "time": times,
        }
    if weekday == "*" and (dates := _numbers(day, 1, 31)):
        on = _join(_, [str(d) for d in dates])
        if month == "*":
            return _("on day %(day)s of every month at %(time)s") % {"day": on, "time": times}
        if months := _numbers(month, 1, 12):
            names = _month_names(_)
            return _("on day %(day)s of %(months)s at %(time)s") % {
                "day": on,
                "months": _join(_, [names[m - 1] for m in months]),
                "time": times,
            }
    return None
