"""The FHIR messaging Envelope: a ``message`` Bundle whose MessageHeader says what travels
(the event: the document kind), who sent it (source) and to which audiences (destinations),
and points at the payload (focus). docs/fhir/messaging.md is the contract; the exchange
server routes on :class:`Envelope` without reading the payload.

The focus is the document: a certificate's ``document`` Bundle as one entry, or the CarePlan /
Communication of the other kinds with the resources they reference as further entries.
:func:`unwrap_message` gives the payload back in the standalone form each kind mapping reads
(the document Bundle, or a ``collection`` Bundle with the focus first), and an
:meth:`Envelope.relocate` that turns FHIRPaths in that payload back into paths in the message,
so issues name the place the sender wrote.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.documents.common import DocumentKind, Recipient
from gateway.documents.issues import Issue, Location
from gateway.formats.fhir.bundles import DOCUMENT_KIND_SYSTEM, RECIPIENT_SYSTEM, dedupe, entry_id
from gateway.formats.fhir.codec import UNKNOWN_KIND
from gateway.formats.fhir.datatypes import parse_datetime, write_datetime
from gateway.formats.fhir.profile import check, profiles
from gateway.formats.fhir.systems import URI
from gateway.formats.fhir.tree import REFERENCE, STRUCTURE, SYSTEM, Reader

#: The event of a message is the kind of document it carries (one code per kind).
EVENT_SYSTEM = DOCUMENT_KIND_SYSTEM
MESSAGE_PROFILE = URI["message_profile"]
#: Logical endpoints: the exchange server maps each to a real address per deployment.
RECIPIENT_ENDPOINT = URI["recipient_endpoint"]
SENDER_ENDPOINT = URI["sender_endpoint"]
_NS = uuid.UUID("5d8e8a0c-3c1f-5b7e-9a4d-2f6b1c0e7a93")
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")
_KINDS = frozenset(k.value for k in DocumentKind)
_FOCUS_TYPES = {
    DocumentKind.CERTIFICATE: "Bundle",
    DocumentKind.SIP: "CarePlan",
    DocumentKind.RETURN_TO_WORK_PLAN: "CarePlan",
    DocumentKind.SECTION4_NOTIFICATION: "Communication",
}

#: The focus is not what the event says: the codec's rule for "a different kind from the one
#: asked for" (one code for one problem; docs/rules.md).
EVENT_MISMATCH = UNKNOWN_KIND


@dataclass(frozen=True)
class Envelope:
    """What the MessageHeader says: enough to route without reading the payload."""

    message_id: str | None
    kind: DocumentKind
    source: str  # the sender's endpoint
    source_name: str | None
    destinations: tuple[Recipient, ...]
    timestamp: datetime | None
    #: FHIRPath of the payload's root in the message ("Bundle" for a collection payload).
    payload_path: str
    #: Payload entry i is message entry entry_map[i] (collection payloads only).
    entry_map: tuple[int, ...] = ()

    def relocate(self, path: str) -> str:
        """A FHIRPath in the unwrapped payload -> the same place in the message."""
        if self.entry_map:
            m = _ENTRY.match(path)
            if m is not None and int(m.group(1)) < len(self.entry_map):
                return f"Bundle.entry[{self.entry_map[int(m.group(1))]}]" + path[m.end() :]
            return path
        if path == "Bundle" or path.startswith("Bundle."):
            return self.payload_path + path[len("Bundle") :]
        return path

    def relocate_issues(self, issues: Iterable[Issue]) -> list[Issue]:
        return [
            Issue(
                i.severity,
                i.code,
                Location(self.relocate(i.location.path), i.location.line),
                i.message,
            )
            for i in issues
        ]


def _endpoint(source: str) -> tuple[str, str | None]:
    """A URI is the endpoint itself; anything else (an HSA-id, a system name) is named."""
    if ":" in source:
        return source, None
    return SENDER_ENDPOINT + source, source


def wrap_message(
    document_tree: dict[str, Any],
    kind: DocumentKind | str,
    source: str,
    destinations: Iterable[Recipient | str],
    *,
    message_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """Put a document's FHIR tree (as the kind mapping renders it) in a message Bundle.

    ``source`` is the sender's endpoint URI, or a name (an HSA-id) that becomes
    ``{base}/endpoint/sender/<name>``; ``destinations`` are recipient audiences (CLI.md).
    The same arguments give the same message (ids derive from the payload unless given).
    """
    kind = DocumentKind(kind)
    recipients = [Recipient(d) for d in destinations]
    if message_id is None:
        seed = f"{kind}|{source}|{','.join(recipients)}|{_payload_key(document_tree)}"
        message_id = str(uuid.uuid5(_NS, seed))
    header_url = f"urn:uuid:{uuid.uuid5(_NS, message_id + '|header')}"
    if kind is DocumentKind.CERTIFICATE:
        focus_url = f"urn:uuid:{uuid.uuid5(_NS, message_id + '|document')}"
        payload: list[Any] = [{"fullUrl": focus_url, "resource": document_tree}]
    else:
        payload = list(document_tree.get("entry") or ())
        focus_url = str(payload[0]["fullUrl"])
    endpoint, name = _endpoint(source)
    header: dict[str, Any] = {
        "resourceType": "MessageHeader",
        "id": entry_id(header_url),
        "eventCoding": {"system": EVENT_SYSTEM, "code": str(kind)},
        "destination": [
            {
                "name": str(r),
                "endpoint": RECIPIENT_ENDPOINT + str(r),
                "receiver": {"identifier": {"system": RECIPIENT_SYSTEM, "value": str(r)}},
            }
            for r in recipients
        ],
        "source": {"endpoint": endpoint} if name is None else {"name": name, "endpoint": endpoint},
        "focus": [{"reference": focus_url}],
    }
    if not header["destination"]:
        del header["destination"]
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": message_id,
        "meta": {"profile": [MESSAGE_PROFILE]},
        "type": "message",
    }
    if timestamp is not None:
        out["timestamp"] = write_datetime(timestamp)
    out["entry"] = [{"fullUrl": header_url, "resource": header}, *payload]
    return out


def _payload_key(tree: dict[str, Any]) -> str:
    ident = tree.get("identifier")
    entries = tree.get("entry") or ()
    first = entries[0].get("fullUrl") if entries and isinstance(entries[0], dict) else None
    return f"{ident}|{first}"


Entries = list[tuple[dict[str, Any], str]]  # the entries that are objects, with FHIRPaths


def unwrap_message(
    tree: dict[str, Any], lines: dict[str, int] | None = None
) -> tuple[Envelope | None, dict[str, Any] | None, list[Issue]]:
    """A message Bundle -> (its envelope, the payload tree in standalone form, issues).

    Envelope problems are issues located by FHIRPath in the message; (None, None, issues)
    when the message cannot be routed at all (no header, no known event, no focus).
    """
    r = Reader(lines)
    found = _header(r, tree)
    if found is None:
        return None, None, r.issues
    entries, header = found
    hpath = "Bundle.entry[0].resource"
    shapes = profiles("messaging")  # the envelope's own profile: schemas/fhir/messaging/
    check(tree, shapes["Bundle"], "Bundle", r)
    check(header, shapes["MessageHeader"], hpath, r)
    kind = _event(r, header, hpath)
    endpoint, source_name = _source(r, header, hpath)
    destinations = _destinations(r, header, hpath)
    focus = _focus(r, entries, header, hpath)
    timestamp = _timestamp(r, tree)
    dedupe(r)
    if kind is None or focus is None:
        return None, None, r.issues
    unwrapped = _payload(r, entries, kind, focus, hpath)
    if unwrapped is None:
        return None, None, r.issues
    payload, payload_path, order = unwrapped
    envelope = Envelope(
        message_id=tree.get("id") if isinstance(tree.get("id"), str) else None,
        kind=kind,
        source=endpoint or "",
        source_name=source_name,
        destinations=tuple(destinations),
        timestamp=timestamp,
        payload_path=payload_path,
        entry_map=order,
    )
    return envelope, payload, r.issues


def _header(r: Reader, tree: dict[str, Any]) -> tuple[Entries, dict[str, Any]] | None:
    """The message's entries and its MessageHeader (the first entry); None, reported, when
    it is no message Bundle or has no header first."""
    if tree.get("resourceType") != "Bundle" or tree.get("type") != "message":
        r.report(STRUCTURE, "Bundle.type", "a message is a Bundle of type 'message'")
        return None
    # the entries that are objects, each with its FHIRPath (others are reported and skipped:
    # positions in this list are not entry numbers; _number gives those back)
    entries = r.objs(tree, "entry", "Bundle")
    first = entries[0] if entries and entries[0][1] == "Bundle.entry[0]" else None
    header = r.obj(first[0], "resource", first[1]) if first else None
    if header is None or header.get("resourceType") != "MessageHeader":
        r.missing("Bundle.entry[0].resource", "the first entry of a message is its MessageHeader")
        return None
    return entries, header


def _source(r: Reader, header: dict[str, Any], hpath: str) -> tuple[str | None, str | None]:
    """The sender's endpoint and name."""
    source = r.obj(header, "source", hpath)
    endpoint = r.text(source, "endpoint", f"{hpath}.source") if source else None
    if source is not None and endpoint is None:  # a missing source: the profile says so
        r.missing(f"{hpath}.source.endpoint", "the sender's endpoint")
    return endpoint, r.text(source, "name", f"{hpath}.source") if source else None


