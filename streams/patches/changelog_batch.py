"""Changelog records applied to the tables a fetch at a time, past faust's per-record path.

A cold instance restores its tables from their changelogs before it serves anything. faust
hands each changelog record on its own: ``wait_first`` (two tasks) around the conductor's
callback, the key and value decoded into an ``Event``, a queue put, and in the recovery loop
(``Recovery._slurp_changelogs``) an ``asyncio.wait_for`` (another task) per get, three debug
f-strings and a ``need_recovery()`` that builds a ``Counter`` over every changelog partition —
per record. In a profile of a cold restore (py-spy, ~97,000 records) those made up ~45% of the
worker's samples over its whole life, start-up included; fetching the records and writing them
to RocksDB ~7%. Restore went from ~11,600 to ~164,000 records/s (``python -m ops.bench restore
--events 100000``).

The fetcher loop (``batch_delivery._drain_messages``) hands the records of a fetch that belong
to a changelog partition the recovery tracks (active or standby) to :func:`apply_fetch`, which
does what the recovery loop does for each of them, once per partition and fetch: records at or
below the offset already seen are skipped; the rest go to the table's recovery buffer, written
to RocksDB by faust's own ``apply_changelog_batch`` (one write batch per partition, then the
persisted offsets) when the buffer is full; the seen offset moves to the last one. After the
fetch, :func:`check_done` ends the active recovery when nothing remains, and marks the standbys
ready, as the recovery loop would after its record. faust's recovery loop keeps running for
anything that still reaches its queue (a table with an ``on_changelog_event`` callback, a
partition the recovery does not track) and for its timeout checks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from time import monotonic
from typing import Any

from faust.types import TP
from faust.utils.tracing import finish_span

log = logging.getLogger(__name__)


def recovery_of(app: Any) -> Any:
    """The app's Recovery service (``TableManager.recovery``; its interface does not declare it)."""
    return app.tables.recovery


def tracks(recovery: Any, tp: TP) -> bool:
    """Whether records of ``tp`` may be applied here.

    They may if the recovery reads ``tp`` (active or standby) for a table without a per-event
    changelog callback.
    """
    if tp not in recovery.active_tps and tp not in recovery.standby_tps:
        return False
    table = recovery.tp_to_table.get(tp)
    return table is not None and table._on_changelog_event is None  # noqa: SLF001  # faust's own


def apply_fetch(recovery: Any, tp: TP, messages: Sequence[Any]) -> int:
    """Apply one fetch of a changelog partition as the recovery loop does record by record.

    ``messages`` are faust ``Message`` objects in offset order. Returns the records taken.
    """
    now = monotonic()
    table = recovery.tp_to_table[tp]
    active = tp in recovery.active_tps
    if active:
        offsets = recovery.active_offsets
        bufsize = recovery.buffer_sizes.setdefault(tp, table.recovery_buffer_size)
        recovery._active_events_received_at[tp] = now  # noqa: SLF001  # faust's bookkeeping
    else:
        offsets = recovery.standby_offsets
        bufsize = recovery.buffer_sizes.setdefault(tp, table.standby_buffer_size)
        recovery._standby_events_received_at[tp] = now  # noqa: SLF001
    seen = offsets.get(tp)
    if seen is not None:
        messages = [m for m in messages if m.offset > seen]
    if not messages:
        return 0
    buf = recovery.buffers[table]
    buf.extend(_Event(m) for m in messages)
    offsets[tp] = messages[-1].offset
    if len(buf) >= bufsize:
        table.apply_changelog_batch(buf)
        buf.clear()
        recovery._last_flush_at = now  # noqa: SLF001
    if active:
        _record_processing_time(recovery, len(messages))
    return len(messages)


def check_done(recovery: Any) -> None:
    """After a fetch, the recovery loop's checks.

    The active recovery ends if nothing remains (the buffers are applied first); the standbys
    are marked ready when they have caught up.
    """
    if recovery.in_recovery and not recovery.need_recovery():
        recovery.flush_buffers()
        recovery._set_recovery_ended()  # noqa: SLF001  # what the recovery loop calls
        if recovery._actives_span is not None:  # noqa: SLF001
            recovery._actives_span.set_tag("Actives-Ready", True)  # noqa: SLF001
        recovery.signal_recovery_end.set()
    standby_ready = recovery._standbys_span is None and recovery.tables.standbys_ready  # noqa: SLF001
    if not standby_ready and not recovery.standby_remaining_total():
        if recovery._standbys_span:  # noqa: SLF001
            finish_span(recovery._standbys_span)  # noqa: SLF001
            recovery._standbys_span = None  # noqa: SLF001
        recovery.tables.on_standbys_ready()


def _record_processing_time(recovery: Any, n: int) -> None:
    """Feed faust's "estimated time remaining" with the per-record time of this fetch."""
    now = monotonic()
    last = recovery._last_active_event_processed_at  # noqa: SLF001
    if last is not None:
        samples = recovery._processing_times  # noqa: SLF001
        samples.append((now - last) / n)
        if len(samples) > recovery.num_samples_required_for_estimate:
            samples.popleft()
    recovery._last_active_event_processed_at = now  # noqa: SLF001


class _Event:
    """What a store's ``apply_changelog_batch`` reads of a changelog event: its message.

    Key and value stay the bytes as written (nothing is decoded), with topic partition and offset.
    """

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message
