"""The demo province on disk, and loading it into a ledger through the real platform API.

A province folder holds what each party would have: the regulator's
reference files (``registry.csv``, ``prices.csv``, ``drugs.csv``,
``policy.toml``), each platform's records with their send times
(``records/<platform's institution code>.jsonl``; a pharmacy chain's or a
prescription circulation platform's file holds the records of every pharmacy
it serves), ``patients.jsonl``, ``institutions.json`` (the hospitals),
``pharmacies.json``, ``platforms.json`` (the platforms submitting for
pharmacies, and the pharmacies each serves) and the ground truth
``labels.jsonl`` (one line per finding a correct inspector must make).

Loading replays the month: a clock steps through the send times, every
platform is registered with its own key (and authorised for the pharmacies it
serves, each authorisation a ledger entry), the reference data is imported,
and each platform's records are signed and POSTed in batches every quarter
of an hour to the portal served on a loopback port, with every receipt
verified. The portal's clock is the replay clock, so records are received
when the platforms would have sent them.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from werkzeug.serving import WSGIRequestHandler, make_server

from inspectors.policy import default_policy_bytes
from inspectors.reference_files import parse_reference_csv
from ledger.note import Verifier
from ledger.store import LedgerStore
from supervisor.client.submit import PlatformKeyFile, SubmitClient, sign_envelope
from supervisor.config import Settings
from supervisor.custody.key_files import write_secret
from supervisor.demo.province import Label, Province, Transmission
from supervisor.intake.platforms import PlatformRegistry, generate_platform_key, platform_id_for
from supervisor.intake.receipts import verify_receipt
from supervisor.runtime.services import Services, build_services

__all__ = ["LoadReport", "ReplayClock", "load_province", "read_labels", "write_province"]

_BATCH_WINDOW = timedelta(minutes=15)
_MAX_BATCH = 500


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def write_province(province: Province, out: Path) -> None:
    """Write the province folder (``out`` must not hold another province's files)."""
    (out / "records").mkdir(parents=True, exist_ok=True)
    (out / "registry.csv").write_bytes(_csv(province.registry))
    (out / "prices.csv").write_bytes(_csv(province.prices))
    (out / "drugs.csv").write_bytes(_csv(province.drugs))
    (out / "policy.toml").write_bytes(default_policy_bytes())
    for name, listed in (
        ("institutions", province.institutions),
        ("pharmacies", province.pharmacies),
        ("platforms", province.platforms),
    ):
        (out / f"{name}.json").write_bytes(orjson.dumps(listed, option=orjson.OPT_INDENT_2))
    with (out / "patients.jsonl").open("wb") as handle:
        for patient in province.patients:
            handle.write(orjson.dumps(patient) + b"\n")
    for code, transmissions in province.transmissions.items():
        with (out / "records" / f"{code}.jsonl").open("wb") as handle:
            for t in transmissions:
                handle.write(
                    orjson.dumps({"send_at": t.send_at.isoformat(), "record": t.record}) + b"\n"
                )
    with (out / "labels.jsonl").open("wb") as handle:
        for label in province.labels:
            handle.write(
                orjson.dumps(
                    {
                        "institution_code": label.institution_code,
                        "record_id": label.record_id,
                        "rule": label.rule,
                    }
                )
                + b"\n"
            )


def read_labels(folder: Path) -> list[Label]:
    with (folder / "labels.jsonl").open("rb") as handle:
        return [Label(**orjson.loads(line)) for line in handle if line.strip()]


def _read_transmissions(folder: Path) -> Iterator[tuple[str, Transmission]]:
    """Every platform's records, merged in send-time order."""
    merged = []
    for path in sorted((folder / "records").glob("*.jsonl")):
        with path.open("rb") as handle:
            for line in handle:
                item = orjson.loads(line)
                merged.append(
                    (
                        datetime.fromisoformat(item["send_at"]),
                        path.stem,
                        Transmission(datetime.fromisoformat(item["send_at"]), item["record"]),
                    )
                )
    merged.sort(key=lambda m: (m[0], m[1]))
    for _, code, transmission in merged:
        yield code, transmission


class ReplayClock:
    """A clock that only moves when told to (and never backwards)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance_to(self, moment: datetime) -> None:
        with self._lock:
            self._now = max(self._now, moment)


class _Quiet(WSGIRequestHandler):
    """No access log line per batch: the portal's own JSON log already has one."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def _serving(settings: Settings, clock: ReplayClock) -> Iterator[str]:
    """The portal app on a loopback port in this process (so it shares the replay clock)."""
    from supervisor.web.app import create_app

    server = make_server(
        "127.0.0.1", 0, create_app(settings, clock=clock), threaded=True, request_handler=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@dataclass(frozen=True)
class LoadReport:
    platforms: int
    records: int
    batches: int
    reference_versions: dict[str, str]
    ended_at: datetime


def load_province(
    folder: Path,
    settings: Settings,
    *,
    progress: Callable[[int], None] | None = None,
    after_batch: Callable[[ReplayClock], None] | None = None,
    over_http: bool = True,
    batch_window: timedelta = _BATCH_WINDOW,
) -> LoadReport:
    """Register, import and submit the province in ``folder`` (see the module docstring).

    Requires an initialised data folder (``careledger init``) holding no such platforms yet.
    ``after_batch`` runs after each accepted batch (a test runs the inspector there, as a
    live follower would). ``over_http=False`` hands each signed batch to the submission
    service in this process instead (same checks, sealing and projections, no HTTP): for
    benchmarks that need a million records in the ledger quickly, with a longer
    ``batch_window`` (records must still arrive well within the policy's transmission
    deadline, or the labels' DATA-LATE count is off).
    """
    institutions = orjson.loads((folder / "institutions.json").read_bytes())
    platforms_file = folder / "platforms.json"  # absent in a folder written before pharmacies
    platforms = orjson.loads(platforms_file.read_bytes()) if platforms_file.exists() else []
    transmissions = list(_read_transmissions(folder))
    if not transmissions:
        raise ValueError(f"{folder} holds no records")
    first = transmissions[0][1].send_at
    clock = ReplayClock(first - timedelta(hours=1))
    services = build_services(settings, clock)
    try:
        keys = _register_platforms(services.store, [*institutions, *platforms], settings, clock())
        versions = _import_reference(services, folder, clock())
        assert services.store.signer is not None
        verifier = services.store.signer.verifier
    finally:
        services.engine.dispose()
    with contextlib.ExitStack() as stack:
        submit: Callable[[dict[str, Any]], dict[str, Any]]
        if over_http:
            client = SubmitClient(stack.enter_context(_serving(settings, clock)))
            stack.callback(client.close)
            submit = _over_http(client)
        else:
            direct = build_services(settings, clock)
            stack.callback(direct.engine.dispose)
            submit = _in_process(direct)
        batches = _submit_in_windows(
            transmissions, keys, clock, submit, verifier, progress, after_batch, batch_window
        )
    return LoadReport(len(keys), len(transmissions), batches, versions, clock())


def _over_http(client: SubmitClient) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def submit(envelope: dict[str, Any]) -> dict[str, Any]:
        return client.submit(envelope)[1]

    return submit


def _in_process(services: Services) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def submit(envelope: dict[str, Any]) -> dict[str, Any]:
        return services.submissions.submit(envelope).receipt

    return submit


def _submit_in_windows(  # noqa: PLR0917 - the steps of one replay, named at the call
    transmissions: list[tuple[str, Transmission]],
    keys: dict[str, PlatformKeyFile],
    clock: ReplayClock,
    submit: Callable[[dict[str, Any]], dict[str, Any]],
    verifier: Verifier,
    progress: Callable[[int], None] | None,
    after_batch: Callable[[ReplayClock], None] | None,
    window: timedelta,
) -> int:
    """Send every platform's records in batches at the end of each ``window`` of replayed
    time (or sooner when a batch is full)."""
    batches = 0
    open_batches: dict[str, list[dict[str, Any]]] = {}
    window_end = transmissions[0][1].send_at + window

    def flush(code: str) -> None:
        nonlocal batches
        records = open_batches.pop(code, [])
        if not records:
            return
        batches += 1
        envelope = sign_envelope(
            platform_id=platform_id_for(code),
            key=keys[code],
            batch_id=f"{code}-{batches:07d}",
            created_at=clock(),
            records=records,
        )
        verify_receipt(submit(envelope), verifier, envelope)
        if progress is not None:
            progress(len(records))
        if after_batch is not None:
            after_batch(clock)

    for code, transmission in transmissions:
        while transmission.send_at >= window_end:
            clock.advance_to(window_end)
            for open_code in sorted(open_batches):
                flush(open_code)
            window_end += window
        batch = open_batches.setdefault(code, [])
        batch.append(transmission.record)
        if len(batch) >= _MAX_BATCH:
            clock.advance_to(transmission.send_at)
            flush(code)
    clock.advance_to(window_end)
    for open_code in sorted(open_batches):
        flush(open_code)
    return batches


def _register_platforms(
    store: LedgerStore, platforms: list[dict[str, Any]], settings: Settings, now: datetime
) -> dict[str, PlatformKeyFile]:
    """Register each platform under its institution code with a new key, then authorise
    each for the institutions it serves (``serves``: a chain's stores, the pharmacies a
    prescription circulation platform routes prescriptions to)."""
    registry = PlatformRegistry(store)
    keys = {}
    key_dir = settings.data_dir / "platform-keys"
    for platform in platforms:
        seed, public_key = generate_platform_key()
        registry.register(platform["code"], platform["name"], public_key, now=now)
        write_secret(key_dir / f"{platform['code']}.key", base64.b64encode(seed).decode() + "\n")
        keys[platform["code"]] = PlatformKeyFile(seed)
    for platform in platforms:
        for code in platform.get("serves", ()):
            registry.authorise(platform_id_for(platform["code"]), code, now=now)
    return keys


def _import_reference(services: Services, folder: Path, now: datetime) -> dict[str, str]:
    versions = {}
    for dataset in ("registry", "prices", "drugs"):
        path = folder / f"{dataset}.csv"
        rows = parse_reference_csv(dataset, path.read_bytes())
        result = services.reference.import_rows(dataset, rows, source=f"csv:{path.name}", now=now)
        versions[dataset] = result.version
    policy = services.reference.import_policy(
        (folder / "policy.toml").read_bytes(), source="file:policy.toml", now=now
    )
    versions["policy"] = policy.version
    return versions
