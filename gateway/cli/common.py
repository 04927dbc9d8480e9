"""What every command shares: reading inputs, the config file, rule overrides, printing issues.

Heavy modules (codecs, rules) are imported by the commands that use them, not here, so that
``gateway validate`` of one file starts fast.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.documents.issues import Issue, SeverityOverrides
from gateway.harness import is_document_file

DEFAULT_CONFIG = Path("gateway.toml")
#: What `convert --to` and `redact --to` can write (CLI.md).
TARGETS = ["xml", "fhir-json", "fhir-xml", "rivta-message"]


class UsageError(Exception):
    """Bad arguments or unreadable input: exit code 2."""


@dataclass(frozen=True)
class Input:
    source: str  # the path as given, or "-"
    data: bytes


def iter_inputs(paths: list[str]) -> Iterator[Input]:
    """Files, directories (recursively, documents only, sorted) and ``-`` for stdin."""
    for p in paths or ["-"]:
        if p == "-":
            yield Input("-", sys.stdin.buffer.read())
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and is_document_file(f))
            if not files:
                raise UsageError(f"{p}: no .xml or .json documents in this directory")
            for f in files:
                yield Input(str(f), _read(f))
        else:
            yield Input(p, _read(path))


def read_one(path: str) -> Input:
    """The one document of a command that takes a single PATH (a file or ``-``)."""
    if path != "-" and Path(path).is_dir():
        raise UsageError(f"{path}: a directory; this command takes one file or -")
    (inp,) = iter_inputs([path])
    return inp


def write_file(path: str, data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def add_override_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warn",
        action="append",
        default=[],
        metavar="CODE",
        help="downgrade a business rule to a warning (repeatable)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODE",
        help="drop a business rule's issues (repeatable)",
    )


def load_config(path: str | None) -> dict[str, object]:
    """The TOML config file: ``--config FILE``, else ./gateway.toml if present."""
    cfg_path = Path(path) if path else DEFAULT_CONFIG
    if not cfg_path.exists():
        if path:
            raise UsageError(f"{path}: config file not found")
        return {}
    try:
        return tomllib.loads(cfg_path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{cfg_path}: not a valid TOML config file: {exc}") from None


def overrides_from(args: argparse.Namespace) -> SeverityOverrides:
    """Command-line overrides on top of the config file's ``[rules] warn/ignore`` lists."""
    from gateway.documents.issues import RULES
    from gateway.validation.engine import load_all_rules

    cfg = load_config(getattr(args, "config", None))
    rules_cfg = cfg.get("rules", {})
    if not isinstance(rules_cfg, dict):
        raise UsageError("config: [rules] must be a table")
    warn = [*_codes(rules_cfg.get("warn", [])), *args.warn]
    ignore = [*_codes(rules_cfg.get("ignore", [])), *args.ignore]
    if warn or ignore:
        load_all_rules()
    for code in (*warn, *ignore):
        rule = RULES.get(code)
        if rule is None:
            raise UsageError(f"unknown rule code {code!r} (see `gateway explain`)")
        if not rule.overridable:
            raise UsageError(f"{code} is a {rule.kind} rule; only business rules can be downgraded")
    return SeverityOverrides.of(warn, ignore)


def _codes(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError("config: [rules] warn and ignore must be lists of rule codes")
    return value


def format_issue(source: str, i: Issue) -> str:
    where = f"{source}:{i.location.line}" if i.location.line is not None else source
    path = f" [{i.location.path}]" if i.location.path else ""
    return f"{where}: {i.severity} {i.code}{path}: {i.message}"
