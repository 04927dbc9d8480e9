"""What only a terminal gets: colour (unless ``NO_COLOR``) and a progress bar on stderr."""

from __future__ import annotations

import os
import shutil
import time
from typing import TextIO

_CODES = {"red": "31", "green": "32", "yellow": "33", "dim": "2", "bold": "1"}


def wants_color(stream: TextIO) -> bool:
    """Colour on a terminal, never when ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


class Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, color: str) -> str:
        return f"\x1b[{_CODES[color]}m{text}\x1b[0m" if self.enabled else text


class Progress:
    """``[#####     ] 1234/5000 documents, 3 invalid`` on stderr, redrawn at most 10 times a
    second; ``clear()`` before anything else is written to the same terminal."""

    def __init__(self, stream: TextIO, total: int | None) -> None:
        self.stream, self.total = stream, total
        self.done = self.invalid = 0
        self._drawn = 0.0
        self._visible = False

    def update(self, valid: bool) -> None:
        self.done += 1
        self.invalid += not valid
        now = time.monotonic()
        if now - self._drawn >= 0.1:
            self._drawn = now
            self.draw()

    def draw(self) -> None:
        counts = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        line = f" {counts} documents, {self.invalid} invalid"
        if self.total:
            width = max(10, min(40, shutil.get_terminal_size().columns - len(line) - 4))
            filled = width * self.done // self.total
            line = f"[{'#' * filled}{' ' * (width - filled)}]" + line
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self._visible = True

    def clear(self) -> None:
        if self._visible:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._visible = False
