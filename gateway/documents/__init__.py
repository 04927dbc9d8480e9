"""Canonical models: one per document kind, and the building blocks they share.

Imports nothing from the rest of the package.
"""

from gateway.documents.acknowledgement import Section4Acknowledgement
from gateway.documents.certificate import Answer, Certificate, CertificateType, SubAnswer
from gateway.documents.common import DocumentKind, Recipient
from gateway.documents.return_to_work import ReturnToWorkPlan
from gateway.documents.section4 import Section4Notification
from gateway.documents.sip import Sip

Document = Certificate | Sip | ReturnToWorkPlan | Section4Notification | Section4Acknowledgement

__all__ = [
    "Answer",
    "Certificate",
    "CertificateType",
    "Document",
    "DocumentKind",
    "Recipient",
    "ReturnToWorkPlan",
    "Section4Acknowledgement",
    "Section4Notification",
    "Sip",
    "SubAnswer",
]
