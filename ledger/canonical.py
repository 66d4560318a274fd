"""RFC 8785 (JCS) canonical JSON for the I-JSON subset careledger signs and hashes.

Accepted values: dict with str keys, list, tuple, str, int within
±(2**53 - 1), bool, None. Floats are refused: amounts travel as decimal
strings, and refusing floats removes the one place where serialisers
disagree. For that subset ``orjson`` with sorted keys emits RFC 8785
bytes when every key is ASCII (code-point order equals UTF-16 order);
otherwise the pure-Python ``rfc8785`` package does the work. The test
suite checks the two agree on random values.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

__all__ = ["JSONValue", "NotCanonicalizableError", "canonical_json", "canonical_json_prechecked"]

JSONValue = Any  # dict[str, JSONValue] | list[JSONValue] | str | int | bool | None
_MAX_SAFE_INT = 2**53 - 1
_MAX_DEPTH = 64


class NotCanonicalizableError(ValueError):
    """The value is outside the JSON subset that careledger canonicalises."""


def _needs_slow_path(value: JSONValue, depth: int = 0) -> bool:
    """Validate ``value``; True when a non-ASCII key makes the slow path necessary."""
    if depth > _MAX_DEPTH:
        raise NotCanonicalizableError("nesting deeper than 64")
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return False
    if kind is int:
        if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            return False
        raise NotCanonicalizableError(f"integer {value} is outside ±(2**53 - 1)")
    slow = False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise NotCanonicalizableError(f"object key {key!r} is not a string")
            if not key.isascii():
                slow = True
            if type(item) is str:  # the common case, without a call
                continue
            if _needs_slow_path(item, depth + 1):
                slow = True
        return slow
    if kind is list or kind is tuple:
        for item in value:
            if _needs_slow_path(item, depth + 1):
                slow = True
        return slow
    raise NotCanonicalizableError(f"{kind.__name__} is not allowed in canonical JSON")


_STR_ONLY = frozenset({str})


def canonical_json(value: JSONValue) -> bytes:
    """RFC 8785 bytes of ``value``. Raises ``NotCanonicalizableError`` outside the subset."""
    # Fast path, checked at C speed: a dict of ASCII keys to str values (the usual statement).
    flat = False
    if type(value) is dict:
        try:
            flat = "".join(value).isascii() and {*map(type, value.values())} <= _STR_ONLY
        except TypeError:  # a key that is not a str: the full walk names it
            flat = False
    if not flat and _needs_slow_path(value):
        try:
            return bytes(rfc8785.dumps(value))
        except (UnicodeError, rfc8785.CanonicalizationError) as e:
            raise NotCanonicalizableError(str(e)) from e
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as e:  # lone surrogates and the like
        raise NotCanonicalizableError(str(e)) from e


def canonical_json_prechecked(value: JSONValue) -> bytes:
    """RFC 8785 bytes of a value already known to be inside the subset with ASCII keys only.

    Requires: ``value`` is part of a value ``canonical_json`` accepted, and no
    object key in it is non-ASCII (e.g. a record that passed a schema naming
    every key). Skips the validation walk, which costs more than encoding.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
