"""The one reading of consent records: validation, policy, the command line, the server and
the coordination index all ask :func:`evaluate_consents` (or, for one record's every reason,
:func:`consent_problems`), so they cannot disagree.

A consent authorises a disclosure only when everything in it says yes (docs/policy.md
"Consent"): status ``active``; a privacy consent (scope and category); an opt-in policy rule;
verified, if it says; a permit base provision that allows disclosing (``action``), of data
from the document's time (``dataPeriod``), not narrowed to codes or security labels the
gateway cannot judge; no deny provision, at any depth, that applies; the transfer's time
inside its period; about the document's patient (compared by identifier, however the
personnummer is written) and given by them; the recipient named (an employer by its
organisation: consent is to a named recipient, 4 kap. 2 § PDL and 25 kap. 12 § OSL); a
purpose *code* of the declared purpose code system that the route accepts; and a scope naming
the document's kind, and its id where it names one. An element the reader kept as not
understood refuses. Words never authorise.

Every consent offered for a transfer is read, and **a no in any of them wins**: a consent
that is about this transfer (this patient, kind, document and recipient, read broadly) and
says no - a deny, an opt-out, a withdrawal, a rejection, a copy of an authorising record
that says anything else - refuses it, wherever it stands among the others.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
from gateway.documents.identity import (
    may_be_same_person,
    may_name_organisation,
    names_organisation,
    same_document_id,
    same_person,
)
from gateway.documents.issues import RULES, ModelPath, Rule, RuleKind, Severity

CONSENT_FILE = MAPPINGS_DIR / "consent.toml"
_LAW = "4 kap. 2 § patientdatalagen; seed 003"
_NAMED = "4 kap. 2 § patientdatalagen, 25 kap. 12 § offentlighets- och sekretesslagen"


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
ORGANISATION = _rule(
    "ORGANISATION",
    "Consent does not name this recipient organisation",
    "Consent is to a named recipient: a route that requires it (an employer's: "
    '`recipient = "organisation"` in mappings/policy/employer.<kind>.toml) goes only on a '
    "consent naming the recipient's organisation, by organisation number or HSA-id (FHIR: "
    "provision.actor, an Organization by identifier), as the gateway's configuration names "
    "that recipient (`organisation`). A consent naming only the audience 'employer' would "
    "cover every employer the sender may reach; it covers none.",
    _NAMED,
)
ORGANISATION_NOT_CHECKED = RULES.define(
    "POLICY-CONSENT-ORGANISATION-NOT-CHECKED",
    "Recipient organisation not compared in this preview",
    RuleKind.POLICY,
    "`gateway redact` was not told the recipient's organisation (`--organisation`), so the "
    "organisations the consent names were not compared with it; everything else was checked. "
    "The server compares them with each recipient's configured `organisation`.",
    severity=Severity.INFORMATION,
)
STATUS = _rule(
    "STATUS",
    "Consent is not active",
    "Only a consent with status `active` authorises a transfer: `draft` and `proposed` were "
    "never agreed, `rejected` was refused, `inactive` has ended and `entered-in-error` never "
    "was (R4 consent-state-codes). A rejected consent about this transfer refuses it even "
    "beside another that would allow it.",
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
    "applies to this transfer (it names no recipient, purpose, action, period or data period "
    "that would exclude it; a deny purpose or action the gateway cannot read, or one narrowed "
    "to codes or security labels, applies). A deny always wins over a permit, in any of the "
    "consents offered.",
)
OTHER_PATIENT = _rule(
    "OTHER-PATIENT",
    "Consent is not the document's patient's",
    "The consent record is about another patient (`patient`, FHIR `Consent.patient` resolved "
    "by reference and compared by identifier), or was given by someone other than the patient "
    "the document is about (`given_by`). A personnummer is the same with or without century, "
    "hyphen or plus, in any spelling of its system. The law asks for the patient's own "
    "consent.",
)
PURPOSE_UNCODED = _rule(
    "PURPOSE-UNCODED",
    "Consent purpose is not a purpose code",
    "A consent's purpose must be a code of the declared purpose code system `consent-purpose` "
    "(FHIR: exactly {base}/CodeSystem/consent-purpose or a declared alias; mappings/"
    "consent.toml). A purpose in words, a code of another system, or the system spelt another "
    "way (`urn:oid:consent-purpose`, a bare `consent-purpose` in FHIR) never authorises "
    "anything: words can say no ('Patienten samtycker INTE ...') and no matching can tell.",
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
    "The consent's scope names one document by id, and it is not this one (ids compared as "
    "their system defines: UUIDs and the gateway's own ids in any letter case).",
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
    "transfer; nothing may be sent on it any more, and a withdrawn copy beside an active one "
    "refuses it too. A withdrawal dated later than the transfer does not stop it.",
    "4 kap. 2 § patientdatalagen",
)
SCOPE = _rule(
    "SCOPE",
    "Consent is not a privacy consent",
    "Only a consent whose scope is patient privacy (R4 `Consent.scope` patient-privacy in "
    "http://terminology.hl7.org/CodeSystem/consentscope) authorises disclosing information. A "
    "research, treatment or advance-directive consent is agreement to something else.",
)
CATEGORY = _rule(
    "CATEGORY",
    "Consent category is not a privacy consent",
    "A consent's categories must all be those of a privacy consent (LOINC 59284-0 Patient "
    "consent, v3 ActCode IDSCL information disclosure; mappings/consent.toml). A consent "
    "classified as anything else is not read as a consent to disclose.",
)
ACTION = _rule(
    "ACTION",
    "Consent does not allow disclosing",
    "The consent's provision names the actions it allows (R4 consent-action) and disclosing "
    "(`disclose`) is not among them, or it names one the gateway does not know: a consent "
    "to collect or access information does not allow sending it to anyone.",
)
DATA_PERIOD = _rule(
    "DATA-PERIOD",
    "Consent does not cover data of the document's time",
    "The consent covers only data of a period (R4 `provision.dataPeriod`) and the document "
    "(its signing, creation or sending time) lies outside it, or has no time to compare.",
)
CODE = _rule(
    "CODE",
    "Consent is narrowed to coded data",
    "The consent's provision applies only to data carrying certain codes (R4 "
    "`provision.code`). The gateway cannot tell a whole document's codes against it, so such "
    "a consent authorises nothing (deny when in doubt).",
)
SECURITY_LABEL = _rule(
    "SECURITY-LABEL",
    "Consent is narrowed by security labels",
    "The consent's provision applies only to data with certain security labels (R4 "
    "`provision.securityLabel`). The gateway's documents carry no labels to compare, so such "
    "a consent authorises nothing (deny when in doubt).",
)
UNVERIFIED = _rule(
    "UNVERIFIED",
    "Consent says it is not verified",
    "The consent record says it was not verified with the patient (R4 "
    "`verification.verified = false`): it does not authorise a transfer.",
)
NOT_UNDERSTOOD = _rule(
    "UNKNOWN-ELEMENT",
    "Consent holds an element the gateway does not understand",
    "The consent carries an element that can limit what it allows and that the gateway does "
    "not read (a `policy` reference, a modifier extension, an actor in another role than "
    "recipient, data named other than by instance, a class of another system, ...). An "
    "element of a consent that is not understood refuses: deny when in doubt.",
)

#: Reasons that mean the patient (or the record) said no: any consent about the transfer that
#: gives one refuses it, whatever the other consents say.
_NO = frozenset({DENIED, OPT_OUT, WITHDRAWN})


@dataclass(frozen=True)
class PurposeSystem:
    """The declared purpose code system: code -> the document kinds it may be used for."""

    system: str
    kinds: Mapping[str, frozenset[DocumentKind]]
    displays: Mapping[str, str]

    def code(self, c: Code) -> str | None:
        """The purpose code ``c`` declares, or ``None`` when it is not one (text, another
        system, an unknown code). The system is compared exactly: the readers normalise the
        declared aliases, nothing else."""
        return c.code if c.system == self.system and c.code in self.kinds else None

    def for_kind(self, kind: DocumentKind) -> frozenset[str]:
        return frozenset(code for code, kinds in self.kinds.items() if kind in kinds)


@dataclass(frozen=True)
class ConsentVocabulary:
    """The codes a consent's other limiting elements are read against (mappings/consent.toml):
    the actions, and the categories of a privacy consent."""

    action_system: str
    actions: frozenset[str]
    disclose: str
    privacy_categories: frozenset[tuple[str, str]]


@cache
def _data() -> dict[str, object]:
    return tomllib.loads(CONSENT_FILE.read_text("utf-8"))


@cache
def purpose_system() -> PurposeSystem:
    data = _data()
    rows: list[dict[str, object]] = data["purpose"]  # type: ignore[assignment]
    return PurposeSystem(
        system=str(data["purpose_system"]),
        kinds={
            str(p["code"]): frozenset(DocumentKind(k) for k in p["kinds"])  # type: ignore[attr-defined]
            for p in rows
        },
        displays={str(p["code"]): str(p["display"]) for p in rows},
    )


@cache
def vocabulary() -> ConsentVocabulary:
    data = _data()
    actions: dict[str, object] = data["actions"]  # type: ignore[assignment]
    categories: list[dict[str, str]] = data["privacy_category"]  # type: ignore[assignment]
    return ConsentVocabulary(
        action_system=str(actions["system"]),
        actions=frozenset(str(c) for c in actions["codes"]),  # type: ignore[attr-defined]
        disclose=str(actions["disclose"]),
        privacy_categories=frozenset((c["system"], c["code"]) for c in categories),
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


@dataclass(frozen=True)
class Disclosure:
    """What is asked of the consents: a document (``kind``, ``document_id``, its ``patient``
    and its own time ``document_time``) disclosed at ``at`` to ``recipient`` (``None``:
    validation, no recipient yet) for one of ``purposes`` (the route's codes; ``None``: any
    of the kind's). ``organisation`` is the recipient's configured organisation (organisation
    number or HSA-id; ``None``: not known, a preview); ``named_organisation`` says the route
    requires the consent to name it (an employer's, mappings/policy/)."""

    kind: DocumentKind
    at: datetime
    document_id: str | None = None
    patient: Identifier | None = None
    document_time: datetime | None = None
    recipient: Recipient | None = None
    purposes: frozenset[str] | None = None
    organisation: str | None = None
    named_organisation: bool = False

    def wanted(self) -> frozenset[str]:
        kind_purposes = purpose_system().for_kind(self.kind)
        return kind_purposes if self.purposes is None else kind_purposes & self.purposes


@dataclass(frozen=True)
class ConsentDecision:
    """The outcome of reading every consent offered: ``consent`` authorises (``None``: none
    does, and ``problem`` is why, from ``refusing``); ``notes`` are information (a preview
    could not compare the recipient's organisation)."""

    consent: Consent | None
    problem: ConsentProblem | None = None
    refusing: Consent | None = None
    notes: tuple[ConsentProblem, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.consent is not None


def evaluate_consents(consents: Sequence[Consent], disclosure: Disclosure) -> ConsentDecision:
    """The one entry point: may ``disclosure`` happen on the ``consents`` offered (a
    document's own, its envelope's, a ``--consent`` file, a patient's records in an index)?

    Every consent is read. One that is about this disclosure and says no (deny, opt-out,
    withdrawn, rejected) refuses it whatever the others say; so does any copy of the
    authorising record (same id) that does not authorise. Otherwise the first consent that
    authorises it is the one the disclosure rests on. Pure and cheap; no consent at all is
    ``POLICY-CONSENT-MISSING`` (path ``consent``)."""
    if not consents:
        msg = "there is no consent record"
        if disclosure.recipient is not None:
            msg = (
                f"a transfer of this document to {disclosure.recipient} needs the patient's "
                "consent, and there is no consent record"
            )
        return ConsentDecision(None, ConsentProblem(MISSING, (), msg))
    readings = [(c, list(consent_problems_for(c, disclosure))) for c in consents]
    for c, problems in readings:
        no = next((p for p in problems if _says_no(c, p)), None)
        if no is not None and _about(c, disclosure):
            return ConsentDecision(None, no, c)
    notes: list[ConsentProblem] = []
    for c, problems in readings:
        if _refusals(problems):
            continue
        for other, other_problems in readings:
            if other is not c and other.id == c.id and _refusals(other_problems):
                # a copy of the same record that says otherwise: deny wins
                return ConsentDecision(None, _refusals(other_problems)[0], other)
        notes.extend(p for p in problems if p.rule is ORGANISATION_NOT_CHECKED)
        return ConsentDecision(c, notes=tuple(notes))
    first, problems = readings[0]
    return ConsentDecision(None, _refusals(problems)[0], first)


def _refusals(problems: list[ConsentProblem]) -> list[ConsentProblem]:
    return [p for p in problems if p.rule is not ORGANISATION_NOT_CHECKED]


def _says_no(c: Consent, p: ConsentProblem) -> bool:
    return p.rule in _NO or (p.rule is STATUS and c.status is ConsentStatus.REJECTED)


def _about(c: Consent, d: Disclosure) -> bool:
    """Whether a consent is about this disclosure, read broadly (a no counts wherever it
    could apply): this patient (a record about someone else by identifier is not), this kind,
    this document if it names one, and this recipient by audience or organisation (or no
    recipient named at all)."""
    today = d.at.date()
    # whom the record is about: its patient; one that names none (given by a guardian, say)
    # may be about anyone
    if (
        d.patient is not None
        and c.patient is not None
        and not may_be_same_person(c.patient, d.patient, today)
    ):
        return False
    if c.scope.kind != d.kind:
        return False
    if (
        c.scope.document_id is not None
        and d.document_id is not None
        and not same_document_id(c.scope.document_id, d.document_id)
    ):
        return False
    if d.recipient is None or (not c.recipients and not c.organisations):
        return True
    if d.recipient in c.recipients:
        return True
    if d.organisation is None:
        return bool(c.organisations)
    return any(may_name_organisation(o, d.organisation) for o in c.organisations)


def _deny_applies(p: ConsentProvision, d: Disclosure, at: datetime) -> bool:
    """A nested deny applies unless what it names excludes this disclosure; what the gateway
    cannot read does not exclude it."""
    if p.not_understood or p.codes or p.security_labels:
        return True
    if p.start is not None and aware(p.start) > at:
        return False
    if p.end is not None and aware(p.end) <= at:
        return False
    if (p.recipients or p.organisations) and not _names_recipient(p, d):
        return False
    return not (
        _other_purposes(p, d) or _other_actions(p) or _other_data_period(p, d.document_time)
    )


def _other_purposes(p: ConsentProvision, d: Disclosure) -> bool:
    """The deny names purposes, all of them read, none of them this disclosure's."""
    if not p.purposes:
        return False
    ps = purpose_system()
    codes = [ps.code(c) for c in p.purposes]
    # a deny purpose the gateway cannot read as a declared code applies: deny wins
    return all(c is not None for c in codes) and not d.wanted().intersection(
        c for c in codes if c is not None
    )


def _other_actions(p: ConsentProvision) -> bool:
    """The deny names actions, all of them read, disclosure not among them."""
    if not p.actions:
        return False
    known = [_action(a) for a in p.actions]
    return all(a is not None for a in known) and vocabulary().disclose not in known


def _other_data_period(p: ConsentProvision, document_time: datetime | None) -> bool:
    """The deny covers data of a period, and the document's time lies outside it."""
    if (p.data_from is None and p.data_to is None) or document_time is None:
        return False
    t = aware(document_time)
    return (p.data_from is not None and t < aware(p.data_from)) or (
        p.data_to is not None and t > aware(p.data_to)
    )


def _names_recipient(p: ConsentProvision, d: Disclosure) -> bool:
    """Whether a deny's recipients take in this disclosure's: by audience or organisation;
    without a recipient (validation) or an organisation to compare (a preview), they may."""
    if d.recipient is None or d.recipient in p.recipients:
        return True
    if d.organisation is None:
        return bool(p.organisations)
    return any(may_name_organisation(o, d.organisation) for o in p.organisations)


def _action(c: Code) -> str | None:
    v = vocabulary()
    return c.code if c.system == v.action_system and c.code in v.actions else None


def consent_problems(
    consent: Consent,
    *,
    kind: DocumentKind,
    document_id: str | None,
    patient: Identifier | None,
    at: datetime,
    recipient: Recipient | None = None,
    purposes: Iterable[str] | None = None,
    organisation: str | None = None,
    named_organisation: bool = False,
    document_time: datetime | None = None,
) -> Iterator[ConsentProblem]:
    """Every reason ``consent`` alone does not authorise the disclosure described (see
    :class:`Disclosure`). Nothing yielded: it authorises it."""
    return consent_problems_for(
        consent,
        Disclosure(
            kind=kind,
            at=at,
            document_id=document_id,
            patient=patient,
            document_time=document_time,
            recipient=recipient,
            purposes=frozenset(purposes) if purposes is not None else None,
            organisation=organisation,
            named_organisation=named_organisation,
        ),
    )


def consent_problems_for(consent: Consent, d: Disclosure) -> Iterator[ConsentProblem]:
    """:func:`consent_problems` over a :class:`Disclosure`: status and kind of consent,
    what the base provision allows, what denies, whose it is, whom it names, why, and when."""
    when = aware(d.at)
    yield from _what_it_is(consent)
    yield from _what_it_allows(consent, d)
    yield from _what_denies(consent, d, when)
    yield from _whose(consent, d)
    yield from _whom(consent, d)
    yield from _why(consent, d)
    yield from _when(consent, d, when)


def _what_it_is(c: Consent) -> Iterator[ConsentProblem]:
    cid = c.id
    if c.status is not ConsentStatus.ACTIVE:
        yield ConsentProblem(
            STATUS, ("status",), f"consent {cid} has status {c.status}, not active"
        )
    if c.consent_scope is not None:
        yield ConsentProblem(
            SCOPE,
            ("consent_scope",),
            f"consent {cid} is a {c.consent_scope.code} consent, not a patient-privacy one",
        )
    if c.categories:
        yield ConsentProblem(
            CATEGORY,
            ("categories",),
            f"consent {cid} is classed as {', '.join(x.code for x in c.categories)}, "
            "not only as a privacy consent",
        )
    if c.policy_rule in (ConsentPolicyRule.OPT_OUT, ConsentPolicyRule.OPT_OUT_EXCEPTIONS):
        yield ConsentProblem(
            OPT_OUT, ("policy_rule",), f"consent {cid} is an opt-out ({c.policy_rule})"
        )
    if c.verified is False:
        yield ConsentProblem(UNVERIFIED, ("verified",), f"consent {cid} says it is not verified")
    if c.not_understood:
        yield ConsentProblem(
            NOT_UNDERSTOOD,
            ("not_understood",),
            f"consent {cid} holds {', '.join(sorted(set(c.not_understood)))}, which the "
            "gateway does not understand",
        )


def _what_it_allows(c: Consent, d: Disclosure) -> Iterator[ConsentProblem]:
    cid = c.id
    if c.type is ProvisionType.DENY:
        yield ConsentProblem(DENIED, ("type",), f"consent {cid} is a deny")
    if c.actions:
        known = [_action(a) for a in c.actions]
        if any(a is None for a in known) or vocabulary().disclose not in known:
            yield ConsentProblem(
                ACTION,
                ("actions",),
                f"consent {cid} allows {', '.join(a.code for a in c.actions)}, not disclosing",
            )
    if c.data_from is not None or c.data_to is not None:
        t = d.document_time
        if (
            t is None
            or (c.data_from is not None and aware(t) < aware(c.data_from))
            or (c.data_to is not None and aware(t) > aware(c.data_to))
        ):
            yield ConsentProblem(
                DATA_PERIOD,
                ("data_from" if c.data_from is not None else "data_to",),
                f"consent {cid} covers data of a period the document's time is not in",
            )
    if c.codes:
        yield ConsentProblem(
            CODE, ("codes",), f"consent {cid} covers only data carrying certain codes"
        )
    if c.security_labels:
        yield ConsentProblem(
            SECURITY_LABEL,
            ("security_labels",),
            f"consent {cid} covers only data with certain security labels",
        )


def _what_denies(c: Consent, d: Disclosure, when: datetime) -> Iterator[ConsentProblem]:
    for i, p in enumerate(c.provisions):
        if p.type is ProvisionType.DENY and _deny_applies(p, d, when):
            yield ConsentProblem(
                DENIED, ("provisions", i), f"consent {c.id}: provision {i + 1} denies this transfer"
            )


def _whose(c: Consent, d: Disclosure) -> Iterator[ConsentProblem]:
    cid = c.id
    if c.scope.kind != d.kind:
        yield ConsentProblem(
            OTHER_KIND, ("scope", "kind"), f"consent {cid} is for a {c.scope.kind}, not a {d.kind}"
        )
    if c.scope.document_id is not None and (
        d.document_id is None or not same_document_id(c.scope.document_id, d.document_id)
    ):
        yield ConsentProblem(
            OTHER_DOCUMENT,
            ("scope", "document_id"),
            f"consent {cid} is for document {c.scope.document_id!r}, not this one "
            f"({d.document_id!r})",
        )
    if d.patient is not None:
        today = d.at.date()
        if c.patient is not None and not same_person(c.patient, d.patient, today):
            yield ConsentProblem(
                OTHER_PATIENT,
                ("patient",),
                f"consent {cid} is about another patient than this document's",
            )
        if not same_person(c.given_by, d.patient, today):
            yield ConsentProblem(
                OTHER_PATIENT,
                ("given_by",),
                f"consent {cid} was not given by the patient this document is about",
            )


def _whom(c: Consent, d: Disclosure) -> Iterator[ConsentProblem]:
    if d.recipient is None:
        return
    cid = c.id
    if d.named_organisation:
        if not c.organisations:
            if d.recipient in c.recipients:
                yield ConsentProblem(
                    ORGANISATION,
                    ("organisations",),
                    f"consent {cid} names no organisation; a {d.recipient} is covered only by "
                    "a consent naming its organisation",
                )
            else:
                names = ", ".join(str(r) for r in c.recipients) or "no one"
                yield ConsentProblem(
                    NOT_COVERING,
                    ("recipients",),
                    f"consent {cid} covers {names}, not {d.recipient}",
                )
        elif d.organisation is None:
            yield ConsentProblem(
                ORGANISATION_NOT_CHECKED,
                ("organisations",),
                f"consent {cid} names an organisation; the recipient's was not given, so it "
                "was not compared",
            )
        elif not any(names_organisation(o, d.organisation) for o in c.organisations):
            yield ConsentProblem(
                ORGANISATION,
                ("organisations",),
                f"consent {cid} names {', '.join(o.value for o in c.organisations)}, not this "
                f"{d.recipient} ({d.organisation})",
            )
        return
    if d.recipient in c.recipients:
        return
    if d.organisation is not None and any(
        names_organisation(o, d.organisation) for o in c.organisations
    ):
        return
    names = ", ".join([*(str(r) for r in c.recipients), *(o.value for o in c.organisations)])
    yield ConsentProblem(
        NOT_COVERING,
        ("recipients",),
        f"consent {cid} covers {names or 'no one'}, not {d.recipient}",
    )


def _why(c: Consent, d: Disclosure) -> Iterator[ConsentProblem]:
    ps = purpose_system()
    wanted = d.wanted()
    codes = {x for x in (ps.code(p) for p in c.purposes) if x is not None}
    if not codes:
        yield ConsentProblem(
            PURPOSE_UNCODED,
            ("purposes",),
            f"consent {c.id} states no purpose code of {ps.system}; a purpose in words never "
            "authorises a transfer",
        )
    elif not codes & wanted:
        yield ConsentProblem(
            PURPOSE,
            ("purposes",),
            f"consent {c.id} is for {', '.join(sorted(codes))}; this transfer needs one of: "
            f"{', '.join(sorted(wanted)) or '(none)'}",
        )


def _when(c: Consent, d: Disclosure, when: datetime) -> Iterator[ConsentProblem]:
    cid = c.id
    if aware(c.given_at) > when:
        yield ConsentProblem(
            LATE,
            ("given_at",),
            f"consent {cid} is dated {c.given_at.isoformat()}, after the transfer at "
            f"{d.at.isoformat()}",
        )
    if c.valid_from is not None and aware(c.valid_from) > when:
        yield ConsentProblem(
            NOT_YET_VALID,
            ("valid_from",),
            f"consent {cid} holds from {c.valid_from.isoformat()}, after the transfer at "
            f"{d.at.isoformat()}",
        )
    if c.withdrawn_at is not None and aware(c.withdrawn_at) <= when:
        yield ConsentProblem(
            WITHDRAWN,
            ("withdrawn_at",),
            f"consent {cid} was withdrawn on {c.withdrawn_at.isoformat()}",
        )


__all__ = [
    "CONSENT_FILE",
    "ConsentDecision",
    "ConsentProblem",
    "Disclosure",
    "PurposeSystem",
    "aware",
    "consent_problems",
    "consent_problems_for",
    "evaluate_consents",
    "purpose_code",
    "purpose_system",
]
