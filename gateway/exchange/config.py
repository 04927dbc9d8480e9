"""The exchange server's configuration: one TOML file (docs/exchange/configuration.md),
validated at start. Every problem is reported at once, each naming its key
(``recipients[2].push.url: …``), the way the validator reports documents.

Senders, recipients and routes are data: which sender may send which kinds to which
recipients is here, not in code.

The file itself is read by one reader, the command line's (``gateway.cli.common.load_config``),
which knows every section of ``gateway.toml``; :func:`parse` checks the server's sections key
by key (an unknown key names its nearest known one) and reads ``[rules]``' lists, whose codes
the command line checks against the rule catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from gateway.documents import DocumentKind, Recipient
from gateway.documents.issues import SeverityOverrides
from gateway.exchange.store import DEFAULT_URL
from gateway.formats.base import Format

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PUSH_KINDS = ("fhir", "rivta-soap")
#: The config file's tables that are the server's (``[rules]`` is the CLI's, shared).
SECTIONS = ("server", "delivery", "retention", "client_tls", "senders", "recipients", "users")
#: Roles of the people who log in to the console (gateway/console/, docs/console.md).
USER_ROLES = ("operator", "coordinator")
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
#: An attempt must end at least this long before its lease does (claim and settle take time).
LEASE_MARGIN_SECONDS = 1.0
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "human")


def did_you_mean(word: str, known: object) -> str:
    """`` (did you mean 'x'?)`` for the nearest of ``known``, or ``""``."""
    close = get_close_matches(word, sorted(known), n=1)  # type: ignore[call-overload]
    return f" (did you mean {close[0]!r}?)" if close else ""


class ConfigError(Exception):
    """The config is wrong; ``problems`` lists every one, each starting with its key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {p}" for p in self.problems)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: a certificate chain and key, and the CA bundle to verify the other side."""

    cert: str | None = None
    key: str | None = None
    ca: str | None = None


