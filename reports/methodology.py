"""The performance-assessment methodology: a versioned TOML file, parsed and checked.

The file is the single statement of what each indicator means and how it is
scored; reports record its SHA-256 so a reader knows which version applied.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from hashlib import sha256
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_METHODOLOGY",
    "CasePenalty",
    "IndicatorSpec",
    "Methodology",
    "MethodologyError",
    "PharmacyMethodology",
    "load_methodology",
    "methodology_version",
    "methodology_with_hash",
    "parse_methodology",
    "shipped_versions",
]

#: What new assessments are computed with; older versions stay shipped for verification.
#: assessment-v3 since pharmacies file and dispense: they are part of the province.
DEFAULT_METHODOLOGY = "assessment-v3.toml"
SCORE_KINDS = ("rate", "band", "likert", "none")
DIRECTIONS = ("up", "down", "none")
#: The indicators the computation knows; a methodology may weigh them, not invent others.
KNOWN_INDICATORS = (
    "volume",
    "follow_up_legitimacy",
    "pharmacist_review_rate",
    "review_minutes_median",
    "prescription_compliance",
    "price_compliance",
    "credential_compliance",
    "transmission_timeliness",
    "rectification_rate",
    "rectification_days_median",
    "satisfaction",
    "responsiveness",
)
#: The pharmacy indicators the computation knows (assessment-v3 on, ``[pharmacy]``).
KNOWN_PHARMACY_INDICATORS = (
    "dispensing_volume",
    "pharmacy_review_rate",
    "dispensing_compliance",
    "double_fill_cases",
    "controlled_drug_cases",
    "cold_chain_compliance",
    "delivery_verification",
    "responsiveness",
)
GROUPINGS = ("institution", "practitioner", "month")


class MethodologyError(Exception):
    """The methodology file is not usable; the message says what to fix."""


@dataclass(frozen=True)
class IndicatorSpec:
    id: str
    name_zh: str
    name_en: str
    definition: str
    numerator: str
    denominator: str
    direction: str
    weight: float
    source_rules: tuple[str, ...]
    scoring: str
    score: str
    target: float | None = None
    limit: float | None = None
    #: Where the numbers come from (records, fields, reference data, findings).
    source: str = ""
    #: Chinese wording of the definition, numerator, denominator and source, where the
    #: file gives it (assessment-v3's pharmacy indicators); English otherwise.
    definition_zh: str = ""
    numerator_zh: str = ""
    denominator_zh: str = ""
    source_zh: str = ""

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en

    def said(self, part: str, language: str) -> str:
        """``definition``, ``numerator``, ``denominator`` or ``source`` in ``language``."""
        english = str(getattr(self, part))
        return (getattr(self, f"{part}_zh") or english) if language == "zh" else english


@dataclass(frozen=True)
class CasePenalty:
    """How cases cost points (assessment-v2 on): see that file's header."""

    groupings: tuple[str, ...]
    severity_points: dict[str, float]
    duration_cap_days: int
    repeat_factor: float


@dataclass(frozen=True)
class PharmacyMethodology:
    """How pharmacies are assessed (assessment-v3 on): see that file's ``[pharmacy]``."""

    indicators: tuple[IndicatorSpec, ...]
    #: Rules whose case, open in the period and not dismissed, leaves a pharmacy unrated.
    veto_rules: tuple[str, ...]
    #: Rules whose every case costs points, whatever its grouping.
    charged_rules: tuple[str, ...]
    min_dispensings: int

    @property
    def scored(self) -> tuple[IndicatorSpec, ...]:
        return tuple(i for i in self.indicators if i.weight > 0)

    def indicator(self, indicator_id: str) -> IndicatorSpec:
        for spec in self.indicators:
            if spec.id == indicator_id:
                return spec
        raise KeyError(indicator_id)


@dataclass(frozen=True)
class Methodology:
    version: str
    sha256: str
    min_records: int
    trend_periods: int
    indicators: tuple[IndicatorSpec, ...]
    text: str
    #: Rules whose case, open in the period and not dismissed, leaves an institution unrated.
    veto_rules: tuple[str, ...] = ()
    case_penalty: CasePenalty | None = None
    pharmacy: PharmacyMethodology | None = None

    @property
    def scored(self) -> tuple[IndicatorSpec, ...]:
        return tuple(i for i in self.indicators if i.weight > 0)

    def indicator(self, indicator_id: str) -> IndicatorSpec:
        for spec in self.indicators:
            if spec.id == indicator_id:
                return spec
        raise KeyError(indicator_id)


def _indicator(
    raw: dict[str, Any], position: int, known: tuple[str, ...] = KNOWN_INDICATORS
) -> IndicatorSpec:
    where = f"indicator {position + 1} ({raw.get('id', '?')})"
    try:
        spec = IndicatorSpec(
            id=str(raw["id"]),
            name_zh=str(raw["name_zh"]),
            name_en=str(raw["name_en"]),
            definition=str(raw["definition"]),
            numerator=str(raw["numerator"]),
            denominator=str(raw["denominator"]),
            direction=str(raw["direction"]),
            weight=float(raw["weight"]),
            source_rules=tuple(str(r) for r in raw["source_rules"]),
            scoring=str(raw["scoring"]),
            score=str(raw["score"]),
            target=None if raw.get("target") is None else float(raw["target"]),
            limit=None if raw.get("limit") is None else float(raw["limit"]),
            source=str(raw.get("source", "")),
            definition_zh=str(raw.get("definition_zh", "")),
            numerator_zh=str(raw.get("numerator_zh", "")),
            denominator_zh=str(raw.get("denominator_zh", "")),
            source_zh=str(raw.get("source_zh", "")),
        )
    except KeyError as e:
        raise MethodologyError(f"{where}: missing field {e.args[0]!r}") from e
    if spec.id not in known:
        raise MethodologyError(f"{where}: unknown indicator; known: {', '.join(known)}")
    if spec.score not in SCORE_KINDS or spec.direction not in DIRECTIONS:
        raise MethodologyError(
            f"{where}: score must be one of {SCORE_KINDS}, direction {DIRECTIONS}"
        )
    if spec.weight < 0 or (spec.weight > 0 and spec.score == "none"):
        raise MethodologyError(f"{where}: only a scored indicator may carry weight")
    if spec.score == "band" and (
        spec.target is None or spec.limit is None or spec.target == spec.limit
    ):
        raise MethodologyError(f"{where}: a band score needs distinct target and limit")
    return spec


