"""``apply_policy``: the Content Filter between the canonical model and rendering.

Per transfer (document, recipient): is there a route at all, is the consent there and
valid, then what may pass (allow-list, no diagnosis data for employers, §4 minimisation).
Every format is rendered from the result, so what the model no longer holds cannot reach any
output; the property tests check that on the rendered bytes anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from gateway.documents import Certificate, Document, Recipient
from gateway.documents.certificate import RIVTA_TYPE_CODES, Answer, SubAnswer
from gateway.documents.common import Code, Consent
from gateway.documents.issues import RULES, ModelPath, Rule, RuleKind, Severity
from gateway.documents.section4 import Section4Notification
from gateway.policy.allowlist import (
    WITHHELD_TEXT,
    TextRefused,
    apply_spec,
    clear_path,
    item_label,
    join,
    readable,
    rewrite_path,
    withhold_texts,
)
from gateway.policy.certificate import (
    CODE_SYSTEM_NOT_ALLOWED,
    NOT_ALLOWED,
    TEXT_NOT_FOR_RECIPIENT,
    AnswerFilter,
)
from gateway.policy.consent import check_consents, disclosure, not_checked
from gateway.policy.diagnosis import (
    DIAGNOSIS_WITHHELD,
    canonical_system,
    catalogue,
    code_fields,
    diagnosis_terms,
)
from gateway.policy.free_text import (
    FREE_TEXT_WITHHELD,
    NO_DIAGNOSES,
    OwnDiagnoses,
    own_diagnoses,
    scan,
)
from gateway.policy.policies import CertificateView, Policy, policy_for
from gateway.policy.repertoire import OUTSIDE_REPERTOIRE
from gateway.policy.report import Action, PolicyResult, ReportEntry
from gateway.policy.section4 import contact_refusals
from gateway.policy.split import replace_at, split_diagnoses, texts_in_order
from gateway.policy.texts import Verdict, is_identifier, text_verdict

NOT_PERMITTED = RULES.define(
    "POLICY-RECIPIENT-NOT-PERMITTED",
    "No route for this document to this recipient",
    RuleKind.POLICY,
    "No policy lets this kind of document (or this certificate type) go to this recipient: "
    "a §4 notification goes only to Försäkringskassan, an FK7804 is not for an employer's "
    "eyes except as an employer view, and so on. The routes are the files in "
    "mappings/policy/ (docs/policy.md).",
)
SECTION4_MINIMISED = RULES.define(
    "POLICY-SECTION4-MINIMISED",
    "§4 notification minimised",
    RuleKind.POLICY,
    "SKR's recommendation on 4 § lagen (2019:1297) om koordineringsinsatser: Försäkringskassan "
    "receives exactly the fixed statement 'Behov av rehabiliteringsåtgärder enligt 30 kap. "
    "SFB', the patient's name and personnummer, and the contact details of the function that "
    "coordinates the patient (plus who sends it). Anything else - reasons, diagnoses, notes, "
    "the patient's address, a reworded statement - was removed.",
    source="seed 003 (SKR)",
)
SECTION4_STRICT = RULES.define(
    "POLICY-SECTION4-STRICT",
    "§4 notification refused: it carries more than SKR allows",
    RuleKind.POLICY,
    "With the `strict` setting, a §4 notification that carries anything beyond the fixed "
    "statement, the patient's name and personnummer and the coordinator's contact details is "
    "refused instead of minimised, so that the sender fixes its routine.",
    source="seed 003 (SKR)",
)
SIGNATURE_REMOVED = RULES.define(
    "POLICY-SIGNATURE-REMOVED",
    "Signature removed from a redacted certificate",
    RuleKind.POLICY,
    "The certificate's XMLDSig signature covers the whole certificate as issued. Once the "
    "policy removed parts of it, the signature would no longer verify, so it is not passed "
    "on; the recipient gets the gateway's redacted copy, not the signed original.",
)

CERTIFICATE_VIEW = RULES.define(
    "POLICY-CERTIFICATE-VIEW",
    "Certificate delivered as the recipient's certificate type",
    RuleKind.POLICY,
    "A national format that makes data mandatory which the recipient never receives cannot "
    "go to it as that format: an FK7804 must carry the diagnosis (svar 6), which no employer "
    "gets. The employer receives instead the type made for employers, AG7804's view of the "
    "same certificate as Webcert derives an AG7804 from an LISJP: same id, patient, issuer and "
    "the answers AG7804 shares with FK7804, 100.1 (share the diagnosis) answered false. The "
    "view is in mappings/policy/employer.certificate.toml.",
    source="sklintyg/common ag7804 CopyFromUtlatandeHelper",
)
CERTIFICATE_VIEW_INVALID = RULES.define(
    "POLICY-CERTIFICATE-VIEW-INVALID",
    "Certificate refused: the recipient's view of it would not be valid",
    RuleKind.POLICY,
    "The view of the certificate the recipient would receive (an FK7804 as AG7804) breaks "
    "the rules of its own type, e.g. none of the measures (svar 40) is one an AG7804 may name. "
    "Rather than send a document that fails its own schema rules, the transfer is refused; "
    "the message names the rules.",
)

#: Certificate fields the text scan leaves alone (see _ContentFilter.run).
_SCANNED_ELSEWHERE = frozenset({"answers", "signature"})
#: What the split check (two neighbouring texts read together) leaves alone: the signature.
_SKIP_SPLIT = frozenset({"signature"})


def _refused(entry: ReportEntry, report: list[ReportEntry]) -> PolicyResult:
    return PolicyResult(None, [*report, entry], refused=True)


def apply_policy(
    document: Document,
    recipient: Recipient | str,
    *,
    consent: Consent | None = None,
    consents: Sequence[Consent] = (),
    at: datetime,
    strict: bool = False,
    check_consent: bool = True,
    organisation: str | None = None,
) -> PolicyResult:
    """The recipient's copy of ``document`` at time ``at`` and the redaction report.

    ``consents`` are every consent record offered beside the document (a FHIR message's
    Consent entries, a ``--consent`` file; ``consent`` is one more, for callers with one); the
    document's own counts too, and a no in any of them wins. ``organisation`` is the
    recipient's configured organisation (organisation number or HSA-id): a route whose consent
    must name its recipient (an employer's) compares it with the ones the consent names; a
    preview without it notes that it did not. ``check_consent=False`` is for previews only
    (``gateway redact`` of a document with no consent record anywhere): the report then says
    consent was not checked. ``strict`` refuses a §4 notification that would need minimising.
    """
    recipient = Recipient(recipient)
    policy = policy_for(document.kind, recipient)
    if policy is None or (
        isinstance(document, Certificate) and document.type not in policy.certificate_types
    ):
        return _refused(_no_route(document, recipient), [])
    report: list[ReportEntry] = []
    consent_used: Consent | None = None
    if policy.consent_required:
        offered = [*(c for c in (consent, *consents) if c is not None), *own_consents(document)]
        if not offered and not check_consent:
            report.append(not_checked())
        else:
            what = disclosure(document, policy, at=at, organisation=organisation)
            consent_used, entries = check_consents(offered, what)
            if consent_used is None:
                return PolicyResult(None, [*report, *entries], refused=True)
            report.extend(entries)
    if policy.minimisation and isinstance(document, Section4Notification):
        refusals = contact_refusals(document)
        if refusals:
            return PolicyResult(None, [*report, *refusals], refused=True)
    filtered, content = _ContentFilter(policy, document).run()
    if filtered is None:
        return PolicyResult(None, [*report, *content], refused=True)
    if strict and policy.minimisation:
        offending = _strict_refusals(content)
        if offending:
            return PolicyResult(None, [*report, *offending], refused=True)
    held: str | None = None
    if policy.signature == "verified" and isinstance(filtered, Certificate):
        # held back: a copy rendered without render_copy never carries an unverified one
        held, filtered = filtered.signature, filtered.model_copy(update={"signature": None})
    return PolicyResult(
        filtered,
        [*report, *content],
        refused=False,
        consent_id=consent_used.id if consent_used is not None else None,
        held_signature=held,
    )


def own_consents(document: Document) -> list[Consent]:
    """The consent records a document carries itself (a SIP's, a plan's, a §4 notice's)."""
    own: Consent | None = getattr(document, "consent", None)
    return [own] if own is not None else []


def _no_route(document: Document, recipient: Recipient) -> ReportEntry:
    what = document.type if isinstance(document, Certificate) else document.kind
    return ReportEntry(
        Action.REFUSED,
        "",
        NOT_PERMITTED.code,
        f"a {what} does not go to {recipient}: no policy allows it",
    )


def _strict_refusals(content: list[ReportEntry]) -> list[ReportEntry]:
    """§4 with ``strict``: everything minimisation removed refuses instead."""
    return [
        ReportEntry(
            Action.REFUSED, e.path, SECTION4_STRICT.code, f"strict: {e.message}", e.model_path
        )
        for e in content
        if e.action is Action.REMOVED and e.path != "consent"
    ]


class _ContentFilter:
    """One pass of one policy over one document; collects the report as it goes."""

    def __init__(self, policy: Policy, document: Document) -> None:
        self.policy = policy
        self.document = document
        self.report: list[ReportEntry] = []
        self.removal = SECTION4_MINIMISED if policy.minimisation else NOT_ALLOWED
        self.own: OwnDiagnoses = (
            own_diagnoses(*diagnosis_terms(document))
            if policy.no_diagnosis or policy.free_text
            else NO_DIAGNOSES
        )

    def entry(
        self, rule: Rule, path: ModelPath, label: str, message: str, action: Action = Action.REMOVED
    ) -> None:
        self.report.append(ReportEntry(action, label, rule.code, message, path))

    def run(self) -> tuple[Document | None, list[ReportEntry]]:
        """The steps in order: a certificate's answers (and its view), fixed wording, the
        allow-list, text not written for the recipient, then for a no-diagnosis route the
        codes and every text (repertoire, then scan); the signature's fate; the view's rules.
        ``None``: refused (the report says why)."""
        doc: Any = self.document
        if isinstance(doc, Certificate):
            doc = self._answers(doc)
        doc = self._fixed(doc)
        doc = apply_spec(doc, self.policy.fields, self._removed)
        for names, replacement in self.policy.withheld_text:
            doc = clear_path(doc, list(names), replacement, self._not_for_recipient)
        if self.policy.no_diagnosis:
            doc = self._no_diagnosis(doc)
            if doc is None:
                return None, self.report
        for names in self.policy.free_text:
            doc = rewrite_path(doc, list(names), self._scan)
        if isinstance(doc, Certificate):
            doc = self._signature(doc)
            if not self._view_valid(doc):
                return None, self.report
        return doc, self.report

    def _answers(self, doc: Certificate) -> Certificate:
        policy = self.policy
        answers = AnswerFilter(
            doc,
            policy.certificate_types[doc.type],
            no_diagnosis=policy.no_diagnosis,
            own=self.own,
            code_systems=policy.code_systems,
            report=self.report,
            repertoire=policy.repertoire,
        ).answers(doc.answers)
        if len(answers) != len(doc.answers) or any(
            a is not b for a, b in zip(answers, doc.answers, strict=True)
        ):
            doc = doc.model_copy(update={"answers": answers})
        view = policy.certificate_views.get(doc.type)
        return self._view(doc, view) if view is not None else doc

    def _fixed(self, doc: Any) -> Any:
        for name, value in self.policy.fixed.items():
            if getattr(doc, name) != value:
                self.entry(
                    self.removal,
                    (name,),
                    name,
                    f"{name} must be the fixed wording {value!r}; the text sent was replaced by it",
                )
                doc = doc.model_copy(update={name: value})
        return doc

    def _no_diagnosis(self, doc: Any) -> Any:
        """Diagnosis codes out, then every text that passes, whatever field the sender put it
        in (the answers were judged part by part, and the signature is not text): first held
        to the route's repertoire, then scanned. One look at all of them first spares the walk
        for the common document that names no diagnosis."""
        policy = self.policy
        doc = self._strip_codes(doc, (), "")
        if doc is None:
            self.entry(
                DIAGNOSIS_WITHHELD,
                (),
                "",
                f"a field this {policy.kind} cannot do without holds a diagnosis code",
                Action.REFUSED,
            )
            return None
        # one look at every text joined as a reader sees them, in document order (the
        # answers' text parts too: they were judged part by part, but sit beside the others)
        texts = texts_in_order(doc, _SKIP_SPLIT)
        if self._clean(texts.plain(), texts.identifiers):
            return doc
        root = doc
        try:
            doc = withhold_texts(
                doc,
                self._text_verdict,
                lambda path, why: self._withheld_text(path, readable(root, path), why),
                _SCANNED_ELSEWHERE,
            )
        except TextRefused as refused:
            return self._text_refused(root, refused)
        return self._split(doc)

    def _split(self, doc: Any) -> Any:
        """Diagnosis data split over two neighbouring texts (``F`` | ``32.1``): both go."""
        for path, reason in split_diagnoses(texts_in_order(doc, _SKIP_SPLIT).texts, self.own):
            label = readable(doc, path)
            why = f"names a diagnosis together with the text beside it ({reason})"
            self._withheld_text(path, label, (FREE_TEXT_WITHHELD, why))
            doc = replace_at(doc, path, WITHHELD_TEXT)
        return doc

    def _text_refused(self, root: Any, refused: TextRefused) -> None:
        policy = self.policy
        where = readable(root, refused.path)
        rule, reason = refused.reason
        self.entry(
            rule if rule is OUTSIDE_REPERTOIRE else DIAGNOSIS_WITHHELD,
            refused.path,
            where,
            f"{where} {reason} and this {policy.kind} cannot do without it",
            Action.REFUSED,
        )
        return None

    def _clean(self, texts: list[str], identifiers: list[str]) -> bool:
        joined, ids = "\n\n".join(texts), "\n\n".join(identifiers)
        repertoire = self.policy.repertoire
        if repertoire is not None and (
            repertoire.problem(joined) is not None or repertoire.problem(ids) is not None
        ):
            return False
        return scan(joined, self.own) is None and scan(ids, self.own, identifier=True) is None

    def _text_verdict(self, text: str, path: ModelPath) -> Verdict | None:
        return text_verdict(text, self.own, self.policy.repertoire, identifier=is_identifier(path))

    def _signature(self, doc: Certificate) -> Certificate:
        if doc.signature is not None and self.report:
            self.entry(
                SIGNATURE_REMOVED,
                ("signature",),
                "signature",
                "the signature covers content the policy removed and would no longer verify",
            )
            doc = doc.model_copy(update={"signature": None})
        return doc

    def _view_valid(self, doc: Certificate) -> bool:
        source = self.document
        if not isinstance(source, Certificate) or doc.type is source.type:
            return True
        broken = self._view_problems(doc, source)
        if broken:
            self.entry(
                CERTIFICATE_VIEW_INVALID,
                ("type",),
                "type",
                f"{doc.type}'s view of this {source.type} breaks {doc.type}'s rules "
                f"({', '.join(broken)}); it is not sent",
                Action.REFUSED,
            )
        return not broken

    def _view(self, doc: Certificate, view: CertificateView) -> Certificate:
        answers = list(doc.answers)
        for part_id, value in view.answers.items():
            qid = part_id.partition(".")[0]
            if not any(a.id == qid for a in answers):
                answers.append(Answer(id=qid, parts=[SubAnswer(id=part_id, value=value)]))
        self.entry(
            CERTIFICATE_VIEW,
            ("type",),
            "type",
            f"a {doc.type} goes to {self.policy.recipient} as {view.type}'s view of it "
            f"({', '.join(f'{k} = {v}' for k, v in view.answers.items()) or 'nothing added'})",
            Action.RECORDED,
        )
        code = Code(
            code=RIVTA_TYPE_CODES[view.type], system=doc.type_code.system, display=view.display
        )
        return doc.model_copy(
            update={
                "type": view.type,
                "type_code": code,
                "type_version": view.version,
                "answers": answers,
            }
        )

    def _view_problems(self, view: Certificate, source: Certificate) -> list[str]:
        """Rule codes the view breaks that the source did not (a source's own problems, e.g.
        a test personnummer's check digit, are the validator's business, not the view's)."""
        from gateway.validation.engine import findings  # the rules load on first use

        def errors(doc: Document) -> set[str]:
            return {f.rule.code for f in findings(doc) if f.rule.severity is Severity.ERROR}

        found = errors(view)
        return sorted(found - errors(source)) if found else []

    def _removed(self, path: ModelPath, label: str) -> None:
        if path == ("consent",):
            self.entry(
                NOT_ALLOWED,
                path,
                label,
                "the consent record was checked by the gateway; it is not passed on",
            )
        else:
            self.entry(
                self.removal,
                path,
                label,
                f"{label} is not among the fields {self.policy.recipient} receives of "
                f"a {self.policy.kind}",
            )

    def _strip_codes(self, obj: BaseModel, path: ModelPath, label: str) -> Any:
        """Diagnostic codes anywhere outside the answers (which the answer filter handled).
        ``None`` when ``obj`` itself must go: a field it cannot do without holds one (a
        relation typed with a diagnosis code goes whole)."""
        updates: dict[str, Any] = {}
        cls: type[BaseModel] = type(obj)
        fields = cls.model_fields
        for name in code_fields(cls):
            if name == "answers" and isinstance(obj, Certificate):
                continue
            info = fields[name]
            value = getattr(obj, name)
            here, where = (*path, name), join(label, name)
            if isinstance(value, BaseModel):
                new: Any = value
                if isinstance(value, Code):
                    why = self._code_verdict(value)
                    if why is not None:
                        if info.is_required():
                            return None
                        self._withheld(here, where, why)
                        new = info.get_default(call_default_factory=True)
                else:
                    new = self._strip_codes(value, here, where)
                    if new is None:
                        if info.is_required():
                            return None
                        self._withheld(here, where, (DIAGNOSIS_WITHHELD, "a diagnosis code"))
                        new = info.get_default(call_default_factory=True)
                if new is not value:
                    updates[name] = new
            elif isinstance(value, list) and value:
                items = self._strip_list(value, here, where)
                if items is not value:
                    updates[name] = items
        return obj.model_copy(update=updates) if updates else obj

    def _strip_list(self, value: list[Any], path: ModelPath, label: str) -> list[Any]:
        """A list's items without their diagnostic codes; an item that cannot do without
        one goes. ``value`` itself when nothing changed."""
        items: list[Any] = []
        for i, item in enumerate(value):
            item_path, item_where = (*path, i), label + item_label(item, i)
            verdict: tuple[Rule, str] | None = None
            if isinstance(item, Code):
                verdict = self._code_verdict(item)
                kept = None if verdict is not None else item
            elif isinstance(item, BaseModel):
                kept = self._strip_codes(item, item_path, item_where)
            else:
                kept = item
            if kept is None:
                self._withheld(item_path, item_where, verdict)
            else:
                items.append(kept)
        if len(items) != len(value) or any(a is not b for a, b in zip(items, value, strict=True)):
            return items
        return value

    def _code_verdict(self, code: Code) -> tuple[Rule, str] | None:
        """Why a code must not pass: a diagnostic system, a system the route does not list
        (default deny), or a code value that names a diagnosis."""
        if catalogue().is_diagnostic(code):
            return DIAGNOSIS_WITHHELD, "a diagnosis code"
        systems = self.policy.code_systems
        if (
            code.system is not None
            and systems is not None
            and canonical_system(code.system) not in systems
        ):
            return CODE_SYSTEM_NOT_ALLOWED, "a code of a system this recipient does not receive"
        # the value is scanned as an identifier; its display and system are text, which the
        # text walk judges
        verdict = text_verdict(code.code, self.own, self.policy.repertoire, identifier=True)
        if verdict is not None:
            rule, reason = verdict
            return rule, f"a code that {reason}"
        return None

    def _withheld(self, path: ModelPath, label: str, why: tuple[Rule, str] | None) -> None:
        rule, what = why or (DIAGNOSIS_WITHHELD, "a diagnosis code")
        self.entry(rule, path, label, f"{label} holds {what}, which no employer receives")

    def _withheld_text(self, path: ModelPath, label: str, why: Verdict) -> None:
        rule, reason = why
        self.entry(rule, path, label, f"{label} {reason} and was withheld whole")

    def _not_for_recipient(self, path: ModelPath, label: str) -> None:
        self.entry(
            TEXT_NOT_FOR_RECIPIENT,
            path,
            label,
            f"{label} is free text not written for the {self.policy.recipient}; withheld "
            "whatever it holds",
        )

    def _scan(self, value: Any, path: ModelPath, label: str) -> Any:
        if not isinstance(value, str):
            return None
        reason = scan(value, self.own)
        if reason is None:
            return None
        self._withheld_text(path, label, (FREE_TEXT_WITHHELD, f"names a diagnosis ({reason})"))
        return WITHHELD_TEXT
