"""What counts as diagnosis data: code systems (``mappings/policy/diagnosis.toml``),
certificate parts (the question catalogue, ``gateway.documents.questions``), and the
diagnosis texts a document carries (which the free-text scan then looks for elsewhere in the
same document)."""

from __future__ import annotations

import re
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


_OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
#: Families of URIs that name one system whatever follows: SNOMED CT editions and modules
#: (``http://snomed.info/sct/45991000052106``), WHO's ICD-11 entities and releases,
#: anyone's ``.../CodeSystem/ICD-10-SE``.
_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), name)
    for p, name in (
        (r"^snomed\.info/(?:sct|id)(?:/|$)", "snomed.info/sct"),
        (r"^id\.who\.int/icd/(?:entity|release/11)(?:/|$)", "id.who.int/icd/release/11/mms"),
        (r"^id\.who\.int/icd11(?:/|$)", "id.who.int/icd/release/11/mms"),
        (r"^id\.who\.int/icd/release/10(?:/|$)", "hl7.org/fhir/sid/icd-10"),
        (r"(?:^|/)(?:codesystem|sid)/icd-?10-?se$", "1.2.752.116.1.1.1"),
        (r"(?:^|/)(?:codesystem|sid)/icd-?10(?:-?cm)?$", "hl7.org/fhir/sid/icd-10"),
        (r"(?:^|/)(?:codesystem|sid)/icd-?11(?:-?mms)?$", "id.who.int/icd/release/11/mms"),
        (r"(?:^|/)(?:codesystem|sid)/icd-?9(?:-?cm)?$", "hl7.org/fhir/sid/icd-9-cm"),
        (r"(?:^|/)(?:codesystem|sid)/ksh-?97(?:-?p)?$", "1.2.752.116.1.3.1.4.1"),
        (r"(?:^|/)(?:codesystem|sid)/(?:snomed-?ct|sct)(?:-?se)?$", "snomed.info/sct"),
        (r"(?:^|/)(?:codesystem|sid)/atc$", "www.whocc.no/atc"),
        (r"^(?:www\.)?whocc\.no/atc(?:/|$)", "www.whocc.no/atc"),
    )
)


def normalise_system(system: str) -> str:
    """One spelling per code system, for comparing: case-folded, ``urn:oid:`` and the URL
    scheme, ``www.`` and trailing slashes dropped, families of URIs folded to one
    (:data:`_FAMILIES`), and every spelling of the FHIR alias table
    (``mappings/fhir-systems.toml``) mapped to its row's model form."""
    s = system.strip().casefold()
    for prefix in ("urn:oid:", "oid:", "https://", "http://"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    s = s.removeprefix("www.").rstrip("/")
    if not _OID.fullmatch(s):
        for pattern, name in _FAMILIES:
            if pattern.search(s):
                s = name
                break
    return _aliases().get(s, s)


@cache
def _aliases() -> dict[str, str]:
    from gateway.formats.fhir.systems import SYSTEMS

    table: dict[str, str] = {}
    for row in SYSTEMS:
        for spelling in (row.uri, row.model, *row.aliases):
            s = spelling.strip().casefold()
            for prefix in ("urn:oid:", "urn:uuid:", "https://", "http://"):
                s = s.removeprefix(prefix)
            table[s.rstrip("/")] = row.model.casefold()
            table[row.name.casefold()] = row.model.casefold()
    return table


_SYSTEM_MEMO: dict[str, str] = {}


def canonical_system(system: str) -> str:
    """:func:`normalise_system`, memoised: senders' spellings are few (bounded anyway)."""
    known = _SYSTEM_MEMO.get(system)
    if known is None:
        known = normalise_system(system)
        if len(_SYSTEM_MEMO) < 10_000:
            _SYSTEM_MEMO[system] = known
    return known


@dataclass(frozen=True)
class DiagnosisCatalogue:
    code_systems: frozenset[str]
    certificate_parts: Mapping[CertificateType, frozenset[str]]
    share_wish_parts: Mapping[CertificateType, frozenset[str]]

    def is_diagnostic(self, code: Code) -> bool:
        system = code.system
        return system is not None and canonical_system(system) in self.code_systems

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


def diagnosis_terms(document: Document) -> tuple[frozenset[str], frozenset[str]]:
    """The diagnosis texts and codes the document carries in coded or diagnosis fields: any of
    them repeated in free text gives the diagnosis away."""
    cat = catalogue()
    texts: set[str] = set()
    codes_found: set[str] = set()

    def add(code: Code) -> None:
        codes_found.add(code.code)
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
    return (
        frozenset(t for t in texts if t.strip()),
        frozenset(c for c in codes_found if c.strip()),
    )


def diagnosis_texts(document: Document) -> frozenset[str]:
    """:func:`diagnosis_terms`, texts and codes together."""
    texts, codes = diagnosis_terms(document)
    return texts | codes


def texts_outside_diagnosis(document: Document) -> list[tuple[str, bool]]:
    """Every text of a document but its diagnosis fields (and the signature, which is no
    text), each with whether it sits in an identifier field (scanned as one): what the
    false-positive measure runs the policy's judgement over (tests, bench)."""
    from gateway.policy.allowlist import collect_texts

    texts: list[str] = []
    identifiers: list[str] = []
    if isinstance(document, Certificate):
        parts = catalogue().parts_of(document.type)
        for answer in document.answers:
            for part in answer.parts:
                if part.id in parts:
                    continue
                if isinstance(part.value, str):
                    texts.append(part.value)
                elif isinstance(part.value, Code):
                    identifiers.append(part.value.code)
                    texts.append(part.value.display or "")
        collect_texts(document, texts, frozenset({"answers", "signature"}), identifiers)
    else:
        collect_texts(document, texts, frozenset(), identifiers)
    return [(t, False) for t in texts if t.strip()] + [(t, True) for t in identifiers if t.strip()]
