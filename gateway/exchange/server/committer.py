"""The server's group commit of accepts (:class:`gateway.exchange.store.groupcommit.GroupCommit`
over :meth:`Store.accept`): requests arriving while a commit is on its way are committed
together in the next one, so one fsync carries many messages and each still gets its ``202``
only after its own rows are on disk. Bounded (``server.commit_queue``): a request beyond it
is answered ``503`` with ``Retry-After``. After a commit that stored push deliveries the
outbox is woken (not for pull-only or refused ones: nothing to claim)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.exchange.store.base import AcceptResult, AcceptStatus, NewMessage, Store, has_push_work
from gateway.exchange.store.groupcommit import GroupCommit


class Committer(GroupCommit[NewMessage, AcceptResult]):
    def __init__(
        self,
        store: Store,
        max_batch: int,
        *,
        max_pending: int | None = None,
        wake: Callable[[], None] | None = None,
        restart_after: float = 1.0,
    ) -> None:
        self.store = store
        self.wake = wake

        async def commit(messages: list[NewMessage]) -> list[AcceptResult]:
            results = await store.accept(messages)
            stored = [
                m
                for m, r in zip(messages, results, strict=False)
                if r.status is AcceptStatus.ACCEPTED
            ]
            if self.wake is not None and has_push_work(stored):
                self.wake()
            return results

        super().__init__(
            commit,
            max_batch=max_batch,
            max_pending=max_pending,
            name="committer",
            restart_after=restart_after,
        )


__all__ = ["Committer"]
