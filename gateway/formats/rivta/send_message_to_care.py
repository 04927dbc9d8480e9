"""Försäkringskassan's acknowledgement of a §4 notification as RIVTA SendMessageToCare v2
(format ``rivta-message``, kind ``section4-acknowledgement``).

The notification travels care -> Försäkringskassan as SendMessageToRecipient (subject OVRIGT,
``send_message.py``); Försäkringskassan's case communication the other way is Inera's
SendMessageToCare v2, the same message with the sender as a party (``skickatAv/part`` FKASSA
plus contact lines) instead of a member of care staff, and ``svarPa`` naming the message it
answers. The acknowledgement's facts travel in the text, one per line, in a fixed shape the
gateway writes and reads back:

    Status: handlagd                     (or: mottagen)
    Mottagen: 2025-02-08T10:00:00        (when Försäkringskassan received the notification)
    Handlagd: 2025-02-12T10:00:00        (handled only)
    Utfall: Inget behov av samordning    (handled only; the outcome's Swedish wording)
    Patienten informerad: nej            (when stated)
    Övrigt: ...                          (a note, one line)

The message carries no consent and no health data. Hardened parse -> our own XSD
(``schemas/certificate/SendMessageToCare-2.xsd``) -> the text -> the canonical model.
"""

from __future__ import annotations

import re
from typing import Any, Final

from lxml import etree
from pydantic import ValidationError

from gateway import SCHEMAS_DIR
from gateway.documents import Document, DocumentKind
from gateway.documents.acknowledgement import (
    HEADING,
    HandlingStatus,
    Outcome,
    Section4Acknowledgement,
)
from gateway.documents.common import Contact
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.formats import roots
from gateway.formats.base import CannotRender, Format, ParseResult
from gateway.formats.rivta.namespaces import (
    CORE,
    KV_AMNE,
    KV_PART,
    T_CODE,
    TYPES,
    format_timestamp,
    write_cv,
    write_ii,
)
from gateway.formats.rivta.reading import Reader, fields_of, message_root, subject_issue, text
from gateway.formats.rivta.send_message import AMNE_OVRIGT, AMNE_OVRIGT_DISPLAY
from gateway.formats.rivta.xmlwriter import XmlWriter
from gateway.formats.sourcemap import ElementSourceMap
from gateway.formats.xmlsafe import element_location
from gateway.formats.xsd import load_schema, validate_tree

SEND_MESSAGE_TO_CARE: Final = roots.SEND_MESSAGE_TO_CARE.namespace
ROOT: Final = roots.SEND_MESSAGE_TO_CARE.tag
SCHEMA_PATH: Final = SCHEMAS_DIR / "certificate" / "SendMessageToCare-2.xsd"
NAMESPACES: Final[dict[str | None, str]] = {"ns2": SEND_MESSAGE_TO_CARE, "ns3": TYPES, "ns4": CORE}
#: Försäkringskassan as a party (KV_PART), and its organisation number.
FKASSA: Final = "FKASSA"
FK_NAME: Final = "Försäkringskassan"
FK_ORGANISATION_NUMBER: Final = "202100-5521"
OUTCOME_TEXT: Final = {
    Outcome.COORDINATION: "Samordning av arbetslivsinriktad rehabilitering inleds",
    Outcome.ALREADY_COORDINATED: "Samordning pågår redan",
    Outcome.NO_NEED: "Inget behov av samordning",
}
STATUS_TEXT: Final = {HandlingStatus.RECEIVED: "mottagen", HandlingStatus.HANDLED: "handlagd"}
_SEED = "seed 003 question 7; Inera SendMessageToCare v2"

