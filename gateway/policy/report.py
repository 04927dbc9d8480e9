"""What a policy decision looks like: the filtered document and the redaction report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gateway.documents import Document
from gateway.documents.issues import ModelPath


class Action(StrEnum):
    REMOVED = "removed"  # a field, answer or text was taken out
    REFUSED = "refused"  # the transfer does not happen at all
    RECORDED = "recorded"  # something the recipient should know was noted, nothing removed
    NOTE = "note"  # information about the decision itself (e.g. consent not checked)


@dataclass(frozen=True, slots=True)
class ReportEntry:
    """One line of the redaction report: what happened, where (readable path into the
    canonical model, e.g. ``answers[id=6].parts[id=6.2]``), by which rule, and why."""

    action: Action
    path: str
    code: str
    message: str
    model_path: ModelPath = ()

    def to_dict(self) -> dict[str, str]:
        return {
            "action": str(self.action),
            "path": self.path,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True)
class PolicyResult:
    """The Content Filter's outcome for one transfer: the recipient's copy (``None`` when
    refused), the report, and the consent record the transfer used, if any (the exchange
    marks single-use consents as spent)."""

    document: Document | None
    report: list[ReportEntry] = field(default_factory=list)
    refused: bool = False
    consent_id: str | None = None
    #: a signature the route passes on only if it verifies over the bytes sent: it is not in
    #: ``document``; :func:`gateway.transfer.render_copy` puts it back when it does
    held_signature: str | None = None

    def report_dicts(self) -> list[dict[str, str]]:
        return [e.to_dict() for e in self.report]
