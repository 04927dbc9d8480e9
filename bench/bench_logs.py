"""The server's log lines on the hot path: CPU per accepted-and-delivered message for its two
lines (access + delivered), JSON and human, beside the same calls with the level above them
(the baseline: what a call costs when nothing is written), in one run.

    .venv/bin/python bench/bench_logs.py
"""

from __future__ import annotations

import io
import logging
import time

from gateway.exchange import logs

ACCESS = {
    "event": "access",
    "method": "POST",
    "route": "/messages",
    "path": "/messages",
    "status": 202,
    "ms": 3.2,
    "bytes": 310,
    "principal": "region-vg",
    "remote": "127.0.0.1",
}
DELIVERED = {
    "event": "delivered",
    "delivery_id": "d6bdb788-264e-5669-86f5-2b5605c70540",
    "message_id": "msg-1",
    "recipient": "fk",
    "kind": "certificate",
    "attempt": 1,
    "verdict": "delivered",
}


def per_message(fmt: str, level: str, n: int = 20000) -> float:
    stream = io.StringIO()
    logs.setup(level, fmt, stream=stream, static={"worker": "0"})
    access, outbox = logging.getLogger("gateway.access"), logging.getLogger("gateway.outbox")
    start = time.process_time()
    for _ in range(n):
        access.info("%s %s %d", "POST", "/messages", 202, extra=ACCESS)
        outbox.info("delivered %s to %s", "d", "fk", extra=DELIVERED)
        stream.seek(0)
        stream.truncate()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    base = per_message("json", "error")
    for fmt in ("json", "human"):
        cost = per_message(fmt, "info")
        print(f"{fmt:5}: {cost:5.1f} µs CPU per message (2 lines); level above: {base:4.1f} µs")


if __name__ == "__main__":
    main()
