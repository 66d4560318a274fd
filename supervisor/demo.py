"""The demo province for ``careledger serve --demo``: a fresh SQLite data folder, a platform
with its key, and synthetic records to submit through the real API.

Only a folder that carries the demo marker is ever emptied, so a real data
folder can never be wiped by a demo.
"""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ledger.note import Verifier
from ledger.store import LedgerStore

from .config import Settings
from .database import open_engine
from .keys import load_log_signer, write_secret
from .platforms import PlatformRegistry, generate_platform_key
from .setup import initialise
from .synthetic import synthetic_records

__all__ = ["DEMO_INSTITUTION", "DemoError", "DemoProvince", "demo_records", "prepare_demo"]

DEMO_INSTITUTION = "H330100001"
_MARKER = ".careledger-demo"
_CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


class DemoError(Exception):
    """The demo folder cannot be prepared (it exists and is not a demo folder)."""


@dataclass(frozen=True)
class DemoProvince:
    settings: Settings
    platform_id: str
    key_path: Path
    verifier: Verifier


def _fresh_folder(folder: Path) -> None:
    if folder.exists():
        if not (folder / _MARKER).exists():
            raise DemoError(f"{folder} exists and is not a demo folder; move it away first")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / _MARKER).write_text("careledger serve --demo empties this folder on start\n")


def prepare_demo(settings: Settings, *, now: datetime) -> DemoProvince:
    """Empty ``<data_dir>-demo``, initialise it on SQLite and register the demo platform."""
    folder = settings.data_dir.with_name(settings.data_dir.name + "-demo")
    _fresh_folder(folder)
    demo = replace(settings, data_dir=folder, database_url="")
    initialise(demo)
    seed, public_key = generate_platform_key()
    key_path = folder / "demo-platform.key"
    write_secret(key_path, base64.b64encode(seed).decode() + "\n")
    signer = load_log_signer(demo.log_key_path, demo.log_origin)
    engine = open_engine(demo.effective_database_url)
    try:
        platform_id, _ = PlatformRegistry(LedgerStore(engine, signer)).register(
            DEMO_INSTITUTION, "示例互联网医院（演示）", public_key, now=now
        )
    finally:
        engine.dispose()
    return DemoProvince(demo, platform_id, key_path, signer.verifier)


def demo_records(count: int, *, now: datetime) -> list[dict[str, Any]]:
    """A day of the demo institution's records, ending about now (China Standard Time)."""
    start = now.astimezone(_CHINA_STANDARD_TIME).replace(microsecond=0) - timedelta(days=1)
    return list(synthetic_records(DEMO_INSTITUTION, count, start=start))
