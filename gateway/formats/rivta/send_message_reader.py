"""Reading SendMessageToRecipient v2 back (format ``rivta-message``): what the gateway writes
for a §4 notification, checked the way its receiver would.

Hardened parse -> our own XSD (``schemas/certificate/SendMessageToRecipient-2.xsd``) -> the
§4 content: subject ``OVRIGT``, SKR's fixed heading, and a text of exactly SKR's items (the
statement, the patient, the coordinator's contact details; ``send_message.message_text`` writes
it) -> the canonical :class:`Section4Notification`. A SOAP envelope is unwrapped. The message
carries no consent (the region keeps it), so the validator checks its content, not consent.
"""

from __future__ import annotations

import re
from typing import Any, Final

from lxml import etree
from pydantic import ValidationError

from gateway import SCHEMAS_DIR
from gateway.documents import Document
from gateway.documents.common import DocumentKind, Identifier
from gateway.documents.identity import PERSONNUMMER_OID, same_person
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.documents.section4 import CONTACT_HEADING, STATEMENT, Section4Notification
from gateway.formats import roots
from gateway.formats.base import Format, ParseResult
from gateway.formats.rivta.certificate_reader import CertificateReader
from gateway.formats.rivta.namespaces import SEND_MESSAGE_TO_RECIPIENT
from gateway.formats.rivta.reading import fields_of, message_root, subject_issue
from gateway.formats.rivta.send_message import AMNE_OVRIGT, render_send_message
from gateway.formats.sourcemap import ElementSourceMap
from gateway.formats.xmlsafe import element_location
from gateway.formats.xsd import load_schema, validate_tree

SCHEMA_PATH: Final = SCHEMAS_DIR / "certificate" / "SendMessageToRecipient-2.xsd"
SEND_MESSAGE_ROOT: Final = roots.SEND_MESSAGE.tag
_SEED = "SKR, seed 003 (§4 notification via Webcert's case communication)"

WRONG_ROOT = RULES.define(
    "S4MSG-WRONG-ROOT",
    "Not a SendMessageToRecipient v2 message",
    RuleKind.SCHEMA,
    "A §4 notification in format rivta-message has the root element `SendMessageToRecipient` "
    f"in namespace `{SEND_MESSAGE_TO_RECIPIENT}`, bare or as the body of a SOAP envelope.",
)
SUBJECT = RULES.define(
    "S4MSG-SUBJECT",
    "Message is not a §4 notification (subject)",
    RuleKind.BUSINESS,
    "A §4 notification travels in Webcert's case communication under the subject (amne) "
    "`OVRIGT` (Övrigt). A message with another subject (KOMPLT, AVSTMN, KONTKT, …) is a valid "
    "SendMessageToRecipient but some other message, so it is not read as a notification.",
    source=_SEED,
)
HEADING = RULES.define(
    "S4MSG-HEADING",
    "Heading is not SKR's statement",
    RuleKind.BUSINESS,
    f'The heading (rubrik) of a §4 notification is SKR\'s fixed statement "{STATEMENT}", so '
    "that Försäkringskassan can tell it from other messages under the same subject.",
    source=_SEED,
)
TEXT_SHAPE = RULES.define(
    "S4MSG-TEXT",
    "Text does not have SKR's shape",
    RuleKind.BUSINESS,
    "The text (meddelande) of a §4 notification is, line by line: the statement; `Patient: "
    "<name>, <personnummer>`; the heading of the contact details followed by a colon; then the "
    "coordinating function's name and role and `Telefon:`, `E-post:`, `Adress:` lines. The "
    "location names the first line that differs.",
    source=_SEED,
)
PATIENT_MISMATCH = RULES.define(
    "S4MSG-PATIENT",
    "Text names another patient than the message",
    RuleKind.BUSINESS,
    "The personnummer in the text's `Patient:` line must be the message's patientPerson-id: "
    "the receiver files the message under the id, a reader goes by the text.",
    source=_SEED,
)
EXTRA_TEXT = RULES.define(
    "S4MSG-EXTRA-TEXT",
    "Text carries more than SKR's items",
    RuleKind.BUSINESS,
    "After the contact details the text has lines that are none of SKR's items (a reason, a "
    "diagnosis, other text). Försäkringskassan must receive only the statement, the patient "
    "and the coordinator's contact details; the gateway never writes more.",
    source=f"{_SEED}, question 4 (GDPR: försiktighetsprincipen)",
)
INCOMPLETE = RULES.define(
    "S4MSG-INCOMPLETE",
    "Message cannot be read as a §4 notification",
    RuleKind.SCHEMA,
    "A part the notification needs is missing or unreadable (the timestamp, the sender's "
    "unit or care provider). The schema errors beside it name the element.",
)

