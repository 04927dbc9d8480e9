"""CPU per accepted message, this tree beside a baseline (a git ref; unless told, the commit
this branch left ``main`` at), in one run: the accept pipeline alone (``router.receive``:
validate, route, policy, render, audit entries) for three messages, and the whole server
(``gateway serve --workers 1`` on SQLite, Försäkringskassan a ``gateway mock-recipient``:
accept and delivery).

    .venv/bin/python bench/bench_accept.py                     # against the merge base
    .venv/bin/python bench/bench_accept.py --baseline HEAD~3 --rounds 3

The baseline is ``git archive REF`` unpacked in a temporary directory and imported from there
(``PYTHONPATH``), with the same virtualenv. CPU ms per message (``time.process_time``
in-process, ``/proc`` for the server's process group) is the figure that holds on a shared
machine: the two engine runs of a round start together, so a neighbour's load falls on both
at once; the servers alternate round by round. msgs/s and latency are printed beside it but
move with the load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing
from bench_exchange import Server, gateway_config, measure, start, stop

ROOT = Path(__file__).resolve().parent.parent

#: Run in a subprocess with PYTHONPATH set to the tree under test; prints JSON.
ENGINE = r"""
import json, sys, time
from datetime import UTC, datetime
import orjson
import gateway
from gateway import FIXTURES_DIR
from gateway.exchange.config import parse
from gateway.exchange.router import Accepted, receive
try:
    from gateway.testkit.loopback import certificate_message
except ImportError:  # a baseline from before the test kit left the exchange (issue 16)
    from gateway.exchange.loopback import certificate_message

