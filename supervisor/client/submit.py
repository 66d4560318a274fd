"""The platform side: sign batches, submit them with retries, verify every receipt.

Used by ``careledger submit`` and the HTTP benchmark. Retries resend the
very same signed envelope (same ``batch_id``, same bytes), so a batch whose
receipt was lost in transit is answered with its original receipt, never
stored twice.
"""

from __future__ import annotations

import base64
import http.client
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nacl.signing
import orjson

from ledger.canonical import canonical_json
from ledger.errors import LedgerError
from ledger.log_keys import KeyChain
from ledger.note import Verifier, signature_key_ids
from supervisor.intake.platforms import PlatformError, decode_key_bytes, key_id_of
from supervisor.intake.receipts import ReceiptError, VerifiedReceipt, verify_receipt
from supervisor.intake.request_signing import authorization_header
from supervisor.transparency.monitor import HttpLogSource, MonitorAlarmError, follow_key_chain

__all__ = [
    "PlatformKeyFile",
    "ReceiptVerifier",
    "SubmitClient",
    "SubmitError",
    "answer_of",
    "load_platform_key",
    "sign_envelope",
    "wait_for_portal",
]

_RETRYABLE = frozenset({429, 500, 502, 503, 504})


class SubmitError(Exception):
    """The regulator refused a batch (a problem+json it returned), or could not be reached."""

    def __init__(self, message: str, problem: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class PlatformKeyFile:
    """A platform's Ed25519 key: the 32-byte seed and what it derives."""

    seed: bytes

    @property
    def public_key(self) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)


def load_platform_key(text: str) -> PlatformKeyFile:
    """Parse a key file written by ``careledger platform keygen`` (base64 seed)."""
    try:
        return PlatformKeyFile(decode_key_bytes(text, "platform key file"))
    except PlatformError as e:
        raise SubmitError(str(e)) from e


def sign_envelope(
    *,
    platform_id: str,
    key: PlatformKeyFile,
    batch_id: str,
    created_at: datetime,
    records: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The batch envelope with its Ed25519 signature over the RFC 8785 bytes of the rest."""
    unsigned = {
        "platform_id": platform_id,
        "key_id": key.key_id,
        "batch_id": batch_id,
        "created_at": created_at.isoformat(),
        "records": list(records),
    }
    signature = nacl.signing.SigningKey(key.seed).sign(canonical_json(unsigned)).signature
    return {**unsigned, "signature": base64.b64encode(signature).decode()}


class SubmitClient:
    """One keep-alive HTTP connection to the portal; not thread-safe (one per thread)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        attempts: int = 6,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SubmitError(f"{base_url!r} is not an http(s) URL")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        self._prefix = parsed.path.rstrip("/")
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(self._host, self._port, timeout=self._timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _request(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """One request with retries on connection failures and 429/5xx, backing off."""
        last_error = "no attempt made"
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                connection = self._connect()
                connection.request(method, self._prefix + path, body=body, headers=dict(headers))
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as e:
                self.close()
                last_error = f"{type(e).__name__}: {e}"
                continue
            if response.status in _RETRYABLE:
                last_error = f"HTTP {response.status}"
                continue
            return response.status, payload
        raise SubmitError(f"gave up after {self._attempts} attempts: {last_error}")

    def submit(self, envelope: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST a signed envelope; returns (201 or 200, receipt). Raises ``SubmitError``."""
        status, payload = self._request(
            "POST",
            "/api/v1/batches",
            orjson.dumps(envelope),
            {"Content-Type": "application/json"},
        )
        return status, answer_of(status, payload)

    def fetch_receipt(
        self, platform_id: str, key: PlatformKeyFile, batch_id: str, *, now: datetime
    ) -> dict[str, Any]:
        # Signed over the decoded path (what the server routes on), sent percent-encoded.
        header = authorization_header(
            platform_id,
            key.key_id,
            key.seed,
            method="GET",
            path=f"{self._prefix}/api/v1/batches/{batch_id}",
            created=int(now.timestamp()),
        )
        path = f"/api/v1/batches/{urllib.parse.quote(batch_id, safe='')}"
        status, payload = self._request("GET", path, None, {"Authorization": header})
        return answer_of(status, payload)


def answer_of(status: int, payload: bytes) -> dict[str, Any]:
    """The JSON object of a 200 or 201; any other answer raises ``SubmitError`` quoting
    the problem's detail and the pointers it gives."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise SubmitError(f"HTTP {status} with a body that is not JSON") from e
    if status in (200, 201) and isinstance(document, dict):
        return document
    if isinstance(document, dict) and "detail" in document:
        pointers = "".join(
            f"\n  {e.get('pointer')}: {e.get('detail')}" for e in document.get("errors", [])[:10]
        )
        raise SubmitError(
            f"HTTP {status} {document.get('title')}: {document['detail']}{pointers}", document
        )
    raise SubmitError(f"HTTP {status}")


class ReceiptVerifier:
    """Verifies receipts with the log's keys, starting from the one the platform was given.

    When a receipt's checkpoint names a key it does not know (the log rotated its
    key), it fetches the log's key history and follows it only as far as each
    rotation is proven (``rotation_evidence.py``); then verifies as before.
    """

    def __init__(self, url: str, trusted: Verifier) -> None:
        self.url = url
        self.log_keys = KeyChain.starting_with(trusted)

    def keys_for(self, receipt: Mapping[str, Any]) -> KeyChain:
        """The log's keys, followed as far as proven to the one the receipt's checkpoint
        names; raises ``ReceiptError``."""
        known = {key.key_id for key in self.log_keys.verifiers}
        try:
            named = signature_key_ids(str(receipt.get("checkpoint", "")))
        except LedgerError as e:
            raise ReceiptError(f"checkpoint does not verify: {e}") from e
        if named[0] not in known:
            try:
                self.log_keys = follow_key_chain(HttpLogSource(self.url), self.log_keys)
            except MonitorAlarmError as e:
                raise ReceiptError(f"the log's new key is not proven: {e}") from e
        return self.log_keys

    def verify(
        self, receipt: Mapping[str, Any], envelope: Mapping[str, Any] | None = None
    ) -> VerifiedReceipt:
        return verify_receipt(receipt, self.keys_for(receipt), envelope)


def submit_and_verify(
    client: SubmitClient, envelope: Mapping[str, Any], verifier: Verifier | KeyChain
) -> tuple[dict[str, Any], VerifiedReceipt]:
    """Submit and check the receipt offline against the envelope sent."""
    _, receipt = client.submit(envelope)
    return receipt, verify_receipt(receipt, verifier, envelope)


def wait_for_portal(
    url: str, alive: Callable[[], bool], timeout: float = 60.0, probe: str = "/api/v1/schema"
) -> None:
    """Return once ``url`` answers ``probe``; raise ``SubmitError`` if the server process
    stops (``alive`` turns False) or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            # url: the portal the operator named, checked to be http(s) by SubmitClient.
            with urllib.request.urlopen(f"{url}{probe}", timeout=1) as response:  # nosec B310
                response.read()
            return
        except OSError as e:
            if not alive() or time.monotonic() > deadline:
                raise SubmitError(f"the portal did not start on {url}: {e}") from e
            time.sleep(0.2)
