"""The demo for ``careledger serve --demo``: a fresh SQLite data folder holding the demo
province, submitted through the platform API and inspected.

Only a folder that carries the demo marker is ever emptied, so a real data
folder can never be wiped by a demo.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.demo.directory import DEMO_MARKER, create_demo_accounts
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import LoadReport, load_province, write_province
from supervisor.ground.logs import configure_json_logging
from supervisor.inspection.inspector import PassReport
from supervisor.runtime.services import build_services

__all__ = ["DEMO_MARKER", "DemoError", "DemoProvince", "build_demo"]

_CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
#: Platforms send every hour in the demo (the province's own default is every quarter).
_SEND_EVERY = timedelta(hours=1)


#: Where the demo's own JSON log lines go (the portal's go to portal.log beside it).
DEMO_LOG = "demo.log"


class DemoError(Exception):
    """The demo folder cannot be prepared (it exists and is not a demo folder)."""


@dataclass(frozen=True)
class DemoProvince:
    settings: Settings
    province_dir: Path
    loaded: LoadReport
    inspected: list[PassReport]
    #: report ids published at the start: the last day's digest and its month's assessment
    reports: tuple[str, ...]
    #: demo account -> password (the portal's demo directory), printed once on start
    accounts: dict[str, str]


def _fresh_folder(folder: Path) -> None:
    if folder.exists():
        if not (folder / DEMO_MARKER).exists():
            raise DemoError(f"{folder} exists and is not a demo folder; move it away first")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / DEMO_MARKER).write_text("careledger serve --demo empties this folder on start\n")


def demo_settings(settings: Settings) -> Settings:
    """The demo's settings: ``<data_dir>-demo`` on SQLite, never the real folder."""
    folder = settings.data_dir.with_name(settings.data_dir.name + "-demo")
    return replace(settings, data_dir=folder, database_url="")


def build_demo(
    settings: Settings,
    *,
    institutions: int,
    days: int,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> DemoProvince:
    """Empty the demo folder, generate the province, submit it through the platform API
    replaying its send times, and inspect it.

    The province ends three days ago (China time): its latest transmissions, late ones
    included (at most 60 hours after the visit), are then in the past.
    """
    demo = replace(demo_settings(settings), portal_secure_cookies=False)  # plain HTTP, loopback
    _fresh_folder(demo.data_dir)
    # The requests of the load are logged to the folder: the terminal shows a progress bar.
    configure_json_logging(to_file=demo.data_dir / DEMO_LOG)
    initialise(demo)
    end: date = now.astimezone(_CHINA_STANDARD_TIME).date() - timedelta(days=3)
    province_dir = demo.data_dir / "province"
    province = generate_province(
        institutions=institutions, days=days, seed=1, violation_rate=0.05, end=end
    )
    write_province(province, province_dir)
    loaded = load_province(province_dir, demo, progress=progress, batch_window=_SEND_EVERY)
    services = build_services(demo, lambda: now)
    try:
        inspected = services.inspector.follow()
        reports = tuple(
            services.reports.generate(kind, period, requested_by="demo").report.report_id
            for kind, period in (("digest", end.isoformat()), ("assessment", f"{end:%Y-%m}"))
        )
    finally:
        services.engine.dispose()
    return DemoProvince(
        demo,
        province_dir,
        loaded,
        inspected,
        reports,
        create_demo_accounts(demo.data_dir, show_on_sign_in=True),
    )


def province_size(institutions: int, days: int) -> int:
    """How many records ``build_demo`` will submit (for a progress bar)."""
    return generate_province(
        institutions=institutions, days=days, seed=1, violation_rate=0.05, end=date(2026, 1, 1)
    ).record_count()