COUNT = int(sys.argv[1])
CERT = (FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes()
CERT_ID = b"9020fbb9-e387-40b0-ba75-0001"
ACME, ACME_2 = "5561234567", "5561234568"
push = {"kind": "fhir", "url": "https://127.0.0.1:1/fhir"}
config = parse({
    "server": {"database": "sqlite:///unused.db"},
    "senders": [{"id": "ehr", "token": "t", "kinds": ["certificate"],
                 "recipients": ["fk", "acme", "acme-2"]}],
    "recipients": [
        {"id": "fk", "role": "forsakringskassan", "organisation": "2021005521",
         "format": "xml", "push": {"kind": "rivta-soap", "url": "https://127.0.0.1:1/rivta",
                                   "logical_address": "2021005521"}},
        {"id": "acme", "role": "employer", "organisation": ACME,
         "format": "fhir-json", "push": push},
        {"id": "acme-2", "role": "employer", "organisation": ACME_2,
         "format": "fhir-json", "push": push},
    ],
}, source="bench")
sender = config.sender("ehr")
now = datetime.now(UTC)

def rivta(i):
    body = CERT.replace(CERT_ID, f"bench-{i:07d}".encode())
    return body, "application/xml", ("fk",)

def also_naming(body, organisation):
    # consent is to a named recipient: the employer consent names each employer's
    # organisation number (certificate_message's names Acme's)
    message = orjson.loads(body)
    for entry in message["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Consent":
            actor = dict(resource["provision"]["actor"][-1])
            actor["reference"] = {**actor["reference"], "identifier": {
                **actor["reference"]["identifier"], "value": organisation}}
            resource["provision"]["actor"].append(actor)
    return orjson.dumps(message)

def fhir(audiences, named, also=None):
    def make(i):
        body = certificate_message(CERT, audiences, message_id=f"bench-{i}")
        if also:
            body = also_naming(body, also)
        return body, "application/fhir+json", named
    return make

cases = {
    "RIVTA FK7804 -> FK": rivta,
    "FHIR message -> FK + employer": fhir(("forsakringskassan", "employer"), ("fk", "acme")),
    "FHIR message -> two employers": fhir(("employer",), ("acme", "acme-2"), ACME_2),
}
out = {"gateway": gateway.__file__}
for name, make in cases.items():
    inputs = [make(i) for i in range(COUNT)]
    for body, ctype, named in inputs[:50]:  # warm-up: caches, compiled schemas
        receive(body, content_type=ctype, named=named, sender=sender, config=config, now=now)
    t0 = time.process_time()
    for body, ctype, named in inputs:
        r = receive(body, content_type=ctype, named=named, sender=sender, config=config,
                    now=now)
        assert isinstance(r, Accepted), r
        assert all(d.payload is not None for d in r.message.deliveries), (name, r.message)
    out[name] = (time.process_time() - t0) * 1000 / COUNT
print(json.dumps(out))
"""


def baseline_tree(ref: str, into: Path) -> Path:
    return _timing.baseline_tree(ROOT, ref, into)


def engines_at_once(trees: dict[str, Path], count: int) -> dict[str, dict[str, float]]:
    """The engine run of every tree, started together (``_timing.at_once``)."""
    return _timing.at_once(trees, ["-c", ENGINE, str(count)], "the engine run")


def server_run(tree: Path, args: argparse.Namespace, tag: str) -> dict[str, float]:
    env = {"PYTHONPATH": str(tree)}
    gateway = [sys.executable, "-m", "gateway"]
    with tempfile.TemporaryDirectory(prefix="bench-accept-") as tmp:
        # the mock from this tree for every tree measured: the same harness (and --quiet)
        mock = start([*gateway, "mock-recipient", "--role", "forsakringskassan", "--quiet"])
        server: Server | None = None
        try:
            config = gateway_config(Path(tmp), f"{mock.url}/rivta", f"sqlite:///{tmp}/g.db", 1)
            server = start([*gateway, "serve", "--config", str(config), "--port", "0"], env=env)
            f = measure(tag, server, args, mock.url, f"{tag}{os.getpid()}")
        finally:
            if server is not None:
                stop(server)
            stop(mock)
    return {
        "cpu": f.cpu_ms,
        "rate": f.saturated.rate,
        "p50": f.saturated.percentile(50),
        "p99": f.saturated.percentile(99),
        "paced p50": f.at_rate.percentile(50),
        "paced p99": f.at_rate.percentile(99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--baseline", help="git ref to compare with (default: where this branch left main)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument("--engine-count", type=int, default=400, help="messages per case")
    parser.add_argument("--no-server", action="store_true", help="the engine only")
    parser.add_argument("--count", type=int, default=1500, help="saturated phase, messages")
    parser.add_argument("--seconds", type=float, default=15.0, help="saturated phase, at most")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0, help="paced phase, msgs/s")
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    parser.add_argument("--deliver-timeout", type=float, default=60.0)
    args = parser.parse_args()
    if args.baseline is None:
        args.baseline = subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()[:10]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        trees = {f"baseline ({args.baseline})": baseline_tree(args.baseline, Path(tmp)),
                 "this tree": ROOT}  # fmt: skip
        engines: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        servers: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name, result in engines_at_once(trees, args.engine_count).items():
                engines[name].append(result)
            order = list(trees.items())
            for i, (name, tree) in enumerate(order if r % 2 == 0 else order[::-1]):
                if not args.no_server:  # who goes first changes round by round
                    servers[name].append(server_run(tree, args, f"r{r}t{i}"))
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"{args.rounds} rounds; load average {load}")
    print(
        "\naccept pipeline alone (router.receive), CPU ms per message, both trees at once; "
        "best of the rounds (median)"
    )
    cases = list(next(iter(engines.values()))[0])
    print(f"{'':28}" + "".join(f"{c:>32}" for c in cases))
    for name, runs in engines.items():
        cells = [f"{min(r[c] for r in runs):.2f} ({median(r[c] for r in runs):.2f})" for c in cases]
        print(f"{name:28}" + "".join(f"{cell:>32}" for cell in cells))
    if args.no_server:
        return
    print(
        f"\nserver, accept + delivery (SQLite, 1 process, {args.concurrency} in flight; "
        f"paced at {args.rate:g}/s), the trees one after the other; medians of the rounds"
    )
    cols = ["cpu", "rate", "p50", "p99", "paced p50", "paced p99"]
    heads = ["CPU ms/msg", "msgs/s", "p50 ms", "p99 ms", "paced p50", "p99 ms"]
    print(f"{'':28}" + "".join(f"{h:>12}" for h in heads))
    for name, runs in servers.items():
        print(f"{name:28}" + "".join(f"{median(r[c] for r in runs):12.2f}" for c in cols))


if __name__ == "__main__":
    main()
