"""§4 minimisation to the letter: the coordinator's telephone and e-mail are exactly that.

Validation reports the same (S4-COORDINATOR-PHONE/-EMAIL) so the sender can fix it; the policy
refuses on its own as well, because it is the last step before any output format is rendered
and must hold for a caller that did not validate (docs/policy.md).
"""

from __future__ import annotations

from gateway.documents.issues import RULES, RuleKind
from gateway.documents.section4 import Section4Notification
from gateway.policy.report import Action, ReportEntry
from gateway.validation.section4_rules import check_coordinator_contact

SECTION4_CONTACT = RULES.define(
    "POLICY-SECTION4-CONTACT",
    "§4 notification refused: the coordinator's contact is more than a number or address",
    RuleKind.POLICY,
    "Försäkringskassan receives the coordinating function's telephone number and e-mail "
    "address, and nothing may ride along in them: a telephone that is not only a valid "
    "Swedish or E.164 number, or an e-mail that is not only an address, refuses the whole "
    "notification in every output format (it is not trimmed: what else it says is unknown).",
    source="SKR, rekommendation om 4 § lagen (2019:1297) om koordineringsinsatser (seed 003)",
)


def contact_refusals(n: Section4Notification) -> list[ReportEntry]:
    return [
        ReportEntry(
            Action.REFUSED,
            ".".join(str(s) for s in f.path),
            SECTION4_CONTACT.code,
            f.message,
            f.path,
        )
        for f in check_coordinator_contact(n)
    ]