_PATIENT = re.compile(r"Patient: (?:(?P<name>.+), )?(?P<id>\S+)")
_PREFIXED = {"Telefon": "phone", "E-post": "email", "Adress": "address"}

# Compiled once per process: the schema is the same for every message.
_SCHEMA = load_schema(SCHEMA_PATH)


class SendMessageReader(CertificateReader):
    """Reads one SendMessageToRecipient: the envelope fields directly, the sender (skickatAv,
    a HosPersonal like a certificate's skapadAv) with the certificate reader's own code."""

    __slots__ = ()

    def message(self, root: etree._Element) -> Section4Notification | None:
        fields = fields_of(root)
        if not self._subject_is_ovrigt(fields.get("amne")):
            return None
        data: dict[str, Any] = {}
        patient_id = self._envelope(fields, data)
        self._sender(fields.get("skickatAv"), data)
        text_el = fields.get("meddelande")
        if text_el is None or patient_id is None:
            return None  # the schema has said what is missing
        self.elements[("coordinator",)] = text_el
        read = self._text(text_el, patient_id["value"])
        if read is None:
            return None
        name, coordinator = read
        data["statement"] = STATEMENT
        data["patient"] = {"id": patient_id, "name": name}
        data["coordinator"] = coordinator
        try:
            return Section4Notification.model_validate(data)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            self.issues.append(
                issue(
                    INCOMPLETE,
                    f"the notification could not be read (first at {where})",
                    element_location(root),
                )
            )
            return None

    def _subject_is_ovrigt(self, amne: etree._Element | None) -> bool:
        """A §4 notification travels as ``amne`` OVRIGT (or without one: the schema says)."""
        what = f"; a §4 notification is sent as {AMNE_OVRIGT!r}"
        found = subject_issue(amne, AMNE_OVRIGT, SUBJECT, what)
        if found is not None:
            self.issues.append(found)
        return found is None

    def _envelope(
        self, fields: dict[str, etree._Element], data: dict[str, Any]
    ) -> dict[str, str] | None:
        """The message's id, time, certificate id and heading into ``data``; the patient's
        person-id, returned."""
        el = self.elements
        if (mid := fields.get("meddelande-id")) is not None:
            data["id"], el[("id",)] = (mid.text or "").strip(), mid
        if (sent := fields.get("skickatTidpunkt")) is not None:
            data["sent_at"], el[("sent_at",)] = self.timestamp(sent), sent
        if (cert := fields.get("intygs-id")) is not None:
            data["certificate_id"] = self.ii(cert, ("certificate_id",))
        patient_id = None
        if (pid := fields.get("patientPerson-id")) is not None:
            patient_id = self.ii(pid, ("patient", "id"))
        if (heading := fields.get("rubrik")) is not None:
            el[("statement",)] = heading
            if (heading.text or "") != STATEMENT:
                self.issues.append(
                    issue(
                        HEADING,
                        f"the heading is {heading.text!r}; it must be {STATEMENT!r}",
                        element_location(heading),
                    )
                )
        return patient_id

    def _sender(self, sender: etree._Element | None, data: dict[str, Any]) -> None:
        """skickatAv (a HosPersonal) as the sender, its unit and its region (care provider)."""
        if sender is None:
            return
        professional = self._hos_personal(sender, ("sent_by",))
        if professional is None:
            return
        data["sent_by"] = professional
        data["unit"] = professional["unit"]
        data["region"] = professional["unit"]["care_provider"]
        el = self.elements
        for path, node in list(el.items()):  # the unit and region, where rules look
            if path[:2] == ("sent_by", "unit"):
                el[("unit", *path[2:])] = node
            if path[:3] == ("sent_by", "unit", "care_provider"):
                el[("region", *path[3:])] = node

    def _text(
        self, el: etree._Element, patient_id: str
    ) -> tuple[dict[str, str | None], dict[str, Any]] | None:
        lines = (el.text or "").split("\n")
        where = element_location(el)

        def shape(n: int, expected: str) -> None:
            got = lines[n] if n < len(lines) else "(no line)"
            self.issues.append(
                issue(
                    TEXT_SHAPE, f"line {n + 1} of the text is {got!r}; expected {expected}", where
                )
            )

        if lines[0] != STATEMENT:
            shape(0, f"the statement {STATEMENT!r}")
            return None
        m = _PATIENT.fullmatch(lines[1]) if len(lines) > 1 else None
        if m is None:
            shape(1, "'Patient: <name>, <personnummer>'")
            return None
        if not same_person(_person(m["id"]), _person(patient_id)):  # one identity normaliser
            # the text's personnummer is the sender's own data: naming it here adds nothing
            self.issues.append(
                issue(
                    PATIENT_MISMATCH, "the text's personnummer is not the patientPerson-id", where
                )
            )
        if len(lines) < 3 or lines[2] != f"{CONTACT_HEADING}:":
            shape(2, f"{CONTACT_HEADING + ':'!r}")
            return None
        coordinator: dict[str, Any] = {}
        plain: list[str] = []
        for n, line in enumerate(lines[3:], start=4):
            prefix, sep, value = line.partition(": ")
            key = _PREFIXED.get(prefix) if sep else None
            if key is None and not coordinator and len(plain) < 2:
                plain.append(line)  # the function's name, then its role
            elif key is not None and key not in coordinator:
                coordinator[key] = _address(value) if key == "address" else value
            else:
                self.issues.append(
                    issue(EXTRA_TEXT, f"line {n} of the text is none of SKR's items", where)
                )
        coordinator.update(zip(("name", "role"), plain, strict=False))
        parts = (m["name"] or "").split()
        name: dict[str, str | None] = {
            "given": parts[0] if parts else "",
            "middle": " ".join(parts[1:-1]) or None,
            "family": parts[-1] if len(parts) > 1 else "",
        }
        return name, coordinator


def _address(value: str) -> dict[str, str]:
    street, _, place = value.rpartition(", ")
    postal, _, city = place.partition(" ")
    return {"street": street, "postal_code": postal, "city": city}


class SendMessageCodec:
    format = Format.RIVTA_MESSAGE
    kind = DocumentKind.SECTION4_NOTIFICATION

    def parse(self, data: bytes) -> ParseResult[Document]:
        root = message_root(data, SEND_MESSAGE_ROOT, WRONG_ROOT)
        if isinstance(root, list):
            return ParseResult(None, root)
        issues: list[Issue] = validate_tree(_SCHEMA, root)
        reader = SendMessageReader()
        document = reader.message(root)
        if not issues:  # the schema did not speak: report what only the reader saw
            issues.extend(reader.schema_issues)
        issues.extend(reader.issues)
        return ParseResult(document, issues, ElementSourceMap(reader.elements))

    def render(self, document: Document) -> bytes:
        if not isinstance(document, Section4Notification):
            raise TypeError(f"rivta-message renders §4 notifications, not {document.kind}")
        return render_send_message(document)


def _person(value: str) -> Identifier:
    return Identifier(system=PERSONNUMMER_OID, value=value)
