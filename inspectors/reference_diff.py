"""What changed between two versions of a reference dataset, row by row, by the dataset's key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["KEYS", "ReferenceDiff", "diff_rows"]

#: A row's identity per dataset (prices: a code may have several validity windows).
KEYS: Mapping[str, tuple[str, ...]] = {
    "registry": ("license_no",),
    "prices": ("item_code", "valid_from"),
    "drugs": ("drug_code",),
}


@dataclass(frozen=True)
class ReferenceDiff:
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    #: (key, {column: (before, after)}) for rows whose values changed
    changed: list[tuple[str, dict[str, tuple[Any, Any]]]]


def _key(dataset: str, row: Mapping[str, Any]) -> str:
    return " / ".join(str(row[column]) for column in KEYS[dataset])


def diff_rows(
    dataset: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> ReferenceDiff:
    """Rows added, removed and changed from ``before`` to ``after`` (canonical rows)."""
    old = {_key(dataset, row): row for row in before}
    new = {_key(dataset, row): row for row in after}
    changed = []
    for key in sorted(old.keys() & new.keys()):
        columns = {
            column: (old[key].get(column), new[key].get(column))
            for column in sorted(set(old[key]) | set(new[key]))
            if old[key].get(column) != new[key].get(column)
        }
        if columns:
            changed.append((key, columns))
    return ReferenceDiff(
        [dict(new[k]) for k in sorted(new.keys() - old.keys())],
        [dict(old[k]) for k in sorted(old.keys() - new.keys())],
        changed,
    )
