"""Group commit, the one implementation: callers that arrive while a commit is on its way are
committed together in the next one, so one fsync carries many of them and each caller still
hears its own result only after its rows are on disk. The server's accepts
(:mod:`gateway.exchange.server.committer`) and SQLite's settlements use it.

Bounded and supervised:

* at most ``max_pending`` callers wait; one more is refused at once with :class:`Full` (the
  server answers ``503`` with ``Retry-After``: a resend is safe, the receiver is idempotent);
* a failed commit fails the callers of that batch only, with its error;
* a fault of the committer itself (anything raised outside a commit, e.g. a store that
  answers a batch with the wrong number of results) fails every caller it holds with
  :class:`CommitFault`, and the committer restarts after ``restart_after`` seconds;
  meanwhile :attr:`GroupCommit.fault` says why (``GET /ready`` answers 503 with it) and new
  callers are refused with :class:`CommitFault`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from gateway.exchange.store.base import StoreError

I = TypeVar("I")  # noqa: E741 - an item to commit
R = TypeVar("R")

log = logging.getLogger("gateway.store")


class Full(StoreError):
    """Too many callers wait for a commit: try again shortly."""


class CommitFault(StoreError):
    """The committer failed outside a commit and is restarting."""


class GroupCommit(Generic[I, R]):
    def __init__(
        self,
        commit: Callable[[list[I]], Awaitable[Sequence[R]]],
        *,
        max_batch: int,
        max_pending: int | None = None,
        name: str = "committer",
        restart_after: float = 1.0,
    ) -> None:
        self.commit = commit
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.name = name
        self.restart_after = restart_after
        #: why the committer is down (restarting after a fault), ``None`` while it works
        self.fault: str | None = None
        self.faults = 0
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._held: list[tuple[I, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name=self.name)

    async def submit(self, item: I) -> R:
        """Commit ``item`` with whatever else is waiting; its result once committed."""
        if self.fault is not None:
            raise CommitFault(f"{self.name} is restarting after a fault ({self.fault})")
        if self.max_pending is not None and len(self._pending) >= self.max_pending:
            raise Full(f"{self.name}: {len(self._pending)} commits waiting; try again shortly")
        if self._task is None or self._task.done():
            if self._stopping:
                raise StoreError(f"{self.name} is stopping")
            self.start()  # started on first use (SQLite's settlements)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wake.set()
        return await future

    async def _supervise(self) -> None:
        while True:
            try:
                await self._run()
                return
            except Exception as exc:
                self.faults += 1
                self.fault = f"{type(exc).__name__}: {exc}"
                log.error(
                    "%s failed; restarting in %.1f s",
                    self.name,
                    self.restart_after,
                    extra={"event": "committer-fault", "error": type(exc).__name__},
                )
                held, self._held = self._held + self._pending, []
                self._pending = []
                for _, f in held:
                    if not f.done():
                        f.set_exception(CommitFault(f"{self.name} failed ({self.fault})"))
                if self._stopping:
                    return
                await asyncio.sleep(self.restart_after)
                self.fault = None

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self._held = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                results = await self.commit([item for item, _ in self._held])
            except Exception as exc:  # this batch failed: its callers hear why
                for _, f in self._held:
                    if not f.done():
                        f.set_exception(exc)
                self._held = []
                continue
            if len(results) != len(self._held):
                raise RuntimeError(f"{len(results)} results for {len(self._held)} items")
            for (_, f), result in zip(self._held, results, strict=True):
                if not f.done():
                    f.set_result(result)
            self._held = []

    async def stop(self) -> None:
        """Commit what is waiting (its callers get their results), then end."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            if self.fault is not None:  # asleep before a restart: nothing is held
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["CommitFault", "Full", "GroupCommit"]
