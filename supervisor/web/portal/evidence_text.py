"""A finding as a regulator reads it: each rule's title and legal basis in the reader's
language, and the evidence as sentences, never as JSON.

Pure: the rule id, the evidence, the reference data the finding names and the reader's
gettext come in; text comes out. Amounts are in yuan with two decimals, times in China
Standard Time and marked as such, practitioners, drugs and price items by the names the
finding's own reference versions give them. Evidence of a shape no sentence knows (a
finding sealed by an older rule) becomes labelled lines, still never JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from inspectors.reference import ReferenceSnapshot
from supervisor.web.portal.evidence_reader import EvidenceReader, Gettext
from supervisor.web.portal.evidence_text_drugs import (
    DISP_SENTENCES,
    disp_evidence_labels,
    disp_legal_bases,
    disp_regulations,
    disp_rule_titles,
)
from supervisor.web.portal.record_fields import (
    drug_category_names,
    field_labels,
)

__all__ = [
    "SENTENCE_RULES",
    "EvidenceText",
    "Gettext",
    "dataset_names",
    "evidence_text",
    "evidence_value_names",
    "legal_bases",
    "rule_titles",
]


@dataclass(frozen=True)
class EvidenceText:
    """What a finding's evidence says: sentences for every shape a rule writes, labelled
    ``(label, value)`` lines for any other shape."""

    sentences: tuple[str, ...]
    lines: tuple[tuple[str, str], ...] = ()


def rule_titles(_: Gettext) -> dict[str, str]:
    """Every rule's title in the reader's language (in Chinese, the rule's own words)."""
    return {
        "CRED-UNREGISTERED": _("Practitioner not in the practitioner registry"),
        "CRED-INACTIVE": _("Practitioner's registration not valid or not in force"),
        "CRED-SITE": _("Practice site neither registered nor filed for multi-site practice"),
        "CRED-EXPERIENCE": _("Doctor lacks the required years of independent clinical practice"),
        "CRED-ROLE": _("Registered practice category does not match the duty performed"),
        "CRED-SCOPE": _("Department outside the registered scope of practice"),
        "VISIT-FIRST": _("First visit held online"),
        "VISIT-DIAGNOSIS-MISMATCH": _(
            "Follow-up diagnosis does not match the earlier definite diagnosis"
        ),
        "VISIT-REALNAME": _("Doctor's real name not verified before the visit"),
        "VISIT-CONSENT": _("No informed consent before care"),
        "VISIT-CHILD-GUARDIAN": _("Child under 6 seen without a guardian"),
        "RX-NO-REVIEW": _("Prescription not approved by a pharmacist"),
        "RX-ORDER": _("Prescribing, review and dispensing out of order"),
        "RX-SELF-REVIEW": _("Prescriber reviewed their own prescription"),
        "RX-PRESCRIBER-MISMATCH": _("Prescriber is not the consulting doctor"),
        "RX-BANNED-DRUG": _("Drug banned from online prescribing was prescribed online"),
        "RX-UNKNOWN-DRUG": _("Drug not in the drug catalogue"),
        "RX-DAYS": _("Days of supply above the limit"),
        "RX-ORPHAN": _("The prescription's consultation record was never transmitted"),
        "RX-TOO-FAST": _(
            "Prescription signed very soon after the visit began (possibly generated automatically)"
        ),
        "PRICE-CEILING": _("Unit price above the catalogue ceiling"),
        "PRICE-UNKNOWN-ITEM": _("Price item not in the price catalogue"),
        "PRICE-AMOUNT": _("Amount charged is not quantity times unit price"),
        "PRICE-DUPLICATE": _("Charged twice for the same consultation"),
        "INS-NOT-COVERED": _("Insurance paid for an item it does not cover"),
        "DATA-LATE": _("Data transmitted late"),
        "ORG-UNKNOWN": _("Institution not filed with the supervision platform"),
        "ORG-LICENSE": _("Institution's practice licence expired"),
        **disp_rule_titles(_),
    }


def _regulations(_: Gettext) -> dict[str, str]:
    """The regulations rules cite, by the placeholder names the legal bases use."""
    return {
        "diagnosis": _(
            "Measures for the Administration of Internet Diagnosis and Treatment (Trial) "
            "(Guo Wei Yi Fa [2018] No. 25)"
        ),
        "hospital": _(
            "Measures for the Administration of Internet Hospitals (Trial) "
            "(Guo Wei Yi Fa [2018] No. 25)"
        ),
        "supervision": _(
            "Detailed Rules for the Supervision of Internet Diagnosis and Treatment (Trial) "
            "(Guo Wei Ban Yi Fa [2022] No. 2)"
        ),
        "prescription": _(
            "Measures for the Administration of Prescriptions (Ministry of Health Order No. 53, "
            "2007)"
        ),
        "long_term": _(
            "Specification for the Administration of Long-term Prescriptions (Trial) "
            "(Guo Wei Ban Yi Fa [2021] No. 17)"
        ),
        "insurance": _(
            "Guiding Opinions on Improving the Price and Medical Insurance Payment Policies "
            "for “Internet Plus” Medical Services (Yi Bao Fa [2019] No. 47); Guiding Opinions "
            "on Actively Promoting Medical Insurance Payment for “Internet Plus” Medical "
            "Services (Yi Bao Fa [2020] No. 45)"
        ),
        **disp_regulations(_),
    }


def legal_bases(_: Gettext) -> dict[str, str]:
    """Every rule's legal basis in the reader's language (in Chinese, the rule's own words:
    a test holds the two equal)."""
    law = _regulations(_)
    return {
        "CRED-UNREGISTERED": _(
            "%(hospital)s and %(diagnosis)s: doctors and pharmacists providing internet "
            "diagnosis and treatment must hold the corresponding practice qualifications by "
            "law and be found in the practitioner registry.",
            hospital=law["hospital"], diagnosis=law["diagnosis"],
        ),
        "CRED-INACTIVE": _(
            "%(diagnosis)s: doctors must hold a valid practice qualification; they may not "
            "practise while their registration is cancelled, suspended or expired.",
            diagnosis=law["diagnosis"],
        ),
        "CRED-SITE": _(
            "%(supervision)s: medical staff providing internet diagnosis and treatment at an "
            "internet hospital other than their primary institution must register or file "
            "according to the rules on practice at several institutions.",
            supervision=law["supervision"],
        ),
        "CRED-EXPERIENCE": _(
            "%(diagnosis)s and %(hospital)s: doctors providing internet diagnosis and "
            "treatment must have at least 3 years of independent clinical practice (the number "
            "of years follows the supervision policy).",
            diagnosis=law["diagnosis"], hospital=law["hospital"],
        ),
        "CRED-ROLE": _(
            "%(prescription)s and %(supervision)s: prescriptions are written by registered "
            "practising doctors and reviewed by pharmacists; no one else may stand in for a "
            "doctor or pharmacist.",
            prescription=law["prescription"], supervision=law["supervision"],
        ),
        "CRED-SCOPE": _(
            "%(diagnosis)s: doctors provide internet diagnosis and treatment within their "
            "registered scope of practice.",
            diagnosis=law["diagnosis"],
        ),
        "VISIT-FIRST": _(
            "%(diagnosis)s: internet diagnosis and treatment may not be provided to patients "
            "on a first visit; %(supervision)s: patients must present medical documents with a "
            "definite diagnosis (outpatient record, inpatient record, discharge summary, "
            "diagnosis certificate, etc.). Pilot exemptions follow the supervision policy.",
            diagnosis=law["diagnosis"], supervision=law["supervision"],
        ),
        "VISIT-DIAGNOSIS-MISMATCH": _(
            "%(diagnosis)s: once a physical medical institution has definitely diagnosed one "
            "or more common or chronic diseases, follow-up visits for the same diagnosis may "
            "be held online; when the condition changes and the patient must be examined in "
            "person, internet diagnosis and treatment must stop at once and the patient be "
            "guided to a physical medical institution.",
            diagnosis=law["diagnosis"],
        ),
        "VISIT-REALNAME": _(
            "%(supervision)s: doctors verify their real name before seeing a patient, so that "
            "they provide care in person; no other person and no artificial-intelligence "
            "software may impersonate or replace the doctor.",
            supervision=law["supervision"],
        ),
        "VISIT-CONSENT": _(
            "%(diagnosis)s: medical institutions providing internet diagnosis and treatment "
            "must obtain the patient's informed consent.",
            diagnosis=law["diagnosis"],
        ),
        "VISIT-CHILD-GUARDIAN": _(
            "%(diagnosis)s and %(prescription)s: before prescribing online for a child under "
            "6, it must be confirmed that the child is accompanied by a guardian and a "
            "relevant professional doctor.",
            diagnosis=law["diagnosis"], prescription=law["prescription"],
        ),
        "RX-NO-REVIEW": _(
            "%(diagnosis)s: prescriptions written online take effect only after a pharmacist "
            "has reviewed and approved them; %(supervision)s: supplying drugs to the patient "
            "before the prescription is written is strictly prohibited.",
            diagnosis=law["diagnosis"], supervision=law["supervision"],
        ),
        "RX-ORDER": _(
            "%(supervision)s: supplying drugs to the patient before the prescription is "
            "written is strictly prohibited; %(prescription)s: pharmacists review "
            "prescriptions, and only those that pass review may be dispensed.",
            supervision=law["supervision"], prescription=law["prescription"],
        ),
        "RX-SELF-REVIEW": _(
            "%(prescription)s: prescriptions are written by practising doctors and reviewed by "
            "pharmacists; the review must be independent of the prescribing.",
            prescription=law["prescription"],
        ),
        "RX-PRESCRIBER-MISMATCH": _(
            "%(supervision)s: prescriptions must be written by the consulting doctor in "
            "person; generating prescriptions automatically, by artificial intelligence or "
            "otherwise, is strictly prohibited.",
            supervision=law["supervision"],
        ),
        "RX-BANNED-DRUG": _(
            "%(diagnosis)s: prescriptions for narcotic drugs, psychotropic drugs and other "
            "specially controlled drugs may not be written online.",
            diagnosis=law["diagnosis"],
        ),
        "RX-UNKNOWN-DRUG": _(
            "%(prescription)s: prescriptions use standard drug names; the supervision platform "
            "checks them against the provincial drug catalogue.",
            prescription=law["prescription"],
        ),
        "RX-DAYS": _(
            "%(prescription)s: a prescription generally covers no more than 7 days; for "
            "chronic diseases and diseases of old age it may be extended as appropriate; "
            "%(long_term)s: long-term prescriptions cover no more than 12 weeks. The per-drug "
            "maximum in the drug catalogue applies.",
            prescription=law["prescription"], long_term=law["long_term"],
        ),
        "RX-ORPHAN": _(
            "%(supervision)s: internet diagnosis and treatment must leave a complete record "
            "that can be queried and traced; every prescription must have its consultation "
            "record.",
            supervision=law["supervision"],
        ),
        "RX-TOO-FAST": _(
            "%(supervision)s: prescriptions must be written by the consulting doctor in "
            "person; generating prescriptions automatically, by artificial intelligence or "
            "otherwise, is strictly prohibited. The time threshold follows the supervision "
            "policy; this finding is a lead only.",
            supervision=law["supervision"],
        ),
        "PRICE-CEILING": _(
            "%(insurance)s: internet follow-up visits are charged by the standards for "
            "ordinary outpatient consultation fees of public hospitals, following the "
            "provincial price catalogue; the ceiling in force on the day of service applies.",
            insurance=law["insurance"],
        ),
        "PRICE-UNKNOWN-ITEM": _(
            "%(insurance)s: “Internet Plus” medical service price items are managed by "
            "catalogue; items not in the catalogue may not be charged.",
            insurance=law["insurance"],
        ),
        "PRICE-AMOUNT": _(
            "%(insurance)s: medical service charges must be clearly priced and settled as "
            "incurred.",
            insurance=law["insurance"],
        ),
        "PRICE-DUPLICATE": _(
            "%(insurance)s: the medical insurance smart review rule library detects duplicate "
            "charges.",
            insurance=law["insurance"],
        ),
        "INS-NOT-COVERED": _(
            "%(insurance)s: medical insurance pays only for “Internet Plus” medical service "
            "items that meet the rules; drug delivery fees and the like are outside the scope "
            "of insurance payment.",
            insurance=law["insurance"],
        ),
        "DATA-LATE": _(
            "%(supervision)s: medical institutions must upload internet diagnosis and "
            "treatment data to the provincial supervision platform promptly; time limits "
            "follow the supervision policy.",
            supervision=law["supervision"],
        ),
        "ORG-UNKNOWN": _(
            "%(hospital)s: internet hospitals must upload their practice licence and practice "
            "information to the supervision platform.",
            hospital=law["hospital"],
        ),
        "ORG-LICENSE": _(
            "%(hospital)s and %(supervision)s: internet hospitals must hold a Medical "
            "Institution Practice Licence and have it verified on schedule.",
            hospital=law["hospital"], supervision=law["supervision"],
        ),
        **disp_legal_bases(_, law),
    }  # fmt: skip


def dataset_names(_: Gettext) -> dict[str, str]:
    """The reference datasets and the policy, in words."""
    return {
        "registry": _("practitioner registry"),
        "prices": _("price catalogue"),
        "drugs": _("drug catalogue"),
        "policy": _("inspection policy"),
    }


def evidence_value_names(_: Gettext) -> dict[str, str]:
    """Values evidence carries that the record schema does not: the capacity a practitioner
    acted in and the drug catalogue's categories."""
    return {
        "consulting": _("consulting doctor"),
        "prescribing": _("prescribing doctor"),
        "reviewing": _("reviewing pharmacist"),
        "filed": _("practitioner filed by the institution"),
        **drug_category_names(_),
    }


_AMOUNT_KEYS = frozenset(
    {"unit_price", "ceiling_price", "amount", "expected_amount", "insurance_amount", "fee"}
)
_LICENCE_KEYS = frozenset(
    {"license_no", "prescriber_license_no", "consulting_license_no", "pharmacist_license_no"}
)


_Reader = EvidenceReader

_Sentences = Callable[[Mapping[str, Any], _Reader], list[str]]


def _practitioner(e: Mapping[str, Any], r: _Reader) -> dict[str, str]:
    """The variables every CRED-* sentence names: when, in which capacity, who."""
    return {"date": r.day(e["date"]), "capacity": r.word(e["capacity"]),
            "person": r.person(e["license_no"])}  # fmt: skip


def _unregistered(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "On %(date)s the %(capacity)s %(person)s was not in the practitioner registry.",
            **_practitioner(e, r),
        )
    ]


