"""The ``collection`` Bundle the plan-like kinds share (SIP, return-to-work plan, §4
notification): stable entry URLs, the document-kind category that marks the focal resource,
the business id of the document, and the mapping class the row engine (engine.py) builds on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from hashlib import sha1
from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.issues import ModelPath
from gateway.formats.fhir.datatypes import BundleIndex
from gateway.formats.fhir.systems import URI
from gateway.formats.fhir.tree import Reader, as_dict, as_list

# URIs shared by the kinds and the envelope (docs/fhir/messaging.md lists them with the rest).
DOCUMENT_KIND_SYSTEM = URI["document_kind"]
RECIPIENT_SYSTEM = URI["recipient"]  # the recipient audiences (consent, message)

#: a UUID's variant nibble (RFC 4122: 10xx) from the hash's
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid5_in(namespace: uuid.UUID) -> Callable[[str], str]:
    """``str(uuid.uuid5(namespace, name))`` for the names of one namespace, ~4x cheaper (the
    namespace hashed once, no UUID object): a Bundle written names one per entry
    (tests/test_fhir_infra.py holds them equal)."""
    hashed = sha1(namespace.bytes)

    def named(name: str) -> str:
        h = hashed.copy()
        h.update(name.encode())
        d = h.hexdigest()  # version 5 in the 13th digit, the variant in the 17th
        return f"{d[:8]}-{d[8:12]}-5{d[13:16]}-{_VARIANT[d[16]]}{d[17:20]}-{d[20:32]}"

    return named


_entry_uuid = uuid5_in(uuid.UUID("0b9c5f4e-6a0d-5c55-8f0e-3d2b1a9c7e42"))


def full_url(*parts: str) -> str:
    """A stable ``urn:uuid:`` for an entry: the same document renders the same Bundle."""
    return f"urn:uuid:{_entry_uuid('|'.join(parts))}"


def entry_id(url: str) -> str:
    """The resource id of an entry whose ``fullUrl`` is ``url`` (a ``urn:uuid:``)."""
    return url.rsplit(":", 1)[1]


def kind_concept(kind: str) -> dict[str, Any]:
    return {"coding": [{"system": DOCUMENT_KIND_SYSTEM, "code": kind}]}


def has_kind(resource: dict[str, Any], kind: str) -> bool:
    """Cheap detection: does ``resource.category`` (a Task's ``code``: Task has no category)
    carry our document-kind code ``kind``?"""
    task = resource.get("resourceType") == "Task"
    cats = resource.get("code") if task else resource.get("category")
    if isinstance(cats, dict):  # Communication.category and CarePlan.category both repeat
        cats = [cats]
    for cat in as_list(cats):
        for c in as_list(as_dict(cat).get("coding")):
            if isinstance(c, dict) and c.get("system") == DOCUMENT_KIND_SYSTEM:
                return c.get("code") == kind
    return False


def focus_of(tree: dict[str, Any], rtype: str, kind: str) -> dict[str, Any] | None:
    """The focal resource of a collection Bundle: its first entry. (A message Bundle is
    unwrapped by the codec before any kind mapping sees it.)"""
    if tree.get("resourceType") != "Bundle":
        return None
    entries = as_list(tree.get("entry"))
    res = as_dict(entries[0]).get("resource") if entries else None
    if isinstance(res, dict) and res.get("resourceType") == rtype and has_kind(res, kind):
        return res
    return None


def find_focus(index: BundleIndex, rtype: str, kind: str) -> tuple[dict[str, Any], str] | None:
    """The first entry that is a ``rtype`` of category ``kind``, with its FHIRPath."""
    for res, path in index.all(rtype):
        if has_kind(res, kind):
            return res, path
    return None


def bundle(profile: str, entries: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A ``collection`` Bundle, focal resource first."""
    for url, res in entries:
        res["id"] = entry_id(url)
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [profile]},
        "type": "collection",
        "entry": [{"fullUrl": url, "resource": res} for url, res in entries],
    }


def dedupe(r: Reader) -> None:
    """One issue per code and place: a missing element is reported by the profile check and
    again by the reader that needed it."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for i in r.issues:
        key = (i.code, i.location.path)
        if key not in seen:
            seen.add(key)
            kept.append(i)
    r.issues[:] = kept


def identifier_value(
    r: Reader, res: dict[str, Any], path: str, system: str, model_path: ModelPath
) -> str | None:
    """The value of the first ``res.identifier`` in ``system`` (mapped to ``model_path``)."""
    for obj, p in r.objs(res, "identifier", path):
        if obj.get("system") == system:
            value = r.text(obj, "value", p)
            if value is not None:
                r.map(model_path, f"{p}.value")
                return value
    return None


class BundleReading:
    """Per-message state of a kind's reader: the tree, the Reader and the Bundle's index."""

    def __init__(self, tree: dict[str, Any], r: Reader) -> None:
        self.tree = tree
        self.r = r
        self.index = BundleIndex(r, tree)


class CollectionMapping:
    """A ``codec.KindMapping`` for a kind whose focal resource (a ``focus`` of category
    ``kind``) heads a collection Bundle: ``read`` builds the ``model``, ``write`` the tree."""

    def __init__(
        self,
        kind: DocumentKind,
        focus: str,
        model: type,
        read: Callable[[dict[str, Any], Reader], Any],
        write: Callable[[Any], dict[str, Any]],
    ) -> None:
        self.kind = kind
        self.focus = focus
        self.model = model
        self._read = read
        self._write = write

    def matches(self, tree: dict[str, Any]) -> bool:
        return focus_of(tree, self.focus, self.kind.value) is not None

    def to_model(self, tree: dict[str, Any], reader: Reader) -> Any:
        try:
            return self._read(tree, reader)
        finally:
            dedupe(reader)

    def from_model(self, document: Any) -> dict[str, Any]:
        assert isinstance(document, self.model)
        return self._write(document)


__all__ = [
    "DOCUMENT_KIND_SYSTEM",
    "RECIPIENT_SYSTEM",
    "BundleReading",
    "CollectionMapping",
    "bundle",
    "dedupe",
    "entry_id",
    "find_focus",
    "focus_of",
    "full_url",
    "has_kind",
    "identifier_value",
    "kind_concept",
]