@dataclass(frozen=True)
class PushEndpoint:
    """Where a push recipient receives: ``fhir`` (POST over HTTPS) or ``rivta-soap``
    (RegisterCertificate / SendMessageToRecipient to Försäkringskassan)."""

    kind: str
    url: str
    logical_address: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per principal: ``per_second`` requests on average, bursts of ``burst``
    (``per_second = 0``: unlimited). Beyond it: ``429`` with ``Retry-After``."""

    per_second: float = 0.0
    burst: int = 0


@dataclass(frozen=True)
class RecipientConfig:
    id: str
    role: Recipient
    organisation: str  # organisation number or HSA-id
    format: Format
    push: PushEndpoint | None = None  # None: a pull recipient (GET /inbox)
    token: str | None = None  # pull recipients authenticate like senders
    identity: str | None = None  # mTLS identity (HSA-id / certificate CN)
    rate_limit: RateLimit | None = None  # None: the server's default

    @property
    def pull(self) -> bool:
        return self.push is None


@dataclass(frozen=True)
class SenderConfig:
    id: str
    kinds: frozenset[DocumentKind]
    recipients: tuple[str, ...]  # recipient ids this sender may send to
    token: str | None = None
    identity: str | None = None
    rate_limit: RateLimit | None = None  # None: the server's default
    #: the role and organisation the sender acts for (the plan index: who sees what);
    #: unset, those of the recipient with the same id, if any
    role: Recipient | None = None
    organisation: str | None = None


@dataclass(frozen=True)
class UserConfig:
    """A person who logs in to the console: an ``operator`` (metadata of every message) or a
    ``coordinator`` bound to the ``organisation`` (HSA-id or organisation number) whose
    patients' coordination they may see, acting in ``actor_role`` (the policy's audience
    whose view of the plan index they get: a region's coordinator, an employer's HR ...)."""

    id: str
    role: str
    organisation: str | None = None
    token: str | None = None  # development
    identity: str | None = None  # mTLS identity (HSA-id / certificate CN)
    actor_role: Recipient | None = None  # a coordinator's; unset: region


@dataclass(frozen=True)
class DeliveryConfig:
    """Guaranteed Delivery: leases, retries with exponential backoff and jitter, dead letter."""

    lease_seconds: float = 30.0
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    backoff_multiplier: float = 2.0
    max_attempts: int = 10
    concurrency: int = 16  # attempts in flight per process
    poll_seconds: float = 0.5  # how often an idle worker looks for due deliveries
    shutdown_grace_seconds: float = 10.0


@dataclass(frozen=True)
class RetentionConfig:
    """Payloads of delivered messages are purged after ``payload_days``; metadata, hashes
    and the audit trail stay."""

    payload_days: float = 30.0
    purge_interval_seconds: float = 3600.0


@dataclass(frozen=True)
class MetricsConfig:
    """Who may read ``/metrics``: anyone who reaches the port (default), only callers with
    ``Authorization: Bearer <token>``, and/or only on a separate address (``port``: then the
    main port does not serve it)."""

    token: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    database: str = DEFAULT_URL
    workers: int = 1
    max_body_bytes: int = 2 * 1024 * 1024
    tls: TlsFiles | None = None  # HTTPS with client certificates (mTLS) when set
    commit_batch: int = 256  # messages per group commit at most
    commit_queue: int = 4096  # requests waiting for a commit at most; then 503
    rate_limit: RateLimit = field(default_factory=RateLimit)  # per principal, per process
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    log_level: str = "info"
    log_format: str = "json"
    access_log: bool = True


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    client_tls: TlsFiles | None = None  # the gateway's own certificate for push deliveries
    senders: tuple[SenderConfig, ...] = ()
    recipients: tuple[RecipientConfig, ...] = ()
    #: ``[rules]``: business rules downgraded or dropped, as ``gateway validate`` does
    rules: SeverityOverrides = field(default_factory=SeverityOverrides)
    users: tuple[UserConfig, ...] = ()

    def recipient(self, recipient_id: str) -> RecipientConfig | None:
        return next((r for r in self.recipients if r.id == recipient_id), None)

    def sender(self, sender_id: str) -> SenderConfig | None:
        return next((s for s in self.senders if s.id == sender_id), None)


class _Reader:
    """Reads a TOML table, collecting problems keyed by their path instead of raising."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.problems.append(f"{path}: must be a table")
            return {}
        return value

    def subtable(
        self, data: Any, keys: set[str], path: str, example: str = ""
    ) -> Mapping[str, Any] | None:
        """An optional inner table with these keys; ``None`` when absent or not a table."""
        if data is None:
            return None
        if not isinstance(data, Mapping):
            self.problems.append(f"{path}: must be a table{example}")
            return None
        self.known(data, keys, path)
        return data

    def known(self, data: Mapping[str, Any], keys: set[str], path: str) -> None:
        for k in data:
            if k not in keys:
                where = f"{path}.{k}" if path else k
                near = did_you_mean(k, keys)
                self.problems.append(
                    f"{where}: unknown key{near} (known: {', '.join(sorted(keys))})"
                )

    def get(self, data: Mapping[str, Any], key: str, path: str, typ: type, default: Any) -> Any:
        value = data.get(key, default)
        if value is None:
            return None
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            what = _TYPE_NAMES.get(typ, typ.__name__)
            self.problems.append(f"{path}.{key}: must be {what}, not {value!r}")
            return default
        return value

    def positive(
        self, data: Mapping[str, Any], key: str, path: str, typ: type, default: Any
    ) -> Any:
        value = self.get(data, key, path, typ, default)
        if value is not None and value <= 0:
            self.problems.append(f"{path}.{key}: must be greater than 0, not {value!r}")
            return default
        return value

    def required(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{path}.{key}: required (a non-empty string)")
            return None
        return value


def parse(
    data: Mapping[str, Any], *, source: str = "config", overrides: Mapping[str, Any] | None = None
) -> Config:
    """Check the config file's tables (as the CLI's reader read them; ``overrides``: ``[server]``
    keys from the command line); every problem at once in one :class:`ConfigError`."""
    r = _Reader()
    r.known(data, {*SECTIONS, "rules", "fhir"}, "")  # [fhir]: cli/fhir_base.py
    server = _server(r, {**r.table(data, "server", "server"), **(overrides or {})})
    delivery = _delivery(r, r.table(data, "delivery", "delivery"))
    rules = _rules(r, r.table(data, "rules", "rules"))
    retention = _retention(r, r.table(data, "retention", "retention"))
    client_tls = _tls(r, data.get("client_tls"), "client_tls")
    recipients = tuple(
        x for i, item in enumerate(_list(r, data, "recipients")) if (x := _recipient(r, item, i))
    )
    senders = tuple(
        s for i, item in enumerate(_list(r, data, "senders")) if (s := _sender(r, item, i))
    )
    users = tuple(u for i, item in enumerate(_list(r, data, "users")) if (u := _user(r, item, i)))
    named = {i.get("id") for i in _list(_Reader(), data, "recipients")}  # also invalid ones
    _cross_check(r, senders, recipients, {x for x in named if isinstance(x, str)}, users)
    _timeouts_within_leases(r, recipients, delivery)
    if r.problems:
        raise ConfigError(source, r.problems)
    return Config(server, delivery, retention, client_tls, senders, recipients, rules, users)


def _rules(r: _Reader, d: Mapping[str, Any]) -> SeverityOverrides:
    """``[rules] warn/ignore``: lists of codes (which codes exist is the CLI's to check)."""
    r.known(d, {"warn", "ignore"}, "rules")
    lists: dict[str, list[str]] = {}
    for key in ("warn", "ignore"):
        value = d.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            r.problems.append(f"rules.{key}: must be a list of rule codes")
            value = []
        lists[key] = value
    return SeverityOverrides.of(lists["warn"], lists["ignore"])


def _timeouts_within_leases(
    r: _Reader, recipients: tuple[RecipientConfig, ...], delivery: DeliveryConfig
) -> None:
    """An attempt that outlives its lease may be claimed and sent again by another process:
    every push timeout must end at least LEASE_MARGIN_SECONDS before the lease does."""
    for i, rcp in enumerate(recipients):
        timeout = rcp.push.timeout if rcp.push is not None else 0.0
        if timeout + LEASE_MARGIN_SECONDS > delivery.lease_seconds:
            r.problems.append(
                f"recipients[{i}].push.timeout: {timeout:g} s can outlive its lease "
                f"(delivery.lease_seconds = {delivery.lease_seconds:g}): an attempt must end at "
                f"least {LEASE_MARGIN_SECONDS:g} s before its lease; lower the timeout or raise "
                "lease_seconds"
            )


def _list(r: _Reader, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        r.problems.append(f"{key}: must be an array of tables ([[{key}]])")
        return []
    return items


_SERVER_KEYS = {
    "host",
    "port",
    "database",
    "workers",
    "max_body_bytes",
    "tls",
    "commit_batch",
    "commit_queue",
    "rate_limit",
    "metrics",
    "log_level",
    "log_format",
    "access_log",
}


def _port(r: _Reader, d: Mapping[str, Any], p: str, default: int | None) -> int | None:
    port: int | None = r.get(d, "port", p, int, default)
    if port is not None and not 0 <= port <= 65535:
        r.problems.append(f"{p}.port: must be 0..65535, not {port}")
    return port


def _choice(
    r: _Reader, d: Mapping[str, Any], key: str, p: str, choices: tuple[str, ...], default: str
) -> str:
    value = r.get(d, key, p, str, default)
    if value not in choices:
        r.problems.append(f"{p}.{key}: {value!r} is not one of {', '.join(choices)}")
        return default
    return str(value)


def _rate_limit(r: _Reader, data: Any, p: str) -> RateLimit | None:
    example = ", e.g. { per_second = 20, burst = 40 }"
    d = r.subtable(data, {"per_second", "burst"}, p, example)
    if d is None:
        return None
    per_second = r.get(d, "per_second", p, float, 0.0)
    if per_second < 0:
        r.problems.append(f"{p}.per_second: must be 0 (unlimited) or more, not {per_second!r}")
        per_second = 0.0
    burst = r.get(d, "burst", p, int, max(1, int(per_second)))
    if per_second and burst < 1:
        r.problems.append(f"{p}.burst: must be at least 1, not {burst!r}")
        burst = 1
    return RateLimit(per_second, burst)


def _metrics(r: _Reader, data: Any, p: str) -> MetricsConfig:
    d = r.subtable(data, {"token", "host", "port"}, p)
    if d is None:
        return MetricsConfig()
    return MetricsConfig(
        token=r.get(d, "token", p, str, None),
        host=r.get(d, "host", p, str, "127.0.0.1"),
        port=_port(r, d, p, None),
    )


def _server(r: _Reader, d: Mapping[str, Any]) -> ServerConfig:
    p = "server"
    r.known(d, _SERVER_KEYS, p)
    port = _port(r, d, p, 8080)
    database = r.get(d, "database", p, str, DEFAULT_URL)
    if not database.startswith(("sqlite:", "postgresql:", "postgres:")):
        r.problems.append(f"{p}.database: must be sqlite:///PATH or postgresql://…")
    tls = _tls(r, d.get("tls"), f"{p}.tls")
    if tls is not None and (tls.cert is None or tls.key is None):
        r.problems.append(f"{p}.tls: needs cert and key (and ca to verify client certificates)")
    return ServerConfig(
        host=r.get(d, "host", p, str, "127.0.0.1"),
        port=port if port is not None else 8080,
        database=database,
        workers=r.positive(d, "workers", p, int, 1),
        max_body_bytes=r.positive(d, "max_body_bytes", p, int, 2 * 1024 * 1024),
        tls=tls,
        commit_batch=r.positive(d, "commit_batch", p, int, 256),
        commit_queue=r.positive(d, "commit_queue", p, int, 4096),
        rate_limit=_rate_limit(r, d.get("rate_limit"), f"{p}.rate_limit") or RateLimit(),
        metrics=_metrics(r, d.get("metrics"), f"{p}.metrics"),
        log_level=_choice(r, d, "log_level", p, LOG_LEVELS, "info"),
        log_format=_choice(r, d, "log_format", p, LOG_FORMATS, "json"),
        access_log=r.get(d, "access_log", p, bool, True),
    )


def _tls(r: _Reader, data: Any, p: str) -> TlsFiles | None:
    d = r.subtable(data, {"cert", "key", "ca"}, p)
    if d is None:
        return None
    files = {k: r.get(d, k, p, str, None) for k in ("cert", "key", "ca")}
    for k, v in files.items():
        if v is not None and not Path(v).is_file():
            r.problems.append(f"{p}.{k}: file not found: {v}")
    return TlsFiles(**files)


def _delivery(r: _Reader, d: Mapping[str, Any]) -> DeliveryConfig:
    p = "delivery"
    base = DeliveryConfig()
    keys = {k for k in base.__dataclass_fields__}
    r.known(d, keys, p)
    values = {
        k: r.positive(d, k, p, type(getattr(base, k)), getattr(base, k)) for k in sorted(keys)
    }
    out = DeliveryConfig(**values)
    if out.max_backoff_seconds < out.initial_backoff_seconds:
        r.problems.append(f"{p}.max_backoff_seconds: must be at least initial_backoff_seconds")
    if out.backoff_multiplier < 1:
        r.problems.append(f"{p}.backoff_multiplier: must be at least 1")
    return out


def _retention(r: _Reader, d: Mapping[str, Any]) -> RetentionConfig:
    p = "retention"
    r.known(d, {"payload_days", "purge_interval_seconds"}, p)
    return RetentionConfig(
        payload_days=r.positive(d, "payload_days", p, float, 30.0),
        purge_interval_seconds=r.positive(d, "purge_interval_seconds", p, float, 3600.0),
    )


def _ident(r: _Reader, d: Mapping[str, Any], p: str) -> str | None:
    value = r.required(d, "id", p)
    if value is not None and not _ID.match(value):
        r.problems.append(f"{p}.id: {value!r} must be letters, digits, '.', '_' or '-'")
        return None
    return value


def _recipient(r: _Reader, d: Mapping[str, Any], i: int) -> RecipientConfig | None:
    p = f"recipients[{i}]"
    r.known(
        d,
        {"id", "role", "organisation", "format", "push", "pull", "token", "identity", "rate_limit"},
        p,
    )
    rid = _ident(r, d, p)
    role = _role(r, p, "role", r.required(d, "role", p))
    organisation = r.required(d, "organisation", p)
    fmt_text = r.get(d, "format", p, str, "fhir-json")
    fmt = None
    try:
        fmt = Format(fmt_text)
    except ValueError:
        known = ", ".join(x.value for x in Format)
        r.problems.append(f"{p}.format: {fmt_text!r} is not one of {known}")
    push = None
    push_data = d.get("push")
    pull = r.get(d, "pull", p, bool, False)
    if push_data is not None and pull:
        r.problems.append(f"{p}: either push or pull = true, not both")
    elif push_data is None and not pull:
        r.problems.append(f"{p}: needs a push endpoint ([recipients.push]) or pull = true")
    elif push_data is not None:
        push = _push(r, push_data, f"{p}.push")
    token = r.get(d, "token", p, str, None)
    identity = r.get(d, "identity", p, str, None)
    if pull and token is None and identity is None:
        r.problems.append(f"{p}: a pull recipient needs a token or an identity to fetch its inbox")
    if rid is None or role is None or organisation is None or fmt is None:
        return None
    if push_data is not None and push is None:
        return None
    limit = _rate_limit(r, d.get("rate_limit"), f"{p}.rate_limit")
    return RecipientConfig(rid, role, organisation, fmt, push, token, identity, limit)


def _push(r: _Reader, data: Any, p: str) -> PushEndpoint | None:
    d = r.subtable(data, {"kind", "url", "logical_address", "timeout"}, p)  # the caller passes one
    if d is None:
        return None
    kind = r.get(d, "kind", p, str, "fhir")
    if kind not in PUSH_KINDS:
        r.problems.append(f"{p}.kind: {kind!r} is not one of {', '.join(PUSH_KINDS)}")
    url = r.required(d, "url", p)
    if url is not None and not url.startswith(("https://", "http://")):
        r.problems.append(f"{p}.url: must be an https:// (or, for tests, http://) URL")
        url = None
    timeout = r.positive(d, "timeout", p, float, 10.0)
    if url is None or kind not in PUSH_KINDS:
        return None
    return PushEndpoint(kind, url, r.get(d, "logical_address", p, str, None), timeout)


def _sender(r: _Reader, d: Mapping[str, Any], i: int) -> SenderConfig | None:
    p = f"senders[{i}]"
    r.known(
        d,
        {"id", "token", "identity", "kinds", "recipients", "rate_limit", "role", "organisation"},
        p,
    )
    sid = _ident(r, d, p)
    role = _role(r, p, "role", r.get(d, "role", p, str, None))
    token = r.get(d, "token", p, str, None)
    identity = r.get(d, "identity", p, str, None)
    if token is None and identity is None:
        r.problems.append(f"{p}: needs a token (development) or an identity (mTLS) to log in")
    kinds: set[DocumentKind] = set()
    raw_kinds = d.get("kinds", [])
    if not isinstance(raw_kinds, list) or not raw_kinds:
        r.problems.append(f"{p}.kinds: a non-empty list of document kinds")
        raw_kinds = []
    for k in raw_kinds:
        try:
            kinds.add(DocumentKind(k))
        except ValueError:
            known = ", ".join(x.value for x in DocumentKind)
            r.problems.append(f"{p}.kinds: {k!r} is not one of {known}")
    recipients = d.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(x, str) for x in recipients):
        r.problems.append(f"{p}.recipients: a list of recipient ids")
        recipients = []
    limit = _rate_limit(r, d.get("rate_limit"), f"{p}.rate_limit")
    if sid is None:
        return None
    organisation = r.get(d, "organisation", p, str, None)
    return SenderConfig(
        sid, frozenset(kinds), tuple(recipients), token, identity, limit, role, organisation
    )


def _user(r: _Reader, d: Mapping[str, Any], i: int) -> UserConfig | None:
    p = f"users[{i}]"
    r.known(d, {"id", "role", "organisation", "actor_role", "token", "identity"}, p)
    uid = _ident(r, d, p)
    role = r.required(d, "role", p)
    if role is not None and role not in USER_ROLES:
        r.problems.append(f"{p}.role: {role!r} is not one of {', '.join(USER_ROLES)}")
        role = None
    organisation = r.get(d, "organisation", p, str, None)
    if role == "coordinator" and not (organisation or "").strip():
        r.problems.append(f"{p}.organisation: required for a coordinator (HSA-id or org. number)")
    if role == "operator" and organisation is not None:
        r.problems.append(f"{p}.organisation: an operator sees every organisation; remove it")
    actor_text = r.get(d, "actor_role", p, str, None)
    if actor_text is not None and role != "coordinator":
        r.problems.append(f"{p}.actor_role: only a coordinator acts in a role; remove it")
    actor_role = _role(r, p, "actor_role", actor_text)
    if actor_text is None and role == "coordinator":
        actor_role = Recipient.REGION
    token = r.get(d, "token", p, str, None)
    identity = r.get(d, "identity", p, str, None)
    if token is None and identity is None:
        r.problems.append(f"{p}: needs a token (development) or an identity (mTLS) to log in")
    if uid is None or role is None:
        return None
    return UserConfig(uid, role, organisation, token, identity, actor_role)


def _role(r: _Reader, p: str, key: str, text: str | None) -> Recipient | None:
    """A recipient role by its name (``None`` when not given, or not one: reported)."""
    if text is None:
        return None
    try:
        return Recipient(text)
    except ValueError:
        known = ", ".join(x.value for x in Recipient)
        r.problems.append(f"{p}.{key}: {text!r} is not one of {known}")
        return None


def _cross_check(
    r: _Reader,
    senders: tuple[SenderConfig, ...],
    recipients: tuple[RecipientConfig, ...],
    named: set[str],
    users: tuple[UserConfig, ...] = (),
) -> None:
    """Across entries; ``named`` holds every recipient id written, valid or not, so one bad
    recipient is reported once, not again by every sender that names it."""
    _twice(r, "recipients", [x.id for x in recipients])
    _twice(r, "senders", [x.id for x in senders])
    for i, s in enumerate(senders):
        for rid in s.recipients:
            if rid not in named:
                r.problems.append(f"senders[{i}].recipients: {rid!r} is no configured recipient")
    _twice(r, "users", [x.id for x in users])
    _shared_credentials(r, [*senders, *recipients], users)


def _twice(r: _Reader, section: str, ids: list[str]) -> None:
    for dup in sorted({x for x in ids if ids.count(x) > 1}):
        r.problems.append(f"{section}: id {dup!r} is used twice")


def _shared_credentials(
    r: _Reader, systems: list[SenderConfig | RecipientConfig], users: tuple[UserConfig, ...]
) -> None:
    """One token or identity, one party: a system's opens the API as that system, a person's
    the console only."""
    seen: dict[str, str] = {}
    for who in systems:
        for cred in (who.token, who.identity):
            if cred is None:
                continue
            if cred in seen and seen[cred] != who.id:
                r.problems.append(f"{who.id}: shares a token or identity with {seen[cred]!r}")
            seen[cred] = who.id
    for u in users:
        for cred in (u.token, u.identity):
            if cred is not None and cred in seen:
                r.problems.append(f"users: {u.id!r} shares a token or identity with {seen[cred]!r}")
            if cred is not None:
                seen[cred] = u.id


__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "SECTIONS",
    "Config",
    "ConfigError",
    "DeliveryConfig",
    "MetricsConfig",
    "PushEndpoint",
    "RateLimit",
    "RecipientConfig",
    "RetentionConfig",
    "SenderConfig",
    "ServerConfig",
    "TlsFiles",
    "UserConfig",
    "did_you_mean",
    "parse",
]
