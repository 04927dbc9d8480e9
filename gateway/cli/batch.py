"""Batches for ``gateway validate``: find the documents lazily, validate them in this process
or spread over worker processes, and hand back slim results in input order as they finish.

Nothing grows with the batch: paths are walked one directory at a time, at most a few chunks
are in flight, and a result keeps the verdict and issues, never the document model.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.pool
import os
import signal
import stat
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gateway.documents.issues import (
    RULES,
    Issue,
    Location,
    RuleKind,
    Severity,
    SeverityOverrides,
    issue,
)
from gateway.harness import is_document_file, is_sidecar

if TYPE_CHECKING:
    from gateway.documents.common import DocumentKind
    from gateway.formats.base import Format

UNREADABLE = RULES.define(
    "INPUT-UNREADABLE",
    "Input cannot be read",
    RuleKind.SYNTAX,
    "The file could not be read (it does not exist, permission is denied, it is a directory "
    "where a file was expected, a device, or larger than the gateway reads). It gets this one "
    "result and the rest of the batch goes on; the exit code is 2.",
)
INTERNAL = RULES.define(
    "INPUT-INTERNAL-ERROR",
    "The gateway failed on this input",
    RuleKind.SYNTAX,
    "Validating this document raised an error inside the gateway: a bug in the gateway, not "
    "in the document. The rest of the batch goes on. Run with GATEWAY_DEBUG=1 to see it.",
)

#: Read at most this much of a file: beyond every parser's own bound (XML-LIMIT is 5 MiB).
MAX_READ = 64 * 1024 * 1024
#: Below this many documents a batch is validated in this process: forking the workers and
#: shipping them work costs some tens of milliseconds, the time of ~100 certificates.
PARALLEL_FROM = 200
#: Documents per task sent to a worker, and tasks in flight per worker.
CHUNK = 32
IN_FLIGHT = 3


@dataclass(frozen=True, slots=True)
class Result:
    """What a batch keeps of one validation (picklable, no document model)."""

    source: str
    kind: str | None
    subtype: str | None
    format: str | None
    valid: bool
    issues: tuple[Issue, ...]
    unreadable: bool = False

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Crosses from a worker as plain values: pickling the dataclasses and enums as such
        # costs ~20 µs a result, a few per cent of validating the document.
        issues = tuple(
            (str(i.severity), i.code, i.location.path, i.location.line, i.message)
            for i in self.issues
        )
        fields = (self.source, self.kind, self.subtype, self.format, self.valid)
        return _result, (*fields, issues, self.unreadable)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "kind": self.kind,
            "subtype": self.subtype,
            "format": self.format,
            "valid": self.valid,
            "issues": [i.to_dict() for i in self.issues],
        }


def _result(
    source: str,
    kind: str | None,
    subtype: str | None,
    fmt: str | None,
    valid: bool,
    issues: tuple[tuple[str, str, str, int | None, str], ...],
    unreadable: bool,
) -> Result:
    found = tuple(
        Issue(Severity(severity), code, Location(path, line), message)
        for severity, code, path, line, message in issues
    )
    return Result(source, kind, subtype, fmt, valid, found, unreadable)


@dataclass(frozen=True)
class Settings:
    kind: DocumentKind | None = None
    fmt: Format | None = None
    overrides: SeverityOverrides | None = None


# --- finding the documents -------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which files of a directory are documents: ``--include``/``--exclude`` globs, matched
    case-insensitively against the file name and the path below the directory (default:
    ``.xml`` and ``.json`` files; a fixture's sidecars never)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def wants(self, rel: str) -> bool:
        name = rel.rpartition("/")[2]
        if self.include:
            if not _matches(rel, name, self.include) or is_sidecar(name):
                return False
        elif not is_document_file(Path(name)):
            return False
        return not _matches(rel, name, self.exclude)


def _matches(rel: str, name: str, patterns: Iterable[str]) -> bool:
    rel, name = rel.lower(), name.lower()
    return any(fnmatchcase(name, p.lower()) or fnmatchcase(rel, p.lower()) for p in patterns)


class Missing(Exception):
    """A directory without documents: said on stderr, the batch goes on, exit code 2."""


def iter_sources(
    paths: list[str], selection: Selection | None = None, on_empty: list[str] | None = None
) -> Iterator[str]:
    """Files as given, ``-``, and directories walked depth-first in sorted order (the order of
    sorting the full paths), one directory listed at a time. A directory that holds no
    document is appended to ``on_empty``."""
    selection = selection or Selection()
    for p in paths or ["-"]:
        if p != "-" and os.path.isdir(p):
            found = False
            for f in _walk(p, "", selection):
                found = True
                yield f
            if not found and on_empty is not None:
                on_empty.append(p)
        else:
            yield p


def _walk(top: str, rel: str, selection: Selection) -> Iterator[str]:
    here = os.path.join(top, rel) if rel else top
    try:
        entries = sorted(os.scandir(here), key=lambda e: e.name)
    except OSError:
        yield here  # reported as unreadable by the validation of this one source
        return
    for e in entries:
        sub = f"{rel}/{e.name}" if rel else e.name
        if e.is_dir(follow_symlinks=False):  # a link to a directory could loop
            yield from _walk(top, sub, selection)
        elif selection.wants(sub):
            yield os.path.join(top, sub)


# --- validating ------------------------------------------------------------------------------

_settings = Settings()


def _init(settings: Settings) -> None:
    global _settings
    _settings = settings
    # Ctrl-C is the parent's to handle (it stops the pool): no traceback from every worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def read_source(source: str) -> bytes | Issue:
    try:
        if source == "-":
            data = read_bounded(sys.stdin.buffer)
        else:
            with open(source, "rb", buffering=0) as f:
                data = read_bounded(f)
    except OSError as exc:
        return issue(UNREADABLE, f"cannot read: {exc.strerror or type(exc).__name__}")
    if data is None:
        return issue(UNREADABLE, f"larger than {MAX_READ // (1024 * 1024)} MiB")
    return data


def read_bounded(f: BinaryIO) -> bytes | None:
    """The whole of ``f``, None when it is larger than :data:`MAX_READ`. A regular file is
    read in one call sized from ``fstat``: ``read(MAX_READ + 1)`` would map and shrink a
    64 MiB buffer for every file (27 µs for a 6 KB certificate instead of 7, and the stages
    after it paid for the mapping too). A pipe, or a file that grew since, is read on in 1 MiB
    steps."""
    try:
        info = os.fstat(f.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else 0
    except (OSError, ValueError):  # no file behind it (a test's stdin): read it in steps
        size = 0
    if size > MAX_READ:
        return None
    data = f.read(size + 1)  # one byte more: whether it ends where fstat said
    if len(data) <= size:
        return data
    chunks, total = [data], len(data)
    while total <= MAX_READ:
        chunk = f.read(min(1 << 20, MAX_READ + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return None if total > MAX_READ else b"".join(chunks)


def check(source: str, data: bytes | None = None, settings: Settings | None = None) -> Result:
    """Read (unless ``data`` is given) and validate one source."""
    from gateway.validation.service import validate_bytes

    s = settings or _settings
    got = read_source(source) if data is None else data
    if isinstance(got, Issue):
        return Result(source, None, None, None, False, (got,), unreadable=True)
    try:
        v = validate_bytes(got, source=source, kind=s.kind, fmt=s.fmt, overrides=s.overrides)
    except Exception:
        if os.environ.get("GATEWAY_DEBUG"):
            raise
        found = issue(INTERNAL, "the gateway failed on this document (a bug in the gateway)")
        return Result(source, None, None, None, False, (found,))
    return Result(
        source,
        str(v.kind) if v.kind else None,
        v.subtype,
        str(v.format) if v.format else None,
        v.valid,
        tuple(v.issues),
    )


def _check_chunk(sources: list[str]) -> list[Result]:
    return [check(s) for s in sources]


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def validate_all(sources: Iterator[str], settings: Settings, jobs: int | None) -> Iterator[Result]:
    """Results in input order. ``jobs=None``: every core, once the batch is big enough to pay
    for worker processes; ``jobs=1``: this process only."""
    first = list(islice(sources, PARALLEL_FROM))
    workers = jobs if jobs is not None else default_jobs()
    if workers <= 1 or (jobs is None and len(first) < PARALLEL_FROM):
        for s in first:
            yield check(s, settings=settings)
        for s in sources:
            yield check(s, settings=settings)
        return
    # The first document is validated here: the codecs and schemas it loads are then shared
    # by every forked worker instead of loaded in each.
    for s in first[:1]:
        yield check(s, settings=settings)
    rest = _chain(first[1:], sources)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    gc.freeze()  # what the workers inherit stays shared: their collector never touches it
    with ctx.Pool(workers, initializer=_init, initargs=(settings,)) as pool:
        pending: deque[tuple[list[str], multiprocessing.pool.AsyncResult[list[Result]]]] = deque()
        for chunk in _chunks(rest, CHUNK):
            if "-" in chunk:  # stdin can only be read here: this chunk is validated here
                while pending:
                    yield from pending.popleft()[1].get()
                for s in chunk:
                    yield check(s, settings=settings)
                continue
            pending.append((chunk, pool.apply_async(_check_chunk, (chunk,))))
            if len(pending) >= workers * IN_FLIGHT:
                yield from pending.popleft()[1].get()
        while pending:
            yield from pending.popleft()[1].get()


def _chain(head: list[str], tail: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from tail


def _chunks(items: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(islice(items, size)):
        yield chunk
