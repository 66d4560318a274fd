"""DISP-*: drugs after the prescription, as a regulator reads them: each rule's title, legal
basis and evidence sentences in the reader's language (merged into ``evidence_text``).

In Chinese the titles and legal bases are the rules' own words (a test holds them equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from supervisor.web.portal.evidence_reader import EvidenceReader, Gettext

__all__ = [
    "DISP_SENTENCES",
    "disp_evidence_labels",
    "disp_legal_bases",
    "disp_regulations",
    "disp_rule_titles",
]


def disp_rule_titles(_: Gettext) -> dict[str, str]:
    return {
        "DISP-NO-RX": _("Prescription-only drug dispensed without a prescription"),
        "DISP-RX-UNKNOWN": _("The prescription a dispensing fills was never transmitted"),
        "DISP-RX-EXPIRED": _("Dispensed after the prescription's validity"),
        "DISP-DOUBLE-FILL": _("One prescription filled more than once"),
        "DISP-QUANTITY": _("Quantity dispensed above the quantity prescribed"),
        "DISP-SUBSTITUTE": _("Drug not on the prescription dispensed without a substitution note"),
        "DISP-NO-PHARMACIST": _(
            "Not approved by a licensed pharmacist on the pharmacy's duty roster"
        ),
        "DISP-PHARMACY-LICENSE": _(
            "Pharmacy not filed, licence or GSP expired, or online sales not filed"
        ),
        "DISP-THIRD-PARTY-SALE": _("A third-party platform sold drugs itself"),
        "DISP-CONTROLLED-ONLINE": _("Specially controlled drug sold online or sent by courier"),
        "DISP-COLD-CHAIN": _(
            "Cold-chain drug delivered without the cold chain, or with a temperature excursion"
        ),
        "DISP-DELIVERY-REALNAME": _("Prescription drug delivered without verifying the recipient"),
        "DISP-REVIEW-ORDER": _(
            "Dispensed before the pharmacist's review, or against a prescription the "
            "hospital's review rejected"
        ),
    }


def disp_regulations(_: Gettext) -> dict[str, str]:
    return {
        "drug_law": _("Drug Administration Law of the People's Republic of China (revised 2019)"),
        "online_sales": _(
            "Measures for the Supervision and Administration of Online Drug Sales "
            "(SAMR Order No. 58, 2022)"
        ),
        "gsp": _("Good Supply Practice for Pharmaceutical Products (GSP, revised 2016)"),
        "narcotics": _(
            "Regulations on the Administration of Narcotic Drugs and Psychotropic Drugs "
            "(State Council Order No. 442)"
        ),
    }


def disp_legal_bases(_: Gettext, law: Mapping[str, str]) -> dict[str, str]:
    return {
        "DISP-NO-RX": _(
            "%(prescription)s: pharmacists dispense prescription drugs against a doctor's "
            "prescription; nothing may be dispensed without one; %(online_sales)s: whoever "
            "sells prescription drugs to individuals online must make sure the prescription "
            "comes from a genuine and reliable source. Every drug the drug catalogue does not "
            "list as non-prescription is checked as a prescription drug.",
            prescription=law["prescription"], online_sales=law["online_sales"],
        ),
        "DISP-RX-UNKNOWN": _(
            "%(online_sales)s: whoever sells prescription drugs to individuals online must "
            "make sure the prescription comes from a genuine and reliable source; "
            "%(supervision)s: internet diagnosis and treatment must leave a complete record "
            "that can be queried and traced.",
            online_sales=law["online_sales"], supervision=law["supervision"],
        ),
        "DISP-RX-EXPIRED": _(
            "%(prescription)s: a prescription is valid on the day it is issued. Where its "
            "validity must be extended in special circumstances, the prescribing doctor notes "
            "the period, which may not exceed 3 days. The time limit follows the supervision "
            "policy.",
            prescription=law["prescription"],
        ),
        "DISP-DOUBLE-FILL": _(
            "%(online_sales)s: online drug retailers sign agreements with the providers of "
            "electronic prescriptions, review and dispense prescriptions strictly by the "
            "rules, and mark the electronic prescriptions already used, so that no "
            "prescription is used again. What one prescription is filled for, at every "
            "pharmacy and on every platform together, may not exceed what it prescribes.",
            online_sales=law["online_sales"],
        ),
        "DISP-QUANTITY": _(
            "%(prescription)s: pharmacists dispense prescription drugs against the doctor's "
            "prescription; %(gsp)s: the drugs a prescription lists may not be changed or "
            "substituted without authority.",
            prescription=law["prescription"], gsp=law["gsp"],
        ),
        "DISP-SUBSTITUTE": _(
            "%(gsp)s: the drugs a prescription lists may not be changed or substituted "
            "without authority. Where a substitution is necessary, the substitution note in "
            "the dispensing record is the evidence.",
            gsp=law["gsp"],
        ),
        "DISP-NO-PHARMACIST": _(
            "%(gsp)s: a prescription may be dispensed only after a licensed pharmacist has "
            "reviewed it; %(online_sales)s: online drug retailers review and dispense "
            "prescriptions strictly by the rules. The reviewing pharmacist must be on the duty "
            "roster the pharmacy filed and hold a registration in force in the practitioner "
            "registry.",
            gsp=law["gsp"], online_sales=law["online_sales"],
        ),
        "DISP-PHARMACY-LICENSE": _(
            "%(drug_law)s: drug retailers must hold a Drug Business Licence; no one may trade "
            "in drugs without one; drug businesses must follow Good Supply Practice; "
            "%(online_sales)s: online drug sellers must be marketing authorisation holders or "
            "drug businesses able to keep the drugs they sell online safe, and must report "
            "their online sales to the drug regulatory authority as required.",
            drug_law=law["drug_law"], online_sales=law["online_sales"],
        ),
        "DISP-THIRD-PARTY-SALE": _(
            "%(online_sales)s: online drug sellers must be marketing authorisation holders or "
            "drug businesses able to keep the drugs they sell online safe; %(drug_law)s: "
            "third-party platform providers must review the qualifications of the marketing "
            "authorisation holders and drug businesses that apply to trade on the platform. "
            "The platform provides the trading service; the seller must be a pharmacy.",
            online_sales=law["online_sales"], drug_law=law["drug_law"],
        ),
        "DISP-CONTROLLED-ONLINE": _(
            "%(online_sales)s: vaccines, blood products, narcotic drugs, psychotropic drugs, "
            "toxic drugs for medical use, radioactive drugs, drug-type precursor chemicals and "
            "other drugs under special state management may not be sold online; "
            "%(narcotics)s: whoever posts narcotic or psychotropic drugs must present a posting "
            "permit issued by the drug regulatory authority. The special-management categories "
            "follow the supervision policy.",
            online_sales=law["online_sales"], narcotics=law["narcotics"],
        ),
        "DISP-COLD-CHAIN": _(
            "%(online_sales)s: online drug retailers are responsible for the quality and "
            "safety of the drugs they deliver; deliveries use transport and equipment suited "
            "to the quantity of drugs, the distance, the time in transit and the temperature "
            "and humidity the drugs require; %(gsp)s: the insulation, refrigeration or "
            "freezing a drug's temperature requirements call for is kept up in transit.",
            online_sales=law["online_sales"], gsp=law["gsp"],
        ),
        "DISP-DELIVERY-REALNAME": _(
            "%(online_sales)s: whoever sells prescription drugs to individuals online must "
            "make sure the prescription comes from a genuine and reliable source, and sell by "
            "real name.",
            online_sales=law["online_sales"],
        ),
        "DISP-REVIEW-ORDER": _(
            "%(gsp)s: a prescription may be dispensed only after a licensed pharmacist has "
            "reviewed it; %(diagnosis)s: prescriptions written online take effect only after a "
            "pharmacist has reviewed and approved them.",
            gsp=law["gsp"], diagnosis=law["diagnosis"],
        ),
    }  # fmt: skip


def _quantity(value: object) -> Decimal:
    return Decimal(str(value)).normalize()


def _no_rx(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    said = []
    for code, category in zip(e["drug_codes"], e["categories"], strict=True):
        if category is None:
            said.append(
                _(
                    "%(drug)s is not in the drug catalogue, so it is not shown to be a "
                    "non-prescription drug, yet it was dispensed without a prescription "
                    "(%(channel)s).",
                    drug=r.drug(code),
                    channel=r.word(e["channel"]),
                )
            )
        else:
            said.append(
                _(
                    "%(drug)s (%(category)s) was dispensed without a prescription (%(channel)s).",
                    drug=r.drug(code),
                    category=r.word(category),
                    channel=r.word(e["channel"]),
                )
            )
    return said  # fmt: skip


def _rx_unknown(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    return [_("The prescription %(record)s of %(institution)s this dispensing fills was not "
              "received within %(hours)s hours.", record=e["prescription_record_id"],
              institution=e["prescription_institution_code"],
              hours=int(e["grace_hours"]))]  # fmt: skip


def _rx_expired(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    signed, dispensed = r.moments(e["signed_at"], e["dispensed_at"])
    return [_("The prescription was signed at %(signed)s and dispensed at %(dispensed)s, "
              "%(hours)s hours later; it is valid for %(valid)s hours.", signed=signed,
              dispensed=dispensed, hours=int(e["hours_after_signing"]),
              valid=int(e["valid_hours"]))]  # fmt: skip


def _double_fill(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    said = [
        _(
            "Prescription %(record)s of %(institution)s prescribes %(prescribed)s of %(drug)s; "
            "%(dispensed)s were dispensed in all.",
            record=e["prescription_record_id"],
            institution=e["prescription_institution_code"],
            drug=r.drug(item["drug_code"]),
            prescribed=_quantity(item["prescribed_quantity"]),
            dispensed=_quantity(item["dispensed_quantity"]),
        )
        for item in e["items"]
    ]
    times = r.moments(*(fill["dispensed_at"] for fill in e["dispensings"]))
    for fill, time in zip(e["dispensings"], times, strict=True):
        given = r.listed(
            _(
                "%(drug)s × %(quantity)s",
                drug=r.drug(i["drug_code"]),
                quantity=_quantity(i["quantity"]),
            )
            for i in fill["items"]
        )
        said.append(
            _(
                "Pharmacy %(pharmacy)s dispensed %(given)s at %(time)s (record "
                "%(record)s, ledger entry %(index)s).",
                pharmacy=fill["pharmacy_code"],
                given=given,
                time=time,
                record=fill["record_id"],
                index=int(fill["ledger_index"]),
            )
        )
    return said  # fmt: skip


def _quantity_over(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    return [_("%(drug)s was dispensed %(dispensed)s, above the %(prescribed)s prescribed.",
              drug=r.drug(i["drug_code"]), dispensed=_quantity(i["dispensed_quantity"]),
              prescribed=_quantity(i["prescribed_quantity"]))
            for i in e["items"]]  # fmt: skip


def _substitute(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    prescribed = r.listed(r.drug(code) for code in e["prescribed_drug_codes"])
    return [_("%(drug)s is not on the prescription (%(prescribed)s) and no substitution note "
              "was given.", drug=r.drug(code), prescribed=prescribed)
            for code in e["drug_codes"]]  # fmt: skip


def _no_pharmacist(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    said = []
    for problem in e["problems"]:
        if problem == "no_review":
            said.append(_("No pharmacist reviewed this dispensing."))
            continue
        person = r.person(e["license_no"])
        date = r.moment(e["reviewed_at"])[:10]
        if problem == "not_approved":
            said.append(
                _(
                    "The pharmacist's review result was “%(result)s”, yet the drugs "
                    "were dispensed.",
                    result=r.word(e["review_result"]),
                )
            )
        elif problem == "not_on_roster":
            said.append(
                _(
                    "The reviewer %(person)s is not on the pharmacy's filed duty roster.",
                    person=person,
                )
            )
        elif problem == "unregistered":
            said.append(
                _(
                    "On %(date)s the reviewer %(person)s was not in the practitioner registry.",
                    date=date,
                    person=person,
                )
            )
        elif problem == "not_pharmacist":
            said.append(
                _(
                    "The reviewer %(person)s is registered as “%(role)s”, not as a pharmacist.",
                    person=person,
                    role=r.word(e["registered_role"]),
                )
            )
        elif problem == "inactive":
            said.append(
                _(
                    "On %(date)s the registration of the reviewer %(person)s was "
                    "“%(status)s” or not in force.",
                    date=date,
                    person=person,
                    status=r.word(e["registered_status"]),
                )
            )
        else:
            raise ValueError(f"a problem this rule does not describe: {problem!r}")
    return said  # fmt: skip


def _pharmacy_licence(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    said = []
    for problem in e["problems"]:
        if problem == "no_filing":
            said.append(
                _(
                    "Pharmacy %(code)s has no filing with the supervision platform.",
                    code=e["pharmacy_code"],
                )
            )
        elif problem == "license_expired":
            said.append(
                _(
                    "On %(date)s the pharmacy's Drug Business Licence %(licence)s had "
                    "expired (valid until %(until)s).",
                    date=r.day(e["date"]),
                    licence=e["license_no"],
                    until=r.day(e["license_valid_until"]),
                )
            )
        elif problem == "gsp_expired":
            said.append(
                _(
                    "On %(date)s the pharmacy's GSP certificate had expired (valid "
                    "until %(until)s).",
                    date=r.day(e["date"]),
                    until=r.day(e["gsp_valid_until"]),
                )
            )
        elif problem == "online_sales_not_filed":
            said.append(_("The pharmacy sold online without an online sales filing."))
        else:
            raise ValueError(f"a problem this rule does not describe: {problem!r}")
    return said  # fmt: skip


def _third_party_sale(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    return [_("%(code)s is filed as a third-party platform, yet sold drugs in its own name "
              "(%(channel)s).", code=e["pharmacy_code"],
              channel=r.word(e["channel"]))]  # fmt: skip


def _controlled(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    pairs = zip(e["drug_codes"], e["categories"], strict=True)
    if "carrier" in e:
        return [
            _(
                "%(drug)s (%(category)s) of the dispensing %(dispensing)s was sent by %(carrier)s.",
                drug=r.drug(code),
                category=r.word(category),
                dispensing=e["dispensing_record_id"],
                carrier=e["carrier"],
            )
            for code, category in pairs
        ]
    return [_("%(drug)s (%(category)s) was sold online.", drug=r.drug(code),
              category=r.word(category)) for code, category in pairs]  # fmt: skip


def _cold_chain(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    said = []
    for problem in e["problems"]:
        if problem == "not_cold_chain":
            said.append(
                _(
                    "%(drugs)s must be kept cold, but %(carrier)s delivered them "
                    "without the cold chain.",
                    drugs=r.listed(r.drug(c) for c in e["drug_codes"]),
                    carrier=e["carrier"],
                )
            )
        elif problem == "temperature_excursion":
            said.append(
                _(
                    "The temperature went out of range while %(carrier)s delivered the drugs.",
                    carrier=e["carrier"],
                )
            )
        else:
            raise ValueError(f"a problem this rule does not describe: {problem!r}")
    return said  # fmt: skip


def _delivery_realname(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    return [_("%(carrier)s delivered the drugs of the dispensing %(dispensing)s at "
              "%(delivered)s without verifying the recipient's identity.",
              carrier=e["carrier"], dispensing=e["dispensing_record_id"],
              delivered=r.moment(e["delivered_at"]))]  # fmt: skip


def _review_order(e: Mapping[str, Any], r: EvidenceReader) -> list[str]:
    _ = r.gettext
    said = []
    for problem in e["problems"]:
        if problem == "dispensed_before_reviewed":
            dispensed, reviewed = r.moments(e["dispensed_at"], e["reviewed_at"])
            said.append(
                _(
                    "The drugs were dispensed at %(dispensed)s, before the pharmacist's "
                    "review at %(reviewed)s.",
                    dispensed=dispensed,
                    reviewed=reviewed,
                )
            )
        elif problem == "dispensed_before_signed":
            dispensed, signed = r.moments(e["dispensed_at"], e["signed_at"])
            said.append(
                _(
                    "The drugs were dispensed at %(dispensed)s, before the doctor signed the "
                    "prescription at %(signed)s.",
                    dispensed=dispensed,
                    signed=signed,
                )
            )
        elif problem == "prescription_rejected":
            said.append(
                _(
                    "The hospital pharmacist's review rejected this prescription, yet "
                    "it was dispensed."
                )
            )
        else:
            raise ValueError(f"a problem this rule does not describe: {problem!r}")
    return said  # fmt: skip


DISP_SENTENCES = {
    "DISP-NO-RX": _no_rx,
    "DISP-RX-UNKNOWN": _rx_unknown,
    "DISP-RX-EXPIRED": _rx_expired,
    "DISP-DOUBLE-FILL": _double_fill,
    "DISP-QUANTITY": _quantity_over,
    "DISP-SUBSTITUTE": _substitute,
    "DISP-NO-PHARMACIST": _no_pharmacist,
    "DISP-PHARMACY-LICENSE": _pharmacy_licence,
    "DISP-THIRD-PARTY-SALE": _third_party_sale,
    "DISP-CONTROLLED-ONLINE": _controlled,
    "DISP-COLD-CHAIN": _cold_chain,
    "DISP-DELIVERY-REALNAME": _delivery_realname,
    "DISP-REVIEW-ORDER": _review_order,
}


def disp_evidence_labels(_: Gettext) -> dict[str, str]:
    """Labels of the evidence keys DISP-* write that neither the schema nor older rules have."""
    return {
        "hours_after_signing": _("Hours after signing"), "valid_hours": _("Hours valid"),
        "prescription_institution_code": _("Prescribing institution"),
        "prescription_record_id": _("Prescription"),
        "prescription_index": _("Prescription's ledger entry"),
        "dispensings": _("Dispensings"), "ledger_index": _("Ledger entry"),
        "pharmacy_code": _("Pharmacy"), "prescribed_quantity": _("Quantity prescribed"),
        "dispensed_quantity": _("Quantity dispensed"),
        "prescribed_drug_codes": _("Drugs prescribed"),
        "registered_status": _("Registration status"),
        "prescription_review_result": _("Hospital's review result"),
    }  # fmt: skip
