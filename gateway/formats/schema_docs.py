"""Element reference of the project's own XSDs, generated from the schemas themselves.

xmlschema earns its place here rather than on the per-message path (where lxml is ~30x
faster): it resolves types, occurrences and annotations into one readable model, so the
reference integrators read cannot drift from the contract they validate against.
"""

from __future__ import annotations

from typing import Any

from gateway import SCHEMAS_DIR

#: The project's own document schemas (certificates use RIVTA's contract).
SCHEMA_FILES = {
    "sip": "sip-v1.xsd",
    "return-to-work-plan": "return-to-work-plan-v1.xsd",
    "section4-notification": "section4-notification-v1.xsd",
    "section4-acknowledgement": "section4-acknowledgement-v1.xsd",
}


def _doc(component: Any) -> str:
    annotation = getattr(component, "annotation", None)
    if annotation is None or not annotation.documentation:
        return ""
    text = " ".join((annotation.documentation[0].text or "").split())
    return text.replace("|", "\\|")


def _occurs(el: Any) -> str:
    high = "*" if el.max_occurs is None else str(el.max_occurs)
    return f"{el.min_occurs}..{high}"


def _type_name(el: Any) -> str:
    t = el.type
    if t.is_simple():
        enum = getattr(t, "enumeration", None)
        if enum:
            return " \\| ".join(f"`{v}`" for v in enum)
        return t.local_name or (t.base_type.local_name if t.base_type is not None else "")
    return t.local_name or ""


def schema_reference(kind: str) -> str:
    """Markdown: every element of the kind's document, by path, with type, occurrence and the
    schema's own documentation."""
    import xmlschema  # heavy: only for this command and the docs

    path = SCHEMAS_DIR / SCHEMA_FILES[kind]
    schema = xmlschema.XMLSchema(str(path))
    (root,) = schema.elements.values()
    lines = [
        f"# `{path.name}` — element reference",
        "",
        f"Namespace `{schema.target_namespace}`, root element `<{root.local_name}>`. Generated "
        f"from the schema by `gateway schema {kind}`; the schema is the contract.",
        "",
        "| element | type | occurs | meaning |",
        "|---|---|---|---|",
    ]

    def walk(el: Any, prefix: str, seen: frozenset[str]) -> None:
        here = f"{prefix}/{el.local_name}"
        lines.append(f"| `{here}` | {_type_name(el)} | {_occurs(el)} | {_doc(el)} |")
        if el.type.is_complex() and el.type.local_name not in seen:
            for child in el.type.content.iter_elements():
                walk(child, here, seen | {el.type.local_name or ""})

    walk(root, "", frozenset())
    return "\n".join(lines) + "\n"
