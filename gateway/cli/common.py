"""What every command shares: reading inputs, the config file, rule overrides, printing issues.

Heavy modules (codecs, rules) are imported by the commands that use them, not here, so that
``gateway validate`` of one file starts fast.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

from gateway.documents.issues import Issue, SeverityOverrides

DEFAULT_CONFIG = Path("gateway.toml")
#: What `convert --to` and `redact --to` can write (CLI.md).
TARGETS = ["xml", "fhir-json", "fhir-xml", "rivta-message"]


class UsageError(Exception):
    """Bad arguments or unreadable input: exit code 2."""


@dataclass(frozen=True)
class Input:
    source: str  # the path as given, or "-"
    data: bytes


def read_one(path: str) -> Input:
    """The one document of a command that takes a single PATH (a file or ``-``)."""
    if path == "-":
        return Input("-", sys.stdin.buffer.read())
    if Path(path).is_dir():
        raise UsageError(f"{path}: a directory; this command takes one file or -")
    return Input(path, _read(Path(path)))


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


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal, examples kept one per line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    examples: Sequence[str],
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with examples (every command has some)."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=HelpFormatter,
    )


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``, accepted before and after the subcommand alike (the subcommand's
    copy leaves the value alone when not given)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML config file (default ./gateway.toml if present), e.g. --config ci.toml",
    )


def add_override_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warn",
        action="append",
        default=[],
        metavar="CODE",
        help="downgrade a business rule to a warning (repeatable), e.g. --warn ID-PERSON-CHECKSUM",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODE",
        help="drop a business rule's issues (repeatable), e.g. --ignore CERT-X",
    )


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


#: Every table of gateway.toml, the one config file, and its keys; anything else is an error.
#: ``None``: the exchange server's tables (some of them arrays of tables), checked key by key
#: by ``gateway.exchange.config.parse`` (its ``SECTIONS``; a test keeps the two in step).
CONFIG_KEYS: dict[str, frozenset[str] | None] = {
    "rules": frozenset({"warn", "ignore"}),
    "fhir": frozenset({"base_url", "earlier_base_urls"}),  # our FHIR base URL (cli/fhir_base.py)
    "server": None,
    "delivery": None,
    "retention": None,
    "client_tls": None,
    "senders": None,
    "recipients": None,
    "users": None,  # the console's people (gateway/console/, docs/console.md)
}


def config_path(path: str | None) -> Path | None:
    """The config file a command reads: ``--config FILE``, else ./gateway.toml if present."""
    if path:
        return Path(path)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_config(path: str | None) -> dict[str, dict[str, object]]:
    """The TOML config file: ``--config FILE``, else ./gateway.toml if present. The one
    reader of gateway.toml: an unknown table or key is an error that names it and its nearest
    known one (a typo would otherwise be silently ignored)."""
    cfg_path = Path(path) if path else DEFAULT_CONFIG
    if not cfg_path.exists():
        if path:
            raise UsageError(f"{path}: config file not found")
        return {}
    try:
        cfg = tomllib.loads(cfg_path.read_text("utf-8-sig"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{cfg_path}: not a valid TOML config file: {exc}") from None
    for section, table in cfg.items():
        if section not in CONFIG_KEYS:
            raise UsageError(
                f"{cfg_path}: unknown section [{section}]{_near(section, CONFIG_KEYS)}"
            )
        keys = CONFIG_KEYS[section]
        if keys is None and (
            isinstance(table, dict)
            or (isinstance(table, list) and all(isinstance(t, dict) for t in table))
        ):
            continue  # its owner checks it key by key
        if not isinstance(table, dict) or keys is None:
            raise UsageError(f"{cfg_path}: [{section}] must be a table")
        for key in table:
            if key not in keys:
                near = _near(key, keys)
                raise UsageError(f"{cfg_path}: unknown key {key!r} in [{section}]{near}")
    return cfg


def _near(word: str, known: object) -> str:
    close = get_close_matches(word, sorted(known), n=1)  # type: ignore[call-overload]
    return f" (did you mean {close[0]!r}?)" if close else ""


def overrides_from(args: argparse.Namespace) -> SeverityOverrides:
    """Command-line overrides on top of the config file's ``[rules] warn/ignore`` lists."""
    cfg = load_config(getattr(args, "config", None))
    rules_cfg = cfg.get("rules", {})
    warn = [*_codes(rules_cfg.get("warn", [])), *args.warn]
    ignore = [*_codes(rules_cfg.get("ignore", [])), *args.ignore]
    return checked_overrides(warn, ignore)


def checked_overrides(warn: Sequence[str], ignore: Sequence[str]) -> SeverityOverrides:
    """``--warn``/``--ignore`` codes (and ``[rules]``'), each checked against the rule
    catalogue: an unknown code names its nearest, a rule that is not a business rule is
    refused."""
    from gateway.documents.issues import RULES
    from gateway.validation.engine import load_all_rules

    if warn or ignore:
        load_all_rules()
    for code in (*warn, *ignore):
        rule = RULES.get(code)
        if rule is None:  # a rule of another step (policy, input)? explain knows them all
            from gateway.cli.explain import load_catalogue

            load_catalogue()
            rule = RULES.get(code)
        if rule is None:
            near = _near(code, [r.code for r in RULES.all()])
            raise UsageError(f"unknown rule code {code!r}{near} (see `gateway explain`)")
        if not rule.overridable:
            raise UsageError(
                f"{code} is a {rule.kind} rule and cannot be downgraded; only business rules "
                "can (--warn/--ignore)"
            )
    return SeverityOverrides.of(warn, ignore)


def _codes(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError("config: [rules] warn and ignore must be lists of rule codes")
    return value


def format_issue(source: str, i: Issue, severity: str | None = None) -> str:
    """``SOURCE:LINE: SEVERITY CODE [PATH]: MESSAGE`` (``severity``: the word, coloured)."""
    where = f"{source}:{i.location.line}" if i.location.line is not None else source
    path = f" [{i.location.path}]" if i.location.path else ""
    return f"{where}: {severity or i.severity} {i.code}{path}: {i.message}"


def add_pretty_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pretty",
        action="store_true",
        help="indent the output, XML (RIVTA, own XML, FHIR XML) and JSON alike; a signed "
        "certificate's signature no longer verifies after re-indenting, e.g. --pretty",
    )


def finish_output(data: bytes, pretty: bool = False) -> bytes:
    """What a command prints: indented on request, always ending in a newline."""
    if pretty:
        data = _indent(data)
    return data if data.endswith(b"\n") else data + b"\n"


def _indent(data: bytes) -> bytes:
    import orjson

    if data.lstrip()[:1] in (b"{", b"["):
        return orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2)
    from lxml import etree

    from gateway.formats.xmlsafe import parse_xml

    root = parse_xml(data).root  # our own output: well-formed, no DTD
    assert root is not None
    etree.indent(root, space="  ")
    tree = root.getroottree()
    if b"standalone=" in data[:200]:  # RIVTA certificates declare it
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=True)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
