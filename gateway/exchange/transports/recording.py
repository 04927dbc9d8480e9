"""A transport that delivers nowhere: it records every parcel and answers from a script.
For tests and the harness, the way httpx's ``MockTransport`` stands in for the network."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.exchange.transport import Answer, Parcel, Verdict

#: An answer as a function of the parcel and its attempt number for that delivery (1, 2, …).
Script = Callable[[Parcel, int], Answer]


def _delivered(parcel: Parcel, attempt: int) -> Answer:
    return Answer(Verdict.DELIVERED, "recorded")


class RecordingTransport:
    def __init__(self, answers: Iterable[Answer] | Script | None = None) -> None:
        """``answers``: a sequence used one per attempt (then DELIVERED once it runs out), or
        a :data:`Script`; by default every attempt is delivered."""
        self.attempts: list[Parcel] = []
        self.closed = False
        self._counts: dict[str, int] = {}
        self._delivered: dict[str, Parcel] = {}
        self._queue: list[Answer] = []
        self._script: Script = _delivered
        if callable(answers):
            self._script = answers
        elif answers is not None:
            self._queue = list(answers)

    @property
    def delivered(self) -> dict[str, Parcel]:
        """Parcels by delivery id whose attempt was answered DELIVERED (each id once)."""
        return dict(self._delivered)

    async def deliver(self, parcel: Parcel) -> Answer:
        self.attempts.append(parcel)
        attempt = self._counts[parcel.delivery_id] = self._counts.get(parcel.delivery_id, 0) + 1
        answer = self._queue.pop(0) if self._queue else self._script(parcel, attempt)
        if answer.verdict is Verdict.DELIVERED:
            self._delivered.setdefault(parcel.delivery_id, parcel)
        return answer

    async def close(self) -> None:
        self.closed = True
