"""Schedules in words: every shipped default is said plainly, and what cannot be said
plainly is left to the expression beside it (never a wrong sentence)."""

from __future__ import annotations

from datetime import datetime

import pytest

from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.runtime.schedules import JOBS, cron_trigger
from supervisor.web.portal.schedule_words import cron_words


def _english(text: str) -> str:
    return text


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("* * * * *", "every minute"),
        ("30 0 * * *", "every day at 00:30"),
        ("0 2 1 * *", "on day 1 of every month at 02:00"),
        ("0 3 1 1,4,7,10 *", "on day 1 of January, April, July, October at 03:00"),
        ("15 8,20 * * 1", "every Monday at 08:15, 20:15"),
        ("5 * * * *", "every hour at minute 5"),
        ("*/5 * * * *", None),  # steps: shown as the expression
        ("0 2 * * 1-5", None),
        ("0 24 * * *", None),  # not an hour
        ("0 2 * *", None),
    ],
)
def test_cron_in_words(cron: str, words: str | None) -> None:
    assert cron_words(cron, _english) == words


def test_every_shipped_schedule_is_said_in_words() -> None:
    for spec in JOBS.values():
        if spec.default_cron is not None:
            assert cron_words(spec.default_cron, _english), spec.default_cron


@pytest.mark.parametrize("weekday", range(8))
def test_a_weekday_in_words_is_the_day_the_scheduler_runs(weekday: int) -> None:
    """Cron numbers weekdays from Sunday = 0 (and 7); the words and the trigger agree."""
    cron = f"0 3 * * {weekday}"
    after = datetime(2026, 11, 1, 8, tzinfo=PROVINCE_ZONE)  # a Sunday, after 03:00
    fires = cron_trigger(cron).get_next_fire_time(None, after)
    assert fires is not None
    assert cron_words(cron, _english) == f"every {fires.strftime('%A')} at 03:00"
