"""``gateway validate [PATH ...] [--kind KIND] [--format text|json|jsonl|junit|outcome]
[--output FILE] [--jobs N] [-q|--quiet] [--verbose]``: results stream as each document
finishes; memory stays flat whatever the batch size."""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import IO, TextIO

import orjson

from gateway.cli.batch import Result, Selection, Settings, iter_sources, validate_all
from gateway.cli.common import (
    UsageError,
    add_command,
    add_override_options,
    format_issue,
    overrides_from,
    plural,
)
from gateway.cli.terminal import Paint, Progress, wants_color
from gateway.documents.common import DocumentKind
from gateway.documents.issues import Severity


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "validate",
        help="validate documents (files, directories, - for stdin)",
        description="Validate documents against their schemas and business rules. Results "
        "are written as each document finishes; a batch is spread over all cores when it is "
        "big enough. Exit 0: all valid (warnings allowed); 1: at least one invalid; 2: usage "
        "error or unreadable input (the rest of the batch is still validated).",
        examples=[
            "gateway validate cert.xml",
            "gateway validate fixtures/ -q --jobs 2",
            "gateway validate in/ --format jsonl --output results.jsonl",
            "gateway validate in/ --include '*.xml' --exclude 'old/*' --format junit",
            "cat plan.fhir.json | gateway validate - --kind sip --input-format fhir-json",
            "gateway validate cert.xml --verbose --warn ID-PERSON-CHECKSUM --ignore CERT-X",
            "gateway validate plan.fhir.json --format outcome",
        ],
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files, directories (walked recursively) or - for stdin (the default), e.g. in/",
    )
    p.add_argument(
        "--kind",
        choices=[k.value for k in DocumentKind],
        help="the kind every input must be (detected unless given), e.g. --kind certificate",
    )
    p.add_argument(
        "--input-format",
        choices=["xml", "fhir-json", "fhir-xml", "rivta-message"],
        help="the inputs' format (detected unless given), e.g. --input-format fhir-json",
    )
    p.add_argument(
        "--format",
        choices=["text", "json", "jsonl", "junit", "outcome"],
        default="text",
        help="report format: text (default), json (one object, streamed), jsonl (one result "
        "per line, then the summary), junit (written at the end), outcome (FHIR "
        "OperationOutcome, a Bundle of them for several inputs), e.g. --format jsonl",
    )
    p.add_argument(
        "--output",
        metavar="FILE",
        help="write the report here instead of stdout, e.g. --output report.xml",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=_jobs,
        metavar="N",
        help="worker processes (default: all cores once a batch is big enough to pay for "
        "them; 1: this process only), e.g. --jobs 4",
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="in directories, read only files matching GLOB (name or path below the "
        "directory, case-insensitive; repeatable; default *.xml and *.json), e.g. "
        "--include '*.fhir.json'",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="in directories, skip files matching GLOB (repeatable), e.g. --exclude 'old/*'",
    )
    add_verbosity_options(p)
    add_override_options(p)
    p.set_defaults(func=run)


def add_verbosity_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only failures and the summary, e.g. gateway validate in/ -q",
    )
    group.add_argument(
        "--verbose",
        action="store_true",
        help="also print each rule's title and how the batch runs (on stderr), e.g. --verbose",
    )


def _jobs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a positive number, not {value!r}")
    return n


def run(args: argparse.Namespace) -> int:
    from gateway.formats.base import Format

    settings = Settings(
        kind=DocumentKind(args.kind) if args.kind else None,
        fmt=Format(args.input_format) if args.input_format else None,
        overrides=overrides_from(args),
    )
    selection = Selection(tuple(args.include), tuple(args.exclude))
    stream = _open_output(args.output)
    try:
        return _run(args, settings, selection, stream)
    finally:
        if stream is not sys.stdout:
            stream.close()


def _open_output(path: str | None) -> TextIO:
    if not path:
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")  # closed by run()
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _run(args: argparse.Namespace, settings: Settings, selection: Selection, out: TextIO) -> int:
    progress = None
    if sys.stderr.isatty() and not args.verbose:
        total = sum(1 for _ in iter_sources(args.paths, selection))  # a walk, no reading
        progress = Progress(sys.stderr, total)
    writer = WRITERS[args.format](out, args, Paint(out is sys.stdout and wants_color(out)))
    empty: list[str] = []
    counts = {"documents": 0, "valid": 0, "invalid": 0}
    unreadable = False
    if args.verbose:
        from gateway.cli.batch import PARALLEL_FROM, default_jobs

        jobs = args.jobs or f"{default_jobs()} from {PARALLEL_FROM} documents on"
        print(f"gateway: worker processes: {jobs}", file=sys.stderr)
    writer.begin()
    for r in validate_all(iter_sources(args.paths, selection, empty), settings, args.jobs):
        counts["documents"] += 1
        counts["valid" if r.valid else "invalid"] += 1
        unreadable |= r.unreadable
        if progress is not None:
            progress.clear()
        writer.result(r)
        if progress is not None:
            out.flush()
            progress.update(r.valid)
    if progress is not None:
        progress.clear()
    writer.end(counts)
    for d in empty:
        print(f"gateway: error: {d}: no documents in this directory", file=sys.stderr)
    if unreadable or empty:
        return 2
    return 0 if counts["invalid"] == 0 else 1


