"""Schemathesis hooks that sign what it generates with a registered platform key.

Loaded by ``schemathesis run`` through ``SCHEMATHESIS_HOOKS`` in the e2e test,
so fuzzed batches get past authentication and exercise record validation,
and fuzzed reads (receipts, notices) carry a valid request signature. The key comes
from ``CARELEDGER_FUZZ_KEY`` (a ``careledger platform keygen`` file) and
``CARELEDGER_FUZZ_PLATFORM``.
"""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.signing
import rfc8785
import schemathesis

from supervisor.intake.platforms import key_id_of
from supervisor.intake.request_signing import authorization_header

_SEED = base64.b64decode(Path(os.environ["CARELEDGER_FUZZ_KEY"]).read_text().strip())
_PLATFORM = os.environ["CARELEDGER_FUZZ_PLATFORM"]
_KEY_ID = key_id_of(bytes(nacl.signing.SigningKey(_SEED).verify_key))


def _signed(body: dict[str, Any]) -> dict[str, Any]:
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    # Records of this platform's own institution, so some batches are accepted whole.
    for record in unsigned.get("records") or []:
        if isinstance(record, dict) and "institution_code" in record:
            record["institution_code"] = _PLATFORM.removeprefix("PLT-")
    unsigned.update(platform_id=_PLATFORM, key_id=_KEY_ID, created_at=datetime.now(UTC).isoformat())
    try:
        message = rfc8785.dumps(unsigned)
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        return body  # not canonicalisable: let the server refuse it as it is
    signature = nacl.signing.SigningKey(_SEED).sign(message).signature
    return {**unsigned, "signature": base64.b64encode(signature).decode()}


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    if case.method == "POST" and isinstance(case.body, dict):
        case.body = _signed(case.body)
    # A signed read (a batch's receipt, notices, their receipts) gets a valid signature in
    # place of the generated one; a case that leaves the header out must still get a 401.
    if case.method == "GET" and "Authorization" in (case.headers or {}):
        path = case.formatted_path
        case.headers = dict(case.headers or {})
        case.headers["Authorization"] = authorization_header(
            _PLATFORM, _KEY_ID, _SEED, method="GET", path=path, created=int(time.time())
        )
    return case
