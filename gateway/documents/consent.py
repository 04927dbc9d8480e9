"""The one reading of a consent record, shared by validation and policy.

A consent authorises a transfer only when everything in it says yes (docs/policy.md
"Consent"): status ``active``; an opt-in policy rule; a permit base provision and no deny
provision, at any depth, that applies to the transfer; the transfer's time inside the period;
the document's patient as the one it is about and the one who gave it; the transfer's
recipient among those it names; a purpose *code* of the declared purpose code system
(``mappings/consent.toml``) that the route accepts; and a scope naming the document's kind, and
its id where it names one. Words never authorise: a purpose without a declared code fails.

Validation reads a document's own consent at the document's time (a §4 notification's
``sent_at``; otherwise now); policy reads every candidate at the transfer's time. Both call
:func:`consent_problems`, so they cannot disagree (they did on a consent withdrawn in the
future).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from gateway import MAPPINGS_DIR
from gateway.documents.common import (
    SWEDISH_TIME,
    Code,
    Consent,
    ConsentPolicyRule,
    ConsentProvision,
    ConsentStatus,
    DocumentKind,
    Identifier,
    ProvisionType,
    Recipient,
)
from gateway.documents.issues import RULES, ModelPath, Rule, RuleKind

CONSENT_FILE = MAPPINGS_DIR / "consent.toml"
_LAW = "4 kap. 2 § patientdatalagen; seed 003"


def _rule(code: str, title: str, explanation: str, source: str = _LAW) -> Rule:
    return RULES.define(
        f"POLICY-CONSENT-{code}", title, RuleKind.POLICY, explanation, source=source
    )


MISSING = _rule(
    "MISSING",
    "No consent record for a transfer that needs one",
    "This document kind may go to this recipient only with the patient's consent, and neither "
    "the document nor its envelope carries a consent record. Add the consent (who gave it, "
    "when, how, to which recipients, for which purpose code, for which document) and send "
    "again.",
)
NOT_COVERING = _rule(
    "NOT-COVERING",
    "Consent does not cover this recipient",
    "The consent record names other recipients than this transfer's. A consent covers exactly "
    "what the patient agreed to; ask for a consent that names this recipient.",
)
STATUS = _rule(
    "STATUS",
    "Consent is not active",
    "Only a consent with status `active` authorises a transfer: `draft` and `proposed` were "
    "never agreed, `rejected` was refused, `inactive` has ended and `entered-in-error` never "
    "was (R4 consent-state-codes).",
)
OPT_OUT = _rule(
    "OPT-OUT",
    "Consent is an opt-out",
    "The consent's policy rule is an opt-out (`OPTOUT`, or `OPTOUTE` with exceptions): the "
    "patient said no. Only an opt-in (`OPTIN`, `OPTINR`) authorises a transfer.",
)
DENIED = _rule(
    "DENIED",
    "A deny provision covers this transfer",
    "The consent's base provision is `deny`, or a nested provision of type `deny` at any depth "
    "applies to this transfer (it names no recipient, purpose or period that would exclude "
    "it; a deny purpose that is not a code of the purpose code system applies). A deny always "
    "wins over a permit.",
)
OTHER_PATIENT = _rule(
    "OTHER-PATIENT",
    "Consent is not the document's patient's",
    "The consent record is about another patient (`patient`, FHIR `Consent.patient`), or was "
    "given by someone other than the patient the document is about (`given_by`). The law asks "
    "for the patient's own consent.",
)
PURPOSE_UNCODED = _rule(
    "PURPOSE-UNCODED",
    "Consent purpose is not a purpose code",
    "A consent's purpose must be a code of the declared purpose code system `consent-purpose` "
    "(FHIR: {base}/CodeSystem/consent-purpose; mappings/consent.toml). A purpose in words, or "
    "a code of another system, never authorises anything: words can say no ('Patienten "
    "samtycker INTE ...') and no matching of words can tell.",
)
PURPOSE = _rule(
    "PURPOSE",
    "Consent purpose does not cover this transfer",
    "The consent's purpose codes are not among the purposes this route accepts for this "
    "document kind (mappings/policy/<recipient>.<kind>.toml, `consent.purposes`; each code's "
    "kinds in mappings/consent.toml).",
)
OTHER_KIND = _rule(
    "OTHER-KIND",
    "Consent is for another kind of document",
    "The consent's scope names another document kind: a SIP's consent does not authorise a "
    "certificate, nor a certificate's a §4 notification.",
)
OTHER_DOCUMENT = _rule(
    "OTHER-DOCUMENT",
    "Consent is for another document",
    "The consent's scope names one document by id, and it is not this one.",
)
LATE = _rule(
    "LATE",
    "Consent given after the transfer",
    "The consent record is dated after the time of the transfer. Consent must be obtained "
    "before information is shared.",
    "seed 003",
)
NOT_YET_VALID = _rule(
    "NOT-YET-VALID",
    "Consent period has not begun",
    "The consent's period starts after the time of the transfer.",
)
WITHDRAWN = _rule(
    "WITHDRAWN",
    "Consent withdrawn",
    "The consent's period ended (the patient withdrew it) on or before the time of the "
    "transfer; nothing may be sent on it any more. A withdrawal dated later than the transfer "
    "does not stop it.",
    "4 kap. 2 § patientdatalagen",
)


@dataclass(frozen=True)
class PurposeSystem:
    """The declared purpose code system: code -> the document kinds it may be used for."""

    system: str
    kinds: Mapping[str, frozenset[DocumentKind]]
    displays: Mapping[str, str]

    def code(self, c: Code) -> str | None:
        """The purpose code ``c`` declares, or ``None`` when it is not one (text, another
        system, an unknown code)."""
        return c.code if c.system == self.system and c.code in self.kinds else None

    def for_kind(self, kind: DocumentKind) -> frozenset[str]:
        return frozenset(code for code, kinds in self.kinds.items() if kind in kinds)


@cache
def purpose_system() -> PurposeSystem:
    data = tomllib.loads(CONSENT_FILE.read_text("utf-8"))
    rows = data["purpose"]
    return PurposeSystem(
        system=str(data["purpose_system"]),
        kinds={str(p["code"]): frozenset(DocumentKind(k) for k in p["kinds"]) for p in rows},
        displays={str(p["code"]): str(p["display"]) for p in rows},
    )


def purpose_code(code: str) -> Code:
    """A purpose of the declared system, with its display."""
    ps = purpose_system()
    return Code(code=code, system=ps.system, display=ps.displays[code])


@dataclass(frozen=True, slots=True)
class ConsentProblem:
    rule: Rule
    path: ModelPath  # inside the consent
    message: str


def aware(t: datetime) -> datetime:
    """Local Swedish time when the sender gave none (RIVTA timestamps carry no zone)."""
    return t if t.tzinfo is not None else t.replace(tzinfo=SWEDISH_TIME)


def _same(a: Identifier, b: Identifier) -> bool:
    return a.system == b.system and a.value == b.value


def _deny_applies(
    p: ConsentProvision, recipient: Recipient | None, wanted: frozenset[str], at: datetime
) -> bool:
    if p.start is not None and aware(p.start) > at:
        return False
    if p.end is not None and aware(p.end) <= at:
        return False
    if p.recipients and (recipient is None or recipient not in p.recipients):
        return False
    if p.purposes:
        ps = purpose_system()
        codes = [ps.code(c) for c in p.purposes]
        # a deny purpose the gateway cannot read as a declared code applies: deny wins
        if all(c is not None for c in codes) and not wanted.intersection(
            c for c in codes if c is not None
        ):
            return False
    return True


def consent_problems(
    consent: Consent,
    *,
    kind: DocumentKind,
    document_id: str | None,
    patient: Identifier | None,
    at: datetime,
    recipient: Recipient | None = None,
    purposes: Iterable[str] | None = None,
) -> Iterator[ConsentProblem]:
    """Every reason ``consent`` does not authorise a transfer of the document (``kind``,
    ``document_id``, ``patient``) at ``at``: to ``recipient`` for one of ``purposes`` (the
    route's codes). Validation passes no recipient (none is checked) and no purposes (the
    kind's purposes apply). Nothing yielded: the consent authorises it."""
    ps = purpose_system()
    kind_purposes = ps.for_kind(kind)
    wanted = kind_purposes if purposes is None else kind_purposes.intersection(purposes)
    when = aware(at)
    cid = consent.id
    if consent.status is not ConsentStatus.ACTIVE:
        yield ConsentProblem(
            STATUS, ("status",), f"consent {cid} has status {consent.status}, not active"
        )
    if consent.policy_rule in (ConsentPolicyRule.OPT_OUT, ConsentPolicyRule.OPT_OUT_EXCEPTIONS):
        yield ConsentProblem(
            OPT_OUT, ("policy_rule",), f"consent {cid} is an opt-out ({consent.policy_rule})"
        )
    if consent.type is ProvisionType.DENY:
        yield ConsentProblem(DENIED, ("type",), f"consent {cid} is a deny")
    for i, p in enumerate(consent.provisions):
        if p.type is ProvisionType.DENY and _deny_applies(p, recipient, wanted, when):
            yield ConsentProblem(
                DENIED,
                ("provisions", i),
                f"consent {cid}: provision {i + 1} denies this transfer",
            )
    if consent.scope.kind != kind:
        yield ConsentProblem(
            OTHER_KIND,
            ("scope", "kind"),
            f"consent {cid} is for a {consent.scope.kind}, not a {kind}",
        )
    if consent.scope.document_id is not None and consent.scope.document_id != document_id:
        yield ConsentProblem(
            OTHER_DOCUMENT,
            ("scope", "document_id"),
            f"consent {cid} is for document {consent.scope.document_id!r}, not this one "
            f"({document_id!r})",
        )
    if patient is not None:
        if consent.patient is not None and not _same(consent.patient, patient):
            yield ConsentProblem(
                OTHER_PATIENT,
                ("patient",),
                f"consent {cid} is about another patient than this document's",
            )
        if not _same(consent.given_by, patient):
            yield ConsentProblem(
                OTHER_PATIENT,
                ("given_by",),
                f"consent {cid} was not given by the patient this document is about",
            )
    if recipient is not None and recipient not in consent.recipients:
        names = ", ".join(str(r) for r in consent.recipients)
        yield ConsentProblem(
            NOT_COVERING, ("recipients",), f"consent {cid} covers {names}, not {recipient}"
        )
    codes = {c for c in (ps.code(p) for p in consent.purposes) if c is not None}
    if not codes:
        yield ConsentProblem(
            PURPOSE_UNCODED,
            ("purposes",),
            f"consent {cid} states no purpose code of {ps.system}; a purpose in words never "
            "authorises a transfer",
        )
    elif not codes & wanted:
        yield ConsentProblem(
            PURPOSE,
            ("purposes",),
            f"consent {cid} is for {', '.join(sorted(codes))}; this transfer needs one of: "
            f"{', '.join(sorted(wanted)) or '(none)'}",
        )
    if aware(consent.given_at) > when:
        yield ConsentProblem(
            LATE,
            ("given_at",),
            f"consent {cid} is dated {consent.given_at.isoformat()}, after the transfer at "
            f"{at.isoformat()}",
        )
    if consent.valid_from is not None and aware(consent.valid_from) > when:
        yield ConsentProblem(
            NOT_YET_VALID,
            ("valid_from",),
            f"consent {cid} holds from {consent.valid_from.isoformat()}, after the transfer at "
            f"{at.isoformat()}",
        )
    if consent.withdrawn_at is not None and aware(consent.withdrawn_at) <= when:
        yield ConsentProblem(
            WITHDRAWN,
            ("withdrawn_at",),
            f"consent {cid} was withdrawn on {consent.withdrawn_at.isoformat()}",
        )


__all__ = [
    "CONSENT_FILE",
    "ConsentProblem",
    "PurposeSystem",
    "aware",
    "consent_problems",
    "purpose_code",
    "purpose_system",
]
