"""``gateway validate [PATH ...] [--kind KIND] [--format text|json|junit] [--output FILE]``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

import orjson

from gateway.cli.common import (
    add_override_options,
    format_issue,
    iter_inputs,
    overrides_from,
    write_file,
)
from gateway.documents.common import DocumentKind
from gateway.documents.issues import Severity

if TYPE_CHECKING:
    from gateway.validation.service import Validation


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "validate",
        help="validate documents (files, directories, - for stdin)",
        description="Validate documents against their schemas and business rules. "
        "Exit 0: all valid (warnings allowed); 1: at least one invalid; 2: usage error or "
        "unreadable input.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, directories or - (stdin)")
    p.add_argument("--kind", choices=[k.value for k in DocumentKind])
    p.add_argument(
        "--input-format",
        choices=["xml", "fhir-json", "fhir-xml"],
        help="the input's format (detected unless given)",
    )
    p.add_argument(
        "--format",
        choices=["text", "json", "junit", "outcome"],
        default="text",
        help="report format (default text; outcome: a FHIR OperationOutcome, or a Bundle of "
        "them for several inputs)",
    )
    p.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    add_override_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.formats.base import Format
    from gateway.validation.service import validate_bytes

    overrides = overrides_from(args)
    kind = DocumentKind(args.kind) if args.kind else None
    fmt = Format(args.input_format) if args.input_format else None
    results = [
        validate_bytes(i.data, source=i.source, kind=kind, fmt=fmt, overrides=overrides)
        for i in iter_inputs(args.paths)
    ]
    renderers = {
        "text": render_text,
        "json": render_json,
        "junit": render_junit,
        "outcome": render_outcome,
    }
    report = renderers[args.format](results)
    if args.output:
        write_file(args.output, report.encode("utf-8"))
    else:
        print(report, end="")
    return 0 if all(r.valid for r in results) else 1


def _summary(results: list[Validation]) -> dict[str, int]:
    valid = sum(r.valid for r in results)
    return {"documents": len(results), "valid": valid, "invalid": len(results) - valid}


def render_text(results: list[Validation]) -> str:
    lines: list[str] = []
    for r in results:
        what = " ".join(str(x) for x in (r.kind, r.subtype, r.format) if x) or "unknown"
        lines.append(f"{r.source}: {'valid' if r.valid else 'INVALID'} ({what})")
        lines.extend("  " + format_issue(r.source, i) for i in r.issues)
    s = _summary(results)
    lines.append(f"{s['documents']} documents: {s['valid']} valid, {s['invalid']} invalid")
    return "\n".join(lines) + "\n"


def render_json(results: list[Validation]) -> str:
    doc = {"results": [r.to_dict() for r in results], "summary": _summary(results)}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def render_junit(results: list[Validation]) -> str:
    """One testcase per document; errors are failures, warnings go to system-out."""
    s = _summary(results)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites tests="{s["documents"]}" failures="{s["invalid"]}">',
        f'<testsuite name="gateway validate" tests="{s["documents"]}" failures="{s["invalid"]}">',
    ]
    for r in results:
        classname = quoteattr(f"{r.kind or 'unknown'}.{r.format or 'unknown'}")
        out.append(f"<testcase classname={classname} name={quoteattr(r.source)}>")
        errors = [i for i in r.issues if i.severity is Severity.ERROR]
        if not r.valid:
            codes = ", ".join(sorted({i.code for i in errors})) or "unreadable"
            body = "\n".join(format_issue(r.source, i) for i in errors)
            out.append(f"<failure message={quoteattr(codes)}>{escape(body)}</failure>")
        others = [i for i in r.issues if i.severity is not Severity.ERROR]
        if others:
            text = "\n".join(format_issue(r.source, i) for i in others)
            out.append(f"<system-out>{escape(text)}</system-out>")
        out.append("</testcase>")
    out += ["</testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def render_outcome(results: list[Validation]) -> str:
    """What a FHIR sender expects: an OperationOutcome per document (a collection Bundle of
    them for several documents), each naming its source in ``meta.source``."""
    from gateway.formats.fhir.outcome import operation_outcome

    outcomes = []
    for r in results:
        oo = operation_outcome(r.issues)
        if r.source != "-":
            oo = {"resourceType": oo.pop("resourceType"), "meta": {"source": r.source}, **oo}
        outcomes.append(oo)
    doc = (
        outcomes[0]
        if len(outcomes) == 1
        else {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": oo} for oo in outcomes],
        }
    )
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
