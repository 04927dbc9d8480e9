"""The validator: business rules over the canonical model, located through the source map.

Structural problems come from the codec (XML syntax, XSD, FHIR shape); this step adds the
business rules of the document's kind. Both layers are reported together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from importlib import import_module
from typing import Any

from gateway.documents import Document, DocumentKind
from gateway.documents.issues import Finding, Issue, SourceMap

#: Rule modules per kind, each exposing ``check(document) -> Iterator[Finding]``. Imported on
#: first use so that a command that never validates a kind does not pay for its rules.
_RULE_MODULES: dict[DocumentKind, str] = {
    DocumentKind.CERTIFICATE: "gateway.validation.certificate_rules",
    DocumentKind.SIP: "gateway.validation.sip_rules",
    DocumentKind.RETURN_TO_WORK_PLAN: "gateway.validation.return_to_work_rules",
    DocumentKind.SECTION4_NOTIFICATION: "gateway.validation.section4_rules",
    DocumentKind.SECTION4_ACKNOWLEDGEMENT: "gateway.validation.acknowledgement_rules",
}
_checks: dict[DocumentKind, Callable[[Any], Iterator[Finding]]] = {}


def rule_check(kind: DocumentKind) -> Callable[[Any], Iterator[Finding]]:
    check = _checks.get(kind)
    if check is None:
        check = import_module(_RULE_MODULES[kind]).check
        _checks[kind] = check
    return check


def load_all_rules() -> None:
    """Import every rule module, so the rule book is complete (``gateway explain``, docs)."""
    for kind in _RULE_MODULES:
        rule_check(kind)


def findings(document: Document) -> list[Finding]:
    return list(rule_check(document.kind)(document))


def locate(found: Iterable[Finding], source_map: SourceMap) -> list[Issue]:
    return [
        Issue(f.rule.severity, f.rule.code, source_map.locate(f.path), f.message) for f in found
    ]


def check_document(document: Document, source_map: SourceMap | None = None) -> list[Issue]:
    return locate(findings(document), source_map or SourceMap())