WRONG_ROOT = RULES.define(
    "ACKMSG-WRONG-ROOT",
    "Not a SendMessageToCare v2 message",
    RuleKind.SCHEMA,
    "An acknowledgement in format rivta-message has the root element `SendMessageToCare` in "
    f"namespace `{SEND_MESSAGE_TO_CARE}`, bare or as the body of a SOAP envelope.",
)
SUBJECT = RULES.define(
    "ACKMSG-SUBJECT",
    "Message is not an acknowledgement of a §4 notification (subject)",
    RuleKind.BUSINESS,
    "Försäkringskassan answers a §4 notification in the case communication's subject OVRIGT, "
    "as the notification came. Another subject (KOMPLT, AVSTMN, KONTKT, PAMINN) is some other "
    "message and is not read as an acknowledgement.",
    source=_SEED,
)
HEADING_RULE = RULES.define(
    "ACKMSG-HEADING",
    "Heading is not the acknowledgement's",
    RuleKind.BUSINESS,
    f'The heading (rubrik) of an acknowledgement is "{HEADING}", so that the region can tell '
    "it from other messages under the same subject.",
    source=_SEED,
)
NO_ANSWER = RULES.define(
    "ACKMSG-SVARPA",
    "The acknowledgement does not name the notification it answers",
    RuleKind.BUSINESS,
    "`svarPa/meddelande-id` names the §4 notification (its meddelande-id) the acknowledgement "
    "answers; without it the answer cannot be tied to the notification.",
    source=_SEED,
)
TEXT_SHAPE = RULES.define(
    "ACKMSG-TEXT",
    "Text does not have the acknowledgement's shape",
    RuleKind.BUSINESS,
    "The text (meddelande) is, line by line: `Status: mottagen|handlagd`; `Mottagen: "
    "<time>`; when handled `Handlagd: <time>` and `Utfall: <outcome>`; optionally "
    "`Patienten informerad: ja|nej` and `Övrigt: <note>`. Times are YYYY-MM-DDThh:mm:ss, "
    "Swedish time. The location names the text; the message the first line that differs.",
    source=_SEED,
)
INCOMPLETE = RULES.define(
    "ACKMSG-INCOMPLETE",
    "Message cannot be read as an acknowledgement",
    RuleKind.SCHEMA,
    "A part the acknowledgement needs is missing or unreadable (the patient, the timestamp, "
    "the sender). The schema errors beside it name the element.",
)

_SCHEMA = load_schema(SCHEMA_PATH)  # compiled once per process
_OUTCOME_BY_TEXT = {v: k for k, v in OUTCOME_TEXT.items()}
_STATUS_BY_TEXT = {v: k for k, v in STATUS_TEXT.items()}
_HSA = re.compile(r"^[A-Z]{2,6}\d{10}-[A-Za-z0-9]{1,20}$")
_PREFIXED = {"Telefon": "phone", "E-post": "email"}


def _tag(name: str) -> str:
    return f"{{{SEND_MESSAGE_TO_CARE}}}{name}"


def message_text(a: Section4Acknowledgement) -> str:
    lines = [f"Status: {STATUS_TEXT[a.status]}", f"Mottagen: {format_timestamp(a.received_at)}"]
    if a.handled_at is not None:
        lines.append(f"Handlagd: {format_timestamp(a.handled_at)}")
    if a.outcome is not None:
        lines.append(f"Utfall: {OUTCOME_TEXT[a.outcome]}")
    if a.patient_informed is not None:
        lines.append(f"Patienten informerad: {'ja' if a.patient_informed else 'nej'}")
    if a.note:
        lines.append(f"Övrigt: {' '.join(a.note.splitlines())}")
    return "\n".join(lines)


def render_send_message_to_care(a: Section4Acknowledgement) -> bytes:
    """SendMessageToCare v2 for ``a``. Raises :class:`CannotRender` without the certificate the
    case communication files it under, or without a recipient's logical address."""
    missing = []
    if a.certificate_id is None:
        missing.append("the certificate the notification referred to (certificateId)")
    if a.recipient.id is None:
        missing.append("the recipient's HSA-id (its logical address)")
    if missing:
        raise CannotRender(
            f"acknowledgement {a.id!r} cannot be sent as SendMessageToCare: it lacks "
            + "; ".join(missing)
        )
    cert = a.certificate_id
    assert cert is not None and a.recipient.id is not None
    w = XmlWriter(NAMESPACES, pretty=True)
    w.open(_tag("SendMessageToCare"))
    w.leaf(_tag("meddelande-id"), a.id)
    w.leaf(_tag("skickatTidpunkt"), format_timestamp(a.sent_at))
    write_ii(w, _tag("intygs-id"), cert.system, cert.value)
    write_ii(w, _tag("patientPerson-id"), a.patient.id.system, a.patient.id.value)
    w.leaf(_tag("logiskAdressMottagare"), a.recipient.id.value)
    write_cv(w, _tag("amne"), AMNE_OVRIGT, KV_AMNE, AMNE_OVRIGT_DISPLAY)
    w.leaf(_tag("rubrik"), HEADING)
    w.leaf(_tag("meddelande"), message_text(a))
    w.open(_tag("svarPa"))
    w.leaf(f"{{{CORE}}}meddelande-id", a.notification_id)
    w.close()
    w.open(_tag("skickatAv"))
    write_cv(w, _tag("part"), FKASSA, KV_PART, FK_NAME)
    officer = a.case_officer
    if officer is not None:
        for line in (officer.name, officer.role):
            if line:
                w.leaf(_tag("kontaktInfo"), line)
        if officer.phone:
            w.leaf(_tag("kontaktInfo"), f"Telefon: {officer.phone}")
        if officer.email:
            w.leaf(_tag("kontaktInfo"), f"E-post: {officer.email}")
    w.close()
    w.close()
    return w.done()


