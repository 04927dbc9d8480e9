"""FHIR R4 on the wire, JSON and XML, for every document kind.

The per-message path maps straight between the orjson tree and the canonical model
(``tree``, ``datatypes``, one mapping module per kind registered in ``codec``); FHIR XML is
converted to that tree first (``xml``). ``systems`` is the identifier/code-system alias table,
``profile`` our shapes read from ``schemas/fhir/``, ``outcome`` renders issues as an
OperationOutcome and ``conformance`` is the slow strict mode with fhir.resources. The codecs
are imported from ``gateway.formats.fhir.codec`` (kept lazy: the registry loads them on use).
"""
