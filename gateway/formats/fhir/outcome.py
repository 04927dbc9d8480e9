"""Issues -> an OperationOutcome, the answer a FHIR sender understands.

``details.coding`` carries our stable rule code (system ``{base}/CodeSystem/gateway-rule``),
``expression`` the FHIRPath or XML path, and ``diagnostics`` the message; the issue type is
the closest of FHIR's ``IssueType`` codes for the rule's kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.documents.issues import RULES, Issue, RuleKind, Severity
from gateway.formats.fhir.systems import URI

RULE_SYSTEM = URI["gateway_rule"]

_SEVERITY = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "information",
}
_TYPE = {
    RuleKind.SYNTAX: "structure",
    RuleKind.SCHEMA: "structure",
    RuleKind.BUSINESS: "business-rule",
    RuleKind.POLICY: "security",
}


def _issue_type(i: Issue) -> str:
    if i.code in ("FHIR-REQUIRED",):
        return "required"
    if i.code in ("FHIR-LIMIT", "XML-LIMIT"):
        return "too-costly"
    if i.code == "FHIR-SYSTEM":
        return "code-invalid"
    rule = RULES.get(i.code)
    return _TYPE.get(rule.kind, "processing") if rule else "processing"


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome JSON tree; an empty list of issues gives the 'all ok' outcome."""
    out: list[dict[str, Any]] = []
    for i in issues:
        entry: dict[str, Any] = {
            "severity": _SEVERITY[i.severity],
            "code": _issue_type(i),
            "details": {"coding": [{"system": RULE_SYSTEM, "code": i.code}]},
            "diagnostics": i.message,
        }
        if i.location.path:
            entry["expression" if i.location.path[0] != "/" else "location"] = [i.location.path]
        if i.location.line is not None:
            entry["extension"] = [
                {
                    "url": URI["issue_line"],
                    "valueInteger": i.location.line,
                }
            ]
        out.append(entry)
    if not out:
        out.append({"severity": "information", "code": "informational", "diagnostics": "ok"})
    return {"resourceType": "OperationOutcome", "issue": out}


__all__ = ["RULE_SYSTEM", "operation_outcome"]