class _Reader(Reader):
    __slots__ = ()

    def read(self, root: etree._Element) -> Section4Acknowledgement | None:
        """The envelope's fields, the sender, then the text's facts; ``None`` (with the
        issues said) where the message is not an acknowledgement we can read."""
        fields = fields_of(root)
        if not self._subject_is_ovrigt(fields.get("amne")):
            return None
        data: dict[str, Any] = {}
        self._envelope(fields, data)
        self._answered(fields.get("svarPa"), root, data)
        self._sender(fields.get("skickatAv"), data)
        body = fields.get("meddelande")
        if body is None or "patient" not in data:
            return None  # the schema has said what is missing
        for name in ("status", "received_at", "handled_at", "outcome", "patient_informed", "note"):
            self.elements[(name,)] = body  # the facts are lines of the text
        if not self._text(body, data) or "notification_id" not in data:
            return None  # said above
        try:
            return Section4Acknowledgement.model_validate(data)
        except ValidationError as exc:
            first = ".".join(str(p) for p in exc.errors()[0]["loc"])
            self.issues.append(
                issue(
                    INCOMPLETE,
                    f"the acknowledgement could not be read (first at {first})",
                    element_location(root),
                )
            )
            return None

    def _subject_is_ovrigt(self, amne: etree._Element | None) -> bool:
        """Försäkringskassan answers under ``amne`` OVRIGT (or none: the schema says)."""
        found = subject_issue(amne, AMNE_OVRIGT, SUBJECT, ", not OVRIGT")
        if found is not None:
            self.issues.append(found)
        return found is None

    def _envelope(self, fields: dict[str, etree._Element], data: dict[str, Any]) -> None:
        """Ids, time, patient and addressee; the heading checked."""
        el = self.elements
        if (mid := fields.get("meddelande-id")) is not None:
            data["id"], el[("id",)] = text(mid).strip(), mid
        if (sent := fields.get("skickatTidpunkt")) is not None:
            data["sent_at"], el[("sent_at",)] = self.timestamp(sent), sent
        if (cert := fields.get("intygs-id")) is not None:
            data["certificate_id"] = self.ii(cert, ("certificate_id",))
        if (pid := fields.get("patientPerson-id")) is not None:
            data["patient"] = {"id": self.ii(pid, ("patient", "id"))}
        if (address := fields.get("logiskAdressMottagare")) is not None:
            value = text(address).strip()
            system = HSA_ID_OID if _HSA.match(value) else ORGANISATIONSNUMMER_OID
            data["recipient"] = {"id": {"system": system, "value": value}, "name": value}
            el[("recipient",)] = address
        if (heading := fields.get("rubrik")) is not None and text(heading) != HEADING:
            where = element_location(heading)
            self.issues.append(issue(HEADING_RULE, f"the heading is not {HEADING!r}", where))

    def _answered(
        self, answers: etree._Element | None, root: etree._Element, data: dict[str, Any]
    ) -> None:
        """The notification this answers (svarPa/meddelande-id): required."""
        answered = answers.find(f"{{{CORE}}}meddelande-id") if answers is not None else None
        if answered is None or not text(answered).strip():
            self.issues.append(
                issue(
                    NO_ANSWER,
                    "no svarPa/meddelande-id names the notification",
                    element_location(root),
                )
            )
        else:
            data["notification_id"] = text(answered).strip()
            self.elements[("notification_id",)] = answered

    def _sender(self, sender: etree._Element | None, data: dict[str, Any]) -> None:
        """The party (Försäkringskassan by its code) and the case officer's contact lines."""
        if sender is None:
            return
        self.elements[("sender",)] = sender
        part = sender.find(_tag("part"))
        contacts = sender.findall(_tag("kontaktInfo"))
        code_of = part.find(T_CODE) if part is not None else None
        party = text(code_of).strip() if code_of is not None else ""
        data["sender"] = (
            {
                "id": {"system": ORGANISATIONSNUMMER_OID, "value": FK_ORGANISATION_NUMBER},
                "name": FK_NAME,
            }
            if party == FKASSA
            else {"name": party or "(unknown party)"}
        )
        if contacts:
            data["case_officer"] = _contact([text(c) for c in contacts])
            self.elements[("case_officer",)] = contacts[0]

    def _text(self, el: etree._Element, data: dict[str, Any]) -> bool:
        where = element_location(el)
        seen: dict[str, str] = {}
        for n, line in enumerate(text(el).split("\n"), start=1):
            key, sep, value = line.partition(": ")
            if not sep or key in seen or key not in _LINES:
                self.issues.append(issue(TEXT_SHAPE, f"line {n} of the text is {line!r}", where))
                return False
            seen[key] = value.strip()
        status = _STATUS_BY_TEXT.get(seen.get("Status", ""))
        if status is None or "Mottagen" not in seen:
            self.issues.append(
                issue(
                    TEXT_SHAPE, "the text needs 'Status: mottagen|handlagd' and 'Mottagen:'", where
                )
            )
            return False
        data["status"] = status
        try:
            data["received_at"] = _time(seen["Mottagen"])
            if "Handlagd" in seen:
                data["handled_at"] = _time(seen["Handlagd"])
        except ValueError:
            self.issues.append(issue(TEXT_SHAPE, "a time is not YYYY-MM-DDThh:mm:ss", where))
            return False
        if "Utfall" in seen:
            outcome = _OUTCOME_BY_TEXT.get(seen["Utfall"])
            if outcome is None:
                self.issues.append(
                    issue(TEXT_SHAPE, f"'Utfall: {seen['Utfall']}' is no known outcome", where)
                )
                return False
            data["outcome"] = outcome
        if "Patienten informerad" in seen:
            told = seen["Patienten informerad"].lower()
            if told not in ("ja", "nej"):
                self.issues.append(issue(TEXT_SHAPE, "'Patienten informerad:' is ja or nej", where))
                return False
            data["patient_informed"] = told == "ja"
        if seen.get("Övrigt"):
            data["note"] = seen["Övrigt"]
        return True


