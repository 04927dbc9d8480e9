"""What the RIVTA readers share: text access, the issues a reader raises about single values,
and the per-message reader state. Readers iterate children and compare their tags with those
of :mod:`namespaces` (no XPath on the hot path).
"""

from __future__ import annotations

from datetime import date, datetime

from lxml import etree

from gateway.documents.issues import RULES, Issue, ModelPath, Rule, RuleKind, Severity, issue
from gateway.formats import roots
from gateway.formats.rivta.namespaces import T_CODE, T_CODE_SYSTEM, T_DISPLAY, T_EXTENSION, T_ROOT
from gateway.formats.xmlsafe import element_location, parse_xml, tag_of
from gateway.formats.xmlsafe import text as text  # re-exported: the readers take it from here

_SOAP_ENVELOPE = roots.SOAP_ENVELOPE.tag

VALUE_UNREADABLE = RULES.define(
    "CERT-VALUE-UNREADABLE",
    "Value cannot be read",
    RuleKind.SCHEMA,
    "A date, timestamp, number or instance number could not be read (e.g. 2016-13-01). The "
    "value is left out of the converted certificate. When the XML schema already reports a "
    "problem, only the schema's issues are shown, so one mistake is reported once.",
)
NOT_CARRIED = RULES.define(
    "CERT-NOT-CARRIED",
    "Element not carried over",
    RuleKind.SCHEMA,
    "The element is allowed by the contract (an extension, `svarPa`, or a CV's codeSystemName, "
    "codeSystemVersion or originalText) but the canonical certificate has no place for it, so "
    "conversions to other formats leave it out.",
    severity=Severity.WARNING,
)


def message_root(data: bytes, tag: str, wrong_root: Rule) -> etree._Element | list[Issue]:
    """The message element ``tag`` of a RIVTA message, bare or as a SOAP envelope's body
    (hardened parse); or why there is none: the XML's issues, or ``wrong_root``."""
    safe = parse_xml(data)
    root = safe.root
    if root is None:
        return safe.issues
    if root.tag == _SOAP_ENVELOPE:
        body = root.find("{*}Body")
        if body is not None:  # its first element (a comment before it is no message)
            root = next((c for c in body if isinstance(c.tag, str)), root)
    if root.tag != tag:
        found, expected = etree.QName(root).localname, etree.QName(tag).localname
        msg = f"root element is <{found}>; expected <{expected}>"
        return [issue(wrong_root, msg, element_location(root))]
    return root


def subject_issue(
    amne: etree._Element | None, expected: str, rule: Rule, what: str
) -> Issue | None:
    """The issue ``rule`` raises when a SendMessage message's subject (``amne``) is not
    ``expected``, ``what`` said after the code found; None when it is, or when there is none
    (the schema says so)."""
    code_el = amne.find(T_CODE) if amne is not None else None
    code = text(code_el).strip() if code_el is not None else ""
    if amne is None or code == expected:
        return None
    where = element_location(code_el if code_el is not None else amne)
    return issue(rule, f"the subject is {code!r}{what}", where)


def fields_of(message: etree._Element) -> dict[str, etree._Element]:
    """A message's child elements by local name, the first of each (the schema says which
    repeat; the readers read the envelope's fields by name)."""
    fields: dict[str, etree._Element] = {}
    for child in message:
        if isinstance(child.tag, str):
            fields.setdefault(etree.QName(child).localname, child)
    return fields


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


class Reader:
    """Per-message state: issues, and the element each model path was read from.

    ``schema_issues`` are problems the XML schema also catches: the codec drops them when the
    schema has already reported something, so one mistake is reported once.
    """

    __slots__ = ("elements", "issues", "schema_issues")

    def __init__(self) -> None:
        self.elements: dict[ModelPath, etree._Element] = {}
        self.issues: list[Issue] = []
        self.schema_issues: list[Issue] = []

    def not_carried(self, el: etree._Element, where: str) -> None:
        self.schema_issues.append(
            issue(
                NOT_CARRIED,
                f"<{local(el)}> in {where} is not carried into the canonical certificate",
                element_location(el),
            )
        )

    def unreadable(self, el: etree._Element, what: str) -> None:
        self.schema_issues.append(
            issue(
                VALUE_UNREADABLE,
                f"<{local(el)}> {text(el)!r} is not {what}; it is left out",
                element_location(el),
            )
        )

    def ii(self, el: etree._Element, path: ModelPath) -> dict[str, str]:
        system = value = ""
        elements = self.elements
        elements[path] = el
        for child in el:
            tag = tag_of(child)
            if tag == T_ROOT:
                system = text(child)
                elements[(*path, "system")] = child
            elif tag == T_EXTENSION:
                value = text(child)
                elements[(*path, "value")] = child
        return {"system": system, "value": value}

    def cv(self, el: etree._Element, path: ModelPath) -> dict[str, str | None]:
        code = ""
        system: str | None = None
        display: str | None = None
        elements = self.elements
        elements[path] = el
        for child in el:
            tag = tag_of(child)
            if tag == T_CODE:
                code = text(child)
                elements[(*path, "code")] = child
            elif tag == T_CODE_SYSTEM:
                system = text(child)
                elements[(*path, "system")] = child
            elif tag == T_DISPLAY:
                display = text(child)
                elements[(*path, "display")] = child
            elif isinstance(tag, str):
                self.not_carried(child, "a code")
        return {"code": code, "system": system, "display": display}

    def timestamp(self, el: etree._Element) -> datetime | None:
        try:
            return datetime.fromisoformat(text(el).strip())
        except ValueError:
            self.unreadable(el, "a timestamp (YYYY-MM-DDThh:mm:ss)")
            return None

    def date(self, el: etree._Element) -> date | None:
        try:
            return date.fromisoformat(text(el).strip())
        except ValueError:
            self.unreadable(el, "a date (YYYY-MM-DD)")
            return None
