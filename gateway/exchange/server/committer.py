"""Group commit: requests arriving while a commit is on its way are committed together in
the next one, so one fsync carries many messages and each still gets its ``202`` only after
its own rows are on disk."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.exchange.store.base import AcceptResult, NewMessage, Store

_Item = tuple[NewMessage, "asyncio.Future[AcceptResult]"]


class Committer:
    def __init__(self, store: Store, max_batch: int) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="committer")

    async def submit(self, message: NewMessage) -> AcceptResult:
        """Commit ``message`` (with whatever else is waiting) and return its outcome."""
        future: asyncio.Future[AcceptResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((message, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                results = await self.store.accept([m for m, _ in batch])
            except Exception as exc:
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for (_, f), result in zip(batch, results, strict=True):
                if not f.done():
                    f.set_result(result)

    async def stop(self) -> None:
        """Commit what is queued (its senders wait for their answers), then end."""
        if self._task is not None:
            await self._queue.put(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
