"""Texts in FHIR: the model has empty strings, FHIR has none.

An empty text the model holds is written as a data-absent-reason: on the primitive's ``_key``
twin, or, for an extension's ``valueString``, as a nested extension (an extension has a value
or extensions, and base R4 allows no ``_valueString`` twin). Readers give back ``""`` for
either form and ``None`` for an absent element, so every kind round-trips ``None`` and ``""``.
"""

from __future__ import annotations

from typing import Any

from gateway.documents.issues import ModelPath
from gateway.formats.fhir.systems import URI
from gateway.formats.fhir.tree import Reader

DATA_ABSENT = {
    "url": URI["data_absent_reason"],
    "valueCode": "unknown",
}


def put_text(out: dict[str, Any], key: str, value: str | None) -> None:
    """An optional text: absent for None; an empty one as a data-absent-reason on ``_key``."""
    if value:
        out[key] = value
    elif value is not None:
        out["_" + key] = {"extension": [DATA_ABSENT]}


def get_text(
    r: Reader, obj: dict[str, Any], key: str, path: str, model_path: ModelPath | None = None
) -> str | None:
    """The inverse of :func:`put_text`: None when absent, "" for a data-absent primitive."""
    value = r.text(obj, key, path)
    if value is None:
        twin = r.obj(obj, "_" + key, path)  # the primitive's extensions (FHIRPath: key.extension)
        if twin is not None and DATA_ABSENT in r.arr(twin, "extension", f"{path}.{key}"):
            value = ""
    if value is not None and model_path is not None:
        r.map(model_path, f"{path}.{key}")
    return value


def put_ext_text(ext: dict[str, Any], value: str) -> dict[str, Any]:
    """``valueString`` of an extension; an empty text as a nested data-absent-reason."""
    if value:
        ext["valueString"] = value
    else:
        ext["extension"] = [DATA_ABSENT]
    return ext


def get_ext_text(r: Reader, ext: dict[str, Any], path: str) -> str | None:
    """The inverse of :func:`put_ext_text`."""
    value = r.text(ext, "valueString", path)
    if value is None and DATA_ABSENT in r.arr(ext, "extension", path):
        return ""
    return value


__all__ = [
    "DATA_ABSENT",
    "get_ext_text",
    "get_text",
    "put_ext_text",
    "put_text",
]
