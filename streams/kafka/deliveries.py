"""Records an agent batch sends through librdkafka, and the wait until the broker has them all.

The agents send what a batch produced (table changelog records, update batches, decisions)
through one confluent-kafka producer per worker instead of faust's aiokafka producer: librdkafka
builds and writes produce requests in its own C threads, where aiokafka's sender, in the
worker's event loop, took 10-20% of a worker's CPU in the issue 10 profiles. A
:class:`Deliveries` collects one batch's records; ``wait()`` serves delivery reports until every
record is acknowledged (acks=all, idempotent: ``streams.kafka.producer``), then runs the
batch's ``after`` hooks. Nothing of the batch may be committed before that.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 30.0
#: Pause before records the broker refused are sent again (:meth:`Deliveries.acknowledged`).
RETRY_S = 1.0

OnDelivered = Callable[[], None]


class DeliveryError(RuntimeError):
    """The broker refused records of a batch (after librdkafka's own retries)."""

    def __init__(self, error: KafkaError, refused: list[Any]) -> None:
        self.error = error
        self.refused = refused
        super().__init__(
            f"the broker refused {len(refused)} record(s) of a batch ({error}); check the broker "
            "and the topic (the batch is not committed and is processed again)"
        )


class Deliveries:
    """One batch's records on their way to the broker."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        #: Greatest acknowledged offset per (topic, partition).
        self.offsets: dict[tuple[str, int], int] = {}
        self.refused: list[Any] = []
        self.error: KafkaError | None = None
        self._expected = 0
        self._reported = 0
        self._after: list[Callable[[Deliveries], None]] = []
        self._lock = threading.Lock()

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | str | None = None,
        partition: int,
        headers: list[tuple[str, str | bytes | None]] | None = None,
        on_delivered: OnDelivered | None = None,
        ref: Any = None,
    ) -> None:
        """Send one record; ``ref`` is what :attr:`refused` lists if the broker refuses it."""
        if ref is None and on_delivered is None:
            report = self._report  # no closure per record: most records need none
        else:
            report = functools.partial(self._report_and_tell, ref, on_delivered)
        while True:
            try:
                self.producer.produce(
                    topic, value, key, partition=partition, headers=headers, on_delivery=report
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.05)
        self._expected += 1

    def _report(self, err: KafkaError | None, msg: Message, ref: Any = None) -> None:
        with self._lock:
            self._reported += 1
            if err is not None:
                self.error = self.error or err
                self.refused.append(ref)
                return
            tp = (msg.topic() or "", msg.partition() or 0)
            offset = msg.offset()
            if offset is not None and offset > self.offsets.get(tp, -1):
                self.offsets[tp] = offset

    def _report_and_tell(
        self, ref: Any, on_delivered: OnDelivered | None, err: KafkaError | None, msg: Message
    ) -> None:
        self._report(err, msg, ref)
        if err is None and on_delivered is not None:
            on_delivered()

    def after(self, hook: Callable[[Deliveries], None]) -> None:
        """Run ``hook(self)`` once every record is acknowledged (by :meth:`wait`)."""
        self._after.append(hook)

    async def wait(self) -> None:
        """Until every record is reported; raises :class:`DeliveryError` if any was refused."""
        await self.settle()
        if self.error is not None:
            raise DeliveryError(self.error, list(self.refused))
        hooks, self._after = self._after, []
        for hook in hooks:
            hook(self)

    async def settle(self) -> None:
        """Until every record is reported, refused or not (see :attr:`refused`)."""
        loop = asyncio.get_running_loop()
        while self._reported < self._expected:
            # flush blocks while it serves the reports: in a thread, so the loop goes on.
            left = await loop.run_in_executor(None, self.producer.flush, FLUSH_TIMEOUT_S)
            if self._reported < self._expected and left:
                log.warning("%d records not yet acknowledged after %.0fs; waiting",
                            left, FLUSH_TIMEOUT_S)  # fmt: skip

    async def acknowledged(
        self, resend: Callable[[list[Any]], None], what: str, retry_s: float = RETRY_S
    ) -> None:
        """Until every record is acknowledged, however long the broker refuses some.

        For senders that must not give up (their input stays unacked meanwhile, so nothing is
        lost and lag shows the wait): after each round the refused records' refs go to
        ``resend``, which produces them again through this object, ``retry_s`` later.
        """
        while True:
            await self.settle()
            error = self.error
            refused = self.reset_refused()
            if not refused:
                return
            log.warning("%d %s not acknowledged (%s); sending them again in %.0fs",
                        len(refused), what, error, retry_s)  # fmt: skip
            await asyncio.sleep(retry_s)
            resend(refused)

    def reset_refused(self) -> list[Any]:
        """Hand over the refs of refused records and forget the error (to send them again)."""
        with self._lock:
            refused, self.refused, self.error = self.refused, [], None
        return refused
