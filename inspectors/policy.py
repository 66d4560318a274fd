"""The inspection policy: thresholds regulators choose, from a versioned TOML file.

The policy's identity is the SHA-256 of the file's bytes, recorded with
every inspection run and every finding, so a finding can always be traced
to the exact thresholds that produced it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256
from importlib import resources
from typing import Any

from .reference import DRUG_CATEGORIES

__all__ = ["Policy", "PolicyError", "default_policy_bytes", "parse_policy"]


class PolicyError(ValueError):
    """The policy file is not valid; the message names the key."""


@dataclass(frozen=True)
class Policy:
    version: int
    sha256: str
    late_after: timedelta
    minimum_practice_years: int
    too_fast: timedelta
    default_max_days_supply: int
    grace: timedelta
    #: (institution_code, department_code or "*")
    first_visit_exemptions: frozenset[tuple[str, str]]
    #: How long after signing a prescription may still be dispensed.
    prescription_valid: timedelta = timedelta(hours=72)
    #: Drug catalogue categories under special management (特殊管理药品): never sold online
    #: or sent by courier.
    controlled_categories: frozenset[str] = frozenset(
        {"narcotic", "psychotropic", "toxic", "radioactive", "precursor"}
    )

    def first_visit_exempt(self, institution_code: str, department_code: str) -> bool:
        exemptions = self.first_visit_exemptions
        return (institution_code, department_code) in exemptions or (
            institution_code,
            "*",
        ) in exemptions


_SECTIONS = {
    "transmission": {"late_after_hours"},
    "practitioners": {"minimum_practice_years"},
    "prescriptions": {"too_fast_seconds", "default_max_days_supply"},
    "cross_record": {"grace_hours"},
}
#: Sections a policy may leave out (added after policies were already imported into ledgers,
#: whose bytes must keep parsing): the defaults above apply.
_OPTIONAL_SECTIONS = {
    "dispensing": {"prescription_valid_hours", "controlled_categories"},
}
#: Ordinary categories: listing them as special management would make every sale a finding.
_ORDINARY_CATEGORIES = frozenset({"otc", "rx"})


def _integer(document: dict[str, Any], section: str, key: str, low: int, high: int) -> int:
    value = document.get(section, {}).get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise PolicyError(f"[{section}] {key} must be an integer from {low} to {high}")
    return value


def _categories(document: dict[str, Any], section: str, key: str) -> frozenset[str] | None:
    """A list of distinct special-management drug categories (None: the key is absent)."""
    if key not in document.get(section, {}):
        return None
    value = document[section][key]
    allowed = [c for c in DRUG_CATEGORIES if c not in _ORDINARY_CATEGORIES]
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v in allowed for v in value)
        or len(set(value)) != len(value)
    ):
        raise PolicyError(
            f"[{section}] {key} must be a list of distinct categories among {', '.join(allowed)}"
        )
    return frozenset(value)


def _dispensing(document: dict[str, Any]) -> dict[str, Any]:
    """The ``[dispensing]`` keys given (the rest keep ``Policy``'s defaults)."""
    given: dict[str, Any] = {}
    if "prescription_valid_hours" in document.get("dispensing", {}):
        hours = _integer(document, "dispensing", "prescription_valid_hours", 1, 24 * 90)
        given["prescription_valid"] = timedelta(hours=hours)
    categories = _categories(document, "dispensing", "controlled_categories")
    if categories is not None:
        given["controlled_categories"] = categories
    return given


def parse_policy(content: bytes) -> Policy:
    """A policy from TOML bytes; raises ``PolicyError`` naming the first bad key."""
    try:
        document = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PolicyError(f"the policy is not valid UTF-8 TOML: {e}") from e
    unknown = set(document) - {
        *_SECTIONS,
        *_OPTIONAL_SECTIONS,
        "version",
        "first_visit_exemptions",
    }
    if unknown:
        raise PolicyError(f"unknown policy keys: {', '.join(sorted(unknown))}")
    for section, keys in _SECTIONS.items():
        table = document.get(section)
        if not isinstance(table, dict):
            raise PolicyError(f"the policy has no [{section}] table")
        extra = set(table) - keys
        if extra:
            raise PolicyError(f"[{section}] has unknown keys: {', '.join(sorted(extra))}")
    for section, keys in _OPTIONAL_SECTIONS.items():
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise PolicyError(f"[{section}] must be a table")
        extra = set(table) - keys
        if extra:
            raise PolicyError(f"[{section}] has unknown keys: {', '.join(sorted(extra))}")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PolicyError("version must be a positive integer")
    exemptions = set()
    for position, item in enumerate(document.get("first_visit_exemptions", [])):
        if (
            not isinstance(item, dict)
            or set(item) != {"institution_code", "department_code"}
            or not all(isinstance(v, str) and v for v in item.values())
        ):
            raise PolicyError(
                f"first_visit_exemptions[{position}] needs institution_code and department_code"
            )
        exemptions.add((item["institution_code"], item["department_code"]))
    return Policy(
        version=version,
        sha256=sha256(content).hexdigest(),
        late_after=timedelta(
            hours=_integer(document, "transmission", "late_after_hours", 1, 24 * 365)
        ),
        minimum_practice_years=_integer(document, "practitioners", "minimum_practice_years", 0, 50),
        too_fast=timedelta(
            seconds=_integer(document, "prescriptions", "too_fast_seconds", 0, 86_400)
        ),
        default_max_days_supply=_integer(
            document, "prescriptions", "default_max_days_supply", 1, 366
        ),
        grace=timedelta(hours=_integer(document, "cross_record", "grace_hours", 0, 24 * 90)),
        first_visit_exemptions=frozenset(exemptions),
        **_dispensing(document),
    )


def default_policy_bytes() -> bytes:
    """The policy careledger ships with (``inspectors/default_policy.toml``)."""
    return resources.files("inspectors").joinpath("default_policy.toml").read_bytes()
