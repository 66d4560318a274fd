"""A portal per test: fresh database (SQLite, PostgreSQL), fresh keys, one registered platform."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.integrity import verify_stored_log
from ledger.note import Verifier
from supervisor.client.submit import PlatformKeyFile, sign_envelope
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.demo.synthetic import synthetic_records
from supervisor.intake.platforms import PlatformRegistry, generate_platform_key
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from supervisor.web.current import services
from tests.conftest import FROZEN_NOW

CST = timezone(timedelta(hours=8))
INSTITUTION = "H330100001"


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = FROZEN_NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Portal:
    app: Flask
    client: FlaskClient
    clock: Clock
    verifier: Verifier
    platform_id: str
    key: PlatformKeyFile
    settings: Settings
    batches: int = field(default=0)

    @property
    def services(self) -> Services:
        with self.app.app_context():
            return services()

    def records(self, count: int, *, seed: int = 1) -> list[dict[str, Any]]:
        start = (self.clock.now - timedelta(hours=2)).astimezone(CST)
        return list(synthetic_records(INSTITUTION, count, start=start, seed=seed))

    def envelope(
        self,
        records: Sequence[dict[str, Any]],
        *,
        batch_id: str | None = None,
        key: PlatformKeyFile | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        self.batches += 1
        return sign_envelope(
            platform_id=self.platform_id,
            key=key or self.key,
            batch_id=batch_id or f"batch-{self.batches}",
            created_at=(created_at or self.clock.now).astimezone(CST),
            records=records,
        )

    def post(self, envelope: Any) -> Any:
        return self.client.post("/api/v1/batches", json=envelope)

    def log_size(self) -> int:
        return self.services.store.head().size

    def assert_log_verifies(self) -> None:
        result = verify_stored_log(self.services.engine, self.verifier)
        assert result.ok, result.discrepancy


def make_portal(data_dir: Path, database_url: str) -> Portal:
    settings = Settings(data_dir=data_dir, database_url=database_url)
    verifier = initialise(settings).log_verifier
    assert verifier is not None
    clock = Clock()
    app = create_app(settings, clock=clock)
    seed, public_key = generate_platform_key()
    with app.app_context():
        platform_id, _ = PlatformRegistry(services().store).register(
            INSTITUTION, "示例互联网医院", public_key, now=clock.now
        )
    return Portal(
        app, app.test_client(), clock, verifier, platform_id, PlatformKeyFile(seed), settings
    )


@pytest.fixture
def portal(tmp_path: Path, database_url: str) -> Iterator[Portal]:
    """A portal with one registered platform; after the test the log must still verify."""
    portal = make_portal(tmp_path / "var", database_url)
    yield portal
    portal.assert_log_verifies()
    portal.services.engine.dispose()


@pytest.fixture
def new_key() -> Callable[[], PlatformKeyFile]:
    def make() -> PlatformKeyFile:
        return PlatformKeyFile(generate_platform_key()[0])

    return make
