"""DISP-*: drugs after the prescription: who dispensed what, against which prescription,
reviewed by whom, and how it reached the patient (placeholder; rules land here)."""

from __future__ import annotations

from ..findings import Rule

__all__ = ["DISPENSING_RULES"]

DISPENSING_RULES: tuple[Rule, ...] = ()
