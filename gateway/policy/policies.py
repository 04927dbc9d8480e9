"""Policy files: what each recipient may receive of each document kind.

One TOML file per (recipient, kind) in ``mappings/policy/``, named ``<recipient>.<kind>.toml``
(docs/policy.md). A pair without a file is not a route at all. Files are read and checked
against the canonical models once, on first use, so a typo fails at start-up, not per message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gateway import MAPPINGS_DIR
from gateway.documents import (
    Certificate,
    DocumentKind,
    Recipient,
    ReturnToWorkPlan,
    Section4Notification,
    Sip,
    questions,
)
from gateway.documents.certificate import CertificateType
from gateway.documents.consent import purpose_system
from gateway.policy.allowlist import ALL, Spec, _All, build_spec, free_text_fields, spec_problems
from gateway.policy.diagnosis import normalise_system
from gateway.policy.repertoire import Repertoire, repertoire

POLICY_DIR = MAPPINGS_DIR / "policy"

MODELS: dict[DocumentKind, type[Any]] = {
    DocumentKind.CERTIFICATE: Certificate,
    DocumentKind.SIP: Sip,
    DocumentKind.RETURN_TO_WORK_PLAN: ReturnToWorkPlan,
    DocumentKind.SECTION4_NOTIFICATION: Section4Notification,
}


class PolicyError(Exception):
    """A policy file is wrong: our configuration, not the sender's document."""


@dataclass(frozen=True)
class QuantityBounds:
    """What a quantity part (RIVTA ``pq``, FHIR ``valueQuantity``) may carry to a recipient:
    a unit of the declared list, a value within the question catalogue's bounds."""

    units: frozenset[str]
    min_value: float | None = None
    max_value: float | None = None
    integral: bool = False

    def problem(self, value: float, unit: str) -> str | None:
        if unit not in self.units:
            return "a unit not among the declared ones"
        if (self.min_value is not None and value < self.min_value) or (
            self.max_value is not None and value > self.max_value
        ):
            return "a value outside the question's bounds"
        if self.integral and value != int(value):
            return "a fraction where the question counts whole units"
        return None


@dataclass(frozen=True)
class AnswerAllowList:
    """Which answers of one certificate type pass: question id -> part ids (``None``: all),
    and per coded part the codes that may pass."""

    questions: Mapping[str, frozenset[str]] | None
    codes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: text parts written for the recipient (``None``: every text part passes)
    text: frozenset[str] | None = None
    #: quantity parts: their declared units and bounds (a no_diagnosis route declares each)
    quantities: Mapping[str, QuantityBounds] = field(default_factory=dict)

    def allows_question(self, qid: str) -> bool:
        return self.questions is None or qid in self.questions

    def allows_part(self, qid: str, part_id: str) -> bool:
        return self.questions is None or part_id in self.questions.get(qid, frozenset())

    def allows_text(self, part_id: str) -> bool:
        return self.text is None or part_id in self.text


@dataclass(frozen=True)
class CertificateView:
    """A certificate type a recipient receives as another type's view of it (an FK7804 for an
    employer is AG7804's view of it, as Webcert derives an AG7804 from an LISJP): the type,
    its version and display name, and the answers the view needs that the source cannot
    have (AG7804's 100.1)."""

    type: CertificateType
    version: str
    display: str
    answers: Mapping[str, str]


#: What a route does with a certificate's signature (docs/policy.md).
SIGNATURE_MODES = frozenset({"as-issued", "verified"})


@dataclass(frozen=True)
class Policy:
    recipient: Recipient
    kind: DocumentKind
    consent_required: bool
    purposes: frozenset[str]  # purpose codes (mappings/consent.toml)
    single_use_consent: bool
    fields: Spec | _All
    #: fields scanned for diagnosis data (a ``no_diagnosis`` route scans every text)
    free_text: tuple[tuple[str, ...], ...]
    #: free-text fields not written for this recipient: (path, what replaces the text)
    withheld_text: tuple[tuple[tuple[str, ...], Any], ...]
    #: code systems that pass (normalised); ``None``: every system
    code_systems: frozenset[str] | None
    fixed: Mapping[str, str]
    no_diagnosis: bool
    minimisation: bool
    #: certificate type -> the answers that pass (a type not listed does not go at all)
    certificate_types: Mapping[CertificateType, AnswerAllowList]
    source: Path
    #: certificate type -> the view it is delivered as (no entry: as its own type)
    certificate_views: Mapping[CertificateType, CertificateView] = field(default_factory=dict)
    #: "as-issued": a signature the readers kept goes unchanged; "verified": only one that
    #: verifies over the bytes sent (gateway/policy/signature.py)
    signature: str = "as-issued"
    #: the consent must name the recipient's organisation (``[consent] recipient =
    #: "organisation"``: an employer's routes), not only its audience
    consent_names_organisation: bool = False
    #: the characters text bound for this recipient may hold (``repertoire``; None: any)
    repertoire: Repertoire | None = None


