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
    found: list[Code] = []
    _collect_codes(obj, found)
    return iter(found)


def _collect_codes(obj: object, out: list[Code]) -> None:
    if isinstance(obj, Code):
        out.append(obj)
    elif isinstance(obj, BaseModel):
        for name in code_fields(type(obj)):
            _collect_codes(getattr(obj, name), out)
    elif isinstance(obj, list):
        for item in obj:
            _collect_codes(item, out)


def diagnosis_texts(document: Document) -> frozenset[str]:
    """The diagnosis texts and codes the document carries in coded or diagnosis fields: any of
    them repeated in free text gives the diagnosis away."""
    cat = catalogue()
    texts: set[str] = set()

    def add(code: Code) -> None:
        texts.add(code.code)
        if code.display:
            texts.add(code.display)

    codes: list[Code] = []
    if isinstance(document, Certificate):
        # the answers directly (most of a certificate), then the few other coded fields
        parts = cat.parts_of(document.type)
        for answer in document.answers:
            for part in answer.parts:
                value = part.value
                if isinstance(value, Code):
                    if part.id in parts or cat.is_diagnostic(value):
                        add(value)
                elif part.id in parts and isinstance(value, str):
                    texts.add(value)
        for name in code_fields(Certificate):
            if name != "answers":
                _collect_codes(getattr(document, name), codes)
    else:
        _collect_codes(document, codes)
    for code in codes:
        if cat.is_diagnostic(code):
            add(code)
    return frozenset(t for t in texts if t.strip())
