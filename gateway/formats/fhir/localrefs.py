"""Local refs: the ids items of a plan use to point at each other (``ref`` in the model).

An item the Bundle holds carries its local ref as an identifier in :data:`LOCAL_REF_SYSTEM`
(or as its element id); a reference to an item the document lacks survives as a logical
reference by that identifier, so the business rules report it exactly as for XML input.
"""

from __future__ import annotations

from typing import Any

from gateway.documents.issues import ModelPath
from gateway.formats.fhir.bundles import identifier_value
from gateway.formats.fhir.datatypes import BundleIndex
from gateway.formats.fhir.systems import URI
from gateway.formats.fhir.tree import REQUIRED, STRUCTURE, Reader

LOCAL_REF_SYSTEM = URI["local_ref"]


def local_ref_identifier(ref: str) -> dict[str, Any]:
    return {"system": LOCAL_REF_SYSTEM, "value": ref}


def logical_reference(ref: str) -> dict[str, Any]:
    """A reference to an item the document does not hold: by its local ref (the business
    rules then report it, as they do for XML)."""
    return {"identifier": local_ref_identifier(ref)}


def read_local_ref(r: Reader, res: dict[str, Any], path: str, model_path: ModelPath) -> str:
    """The local ref of a resource (its identifier in :data:`LOCAL_REF_SYSTEM`)."""
    value = identifier_value(r, res, path, LOCAL_REF_SYSTEM, model_path)
    if value is None:
        msg = f"{path} needs an identifier in {LOCAL_REF_SYSTEM}"
        r.report(REQUIRED, f"{path}.identifier", msg)
        return ""
    return value


class RefResolver:
    """Turns references into local refs: a literal reference names an entry whose local ref
    is known (``refs``, by entry FHIRPath), a logical one carries the ref itself."""

    def __init__(self, r: Reader, index: BundleIndex) -> None:
        self.r = r
        self.index = index

    def ref(
        self,
        ref: dict[str, Any],
        path: str,
        rtype: str | tuple[str, ...],
        refs: dict[str, str],
        model_path: ModelPath,
    ) -> str | None:
        self.r.map(model_path, path)
        what = rtype if isinstance(rtype, str) else " or ".join(rtype)
        if "reference" not in ref:
            ident = self.r.obj(ref, "identifier", path)
            if ident is not None and ident.get("system") == LOCAL_REF_SYSTEM:
                return self.r.text(ident, "value", f"{path}.identifier")
            self.r.report(
                REQUIRED,
                f"{path}.reference",
                f"{path} needs a reference to a {what} in the Bundle "
                f"(or an identifier in {LOCAL_REF_SYSTEM})",
            )
            return None
        found = self.index.resolve_reference(ref, path, rtype)
        if found is None:
            return None
        target = refs.get(found[1])
        if target is None:  # an entry its own reader skipped: its identifier still names it
            for ident in found[0].get("identifier") or ():
                if isinstance(ident, dict) and ident.get("system") == LOCAL_REF_SYSTEM:
                    target = ident.get("value")
        if target is None:
            self.r.report(
                STRUCTURE, f"{path}.reference", f"{path} names a {what} that has no local ref here"
            )
        return target


__all__ = [
    "LOCAL_REF_SYSTEM",
    "RefResolver",
    "local_ref_identifier",
    "logical_reference",
    "read_local_ref",
]