def _timestamp(r: Reader, tree: dict[str, Any]) -> datetime | None:
    raw = r.text(tree, "timestamp", "Bundle")
    if raw is None:
        return None
    timestamp = parse_datetime(raw)
    if timestamp is None:
        r.report(STRUCTURE, "Bundle.timestamp", f"{raw!r} is not a FHIR instant")
    return timestamp


def _payload(
    r: Reader,
    entries: Entries,
    kind: DocumentKind,
    focus: tuple[int, dict[str, Any]],
    hpath: str,
) -> tuple[dict[str, Any], str, tuple[int, ...]] | None:
    """The payload in the form its kind mapping reads (the document Bundle of a certificate,
    else a collection Bundle with the focus first), where it is in the message, and the
    message's entry number of each payload entry; None, reported, when the focus is not what
    the event says."""
    index, resource = focus
    want = _FOCUS_TYPES[kind]
    if resource.get("resourceType") != want:
        got = resource.get("resourceType")
        msg = f"the event is {kind} but the focus is a {got}, not a {want}"
        r.report(EVENT_MISMATCH, f"{hpath}.focus[0]", msg)
        return None
    if kind is DocumentKind.CERTIFICATE:
        return resource, f"{entries[index][1]}.resource", ()
    positions = (index, *(i for i in range(1, len(entries)) if i != index))
    order = tuple(_number(entries[i][1]) for i in positions)
    payload = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [entries[i][0] for i in positions],
    }
    return payload, "Bundle", order