def _inactive(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    who = _practitioner(e, r)
    if e["status"] == "active":
        first = _(
            "On %(date)s the registration of the %(capacity)s %(person)s was not in force.", **who
        )
    else:
        first = _(
            "On %(date)s the registration of the %(capacity)s %(person)s was “%(status)s”.",
            status=r.word(e["status"]),
            **who,
        )
    if e["valid_to"] is None:
        window = _(
            "The registration is valid from %(start)s, with no end date.",
            start=r.day(e["valid_from"]),
        )
    else:
        window = _(
            "The registration is valid from %(start)s to %(end)s.",
            start=r.day(e["valid_from"]),
            end=r.day(e["valid_to"]),
        )
    return [first, window]  # fmt: skip


def _site(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "On %(date)s the %(capacity)s %(person)s practised at %(institution)s, which is "
            "neither their primary institution (%(primary)s) nor filed for multi-site practice "
            "(filed: %(filed)s).",
            institution=e["institution_code"],
            primary=e["primary_institution_code"],
            filed=r.listed(e["multi_site_institution_codes"]),
            **_practitioner(e, r),
        )
    ]


def _experience(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "On %(date)s the %(capacity)s %(person)s had practised independently since "
            "%(start)s, less than the %(years)s years required.",
            start=r.day(e["practice_start"]),
            years=int(e["minimum_practice_years"]),
            **_practitioner(e, r),
        )
    ]


