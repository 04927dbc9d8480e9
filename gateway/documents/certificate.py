"""Medical certificates (läkarintyg): FK7804 (LISJP), AG7804 and AG1-14.

The answers keep Inera's own question ids (``svar``/``delsvar``), the vocabulary every
certificate system in Sweden shares: svar 32 is the sick-leave level in FK7804 and AG7804
alike. What each id means for each certificate type (its name, value type, code system,
cardinality, whether it carries diagnosis data) is data: ``mappings/certificate/``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from gateway.documents.common import (
    Code,
    DocumentKind,
    HealthcareProfessional,
    Identifier,
    Model,
    Period,
    Person,
)


class CertificateType(StrEnum):
    FK7804 = "FK7804"
    AG7804 = "AG7804"
    AG1_14 = "AG1-14"


#: RIVTA ``typ/code`` of each certificate type (codeSystem KV_INTYGSTYP).
RIVTA_TYPE_CODES: dict[CertificateType, str] = {
    CertificateType.FK7804: "LISJP",
    CertificateType.AG7804: "AG7804",
    CertificateType.AG1_14: "AG1-14",
}
CERTIFICATE_TYPE_BY_RIVTA_CODE = {v: k for k, v in RIVTA_TYPE_CODES.items()}


class Quantity(Model):
    """A physical quantity (RIVTA PQ), e.g. AG1-14's 7.1 reduction in percent."""

    value: float
    unit: str


#: A sub-answer's value: text (free text, dates, booleans as sent), a code, a date period or a
#: quantity. Text is kept as sent ("true" or "1"); the catalogue says how to read it.
AnswerValue = str | Code | Period | Quantity


class SubAnswer(Model):
    """A ``delsvar``: one part of an answer, e.g. 32.2 (the period of sick-leave level 32.1)."""

    id: str
    value: AnswerValue


class Answer(Model):
    """A ``svar``: the answer to one question; repeated questions carry an ``instance``."""

    id: str
    instance: int | None = None
    parts: list[SubAnswer]

    def part(self, part_id: str) -> SubAnswer | None:
        return next((p for p in self.parts if p.id == part_id), None)


class Relation(Model):
    """A relation to another certificate (ERSATT, KOMPLT, FRLANG, ...)."""

    type: Code
    certificate_id: Identifier


class Status(Model):
    part: Code
    status: Code
    at: datetime


class Certificate(Model):
    kind: Literal[DocumentKind.CERTIFICATE] = DocumentKind.CERTIFICATE
    id: Identifier  # intygs-id: root is the issuing unit, extension the certificate's id
    type: CertificateType
    type_code: Code  # typ as sent (code, codeSystem, displayName)
    type_version: str  # e.g. "1.0"
    signed_at: datetime | None = None
    sent_at: datetime | None = None
    patient: Person
    patient_address_source: Code | None = None  # kallaAdressuppgifter (ns 3.2)
    issuer: HealthcareProfessional  # skapadAv
    recipients: list[Code] = []  # mottagare
    relations: list[Relation] = []
    statuses: list[Status] = []
    answers: list[Answer] = []
    #: The ``underskrift`` element (XMLDSig) in exclusive XML canonicalisation with comments,
    #: the form the signature is computed over (not the bytes as received), so that carrying it
    #: into another document does not change what was signed. The gateway neither checks nor
    #: re-signs it.
    signature: str | None = None

    def answers_to(self, question_id: str) -> list[Answer]:
        return [a for a in self.answers if a.id == question_id]
