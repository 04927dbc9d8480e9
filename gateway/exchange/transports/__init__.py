"""Delivery transports side by side (transport.py is the seam): FHIR push over HTTPS, RIVTA
SOAP to Försäkringskassan, and a recording fake."""

from gateway.exchange.transports.fhir_push import FhirPushTransport
from gateway.exchange.transports.recording import RecordingTransport
from gateway.exchange.transports.rivta_soap import RivtaSoapTransport

__all__ = ["FhirPushTransport", "RecordingTransport", "RivtaSoapTransport"]