def _str_list(data: Mapping[str, Any], key: str, where: Path) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: {key} must be a list of strings")
    return value


def _answers(
    ctype: CertificateType, table: Mapping[str, Any], where: Path, no_diagnosis: bool
) -> AnswerAllowList:
    answers = table.get("answers")
    if answers == "*":
        questions = None
    elif isinstance(answers, dict):
        questions = {str(q): frozenset(parts) for q, parts in answers.items()}
    else:
        raise PolicyError(f'{where}: answers must be "*" or a table of question ids')
    codes = {str(p): frozenset(c) for p, c in table.get("codes", {}).items()}
    quantities = _quantities(ctype, table, questions, where, no_diagnosis)
    text = table.get("text")
    if text is None:
        if no_diagnosis:
            raise PolicyError(f"{where}: {ctype}: list the text parts written for the recipient")
        return AnswerAllowList(questions, codes, quantities=quantities)
    text_parts = text_part_ids(ctype)
    wrong = sorted(set(text) - text_parts)
    if wrong:
        raise PolicyError(f"{where}: {ctype}: not text parts: {', '.join(wrong)}")
    return AnswerAllowList(questions, codes, frozenset(text), quantities)


def _quantities(
    ctype: CertificateType,
    table: Mapping[str, Any],
    allowed: Mapping[str, frozenset[str]] | None,
    where: Path,
    no_diagnosis: bool,
) -> dict[str, QuantityBounds]:
    """``quantities = {part = [units]}``: on a no_diagnosis route every quantity part that
    passes declares its units (a unit is text that is not scanned: it is bounded instead);
    the bounds of its value come from the question catalogue."""
    declared: Mapping[str, Any] = table.get("quantities", {})
    parts = {
        p.id: p for q in questions.catalogue(ctype).questions.values() for p in q.parts.values()
    }
    out: dict[str, QuantityBounds] = {}
    for part_id, units in declared.items():
        part = parts.get(part_id)
        if part is None or part.type != "quantity":
            raise PolicyError(f"{where}: {ctype}: {part_id} is not a quantity part")
        out[part_id] = QuantityBounds(
            frozenset(str(u) for u in units), part.min_value, part.max_value, part.integral
        )
    if no_diagnosis:
        for part in parts.values():
            passes = allowed is None or part.id in allowed.get(part.id.partition(".")[0], ())
            if part.type == "quantity" and passes and part.id not in out:
                raise PolicyError(f"{where}: {ctype}: quantity part {part.id} declares no units")
    return out


def text_part_ids(ctype: CertificateType) -> frozenset[str]:
    """The free-text parts of a certificate type (``type = "text"`` in the catalogue)."""
    return frozenset(
        p.id
        for q in questions.catalogue(ctype).questions.values()
        for p in q.parts.values()
        if p.type == "text"
    )


def _certificate_types(
    data: Mapping[str, Any], where: Path, no_diagnosis: bool
) -> tuple[dict[CertificateType, AnswerAllowList], dict[CertificateType, CertificateView]]:
    tables: Mapping[str, Any] = data.get("certificate", {})
    out: dict[CertificateType, AnswerAllowList] = {}
    views: dict[CertificateType, CertificateView] = {}
    for name, table in tables.items():
        ctype = CertificateType(name)
        if "view" in table:
            views[ctype] = CertificateView(
                type=CertificateType(table["view"]),
                version=str(table["version"]),
                display=str(table["display"]),
                answers={str(k): str(v) for k, v in table.get("answers", {}).items()},
            )
        else:
            out[ctype] = _answers(ctype, table, where, no_diagnosis)
    for ctype, view in views.items():
        if view.type not in out:
            raise PolicyError(f"{where}: {ctype} is a view of {view.type}, which has no answers")
        out[ctype] = out[view.type]
    return out, views


