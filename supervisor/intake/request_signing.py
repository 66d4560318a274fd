"""Signed requests: how a platform authenticates a read (fetching a receipt again).

The ``Authorization`` header is ``CareLedger-Ed25519 platform_id=..., key_id=...,
created=<unix seconds>, signature=<base64>``, the signature being Ed25519 by a
registered platform key over ``careledger-request/v1\\n<METHOD>\\n<path>\\n<created>``,
where ``<path>`` is the percent-decoded request path.
Batches themselves carry their own signature and need no header.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import nacl.signing

__all__ = [
    "SCHEME",
    "RequestSignature",
    "authorization_header",
    "parse_authorization",
    "signing_input",
]

SCHEME = "CareLedger-Ed25519"
_PARAM = re.compile(r'\s*([a-z_]+)=("?)([^",]*)\2\s*(?:,|\Z)')  # \Z: no "$" before a newline


def signing_input(method: str, path: str, created: int) -> bytes:
    return f"careledger-request/v1\n{method.upper()}\n{path}\n{created}".encode()


def authorization_header(
    platform_id: str, key_id: str, seed: bytes, *, method: str, path: str, created: int
) -> str:
    """The header value for a request signed with the platform key ``seed`` (32 bytes)."""
    signature = nacl.signing.SigningKey(seed).sign(signing_input(method, path, created)).signature
    encoded = base64.b64encode(signature).decode()
    return (
        f'{SCHEME} platform_id="{platform_id}", key_id="{key_id}", '
        f'created="{created}", signature="{encoded}"'
    )


@dataclass(frozen=True)
class RequestSignature:
    platform_id: str
    key_id: str
    created: int
    signature: bytes


def parse_authorization(header: str) -> RequestSignature:
    """Parse the header strictly. Raises ``ValueError`` saying what is wrong."""
    scheme, _, rest = header.partition(" ")
    if scheme != SCHEME:
        raise ValueError(f"the Authorization scheme must be {SCHEME}")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            raise ValueError("the Authorization parameters are malformed")
        params[match.group(1)] = match.group(3)
        position = match.end()
    missing = {"platform_id", "key_id", "created", "signature"} - params.keys()
    if missing:
        raise ValueError(f"the Authorization header lacks {', '.join(sorted(missing))}")
    if not params["created"].isdigit():
        raise ValueError("created must be Unix seconds")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except (ValueError, binascii.Error) as e:
        raise ValueError("signature is not base64") from e
    return RequestSignature(
        params["platform_id"], params["key_id"], int(params["created"]), signature
    )
