"""Prometheus metrics (``GET /metrics``, text format, via prometheus_client).

Counters per kind, sender, recipient and outcome; accept latency and accepted-to-delivered
latency histograms; outbox depth, dead letters and the age of the oldest undelivered
delivery, read from the store at scrape time (so any process of a multi-process gateway
reports the shared figures). With ``gateway serve --workers N`` the counters of every process
are summed through prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR), except
``gateway_http_requests_total``, labelled by worker number: how evenly the processes share
the requests (SO_REUSEPORT).

``/metrics`` may be served only with a bearer token and/or only on its own address
(``[server.metrics]``, :func:`metrics_allowed`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.exchange.config import MetricsConfig
from gateway.exchange.store.base import AuditEntry, OutboxStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_DELIVERY = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        reg = None if self.multiprocess else self.registry
        self.messages = Counter(
            "gateway_messages",
            "Messages posted, by kind, sender and outcome (accepted, duplicate, conflict, "
            "rejected-<status>)",
            ["kind", "sender", "outcome"],
            registry=reg,
        )
        self.deliveries = Counter(
            "gateway_delivery_attempts",
            "Delivery attempts and acknowledgements, by kind, recipient and outcome "
            "(delivered, retry, dead)",
            ["kind", "recipient", "outcome"],
            registry=reg,
        )
        self.accept_seconds = Histogram(
            "gateway_accept_seconds",
            "From request received to 202 sent (durably stored)",
            buckets=_LATENCY,
            registry=reg,
        )
        self.requests = Counter(
            "gateway_http_requests",
            "HTTP requests answered, by worker process (0..N-1) and status class (2xx, 4xx …)",
            ["worker", "status"],
            registry=reg,
        )
        self.unavailable = Counter(
            "gateway_unavailable",
            "Requests answered 503 or 429, by reason (commit-queue-full, committer-fault, "
            "store, rate-limit)",
            ["reason"],
            registry=reg,
        )
        self.delivery_seconds = Histogram(
            "gateway_delivery_seconds",
            "From accepted to delivered (push) or acknowledged (pull)",
            ["recipient"],
            buckets=_DELIVERY,
            registry=reg,
        )

    def render(self, stats: OutboxStats | None, now: datetime) -> bytes:
        """The exposition text: this process's (or every process's) counters and the store's
        outbox figures."""
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        out = generate_latest(registry)
        gauges = CollectorRegistry()
        gauges.register(_OutboxCollector(stats, now))
        return out + generate_latest(gauges)


class _OutboxCollector:
    """The store's figures as gauges for one scrape (families, not Gauge objects: in
    multiprocess mode a Gauge would leave a file per process behind)."""

    def __init__(self, stats: OutboxStats | None, now: datetime) -> None:
        self.stats = stats
        self.now = now

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        oldest = s.oldest_undelivered if s is not None else None
        age = (self.now - oldest).total_seconds() if oldest is not None else 0.0
        figures = [
            ("gateway_outbox_depth", "Deliveries not yet final", s.depth if s else 0),
            ("gateway_outbox_dead", "Dead-lettered deliveries", s.dead if s else 0),
            (
                "gateway_outbox_oldest_undelivered_seconds",
                "Age of the oldest delivery not yet final (0: none)",
                age,
            ),
            ("gateway_store_up", "1 when the store answered this scrape", 1 if s else 0),
        ]
        for name, doc, value in figures:
            yield GaugeMetricFamily(name, doc, value=float(value))


def kind_of(audit: Iterable[AuditEntry]) -> str:
    """The document kind a refused message was validated as ("" when it was not readable),
    from its ``validated`` audit entry: a refusal is counted under its kind."""
    for entry in audit:
        if entry.action == "validated":
            return str(entry.detail.get("kind") or "")
    return ""


def unavailable_reason(exc: Exception) -> str:
    """The ``reason`` label of a 503."""
    from gateway.exchange.store.groupcommit import CommitFault, Full

    if isinstance(exc, Full):
        return "commit-queue-full"
    if isinstance(exc, CommitFault):
        return "committer-fault"
    return "store"


def metrics_allowed(
    request: web.Request, settings: MetricsConfig, *, own_address: bool = False
) -> web.Response | None:
    """``None`` when this request may read /metrics, else the answer: 404 on the main port
    when metrics have an address of their own, 401 without the configured bearer token."""
    if settings.port is not None and not own_address:
        return web.Response(status=404, text="metrics are served on their own address\n")
    if settings.token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        want = hashlib.sha256(settings.token.encode()).digest()
        got = hashlib.sha256(given.strip().encode()).digest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(want, got):
            return web.Response(
                status=401,
                text="a bearer token is required for /metrics\n",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return None


__all__ = ["CONTENT_TYPE", "Metrics", "kind_of", "metrics_allowed", "unavailable_reason"]
