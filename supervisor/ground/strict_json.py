"""Request bodies parsed as I-JSON (RFC 7493): UTF-8, no duplicate keys, no NaN.

A JSON object with the same key twice means different things to different
parsers (Python keeps the last value, others the first), so a platform and
the regulator could disagree about what was signed. Such a body is refused
at any depth, before anything else looks at it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

__all__ = ["StrictJsonError", "parse_strict_json"]

#: Deeper documents are refused (orjson's limit, kept when this parser replaced it).
MAX_DEPTH = 1024


class StrictJsonError(ValueError):
    """The body is not I-JSON; the message says where and why."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise StrictJsonError(f"the key {repeated!r} appears twice in one object (RFC 7493)")
    return found


def _no_constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number (RFC 8259)")


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise StrictJsonError(f"{text} is not a finite number (RFC 7493)")
    return value


def parse_strict_json(body: bytes) -> Any:
    """The value of ``body``; ``StrictJsonError`` if it is not UTF-8 I-JSON.

    orjson reads it first: strict UTF-8, no lone surrogates, integers within 64 bits,
    depth within 1024, no NaN. The standard parser then reads it again to see every
    object's keys before they are folded into a dict (orjson keeps the last of two).
    """
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise StrictJsonError(f"{e.msg} at line {e.lineno}, column {e.colno}") from e
    try:
        return json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_object,
            parse_constant=_no_constant,
            parse_float=_number,
        )
    except json.JSONDecodeError as e:
        raise StrictJsonError(f"{e.msg} at line {e.lineno}, column {e.colno}") from e
    except (RecursionError, ValueError) as e:  # ValueError: an integer of 4,300+ digits
        if isinstance(e, StrictJsonError):
            raise
        raise StrictJsonError(f"not I-JSON: {e}") from e
