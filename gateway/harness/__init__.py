"""The test harness: plays fixture messages with their expected outcomes and reports."""

from pathlib import Path

#: Files beside fixtures that describe them rather than being documents.
SIDECAR_SUFFIXES = (".expected.json",)
SIDECAR_MARKERS = (".redaction.", ".send.")
DOCUMENT_SUFFIXES = (".xml", ".json")
#: What ``harness --target`` can play against (gateway.harness.remote).
TARGET_KINDS = ("gateway", "fhir-push", "rivta-soap")


def is_document_file(path: Path) -> bool:
    """A document, not a fixture's sidecar (expected outcome, redaction report)."""
    name = path.name.lower()  # CERT.XML is a document too
    return name.endswith(DOCUMENT_SUFFIXES) and not is_sidecar(name)


def is_sidecar(name: str) -> bool:
    """A file beside a fixture that describes it (expected outcome, redaction report)."""
    name = name.lower()
    return name.endswith(SIDECAR_SUFFIXES) or any(m in name for m in SIDECAR_MARKERS)
