"""The codec shared by the gateway's own XML documents: hardened parse, XSD, binding."""

from __future__ import annotations

from typing import Generic, TypeVar, cast

from pydantic import BaseModel

from gateway import SCHEMAS_DIR
from gateway.documents import Document, DocumentKind
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.formats.base import Format, ParseResult
from gateway.formats.ownxml import binding
from gateway.formats.xmlsafe import parse_xml
from gateway.formats.xsd import load_schema, validate_tree

XML_UNREADABLE = RULES.define(
    "XML-UNREADABLE",
    "A value could not be read into the document",
    RuleKind.SCHEMA,
    "The document follows its XML schema, but a value in it cannot be read as the gateway's "
    "document model (for example a date with a time-zone suffix, which xs:date allows). The "
    "location names the element; the message quotes its value and says what is expected.",
)

D = TypeVar("D", bound=Document)


class OwnXmlCodec(Generic[D]):
    """parse/render one kind of the gateway's own XML (see ``binding`` for the convention)."""

    format = Format.XML

    def __init__(
        self, kind: DocumentKind, model: type[D], namespace: str, root: str, schema: str
    ) -> None:
        self.kind = kind
        self.model = model
        self.namespace = namespace
        self.root = root
        self.schema = load_schema(SCHEMAS_DIR / schema)  # compiled once per process
        self._cls = cast("type[BaseModel]", model)  # the binding is generic over models
        binding.binding(self._cls, namespace)

    def parse(self, data: bytes) -> ParseResult[D]:
        safe = parse_xml(data)
        if safe.root is None:
            return ParseResult(None, safe.issues)
        issues: list[Issue] = validate_tree(self.schema, safe.root)
        tree, source_map = binding.read(safe.root, self._cls, self.namespace)
        document, problem = binding.build(self._cls, tree)
        if problem is not None and not issues:  # else the XSD issues already say it
            path, reason = problem
            issues.append(issue(XML_UNREADABLE, reason, source_map.locate(path)))
        return ParseResult(cast("D | None", document), issues, source_map)

    def render(self, document: Document) -> bytes:
        if not isinstance(document, self.model):
            raise TypeError(f"{type(self).__name__} renders {self.kind}, not {document.kind}")
        return binding.render(document, self.namespace, self.root)