def load_policy(path: Path) -> Policy:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
        recipient = Recipient(data["recipient"])
        kind = DocumentKind(data["kind"])
        if path.name != f"{recipient}.{kind}.toml":
            raise PolicyError(f"{path}: name must be {recipient}.{kind}.toml")
        consent = data.get("consent", {})
        content = data.get("content", {})
        no_diagnosis = bool(data.get("no_diagnosis", False))
        spec = build_spec(_str_list(content, "fields", path))
        problems = spec_problems(spec, MODELS[kind])
        if problems:
            raise PolicyError(f"{path}: " + "; ".join(problems))
        free_text = tuple(tuple(p.split(".")) for p in _str_list(content, "free_text", path))
        if no_diagnosis and free_text:
            raise PolicyError(f"{path}: no_diagnosis scans every text already; drop free_text")
        purposes = frozenset(_str_list(consent, "purposes", path))
        required = bool(consent.get("required", True))  # allow-list: consent unless waived
        if required and not purposes:
            raise PolicyError(f"{path}: consent required but no purposes listed")
        unknown = sorted(purposes - purpose_system().for_kind(kind))
        if unknown:
            raise PolicyError(
                f"{path}: purposes {', '.join(unknown)} are not purpose codes for a {kind} "
                "(mappings/consent.toml)"
            )
        ctypes, views = (
            _certificate_types(data, path, no_diagnosis)
            if kind is DocumentKind.CERTIFICATE
            else ({}, {})
        )
        withheld_text, code_systems = _text_and_codes(content, kind, no_diagnosis, path)
        named = str(consent.get("recipient", "audience"))
        if named not in ("audience", "organisation"):
            raise PolicyError(f'{path}: consent.recipient must be "audience" or "organisation"')
        repertoire_name = data.get("repertoire")
        signature = str(data.get("signature", "as-issued"))
        if signature not in SIGNATURE_MODES:
            raise PolicyError(f"{path}: signature must be one of {sorted(SIGNATURE_MODES)}")
        if kind is DocumentKind.CERTIFICATE and not ctypes:
            raise PolicyError(f"{path}: no [certificate.TYPE] table: no certificate could pass")
        return Policy(
            recipient=recipient,
            kind=kind,
            consent_required=required,
            purposes=purposes,
            single_use_consent=bool(consent.get("single_use", False)),
            fields=spec,
            free_text=free_text,
            withheld_text=withheld_text,
            code_systems=code_systems,
            fixed=dict(content.get("fixed", {})),
            no_diagnosis=no_diagnosis,
            minimisation=bool(data.get("minimisation", False)),
            certificate_types=ctypes,
            source=path,
            certificate_views=views,
            signature=signature,
            consent_names_organisation=named == "organisation",
            repertoire=repertoire(str(repertoire_name)) if repertoire_name is not None else None,
        )
    except (KeyError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: {type(exc).__name__}: {exc}") from exc


def _text_and_codes(
    content: Mapping[str, Any], kind: DocumentKind, no_diagnosis: bool, where: Path
) -> tuple[tuple[tuple[tuple[str, ...], Any], ...], frozenset[str] | None]:
    """The free-text fields a route withholds, and the code systems it lets pass. A route
    with ``no_diagnosis`` must state both (an empty list is a statement too)."""
    if "text" not in content and "code_systems" not in content and not no_diagnosis:
        return (), None
    if "text" not in content or "code_systems" not in content:
        raise PolicyError(f"{where}: a no_diagnosis route lists its `text` and `code_systems`")
    model: type[BaseModel] = MODELS[kind]
    known = free_text_fields(model)
    allowed = set(_str_list(content, "text", where))
    wrong = sorted(allowed - set(known))
    if wrong:
        raise PolicyError(f"{where}: not free-text fields of a {kind}: {', '.join(wrong)}")
    withheld = tuple(
        (tuple(path.split(".")), replacement)
        for path, replacement in known.items()
        if path not in allowed
    )
    systems = frozenset(normalise_system(s) for s in _str_list(content, "code_systems", where))
    return withheld, systems


@cache
def policies() -> Mapping[tuple[DocumentKind, Recipient], Policy]:
    """Every route, read once; the scanner a no_diagnosis route needs is compiled with them,
    so that no message pays for it (a server loads the policies at start-up)."""
    from gateway.policy.free_text import warm_up

    found: dict[tuple[DocumentKind, Recipient], Policy] = {}
    for path in sorted(POLICY_DIR.glob("*.toml")):
        if path.name.count(".") != 2:
            continue  # diagnosis.toml and other shared data
        p = load_policy(path)
        found[(p.kind, p.recipient)] = p
    if any(p.no_diagnosis for p in found.values()):
        warm_up()
    return found


def policy_for(kind: DocumentKind, recipient: Recipient) -> Policy | None:
    return policies().get((kind, recipient))


__all__ = [
    "ALL",
    "AnswerAllowList",
    "CertificateView",
    "Policy",
    "PolicyError",
    "QuantityBounds",
    "load_policy",
    "policies",
    "policy_for",
]
