"""What counts as diagnosis data: code systems (``mappings/policy/diagnosis.toml``),
certificate parts (the question catalogue, ``gateway.documents.questions``), and the
diagnosis texts a document carries (which the free-text scan then looks for elsewhere in the
same document)."""

from __future__ import annotations

import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

from gateway import MAPPINGS_DIR
from gateway.documents import Certificate, Document, questions
from gateway.documents.certificate import CertificateType
from gateway.documents.common import Code
from gateway.documents.issues import RULES, RuleKind

DIAGNOSIS_WITHHELD = RULES.define(
    "POLICY-DIAGNOSIS-WITHHELD",
    "Diagnosis data withheld from the employer",
    RuleKind.POLICY,
    "No diagnosis data ever reaches an employer: no diagnosis code in any code system the "
    "policy names as diagnostic (ICD-10-SE and its aliases, KSH97-P, ICD-11, SNOMED CT), no "
    "diagnosis text, no FHIR Condition. This holds whatever the patient answered to "
    "'Önskar förmedla diagnos' (AG7804 100.1, AG1-14 3.1): that answer is recorded in the "
    "redaction report, and the employer's copy says 'false', which is what the employer gets.",
    source="DOMAIN.md (rule of this product); seeds 001, 002",
)

DIAGNOSIS_FILE = MAPPINGS_DIR / "policy" / "diagnosis.toml"


def normalise_system(system: str) -> str:
    """One spelling per code system: OIDs bare (FHIR writes them ``urn:oid:...``), URLs
    without a trailing slash."""
    s = system.strip()
    if s.lower().startswith("urn:oid:"):
        s = s[8:]
    return s.rstrip("/")


_SYSTEM_MEMO: dict[str, bool] = {}


@dataclass(frozen=True)
class DiagnosisCatalogue:
    code_systems: frozenset[str]
    certificate_parts: Mapping[CertificateType, frozenset[str]]
    share_wish_parts: Mapping[CertificateType, frozenset[str]]

    def is_diagnostic(self, code: Code) -> bool:
        system = code.system
        if system is None:
            return False
        known = _SYSTEM_MEMO.get(system)
        if known is None:
            known = normalise_system(system) in self.code_systems
            if len(_SYSTEM_MEMO) < 10_000:  # senders' spellings are few; bound it anyway
                _SYSTEM_MEMO[system] = known
        return known

    def parts_of(self, ctype: CertificateType) -> frozenset[str]:
        return self.certificate_parts.get(ctype, frozenset())


def _share_wish_parts(ctype: CertificateType) -> frozenset[str]:
    q = questions.catalogue(ctype).by_name("share_diagnosis")
    return frozenset(q.parts) if q is not None else frozenset()


@cache
def catalogue() -> DiagnosisCatalogue:
    from gateway.formats.fhir.systems import SYSTEMS  # the FHIR alias table's flags count too

    data = tomllib.loads(DIAGNOSIS_FILE.read_text("utf-8"))
    systems = set(data["code_systems"])
    for row in SYSTEMS:
        if row.diagnosis:
            systems.update((row.uri, row.model, *row.aliases))
    return DiagnosisCatalogue(
        code_systems=frozenset(normalise_system(s) for s in systems),
        certificate_parts={t: questions.diagnosis_part_ids(t) for t in CertificateType},
        share_wish_parts={t: _share_wish_parts(t) for t in CertificateType},
    )


def _may_hold_code(annotation: Any) -> bool:
    if annotation is Code:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return bool(code_fields(annotation))
    return any(_may_hold_code(a) for a in typing.get_args(annotation))


@cache
def code_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model class that can hold a :class:`Code`, however deep: walks skip
    the rest (names, dates, free text), which is most of a document."""
    return tuple(n for n, f in cls.model_fields.items() if _may_hold_code(f.annotation))


def iter_codes(obj: object) -> Iterator[Code]:
    """Every :class:`Code` anywhere in a model."""
    if isinstance(obj, Code):
        yield obj
    elif isinstance(obj, BaseModel):
        for name in code_fields(type(obj)):
            yield from iter_codes(getattr(obj, name))
    elif isinstance(obj, list):
        for item in obj:
            yield from iter_codes(item)


def diagnosis_texts(document: Document) -> frozenset[str]:
    """The diagnosis texts and codes the document carries in coded or diagnosis fields: any of
    them repeated in free text gives the diagnosis away."""
    cat = catalogue()
    texts: set[str] = set()

    def add(code: Code) -> None:
        texts.add(code.code)
        if code.display:
            texts.add(code.display)

    for code in iter_codes(document):
        if cat.is_diagnostic(code):
            add(code)
    if isinstance(document, Certificate):
        parts = cat.parts_of(document.type)
        for answer in document.answers:
            for part in answer.parts:
                if part.id in parts:
                    if isinstance(part.value, str):
                        texts.add(part.value)
                    elif isinstance(part.value, Code):
                        add(part.value)
    return frozenset(t for t in texts if t.strip())