def _role(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "On %(date)s the %(capacity)s %(person)s is registered as “%(registered)s”, but "
            "this duty is for a “%(required)s”.",
            registered=r.word(e["registered_role"]),
            required=r.word(e["required_role"]),
            **_practitioner(e, r),
        )
    ]


def _scope(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "On %(date)s the departments %(departments)s of the %(capacity)s %(person)s are "
            "outside the registered scope of practice (%(registered)s).",
            departments=r.listed(r.department(code) for code in e["departments"]),
            registered=r.listed(r.department(code) for code in e["registered_departments"]),
            **_practitioner(e, r),
        )
    ]


def _first_visit(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    department = "—" if e["department_code"] is None else r.department(e["department_code"])
    if e["visit_type"] == "first_visit":
        said = [
            _(
                "A first visit was held online (department %(department)s); online care is "
                "for follow-up visits only.",
                department=department,
            )
        ]
        if not e["prior_diagnosis_document"]:
            said.append(_("The patient showed no document with a definite diagnosis."))
        return said
    return [
        _("The visit was recorded as a follow-up visit, but the patient showed no document "
          "with a definite diagnosis (department %(department)s).", department=department)
    ]  # fmt: skip


def _diagnosis_mismatch(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "This visit's diagnoses (%(diagnoses)s) share no category with the definite "
            "diagnosis %(prior)s made at a physical hospital.",
            diagnoses=r.listed(e["diagnoses"]),
            prior=e["prior_icd10"],
        )
    ]


