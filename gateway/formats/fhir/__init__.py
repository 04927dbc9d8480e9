"""FHIR R4 on the wire, JSON and XML, for every document kind.

The per-message path maps straight between the orjson tree and the canonical model
(``tree``, ``datatypes``): the row engine (``engine``, ``slots``) writes and reads each kind
from its rows in ``mappings/``, with the shared ``blocks`` (the parties, the Consent) and the
hooks of its module registered in ``codec``; FHIR XML is converted to that tree first
(``xml``). ``base`` is our own base URL, one setting; ``systems`` is the identifier and
code-system alias table, ``profile`` our shapes read from ``schemas/fhir/``, ``outcome``
renders issues as an OperationOutcome and ``conformance`` is the slow strict mode with
fhir.resources. The codecs
are imported from ``gateway.formats.fhir.codec`` (kept lazy: the registry loads them on use).
"""
