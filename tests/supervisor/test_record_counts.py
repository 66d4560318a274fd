"""The dashboard's summary rows: kept in the append transaction, equal to a count of the
records by China Standard Time day, to what ``projections rebuild`` recounts and to what
the migration that added them counts from the records already held."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.database.engine import MIGRATIONS, upgrade_database
from supervisor.database.record_counts import china_day
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, write_province
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.services import build_services

pytestmark = pytest.mark.database


def _summary(engine: Engine) -> dict[tuple[date, str, str], int]:
    with engine.connect() as connection:
        return {
            (row.day, row.institution_code, row.record_type): row.records
            for row in connection.execute(select(tables.record_counts))
        }


def _counted(engine: Engine) -> Counter[tuple[date, str, str]]:
    """What the rows must say, counted here from every record."""
    r = tables.records.c
    with engine.connect() as connection:
        return Counter(
            (china_day(row.received_at), row.institution_code, row.record_type)
            for row in connection.execute(select(r.received_at, r.institution_code, r.record_type))
        )


def test_china_days_begin_at_midnight_in_beijing() -> None:
    assert china_day(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)) == date(2026, 11, 30)
    assert china_day(datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC)) == date(2026, 12, 1)
    assert china_day(datetime(2026, 11, 30, 16, 0, 0)) == date(2026, 12, 1)  # SQLite: naive UTC


def test_the_summary_rows_count_every_record_live_rebuilt_and_migrated(
    tmp_path: Path, database_url: str
) -> None:
    folder = tmp_path / "province"
    # Two days, loaded over HTTP with a replay clock: records arrive on both sides of
    # Beijing's midnight (16:00 UTC).
    province = generate_province(
        institutions=3, days=2, seed=22, violation_rate=0.05, end=date(2026, 11, 1)
    )
    write_province(province, folder)
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    initialise(settings)
    load_province(folder, settings)
    services = build_services(settings)
    engine = services.engine
    live = _summary(engine)
    expected = _counted(engine)
    assert live == dict(expected)
    assert len({day for day, _, _ in live}) >= 2 and sum(live.values()) > 500

    size = services.store.head().size
    rebuild_projections(engine, services.keys, lambda last: size)
    assert _summary(engine) == live

    # The migration that added them counts them in SQL from the records already held.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0020")
    upgrade_database(engine)
    assert _summary(engine) == live
    engine.dispose()


def test_the_dashboard_reads_days_from_the_summary_rows(tmp_path: Path, database_url: str) -> None:
    """A record received at 23:30 in Beijing counts for that day, not the next."""
    from supervisor.web.portal.dashboard import dashboard

    folder = tmp_path / "province"
    write_province(
        generate_province(
            institutions=2, days=1, seed=3, violation_rate=0.05, end=date(2026, 11, 1)
        ),
        folder,
    )
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    initialise(settings)
    report = load_province(folder, settings)
    later = report.ended_at + timedelta(hours=1)
    services = build_services(settings, lambda: later)
    board = dashboard(services, later)
    expected = _counted(services.engine)
    by_day = Counter[date]()
    for (day, _, _), n in expected.items():
        by_day[day] += n
    assert {bar.day: bar.records for bar in board.trend if bar.records} == dict(by_day)
    today = china_day(later)
    today_by_type = Counter[str]()
    for (day, _, kind), n in expected.items():
        if day == today:
            today_by_type[kind] += n
    assert board.today_by_type == dict(today_by_type)
    services.engine.dispose()
