"""The FHIR JSON tree: bounded loading and path-tracking reads.

The per-message path never builds fhir.resources models (about 120x the cost of
``orjson.loads``): kind mappings read the plain tree that orjson returns, through a
:class:`Reader` that checks types as it goes and names every problem and every model field by
its FHIRPath (``Bundle.entry[3].resource.code.coding[0]``), which also fills the source map.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from gateway.documents.issues import RULES, Issue, Location, ModelPath, Rule, RuleKind, SourceMap

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64

JSON_SYNTAX = RULES.define(
    "FHIR-JSON-SYNTAX",
    "FHIR JSON is not well-formed",
    RuleKind.SYNTAX,
    "The input is not valid JSON (the message names the position), its top level is not a "
    "JSON object as a FHIR resource must be, or an object holds a key twice (readers differ "
    "on which one wins, so the document says two things). Nothing in it can be read.",
)
LIMIT = RULES.define(
    "FHIR-LIMIT",
    "FHIR document too large or too deep",
    RuleKind.SYNTAX,
    f"The document exceeds {MAX_BYTES // (1024 * 1024)} MiB or nests objects and arrays deeper "
    f"than {MAX_DEPTH} levels. No real certificate or plan comes near either bound.",
)
STRUCTURE = RULES.define(
    "FHIR-STRUCTURE",
    "FHIR element malformed",
    RuleKind.SCHEMA,
    "An element has the wrong JSON type (an object where an array belongs, a number where a "
    "string belongs), is unknown to FHIR R4 (FHIR XML), or carries a value that its FHIR data "
    "type does not allow (a date that is not a date).",
)
REQUIRED = RULES.define(
    "FHIR-REQUIRED",
    "Required FHIR element missing",
    RuleKind.SCHEMA,
    "An element that the gateway's profile of this document kind requires is missing or empty. "
    "The profiles are in `schemas/fhir/` and described in `docs/fhir/`.",
)
REFERENCE = RULES.define(
    "FHIR-REFERENCE",
    "Reference does not resolve inside the Bundle",
    RuleKind.SCHEMA,
    "A reference (e.g. `Composition.subject`) names no entry of the Bundle. Every resource a "
    "document refers to must be in the same Bundle, referenced by its `fullUrl` "
    "(`urn:uuid:...`) or as `Type/id`.",
)
SYSTEM = RULES.define(
    "FHIR-SYSTEM",
    "Identifier or code system not allowed here",
    RuleKind.SCHEMA,
    "An identifier or coding uses a system the profile does not allow at that place, e.g. a "
    "patient identifier that is neither personnummer "
    "(http://electronichealth.se/identifier/personnummer) nor samordningsnummer "
    "(http://electronichealth.se/identifier/samordningsnummer), HL7 Sweden's systems. RIVTA's "
    "OIDs (urn:oid:1.2.752.129.2.1.3.1, ...3.3) are accepted too; the table is "
    "`mappings/fhir-systems.toml`.",
)

CHARACTER = RULES.define(
    "FHIR-CHARACTER",
    "FHIR string holds a character FHIR does not allow",
    RuleKind.SYNTAX,
    "A string (a value or a key) holds a control character: FHIR R4 strings shall not contain "
    "code points below U+0020 other than tab, carriage return and line feed, so JSON escapes "
    "such as `\\u0000`, `\\b` and `\\f` are refused. U+FFFE and U+FFFF are refused too: no "
    "XML 1.0 document, so no FHIR XML, can carry them. The message names each string by its "
    "FHIRPath and line, not its content.",
)

MODIFIER = RULES.define(
    "FHIR-MODIFIER-EXTENSION",
    "modifierExtension the gateway does not understand",
    RuleKind.SCHEMA,
    "A modifierExtension may change the meaning of the element that holds it (a plan that is "
    "not, a measure cancelled), and FHIR says a receiver shall not ignore one it does not "
    "understand. The gateway understands none outside a Consent (where the consent evaluator "
    "reads it and refuses the consent it is in), so the document is refused; the issue names "
    "each one by its FHIRPath.",
)

_CONTAINERS = (dict, list)

#: A character no FHIR string may hold, as JSON carries it: escaped, or written raw (only
#: U+FFFE and U+FFFF: a raw control character in a string is a JSON syntax error already). An
#: escaped backslash (``\\``) is consumed as a pair, so ``\\u0000`` (JSON for the six
#: characters ``\u0000``) is no match: the matches are exactly the forbidden characters the
#: parsed strings hold, one each. Two patterns, each with a literal head that the regular
#: expression engine scans for quickly (one alternation of both is 40x slower).
_FORBIDDEN_ESCAPED = re.compile(
    rb"\\(?:\\|(u000[0-8bBcCeEfF]|u001[0-9a-fA-F]|u[fF]{3}[eEfF]|[bf]))"
)
_FORBIDDEN_RAW = re.compile(rb"\xef\xbf[\xbe\xbf]")
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _string_count(tree: dict[str, Any], max_depth: int) -> int:
    """The strings of the tree (its objects' keys and its string values), or -1 when it
    nests deeper than ``max_depth`` levels: one walk for both, level by level (no recursion,
    cheaper than one call per object)."""
    count = 0
    level: list[Any] = [tree]
    for _depth in range(max_depth):
        below: list[Any] = []
        for node in level:
            if type(node) is dict:
                count += len(node)
                children = node.values()
            else:
                children = node
            for child in children:
                kind = type(child)
                if kind is str:
                    count += 1
                elif kind is dict or kind is list:
                    below.append(child)
        if not below:
            return count
        level = below
    return -1


#: An escape in a JSON string: an escaped backslash (a pair, so that the ``"`` of ``\\"``
#: ends the string) or an escaped quote (group 1).
_ESCAPED_QUOTE = re.compile(rb'\\(?:\\|("))')


def _quotes(data: bytes) -> int:
    """The quotes of (well-formed) JSON that are not escaped: two per string."""
    quotes = data.count(b'"')
    if b"\\" in data:
        quotes -= sum(1 for m in _ESCAPED_QUOTE.finditer(data) if m.lastindex)
    return quotes


def _tree_quotes(tree: dict[str, Any], max_depth: int) -> int:
    """:func:`_quotes` of the tree as JSON (two per key and string value), or -1 when it
    nests deeper than ``max_depth`` levels. orjson writes the tree indented (3x cheaper than
    walking it in Python): a container nested that deep puts a line ``2 * max_depth`` spaces
    in (a newline in a string is escaped), and only then is the tree walked."""
    try:
        dumped: bytes | None = orjson.dumps(tree, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:  # deeper than orjson writes, or a number it does not
        dumped = None
    if dumped is None or b"\n" + b"  " * max_depth in dumped:
        strings = _string_count(tree, max_depth)
        return -1 if strings < 0 else 2 * strings
    return _quotes(dumped)


def load_json(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> tuple[dict[str, Any] | None, list[Issue]]:
    """Parse FHIR JSON bytes into a plain tree, or return the issues that stop it."""
    if len(data) > max_bytes:
        return None, [_issue(LIMIT, f"document is {len(data)} bytes; the limit is {max_bytes}")]
    try:
        tree = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return None, [_issue(JSON_SYNTAX, str(exc))]
    if not isinstance(tree, dict):
        return None, [_issue(JSON_SYNTAX, "the top level must be a JSON object (a resource)")]
    # an object holding a key twice keeps one: the tree has fewer strings than the bytes
    tree_quotes = _tree_quotes(tree, max_depth)
    maybe = tree_quotes < 0 or _quotes(data) != tree_quotes
    duplicate = _duplicate_key(data) if maybe else None
    if duplicate is not None:
        # readers differ on which one wins (first or last): the document says two things
        return None, [_issue(JSON_SYNTAX, f"an object has the key {duplicate!r} twice")]
    if tree_quotes < 0:
        return None, [_issue(LIMIT, f"objects and arrays nest deeper than {max_depth} levels")]
    if _forbidden_offsets(data):
        return None, _forbidden_issues(tree, data)
    return tree, []


def _forbidden_offsets(data: bytes) -> list[int]:
    """Where the (well-formed) JSON holds a character :data:`CHARACTER` refuses: one offset
    per such character of the parsed strings, in document order. Most documents hold no
    backslash and no byte 0xBF at all, and cost two ``memchr``."""
    found = []
    if b"\\" in data:
        found = [m.start() for m in _FORBIDDEN_ESCAPED.finditer(data) if m.lastindex]
    if b"\xbf" in data:
        raw = [m.start() for m in _FORBIDDEN_RAW.finditer(data)]
        if raw:
            found = sorted(found + raw)
    return found


def _strings(node: Any, path: str) -> Iterator[tuple[str, str, bool]]:
    """Every key and string value of a tree in document order: (string, FHIRPath, is a key)."""
    if type(node) is dict:
        for key, value in node.items():
            yield key, path, True
            yield from _strings(value, f"{path}.{key}" if path else key)
    elif type(node) is list:
        for i, item in enumerate(node):
            yield from _strings(item, f"{path}[{i}]")
    elif type(node) is str:
        yield node, path, False


def _forbidden_issues(tree: dict[str, Any], data: bytes) -> list[Issue]:
    """One issue per string holding a forbidden character, at its FHIRPath and the line of
    its first such character (the raw matches pair with the parsed characters one to one)."""
    offsets = iter(_forbidden_offsets(data))
    root = tree.get("resourceType")
    out: list[Issue] = []
    for text, path, key in _strings(tree, root if isinstance(root, str) else ""):
        found = _FORBIDDEN.findall(text)
        if not found:
            continue
        mine = [next(offsets, None) for _ in found]  # this string's offsets
        at = mine[0]
        line = None if at is None else data.count(b"\n", 0, at) + 1
        chars = ", ".join(sorted({f"U+{ord(c):04X}" for c in found}))
        what = f"a key of {path or 'the resource'}" if key else path
        out.append(
            _issue(
                CHARACTER,
                f"{what} holds {chars}, which no FHIR string may hold",
                Location(path, line),
            )
        )
    return out


def modifier_extensions(tree: dict[str, Any], lines: dict[str, int] | None = None) -> list[Issue]:
    """One issue per ``modifierExtension`` outside what the consent evaluator reads (a
    Consent's own and its provisions'). Only called when the bytes hold the word at all."""
    out: list[Issue] = []
    root = tree.get("resourceType")
    todo: list[tuple[Any, str, bool]] = [(tree, root if isinstance(root, str) else "", False)]
    while todo:
        node, path, consent_part = todo.pop()
        if type(node) is list:  # pushed last first: popped, and reported, in document order
            todo.extend(
                (node[i], f"{path}[{i}]", consent_part) for i in range(len(node) - 1, -1, -1)
            )
            continue
        if type(node) is not dict:
            continue
        if node.get("resourceType") == "Consent":
            consent_part = True
        if "modifierExtension" in node and not consent_part:
            where = f"{path}.modifierExtension"
            out.append(
                _issue(
                    MODIFIER,
                    "a modifierExtension the gateway does not understand (it may change "
                    "what the element holding it means)",
                    Location(where, lines.get(where) if lines else None),
                )
            )
        for key, value in reversed(node.items()):
            if type(value) is dict or type(value) is list:
                # a Consent's provisions are read whole by the evaluator; its other parts not
                keep = consent_part and key == "provision"
                todo.append((value, f"{path}.{key}", keep))
    return out


class _Duplicate(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _Duplicate(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return out


def _duplicate_key(data: bytes) -> str | None:
    """A key some object of the (already parsed, so well-formed) JSON holds twice: the exact
    check, a second parse (4x ``orjson.loads``) that names the key, run only when the
    strings of the bytes and of the tree differ in number (:func:`load_json`)."""
    try:
        json.loads(data, object_pairs_hook=_unique_pairs)
    except _Duplicate as dup:
        return str(dup.args[0])
    except (ValueError, RecursionError):  # deeper than json's recursion: FHIR-LIMIT says it
        return None
    return None


def _issue(rule: Rule, message: str, location: Location | None = None) -> Issue:
    return Issue(rule.severity, rule.code, location or Location(), message)


def as_list(value: object) -> list[Any]:
    """``value`` if it is a JSON array, else ``[]``: for cheap lookups (kind matching, finding
    an extension) that run before or beside the :class:`Reader`, which reports wrong types."""
    return value if isinstance(value, list) else []


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}`` (see :func:`as_list`)."""
    return value if isinstance(value, dict) else {}


class Unreadable(Exception):
    """Raised inside a kind mapping when an element the model cannot do without is missing;
    the issue is already recorded and the codec returns no document."""


#: Turns a FHIRPath in a payload into the same place in the message that carried it.
Relocate = Callable[[str], str]


def _location(path: str, lines: dict[str, int] | None, relocate: Relocate | None) -> Location:
    if relocate is not None:
        path = relocate(path)
    return Location(path, lines.get(path) if lines else None)


class PathSourceMap(SourceMap):
    """Records the FHIRPath of each model path; builds :class:`Location` objects only when
    asked (most documents have no finding, so the hot path only stores strings)."""

    def __init__(
        self, lines: dict[str, int] | None = None, relocate: Relocate | None = None
    ) -> None:
        super().__init__()
        self.paths: dict[ModelPath, str] = {}
        self.lines = lines
        self.relocate = relocate

    def _location(self, fhir_path: str) -> Location:
        return _location(fhir_path, self.lines, self.relocate)

    def locate(self, path: ModelPath) -> Location:
        for n in range(len(path), -1, -1):
            found = self.paths.get(path[:n])
            if found is not None:
                return self._location(found)
        return super().locate(path)

    def materialise(self) -> dict[ModelPath, Location]:
        """Every known model path with its location (tooling, tests)."""
        for model_path, fhir_path in self.paths.items():
            self.locations.setdefault(model_path, self._location(fhir_path))
        return self.locations


class Reader:
    """Per-message state of reading a tree into a model: issues, the source map and, for FHIR
    XML input, the line of each FHIRPath.

    Accessors take the parent object, the key and the parent's FHIRPath; they return ``None``
    (or ``[]``) and record an issue when the element has the wrong type.
    """

    __slots__ = ("_paths", "issues", "lines", "relocate", "source_map")

    def __init__(
        self, lines: dict[str, int] | None = None, relocate: Relocate | None = None
    ) -> None:
        self.issues: list[Issue] = []
        self.source_map = PathSourceMap(lines, relocate)
        self._paths = self.source_map.paths
        self.lines = lines
        self.relocate = relocate

    # -- reporting
    def loc(self, path: str) -> Location:
        return _location(path, self.lines, self.relocate)

    def report(self, rule: Rule, path: str, message: str) -> None:
        self.issues.append(Issue(rule.severity, rule.code, self.loc(path), message))

    def missing(self, path: str, what: str = "") -> None:
        """Report ``path`` missing, unless a problem there is already reported (a wrong type,
        a reference that does not resolve, the profile's own check)."""
        where = self.loc(path).path
        if any(
            i.location.path == where or i.location.path.startswith(where + ".") for i in self.issues
        ):
            return
        self.report(REQUIRED, path, f"{path} is required" + (f": {what}" if what else ""))

    def need(self, value: Any, path: str, what: str = "") -> Any:
        """``value`` if present, else report it missing and stop reading (:class:`Unreadable`)."""
        if value is None:
            self.missing(path, what)
            raise Unreadable(path)
        return value

    def map(self, model_path: ModelPath, fhir_path: str) -> None:
        self._paths[model_path] = fhir_path

    # -- typed reads
    def obj(self, parent: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
        value = parent.get(key)
        if value is None or isinstance(value, dict):
            return value
        self.wrong(f"{path}.{key}", "an object", value)
        return None

    def arr(self, parent: dict[str, Any], key: str, path: str) -> list[Any]:
        value = parent.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.wrong(f"{path}.{key}", "an array", value)
        return []

    def objs(self, parent: dict[str, Any], key: str, path: str) -> list[tuple[dict[str, Any], str]]:
        """The objects of an array element, each with its FHIRPath (``path.key[i]``)."""
        out: list[tuple[dict[str, Any], str]] = []
        for i, item in enumerate(self.arr(parent, key, path)):
            item_path = f"{path}.{key}[{i}]"
            if isinstance(item, dict):
                out.append((item, item_path))
            else:
                self.wrong(item_path, "an object", item)
        return out

    def text(self, parent: dict[str, Any], key: str, path: str) -> str | None:
        value = parent.get(key)
        if value is None or (isinstance(value, str) and value):
            return value
        if value == "":
            self.report(STRUCTURE, f"{path}.{key}", f"{path}.{key} must not be an empty string")
            return None
        self.wrong(f"{path}.{key}", "a string", value)
        return None

    def boolean(self, parent: dict[str, Any], key: str, path: str) -> bool | None:
        value = parent.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.wrong(f"{path}.{key}", "true or false", value)
        return None

    def integer(self, parent: dict[str, Any], key: str, path: str) -> int | None:
        value = parent.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        self.wrong(f"{path}.{key}", "an integer", value)
        return None

    def number(self, parent: dict[str, Any], key: str, path: str) -> float | None:
        value = parent.get(key)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        self.wrong(f"{path}.{key}", "a number", value)
        return None

    def wrong(self, path: str, expected: str, value: object) -> None:
        """Report ``value`` at ``path`` as not ``expected`` (once per place: a malformed
        element read twice, e.g. ``extension`` searched for two URLs, is one problem)."""
        if any(i.code == STRUCTURE.code and i.location.path == path for i in self.issues):
            return
        got = {
            dict: "an object",
            list: "an array",
            str: "a string",
            bool: "a boolean",
            type(None): "null",
        }.get(type(value), "a number")
        self.report(STRUCTURE, path, f"{path} must be {expected}, not {got}")


__all__ = [
    "CHARACTER",
    "JSON_SYNTAX",
    "LIMIT",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MODIFIER",
    "REFERENCE",
    "REQUIRED",
    "STRUCTURE",
    "SYSTEM",
    "PathSourceMap",
    "Reader",
    "Unreadable",
    "as_dict",
    "as_list",
    "load_json",
    "modifier_extensions",
]
