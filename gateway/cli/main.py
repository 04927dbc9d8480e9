"""``gateway`` command line (CLI.md)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    del argv
    print("gateway: commands are being built", file=sys.stderr)
    return 2
