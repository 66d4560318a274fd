"""careledger's fast canonical JSON must be RFC 8785, byte for byte (checked against rfc8785)."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import NotCanonicalizableError, canonical_json

safe_ints = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
scalars = st.none() | st.booleans() | safe_ints | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=2000)
@given(json_values)
def test_agrees_with_rfc8785(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order differs from code-point order
        {"a": '\u2028\u2029\u007f\u001f\b\f\n\r\t"\\/'},
        {"z": 1, "a": [1, {"c": None, "b": True}]},
        {"中文": "互联网医院"},
    ],
)
def test_edge_cases(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value", [1.5, {"a": 1.0}, 2**53, -(2**53), {1: "x"}, {"a": b"bytes"}, {"a": {1, 2}}]
)
def test_values_outside_the_subset_are_refused(value: object) -> None:
    with pytest.raises(NotCanonicalizableError):
        canonical_json(value)


@pytest.mark.parametrize("value", [{"a": "\ud800"}, {"a": ["\udfff"]}, {"\ud800": "x"}])
def test_lone_surrogates_are_refused_as_not_canonicalizable(value: object) -> None:
    with pytest.raises(NotCanonicalizableError):
        canonical_json(value)


def test_deep_nesting_is_refused() -> None:
    value: object = "x"
    for _ in range(100):
        value = [value]
    with pytest.raises(NotCanonicalizableError):
        canonical_json(value)
