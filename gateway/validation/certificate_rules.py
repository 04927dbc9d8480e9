"""Business rules of medical certificates (FK7804, AG7804, AG1-14).

Inera's Schematron files (lisjp.v1.sch, ag7804.v1.sch, ag114.v1.sch) are the specification.
Most of their assertions are the same few checks over different ids (how many times a question
or part may occur, which code system and codes a part takes, which parts depend on which), so
they are data in the question catalogue (``gateway.documents.questions``) and checked here by
one generic pass. What data cannot say (rules across questions) is a small function each.

Three modules beside this entry point: the rules' declarations
(:mod:`certificate_rule_definitions`), the catalogue-driven checks
(:mod:`certificate_catalogue_rules`) and the rules across questions
(:mod:`certificate_cross_rules`).

Findings point to the most precise model path: ``("answers", i, "parts", j, "value")`` for a
bad value, ``("answers", i)`` for an answer, ``("answers",)`` for something missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from gateway.documents.certificate import Certificate
from gateway.documents.common import Identifier
from gateway.documents.identity import HSA_ID_OID
from gateway.documents.issues import Finding, ModelPath
from gateway.documents.questions import catalogue
from gateway.validation.certificate_catalogue_rules import catalogue_rules
from gateway.validation.certificate_cross_rules import cross_question_rules
from gateway.validation.identity_rules import check_hsa_id, check_person_id


def check(document: Certificate, *, today: date | None = None) -> Iterator[Finding]:
    """Every business-rule finding of a certificate. ``today`` is for tests (R35-1.2)."""
    cat = catalogue(document.type)
    # One pass groups the answers by question id; every rule below looks answers up here
    # instead of scanning all of them again.
    by_question: dict[str, list[int]] = {}
    for i, answer in enumerate(document.answers):
        by_question.setdefault(answer.id, []).append(i)
    yield from _identities(document)
    found: list[Finding] = []
    catalogue_rules(document, cat, today or date.today(), by_question, found)
    yield from found
    yield from cross_question_rules(document, cat, by_question)


def _identities(cert: Certificate) -> Iterator[Finding]:
    yield from check_person_id(cert.patient.id, ("patient", "id"))
    # HSA-ids: only the identifier system. Inera's own reference certificates carry made-up
    # values ("123456789") that any real HSA catalogue rejects anyway.
    unit = cert.issuer.unit
    ids: list[tuple[Identifier | None, ModelPath]] = [
        (cert.issuer.id, ("issuer", "id")),
        (unit.id, ("issuer", "unit", "id")),
        (unit.care_provider.id, ("issuer", "unit", "care_provider", "id")),
    ]
    for ident, path in ids:
        if ident is not None and ident.system != HSA_ID_OID:
            yield from check_hsa_id(ident, path)


__all__ = ["check"]