def parse_methodology(data: bytes) -> Methodology:
    """A methodology from the bytes of its TOML file; raises ``MethodologyError``."""
    try:
        text = data.decode("utf-8")
        raw = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MethodologyError(f"not a TOML file: {e}") from e
    indicators = tuple(_indicator(item, n) for n, item in enumerate(raw.get("indicator", [])))
    ids = [i.id for i in indicators]
    if len(set(ids)) != len(ids):
        raise MethodologyError("an indicator is listed twice")
    if not any(i.weight > 0 for i in indicators):
        raise MethodologyError("no indicator carries weight; nothing could be scored")
    try:
        return Methodology(
            version=str(raw["version"]),
            sha256=sha256(data).hexdigest(),
            min_records=int(raw.get("min_records", 30)),
            trend_periods=max(1, int(raw.get("trend_periods", 6))),
            indicators=indicators,
            text=text,
            veto_rules=tuple(str(r) for r in raw.get("veto", {}).get("rules", ())),
            case_penalty=_case_penalty(raw["cases"]) if "cases" in raw else None,
            pharmacy=_pharmacy(raw["pharmacy"], "cases" in raw) if "pharmacy" in raw else None,
        )
    except KeyError as e:
        raise MethodologyError(f"missing field {e.args[0]!r}") from e


def _pharmacy(raw: dict[str, Any], has_cases: bool) -> PharmacyMethodology:
    if not has_cases:
        raise MethodologyError("[pharmacy]: pharmacies' cases are charged by [cases]; add it")
    indicators = tuple(
        _indicator(item, n, KNOWN_PHARMACY_INDICATORS)
        for n, item in enumerate(raw.get("indicator", []))
    )
    ids = [i.id for i in indicators]
    if len(set(ids)) != len(ids):
        raise MethodologyError("[pharmacy]: an indicator is listed twice")
    if not any(i.weight > 0 for i in indicators):
        raise MethodologyError("[pharmacy]: no indicator carries weight; nothing could be scored")
    try:
        return PharmacyMethodology(
            indicators=indicators,
            veto_rules=tuple(str(r) for r in raw["veto_rules"]),
            charged_rules=tuple(str(r) for r in raw["charged_rules"]),
            min_dispensings=int(raw["min_dispensings"]),
        )
    except KeyError as e:
        raise MethodologyError(f"[pharmacy]: missing field {e.args[0]!r}") from e


def _case_penalty(raw: dict[str, Any]) -> CasePenalty:
    try:
        penalty = CasePenalty(
            groupings=tuple(str(g) for g in raw["groupings"]),
            severity_points={str(k): float(v) for k, v in raw["severity_points"].items()},
            duration_cap_days=int(raw["duration_cap_days"]),
            repeat_factor=float(raw["repeat_factor"]),
        )
    except KeyError as e:
        raise MethodologyError(f"[cases]: missing field {e.args[0]!r}") from e
    if not set(penalty.groupings) <= set(GROUPINGS):
        raise MethodologyError(f"[cases]: groupings must be among {', '.join(GROUPINGS)}")
    if penalty.duration_cap_days < 1 or penalty.repeat_factor < 1:
        raise MethodologyError("[cases]: duration_cap_days and repeat_factor must be >= 1")
    if any(points < 0 for points in penalty.severity_points.values()):
        raise MethodologyError("[cases]: severity points cannot be negative")
    return penalty


def load_methodology(path: Path | None = None) -> Methodology:
    """The methodology at ``path``, or the one shipped with careledger."""
    if path is None:
        data = resources.files("reports").joinpath("methodology", DEFAULT_METHODOLOGY).read_bytes()
    else:
        data = path.read_bytes()
    return parse_methodology(data)


def _shipped() -> list[Methodology]:
    folder = resources.files("reports").joinpath("methodology")
    return [
        parse_methodology(item.read_bytes())
        for item in sorted(folder.iterdir(), key=lambda i: i.name)
        if item.name.endswith(".toml")
    ]


def shipped_versions() -> tuple[str, ...]:
    """The versions a new assessment may be computed with (``assessment-v1``, ...)."""
    return tuple(m.version for m in _shipped())


def methodology_version(version: str) -> Methodology:
    """The shipped methodology named ``version``; raises ``MethodologyError`` naming
    the versions there are."""
    for methodology in _shipped():
        if methodology.version == version:
            return methodology
    raise MethodologyError(f"no methodology {version!r}; shipped: {', '.join(shipped_versions())}")


def methodology_with_hash(sha256_hex: str) -> Methodology:
    """The shipped methodology whose file hashes to ``sha256_hex``.

    Every version ever used stays in the package, so a report computed under
    an older methodology is recomputed under that one, not today's.
    Raises ``MethodologyError`` when no shipped file matches.
    """
    folder = resources.files("reports").joinpath("methodology")
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".toml"):
            data = item.read_bytes()
            if sha256(data).hexdigest() == sha256_hex:
                return parse_methodology(data)
    raise MethodologyError(f"no shipped methodology file has SHA-256 {sha256_hex}")