class Writer:
    def __init__(self, out: TextIO, args: argparse.Namespace, paint: Paint) -> None:
        self.out, self.paint = out, paint
        self.quiet, self.verbose = args.quiet, args.verbose

    def begin(self) -> None:
        pass

    def result(self, r: Result) -> None:
        raise NotImplementedError

    def end(self, summary: dict[str, int]) -> None:
        pass


class TextWriter(Writer):
    COLORS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFORMATION: "dim"}

    def result(self, r: Result) -> None:
        if self.quiet and r.valid:
            return
        paint = self.paint
        what = " ".join(x for x in (r.kind, r.subtype, r.format) if x) or "unknown"
        verdict = paint("valid", "green") if r.valid else paint("INVALID", "red")
        lines = [f"{r.source}: {verdict} ({what})"]
        for i in r.issues:
            severity = paint(i.severity, self.COLORS[i.severity])
            lines.append("  " + format_issue(r.source, i, severity))
            if self.verbose:
                lines.append("    " + paint(_title(i.code), "dim"))
        self.out.write("\n".join(lines) + "\n")

    def end(self, s: dict[str, int]) -> None:
        invalid = self.paint(f"{s['invalid']} invalid", "red" if s["invalid"] else "green")
        self.out.write(f"{plural(s['documents'], 'document')}: {s['valid']} valid, {invalid}\n")


def _title(code: str) -> str:
    from gateway.documents.issues import RULES

    rule = RULES.get(code)
    return f"{code}: {rule.title} (gateway explain {code})" if rule else code


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


class JsonWriter(Writer):
    """CLI.md's one object, written as a streaming array: one result per line."""

    def begin(self) -> None:
        self.first = True
        self.out.write('{"results": [')

    def result(self, r: Result) -> None:
        self.out.write(("\n  " if self.first else ",\n  ") + _dumps(r.to_dict()))
        self.first = False

    def end(self, s: dict[str, int]) -> None:
        self.out.write(f'{"" if self.first else chr(10)}],\n "summary": {_dumps(s)}}}\n')


class JsonLinesWriter(Writer):
    """One result object per line, then ``{"summary": {...}}`` as the last line."""

    def result(self, r: Result) -> None:
        self.out.write(_dumps(r.to_dict()) + "\n")

    def end(self, s: dict[str, int]) -> None:
        self.out.write(_dumps({"summary": s}) + "\n")


class JUnitWriter(Writer):
    """One testcase per document; errors are failures, warnings go to system-out. The
    testcases wait in a temporary file, since the header counts them."""

    def begin(self) -> None:
        self.cases: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115

    def result(self, r: Result) -> None:
        from xml.sax.saxutils import escape, quoteattr  # urllib and more: only for JUnit

        classname = quoteattr(f"{r.kind or 'unknown'}.{r.format or 'unknown'}")
        out = [f"<testcase classname={classname} name={quoteattr(r.source)}>"]
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
        self.cases.write("\n".join(out) + "\n")

    def end(self, s: dict[str, int]) -> None:
        n, failed = s["documents"], s["invalid"]
        self.out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuites tests="{n}" failures="{failed}">\n'
            f'<testsuite name="gateway validate" tests="{n}" failures="{failed}">\n'
        )
        self.cases.seek(0)
        while block := self.cases.read(1 << 16):
            self.out.write(block)
        self.cases.close()
        self.out.write("</testsuite>\n</testsuites>\n")


class OutcomeWriter(Writer):
    """What a FHIR sender expects: an OperationOutcome per document (a collection Bundle of
    them for several documents), each naming its source in ``meta.source``. The first one
    waits until a second shows whether a Bundle is needed."""

    def begin(self) -> None:
        self.held: str | None = None
        self.bundle = False

    def result(self, r: Result) -> None:
        from gateway.formats.fhir.outcome import operation_outcome

        oo = operation_outcome(list(r.issues))
        if r.source != "-":
            oo = {"resourceType": oo.pop("resourceType"), "meta": {"source": r.source}, **oo}
        if self.held is None and not self.bundle:
            self.held = _dumps(oo)
            return
        if not self.bundle:
            self.bundle = True
            self.out.write('{"resourceType": "Bundle", "type": "collection", "entry": [\n')
            self.out.write(f'  {{"resource": {self.held}}}')
        self.out.write(f',\n  {{"resource": {_dumps(oo)}}}')

    def end(self, s: dict[str, int]) -> None:
        if self.bundle:
            self.out.write("\n]}\n")
        elif self.held is not None:
            self.out.write(self.held + "\n")
        else:
            self.out.write('{"resourceType": "Bundle", "type": "collection", "entry": []}\n')


WRITERS: dict[str, type[Writer]] = {
    "text": TextWriter,
    "json": JsonWriter,
    "jsonl": JsonLinesWriter,
    "junit": JUnitWriter,
    "outcome": OutcomeWriter,
}
