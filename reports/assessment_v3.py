"""Performance assessment under ``assessment-v3``: hospitals as under version 2, and
pharmacies in their own ranking (``reports.pharmacy_indicators``).

Pure: the same facts give the same assessment. The hospitals' part is version 2's
computation run over every case but the pharmacies', so a hospital's numbers under
version 3 are those version 2 gives it on a ledger without pharmacies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .assessment_v2 import AssessmentV2, assess_v2
from .facts import LedgerFacts
from .methodology import Methodology
from .periods import Period
from .pharmacy_indicators import PharmacyAssessment, assess_pharmacies, hospital_view

__all__ = ["AssessmentV3", "assess_v3"]


@dataclass(frozen=True)
class AssessmentV3:
    hospitals: AssessmentV2
    pharmacies: PharmacyAssessment

    def document(self) -> dict[str, Any]:
        document = self.hospitals.document()
        document["pharmacy_assessment"] = self.pharmacies.document()
        return document


def assess_v3(facts: LedgerFacts, methodology: Methodology, period: Period) -> AssessmentV3:
    """Every hospital's and every pharmacy's assessment for ``period`` (v3 rules)."""
    if methodology.pharmacy is None:
        raise ValueError(f"{methodology.version} does not assess pharmacies")
    return AssessmentV3(
        assess_v2(hospital_view(facts), methodology, period),
        assess_pharmacies(facts, methodology, period),
    )
