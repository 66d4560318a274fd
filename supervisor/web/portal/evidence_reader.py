"""What an evidence sentence reads with: the reader's gettext and words, and the names the
finding's own reference versions give practitioners, drugs, price items and departments.
Shared by every rule family's sentences (``evidence_text``, ``evidence_text_drugs``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from inspectors.reference import ReferenceSnapshot
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.web.portal.record_fields import department_names, yuan

__all__ = ["EvidenceReader", "Gettext"]

#: The reader's gettext: ``_(msgid, **variables)`` (flask_babel's, or any with its contract).
Gettext = Callable[..., str]


@dataclass(frozen=True)
class EvidenceReader:
    """What a sentence needs: the reader's words and the finding's reference data."""

    gettext: Gettext
    reference: ReferenceSnapshot
    names: Mapping[str, str]

    def word(self, value: object) -> str:
        text = str(value)
        return self.names.get(text, text)

    def yuan(self, value: object) -> str:
        money = yuan(value)
        if money is None:  # the sentence falls back to labelled lines
            raise ValueError(f"{value!r} is not an amount")
        return money

    def moments(self, *texts: str) -> list[str]:
        """Times in China Standard Time, to the minute unless two would then read the same."""
        shown = [datetime.fromisoformat(t) for t in texts]
        if any(m.tzinfo is None for m in shown):
            raise ValueError("a time without its offset cannot be shown in China time")
        local = [m.astimezone(PROVINCE_ZONE) for m in shown]
        minutes = [m.strftime("%Y-%m-%d %H:%M") for m in local]
        same_minute = len(set(minutes)) < len(set(local))
        zone = self.gettext("CST")
        pattern = "%Y-%m-%d %H:%M:%S" if same_minute else "%Y-%m-%d %H:%M"
        return [f"{m.strftime(pattern)} {zone}" for m in local]

    def moment(self, text: str) -> str:
        return self.moments(text)[0]

    def day(self, text: object) -> str:
        return date.fromisoformat(str(text)).isoformat()

    def person(self, licence: object) -> str:
        _ = self.gettext
        who = self.reference.registry.by_license.get(str(licence))
        if who is None:
            return _("(licence %(licence)s)", licence=licence)
        return _("%(name)s (licence %(licence)s)", name=who.name, licence=licence)

    def drug(self, code: object) -> str:
        drug = self.reference.drugs.by_code.get(str(code))
        if drug is None:
            return str(code)
        return self.gettext("%(name)s (%(code)s)", name=drug.drug_name, code=code)

    def price_item(self, code: object, day: str | None = None) -> str:
        """The item by the name it had on ``day`` (else by any name the catalogue gives it)."""
        versions = self.reference.prices.by_code.get(str(code), ())
        item = None if day is None else self.reference.prices.item_on(str(code), self.on(day))
        item = item or (versions[-1] if versions else None)
        if item is None:
            return str(code)
        return self.gettext("%(name)s (%(code)s)", name=item.item_name, code=code)

    def department(self, code: object) -> str:
        name = department_names(self.gettext).get(str(code))
        return (
            str(code) if name is None else self.gettext("%(name)s (%(code)s)", name=name, code=code)
        )

    @staticmethod
    def on(text: str) -> date:
        return date.fromisoformat(text)

    def listed(self, values: Iterable[str]) -> str:
        shown = list(values)
        return self.gettext(", ").join(shown) if shown else self.gettext("none")