def _event(r: Reader, header: dict[str, Any], hpath: str) -> DocumentKind | None:
    coding = r.obj(header, "eventCoding", hpath)
    path = f"{hpath}.eventCoding"
    if coding is None:
        r.missing(path, f"the event, a code in {EVENT_SYSTEM}")
        return None
    code = coding.get("code")
    if coding.get("system") != EVENT_SYSTEM or code not in _KINDS:
        known = ", ".join(k.value for k in DocumentKind)
        r.report(SYSTEM, path, f"the event must be one of {known} in {EVENT_SYSTEM}")
        return None
    return DocumentKind(code)


def _destinations(r: Reader, header: dict[str, Any], hpath: str) -> list[Recipient]:
    out: list[Recipient] = []
    items = r.objs(header, "destination", hpath)
    if not items:
        r.missing(f"{hpath}.destination", "at least one recipient audience")
    for dest, dpath in items:
        receiver = r.obj(dest, "receiver", dpath) or {}
        ident = r.obj(receiver, "identifier", f"{dpath}.receiver") or {}
        value = ident.get("value") if ident.get("system") == RECIPIENT_SYSTEM else None
        endpoint = dest.get("endpoint")
        if value is None and isinstance(endpoint, str) and endpoint.startswith(RECIPIENT_ENDPOINT):
            value = endpoint[len(RECIPIENT_ENDPOINT) :]
        if endpoint is None:
            r.missing(f"{dpath}.endpoint")
        try:
            out.append(Recipient(str(value)))
        except ValueError:
            known = ", ".join(x.value for x in Recipient)
            r.report(
                SYSTEM,
                f"{dpath}.receiver.identifier",
                f"{dpath} names no recipient audience ({known}) in {RECIPIENT_SYSTEM}",
            )
    return out


def _number(entry_path: str) -> int:
    """The entry number in a FHIRPath ``Bundle.entry[n]``."""
    m = _ENTRY.match(entry_path)
    assert m is not None, entry_path
    return int(m.group(1))


def _focus(
    r: Reader, entries: list[tuple[dict[str, Any], str]], header: dict[str, Any], hpath: str
) -> tuple[int, dict[str, Any]] | None:
    """The focus: its position in ``entries`` (after the header) and its resource."""
    focus = r.objs(header, "focus", hpath)
    if not focus:
        r.missing(f"{hpath}.focus", "the document the message carries")
        return None
    ref, fpath = focus[0]
    target = r.text(ref, "reference", fpath)
    if target is None:
        r.missing(f"{fpath}.reference")
        return None
    for i, (entry, _path) in enumerate(entries):
        if i == 0:  # the header
            continue
        res = entry.get("resource")
        if not isinstance(res, dict):
            continue
        local = f"{res.get('resourceType')}/{res.get('id')}"
        if target in (entry.get("fullUrl"), local) or target.endswith("/" + local):
            return i, res
    r.report(REFERENCE, f"{fpath}.reference", f"{target!r} is not in the message")
    return None


__all__ = [
    "EVENT_MISMATCH",
    "EVENT_SYSTEM",
    "MESSAGE_PROFILE",
    "RECIPIENT_ENDPOINT",
    "SENDER_ENDPOINT",
    "Envelope",
    "unwrap_message",
    "wrap_message",
]