_LINES = frozenset({"Status", "Mottagen", "Handlagd", "Utfall", "Patienten informerad", "Övrigt"})


def _time(value: str) -> Any:
    from datetime import datetime

    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", value):
        raise ValueError(value)
    return datetime.fromisoformat(value)


def _contact(lines: list[str]) -> Contact:
    found: dict[str, Any] = {}
    plain: list[str] = []
    for line in lines:
        prefix, sep, value = line.partition(": ")
        key = _PREFIXED.get(prefix) if sep else None
        if key is not None:
            found.setdefault(key, value)
        elif len(plain) < 2:
            plain.append(line)
    found.update(zip(("name", "role"), plain, strict=False))
    return Contact(**found)


def parse_acknowledgement(root: etree._Element) -> ParseResult[Document]:
    """A SendMessageToCare element (SOAP already unwrapped) -> the acknowledgement."""
    issues: list[Issue] = validate_tree(_SCHEMA, root)
    reader = _Reader()
    document = reader.read(root)
    if not issues:
        issues.extend(reader.schema_issues)
    issues.extend(reader.issues)
    return ParseResult(document, issues, ElementSourceMap(reader.elements))


class AcknowledgementMessageCodec:
    """rivta-message for acknowledgements: hardened parse, SOAP unwrapped, our XSD, the text."""

    format = Format.RIVTA_MESSAGE
    kind = DocumentKind.SECTION4_ACKNOWLEDGEMENT

    def parse(self, data: bytes) -> ParseResult[Document]:
        root = message_root(data, ROOT, WRONG_ROOT)
        if isinstance(root, list):
            return ParseResult(None, root)
        return parse_acknowledgement(root)

    def render(self, document: Document) -> bytes:
        if not isinstance(document, Section4Acknowledgement):
            raise TypeError(f"SendMessageToCare renders acknowledgements, not {document.kind}")
        return render_send_message_to_care(document)


class RivtaMessageCodec:
    """Format ``rivta-message``, either direction of the case communication: a
    SendMessageToRecipient (care -> Försäkringskassan) is a §4 notification, a
    SendMessageToCare (Försäkringskassan -> care) an acknowledgement."""

    format = Format.RIVTA_MESSAGE

    def parse(self, data: bytes) -> ParseResult[Document]:
        from gateway.formats.registry import codec_for, detect

        found = detect(data)  # sniffs the root: the bytes are parsed once, by the codec
        if isinstance(found, Issue):
            return ParseResult(None, [found])
        if found.format is not Format.RIVTA_MESSAGE or found.kind is None:
            msg = (
                "expected <SendMessageToRecipient> (a §4 notification) or <SendMessageToCare> "
                "(an acknowledgement)"
            )
            return ParseResult(None, [issue(WRONG_ROOT, msg)])
        codec = codec_for(found.kind, Format.RIVTA_MESSAGE)
        assert not isinstance(codec, Issue)
        return codec.parse(data)

    def render(self, document: Document) -> bytes:
        from gateway.formats.registry import render

        return render(document, Format.RIVTA_MESSAGE)


__all__ = [
    "FKASSA",
    "OUTCOME_TEXT",
    "ROOT",
    "SEND_MESSAGE_TO_CARE",
    "AcknowledgementMessageCodec",
    "RivtaMessageCodec",
    "message_text",
    "parse_acknowledgement",
    "render_send_message_to_care",
]