def _realname(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    if e["realname_verified_at"] is None:
        return [
            _(
                "The visit started at %(start)s and the doctor's real name was never verified.",
                start=r.moment(e["started_at"]),
            )
        ]
    verified, start = r.moments(e["realname_verified_at"], e["started_at"])
    return [_("The doctor's real name was verified at %(verified)s, after the visit started "
              "at %(start)s.", verified=verified, start=start)]  # fmt: skip


def _consent(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    if e["consent_at"] is None:
        return [
            _(
                "The visit started at %(start)s and no informed consent was recorded.",
                start=r.moment(e["started_at"]),
            )
        ]
    consent, start = r.moments(e["consent_at"], e["started_at"])
    return [_("Informed consent was recorded at %(consent)s, after the visit started at "
              "%(start)s.", consent=consent, start=start)]  # fmt: skip


def _child_guardian(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    age = int(e["patient_age"])
    if e["guardian_present"] is None:
        return [
            _(
                "The patient, aged %(age)s, was seen with no record of a guardian being present.",
                age=age,
            )
        ]
    return [_("The patient, aged %(age)s, was seen without a guardian.", age=age)]  # fmt: skip


def _no_review(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    if "review_result" in e:
        return [
            _(
                "The pharmacist's review result was “%(result)s”, yet the drugs were dispensed.",
                result=r.word(e["review_result"]),
            )
        ]
    if e["review"] is not None:
        raise ValueError("a review this rule does not describe")
    if e["dispensed"]:
        return [_("No pharmacist reviewed the prescription, yet the drugs were dispensed.")]
    return [_("No pharmacist reviewed the prescription.")]  # fmt: skip


def _order(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    present = [k for k in ("signed_at", "reviewed_at", "dispensed_at") if e[k] is not None]
    at = dict(zip(present, r.moments(*(e[k] for k in present)), strict=True))
    said = []
    for problem in e["problems"]:
        if problem == "reviewed_before_signed":
            said.append(
                _(
                    "The pharmacist reviewed the prescription at %(reviewed)s, before "
                    "the doctor signed it at %(signed)s.",
                    reviewed=at["reviewed_at"],
                    signed=at["signed_at"],
                )
            )
        elif problem == "dispensed_before_signed":
            said.append(
                _(
                    "The drugs were dispensed at %(dispensed)s, before the prescription "
                    "was signed at %(signed)s.",
                    dispensed=at["dispensed_at"],
                    signed=at["signed_at"],
                )
            )
        elif problem == "dispensed_before_reviewed":
            said.append(
                _(
                    "The drugs were dispensed at %(dispensed)s, before the pharmacist's "
                    "review at %(reviewed)s.",
                    dispensed=at["dispensed_at"],
                    reviewed=at["reviewed_at"],
                )
            )
        else:
            raise ValueError(f"a problem this rule does not describe: {problem!r}")
    return said  # fmt: skip


def _self_review(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [_("%(person)s both wrote and reviewed this prescription.",
              person=r.person(e["license_no"]))]  # fmt: skip


def _prescriber_mismatch(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "The prescription was written by %(prescriber)s, not by the consulting doctor "
            "%(consulting)s.",
            prescriber=r.person(e["prescriber_license_no"]),
            consulting=r.person(e["consulting_license_no"]),
        )
    ]


def _banned_drug(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    pairs = zip(e["drug_codes"], e["categories"], strict=True)
    return [
        _("%(drug)s (%(category)s) may not be prescribed online.",
          drug=r.drug(code), category=r.word(category))
        for code, category in pairs
    ]  # fmt: skip


def _unknown_drug(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [_("Drug code %(code)s is not in the drug catalogue.", code=code)
            for code in e["drug_codes"]]  # fmt: skip


def _days(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _("%(drug)s is prescribed for %(days)s days; at most %(limit)s days are allowed.",
          drug=r.drug(item["drug_code"]), days=int(item["days_supply"]),
          limit=int(item["limit"]))
        for item in e["items"]
    ]  # fmt: skip


def _orphan(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _(
            "The consultation %(consultation)s this prescription refers to was not received "
            "within %(hours)s hours.",
            consultation=e["consultation_record_id"],
            hours=int(e["grace_hours"]),
        )
    ]


def _too_fast(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    seconds, threshold = int(e["seconds_after_start"]), int(e["threshold_seconds"])
    if seconds < 0:
        return [
            _(
                "The prescription was signed %(seconds)s seconds before the visit started.",
                seconds=-seconds,
            )
        ]
    return [_("The prescription was signed %(seconds)s seconds after the visit started, "
              "sooner than the threshold of %(threshold)s seconds.",
              seconds=seconds, threshold=threshold)]  # fmt: skip


def _ceiling(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _("Unit price %(price)s is above the ceiling of %(ceiling)s in force from %(date)s "
          "(price item: %(item)s).",
          price=r.yuan(e["unit_price"]), ceiling=r.yuan(e["ceiling_price"]),
          date=r.day(e["price_valid_from"]),
          item=r.price_item(e["item_code"], e["price_valid_from"]))
    ]  # fmt: skip


def _unknown_item(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _("Price item %(item)s is not in the price catalogue in force on %(date)s.",
          item=r.price_item(e["item_code"]), date=r.day(e["date"]))
    ]  # fmt: skip


def _amount(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _("%(amount)s was charged for %(quantity)s × %(price)s, which comes to %(expected)s.",
          amount=r.yuan(e["amount"]), quantity=Decimal(str(e["quantity"])).normalize(),
          price=r.yuan(e["unit_price"]), expected=r.yuan(e["expected_amount"]))
    ]  # fmt: skip


def _duplicate(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _("%(item)s had already been charged for the consultation %(consultation)s.",
          item=r.price_item(e["item_code"]), consultation=e["consultation_record_id"])
    ]  # fmt: skip


def _not_covered(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _("Medical insurance paid %(amount)s for %(item)s, which insurance does not cover "
          "(payer: %(payer)s).",
          amount=r.yuan(e["insurance_amount"]), item=r.price_item(e["item_code"]),
          payer=r.word(e["payer"]))
    ]  # fmt: skip


def _late(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    occurred, received = r.moments(e["occurred_at"], e["received_at"])
    return [
        _("It happened at %(occurred)s and reached the supervision platform at %(received)s, "
          "%(delay)s hours later; at most %(allowed)s hours are allowed.",
          occurred=occurred, received=received, delay=int(e["delay_hours"]),
          allowed=int(e["allowed_hours"]))
    ]  # fmt: skip


def _unknown_institution(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [_("Institution %(code)s has no filing with the supervision platform.",
              code=e["institution_code"])]  # fmt: skip


def _licence(e: Mapping[str, Any], r: _Reader) -> list[str]:
    _ = r.gettext
    return [
        _("On %(date)s the institution's practice licence %(licence)s had expired (valid "
          "until %(until)s).",
          date=r.day(e["date"]), licence=e["license_no"], until=r.day(e["license_valid_until"]))
    ]  # fmt: skip


_SENTENCES: Mapping[str, _Sentences] = {
    "CRED-UNREGISTERED": _unregistered,
    "CRED-INACTIVE": _inactive,
    "CRED-SITE": _site,
    "CRED-EXPERIENCE": _experience,
    "CRED-ROLE": _role,
    "CRED-SCOPE": _scope,
    "VISIT-FIRST": _first_visit,
    "VISIT-DIAGNOSIS-MISMATCH": _diagnosis_mismatch,
    "VISIT-REALNAME": _realname,
    "VISIT-CONSENT": _consent,
    "VISIT-CHILD-GUARDIAN": _child_guardian,
    "RX-NO-REVIEW": _no_review,
    "RX-ORDER": _order,
    "RX-SELF-REVIEW": _self_review,
    "RX-PRESCRIBER-MISMATCH": _prescriber_mismatch,
    "RX-BANNED-DRUG": _banned_drug,
    "RX-UNKNOWN-DRUG": _unknown_drug,
    "RX-DAYS": _days,
    "RX-ORPHAN": _orphan,
    "RX-TOO-FAST": _too_fast,
    "PRICE-CEILING": _ceiling,
    "PRICE-UNKNOWN-ITEM": _unknown_item,
    "PRICE-AMOUNT": _amount,
    "PRICE-DUPLICATE": _duplicate,
    "INS-NOT-COVERED": _not_covered,
    "DATA-LATE": _late,
    "ORG-UNKNOWN": _unknown_institution,
    "ORG-LICENSE": _licence,
    **DISP_SENTENCES,
}
#: The rules whose evidence reads as sentences (a test holds this to every rule).
SENTENCE_RULES = frozenset(_SENTENCES)


def _evidence_labels(_: Gettext) -> dict[str, str]:
    """Labels of evidence keys the record schema does not have."""
    return {
        **field_labels(_),
        "capacity": _("Capacity"), "status": _("Status"), "valid_from": _("Valid from"),
        "valid_to": _("Valid to"), "primary_institution_code": _("Primary institution"),
        "multi_site_institution_codes": _("Multi-site filings"),
        "minimum_practice_years": _("Years of practice required"),
        "registered_role": _("Registered as"), "required_role": _("Required role"),
        "registered_departments": _("Registered departments"),
        "prior_diagnosis_document": _("Document with a definite diagnosis"),
        "prior_icd10": _("Earlier definite diagnosis"), "patient_age": _("Patient's age"),
        "dispensed": _("Dispensed"), "review_result": _("Review result"),
        "problems": _("Problems"), "consulting_license_no": _("Consulting doctor"),
        "drug_codes": _("Drugs"), "categories": _("Categories"), "limit": _("Limit"),
        "grace_hours": _("Hours waited"), "seconds_after_start": _("Seconds after the start"),
        "threshold_seconds": _("Threshold in seconds"), "ceiling_price": _("Ceiling price"),
        "price_valid_from": _("Price in force from"), "expected_amount": _("Expected amount"),
        "received_at": _("Received"), "delay_hours": _("Delay in hours"),
        "allowed_hours": _("Hours allowed"),
        **disp_evidence_labels(_),
    }  # fmt: skip


def _labelled_lines(evidence: Mapping[str, Any], r: _Reader) -> list[tuple[str, str]]:
    """Any evidence as labelled lines: the last resort, and still no JSON."""
    _ = r.gettext
    labels = _evidence_labels(_)

    def shown(key: str, value: object) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, Mapping):
            return "; ".join(
                _("%(label)s: %(value)s", label=labels.get(k, k), value=shown(k, v))
                for k, v in value.items()
            )
        if isinstance(value, Sequence) and not isinstance(value, str):
            return r.listed(shown(key, v) for v in value)
        try:
            if key in _AMOUNT_KEYS:
                return r.yuan(value)
            if key.endswith("_at") and isinstance(value, str):
                return r.moment(value)
        except (InvalidOperation, ValueError):
            pass
        if key in _LICENCE_KEYS:
            return r.person(value)
        if key in {"drug_code", "drug_codes"}:
            return r.drug(value)
        if key == "item_code":
            return r.price_item(value)
        return r.word(value)

    return [(labels.get(key, key), shown(key, value)) for key, value in evidence.items()]


def evidence_text(
    rule_id: str,
    evidence: Mapping[str, Any],
    reference: ReferenceSnapshot,
    gettext: Gettext,
    value_names: Mapping[str, str],
) -> EvidenceText:
    """What the evidence of a ``rule_id`` finding says, in the reader's language.

    ``reference`` is the snapshot of the versions the finding names (names of
    practitioners, drugs and price items as they were); ``value_names`` the portal's
    enumeration values in words (more are added here for what only evidence carries).
    """
    reader = _Reader(gettext, reference, {**value_names, **evidence_value_names(gettext)})
    sentences = _SENTENCES.get(rule_id)
    if sentences is not None:
        try:
            said = sentences(evidence, reader)
        except (KeyError, TypeError, ValueError, InvalidOperation):
            said = []  # a shape this rule no longer writes: the labelled lines below
        if said:
            return EvidenceText(tuple(said))
    return EvidenceText((), tuple(_labelled_lines(evidence, reader)))
