"""The platform side of notices: read the rectification notices to its institution,
answer them with signed responses, verify every response receipt offline, and keep
all of it in a folder the platform names.

Reads are signed requests (``request_signing``); a response signs itself, as a batch
does, and a resend of the same bytes is answered with its original receipt.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from supervisor.cases.responses import (
    RESPONSE_KINDS,
    ResponseReceiptError,
    sign_response,
    verify_response_receipt,
)
from supervisor.client.submit import (
    PlatformKeyFile,
    ReceiptVerifier,
    SubmitClient,
    SubmitError,
    answer_of,
)
from supervisor.intake.receipts import ReceiptError
from supervisor.intake.request_signing import authorization_header

__all__ = [
    "NoticeClient",
    "NoticeFolder",
    "attachment_of",
    "response_envelope",
    "verify_response",
]

_CHUNK = 1 << 20


class NoticeClient(SubmitClient):
    """A platform's reads and answers of notices; retries as ``SubmitClient`` does."""

    def __init__(
        self, base_url: str, platform_id: str, key: PlatformKeyFile, **options: Any
    ) -> None:
        super().__init__(base_url, **options)
        self.platform_id = platform_id
        self.key = key

    def _signed_get(self, path: str, *, now: datetime, query: str = "") -> dict[str, Any]:
        # Signed over the decoded path (what the server routes on), sent percent-encoded.
        header = authorization_header(
            self.platform_id,
            self.key.key_id,
            self.key.seed,
            method="GET",
            path=self._prefix + path,
            created=int(now.timestamp()),
        )
        quoted = urllib.parse.quote(path, safe="/")
        status, payload = self._request(
            "GET", quoted + (f"?{query}" if query else ""), None, {"Authorization": header}
        )
        return answer_of(status, payload)

    def notices(self, *, after: int | None, now: datetime) -> tuple[list[dict[str, Any]], Any]:
        """One page of notice summaries after the cursor, and the next cursor (None: no
        more)."""
        query = "" if after is None else urllib.parse.urlencode({"after": after})
        page = self._signed_get("/api/v1/notices", now=now, query=query)
        return list(page["notices"]), page["next_cursor"]

    def all_notices(self, *, after: int | None, now: datetime) -> Iterator[dict[str, Any]]:
        """Every notice summary after the cursor, page by page, oldest first."""
        while True:
            page, after = self.notices(after=after, now=now)
            yield from page
            if after is None:
                return

    def notice(self, notice_id: str, *, now: datetime) -> dict[str, Any]:
        """One notice with its findings and evidence."""
        return self._signed_get(f"/api/v1/notices/{notice_id}", now=now)

    def respond(self, envelope: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST a signed response; returns (201 or 200, receipt). Raises ``SubmitError``."""
        notice_id = urllib.parse.quote(str(envelope["notice_id"]), safe="")
        status, payload = self._request(
            "POST",
            f"/api/v1/notices/{notice_id}/responses",
            orjson.dumps(envelope),
            {"Content-Type": "application/json"},
        )
        return status, answer_of(status, payload)

    def response_receipt(self, notice_id: str, response_id: str, *, now: datetime) -> Any:
        return self._signed_get(
            f"/api/v1/notices/{notice_id}/responses/{response_id}/receipt", now=now
        )


def attachment_of(path: Path) -> dict[str, Any]:
    """An attachment as a response names it: the file's name, SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"name": path.name, "sha256": digest.hexdigest(), "size": size}


def response_envelope(
    *,
    platform_id: str,
    key: PlatformKeyFile,
    notice_id: str,
    response_id: str,
    created_at: datetime,
    kind: str,
    statement: str,
    attachments: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The signed response envelope (``supervisor.cases.responses``)."""
    if kind not in RESPONSE_KINDS:
        raise ValueError(f"kind must be one of {RESPONSE_KINDS}")
    unsigned = {
        "platform_id": platform_id,
        "key_id": key.key_id,
        "notice_id": notice_id,
        "response_id": response_id,
        "created_at": created_at.isoformat(),
        "kind": kind,
        "statement": statement,
        "attachments": [dict(a) for a in attachments],
    }
    return sign_response(key.seed, unsigned)


def verify_response(
    verifier: ReceiptVerifier, receipt: Mapping[str, Any], envelope: Mapping[str, Any]
) -> int:
    """Check a response receipt offline against the response sent, with the log's keys
    (followed through proven rotations as for batch receipts); returns its ledger index.
    Raises ``ReceiptError``."""
    try:
        return verify_response_receipt(receipt, verifier.keys_for(receipt), envelope)
    except ResponseReceiptError as e:
        raise ReceiptError(str(e)) from e


def _write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` whole or not at all: a crash leaves the previous file."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        found = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise SubmitError(f"{path} is not JSON ({e}): restore it or remove it") from e
    if not isinstance(found, dict):
        raise SubmitError(f"{path} is not a JSON object: restore it or remove it")
    return found


@dataclass(frozen=True)
class NoticeFolder:
    """Where a platform keeps its notices: ``<notice_id>.json`` each, the cursor to pull
    from next in ``cursor.json``, and each response with its receipt in
    ``<notice_id>.response-<response_id>.json``."""

    path: Path

    @property
    def _cursor_file(self) -> Path:
        return self.path / "cursor.json"

    def cursor(self) -> int | None:
        """The last notice pulled (None: none yet)."""
        if not self._cursor_file.exists():
            return None
        after = _read_json(self._cursor_file).get("after")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
            raise SubmitError(f"{self._cursor_file}: 'after' is not a whole number")
        return after

    def remember(self, after: int) -> None:
        _write_atomically(self._cursor_file, orjson.dumps({"after": after}))

    def notice_path(self, notice_id: str) -> Path:
        return self.path / f"{notice_id}.json"

    def save_notice(self, notice: Mapping[str, Any]) -> Path:
        path = self.notice_path(str(notice["notice_id"]))
        _write_atomically(path, orjson.dumps(notice, option=orjson.OPT_INDENT_2))
        return path

    def held_notices(self) -> list[dict[str, Any]]:
        """The notices pulled before (what ``pull`` refreshes)."""
        return [
            _read_json(path)
            for path in sorted(self.path.glob("N*.json"))
            if ".response-" not in path.name
        ]

    def response_path(self, notice_id: str, response_id: str) -> Path:
        return self.path / f"{notice_id}.response-{response_id}.json"

    def held_response(self, notice_id: str, response_id: str) -> dict[str, Any] | None:
        """A response saved by an earlier run (with its receipt, once it has one)."""
        path = self.response_path(notice_id, response_id)
        return _read_json(path) if path.exists() else None

    def save_response(
        self, envelope: Mapping[str, Any], receipt: Mapping[str, Any] | None = None
    ) -> Path:
        """The response (saved before it is sent, so a lost answer can be asked again with
        the very same bytes), then with its verified receipt."""
        path = self.response_path(str(envelope["notice_id"]), str(envelope["response_id"]))
        document = {"response": envelope, "receipt": receipt}
        _write_atomically(path, orjson.dumps(document, option=orjson.OPT_INDENT_2))
        return path
