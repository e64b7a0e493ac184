"""The decision role's logic: updates back in each shipment's order, rules, R7; no faust here.

The Faust wiring (``agent.py``) hands every update and tick to a :class:`Decider` together
with the tables as plain mappings and an ``emit`` for decisions. The wiring passes write-back
overlays (``tables.writeback``) and hands their writes to the tables only once the broker has
acknowledged every decision of the batch. Crash consistency rests on two orders:

- a shipment's updates are evaluated in ``seq`` order (the order processing applied its
  events): one that runs ahead of a missing seq waits in the shipment's :class:`Track`, in
  the changelog-backed table, until the missing one arrives (the hub detour);
- decisions are emitted (acknowledged) before the table records them; a crash in between makes
  the replay take the same decisions again, with the same ids, which ``sent.py`` skips.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from enum import StrEnum
from typing import Any

import msgspec
from msgspec.structs import replace

from streams.agents.decision import rules
from streams.agents.decision.track import Track
from streams.agents.processing.reducer import fold
from streams.messages import EventUpdate
from streams.model import Decision, Hub

log = logging.getLogger(__name__)

#: ``emit(decision, update or None for R7, partition)``: hands the decision to the batch's
#: sends (the agent waits for their acks before the table records them). A plain call: nothing
#: in it waits, so the update path needs no coroutine per update and decision.
Emit = Callable[[Decision, EventUpdate | None, int], None]


class Outcome(StrEnum):
    """What became of an update (a metric label too)."""

    EVALUATED = "evaluated"
    WAITING = "waiting"
    REPLAYED = "replayed"


class _Silence(msgspec.Struct, frozen=True):
    """R7 candidate: the shipment's last event time, and whether nothing is left to do."""

    last_at: int | None
    done: bool


class Decider:
    """Evaluates updates in each shipment's order and runs R7 on ticks.

    ``table``: shipment_id -> :class:`Track` (``decision_memory``, whose codec makes them
    bytes; a value read as bytes is decoded too); ``stream_time``: partition
    (as text) -> greatest occurred_at evaluated there. ``partition_of`` maps a shipment to its
    partition, for the R7 index that is rebuilt from the table after every rebalance.
    """

    def __init__(
        self,
        table: MutableMapping[Any, Any],
        stream_time: MutableMapping[Any, Any],
        hubs: Mapping[str, Hub],
        emit: Emit,
        partition_of: Callable[[str], int],
        *,
        clock: Callable[[], int],
        max_waiting: int = 1000,
        on_gap_skipped: Callable[[], None] = lambda: None,
    ) -> None:
        self.table = table
        self.stream_time = stream_time
        self.hubs = hubs
        self.emit = emit
        self.partition_of = partition_of
        self.clock = clock
        self.max_waiting = max_waiting
        self.checked: dict[int, int] = {}  # partition -> stream time at the last R7 check
        self.silences: dict[int, dict[str, _Silence]] = {}
        self.waiting: dict[str, tuple[int, int]] = {}  # shipment -> (count, since ms)
        self.on_gap_skipped = on_gap_skipped
        self.rebuild_needed = True
        #: While the indexes are rebuilt a chunk at a time: the shipments noted since it began,
        #: whose entries are newer than the table's values the rebuild reads.
        self._rebuilding: set[str] | None = None

    # -- updates --------------------------------------------------------------------------

    def load(self, shipment_id: str) -> Track:
        """The shipment's track (a new one for a shipment never seen)."""
        value = self.table.get(shipment_id)
        if value is None:
            return Track(shipment_id=shipment_id)
        return Track.from_value(shipment_id, value)

    def on_update(self, update: EventUpdate, partition: int) -> Outcome:
        """Evaluate the update if it is next for its shipment, else keep it waiting."""
        track = self.load(update.shipment_id)
        expected = track.next_seq
        if expected is not None and update.seq < expected:
            return Outcome.REPLAYED
        outcome = Outcome.EVALUATED
        if expected is not None and update.seq > expected:
            track = self._wait(track, update)
            if len(track.waiting) <= self.max_waiting:
                self._store(track, partition)
                return Outcome.WAITING
            track = self._skip_gap(track)
        else:
            track = self._evaluate(track, update, partition)
        track = self._release(track, partition)
        self._store(track, partition)
        return outcome

    def _wait(self, track: Track, update: EventUpdate) -> Track:
        if any(u.seq == update.seq for u in track.waiting):
            return track  # the same update delivered twice while it waits
        waiting = tuple(sorted((*track.waiting, update), key=lambda u: u.seq))
        since = track.waiting_since if track.waiting_since is not None else self.clock()
        return replace(track, waiting=waiting, waiting_since=since)

    def _skip_gap(self, track: Track) -> Track:
        """Give up on the missing seqs: more updates wait than the bound allows."""
        first = track.waiting[0].seq
        self.on_gap_skipped()
        log.error(
            "shipment %s: %d updates wait for seq %s..%d, more than %d; evaluating them without "
            "it (check the hub agent and its lag on shipments.hub-arrivals)",
            track.shipment_id,
            len(track.waiting),
            track.next_seq,
            first - 1,
            self.max_waiting,
        )
        return replace(track, next_seq=first)

    def _release(self, track: Track, partition: int) -> Track:
        """Evaluate the waiting updates that are now next, in order."""
        while track.waiting and track.waiting[0].seq == track.next_seq:
            head, rest = track.waiting[0], track.waiting[1:]
            track = replace(track, waiting=rest)
            track = self._evaluate(track, head, partition)
        if not track.waiting:
            track = replace(track, waiting_since=None)
        return track

    def _evaluate(self, track: Track, update: EventUpdate, partition: int) -> Track:
        state, older = fold(track.state, update.event, self.hubs)
        arrival = update.arrival
        rule_input = rules.Update(
            event=update.event,
            state=state,
            older=older,
            arrival_k=None if arrival is None else arrival.k,
            hub_capacity=None if arrival is None else arrival.capacity,
            hub_alternate=None if arrival is None else arrival.alternate,
        )
        taken, memory = rules.evaluate(rule_input, track.memory, self.clock())
        for decision in taken:
            self.emit(decision, update, partition)
        key = str(partition)
        if update.event.occurred_at > (self.stream_time.get(key) or 0):
            self.stream_time[key] = update.event.occurred_at
        return replace(track, next_seq=update.seq + 1, state=state, memory=memory)

    def _store(self, track: Track, partition: int) -> None:
        self.table[track.shipment_id] = track
        self._note(partition, track)

    def _note(self, partition: int, track: Track) -> None:
        if self._rebuilding is not None:
            self._rebuilding.add(track.shipment_id)
        self._index(partition, track)

    def _index(self, partition: int, track: Track) -> None:
        sid = track.shipment_id
        if track.waiting:
            self.waiting[sid] = (len(track.waiting), track.waiting_since or self.clock())
        else:
            self.waiting.pop(sid, None)
        memory = track.memory
        if memory is None:
            return
        self.silences.setdefault(partition, {})[sid] = _Silence(
            memory.last_event_at, memory.closed or memory.silence_escalated
        )

    # -- R7 -------------------------------------------------------------------------------

    def rebuild(self, items: Iterable[tuple[Any, Any]]) -> None:
        """Rebuild the R7 and waiting indexes from the table (after a rebalance) at once."""
        self.start_rebuild()
        self.rebuild_from(items)
        self.end_rebuild()

    def start_rebuild(self) -> None:
        """Begin a rebuild fed in chunks (:meth:`rebuild_from`); R7 waits until it ends.

        In chunks because one scan of a large table held the event loop: 1.3 s for ~42,000
        shipments on the 2-core machine, every decision of the worker waiting behind it after
        each rebalance. Updates go on meanwhile; what they note wins over the table values
        read later.
        """
        self.silences.clear()
        self.waiting.clear()
        self.rebuild_needed = False
        self._rebuilding = set()

    def rebuild_from(self, items: Iterable[tuple[Any, Any]]) -> None:
        """Index a chunk of the table's ``(key, value)`` items."""
        noted = self._rebuilding or set()
        for key, value in items:
            sid = key.decode() if isinstance(key, bytes) else str(key)
            if sid not in noted:
                self._index(self.partition_of(sid), Track.from_value(sid, value))

    def end_rebuild(self) -> None:
        """The table was read whole: R7 may run on the next tick."""
        self._rebuilding = None

    @property
    def rebuilding(self) -> bool:
        """Whether a rebuild in chunks is under way."""
        return self._rebuilding is not None

    def due(self, partition: int) -> bool:
        """Whether the partition's stream time moved since its last R7 check."""
        current = self.stream_time.get(str(partition))
        return current is not None and self.checked.get(partition) != current

    def on_tick(self, partition: int) -> int:
        """R7 over the partition's shipments; returns how many were escalated."""
        now = self.stream_time.get(str(partition))
        if now is None or self.rebuilding:
            return 0  # while the index is rebuilt, R7 waits for a later tick (still due)
        self.checked[partition] = now
        if self.rebuild_needed:
            self.rebuild(self.table.items())
        escalated = 0
        for sid, silence in list(self.silences.get(partition, {}).items()):
            if silence.done or silence.last_at is None:
                continue
            if now - silence.last_at < rules.R7_SILENCE_MS or sid in self.waiting:
                continue  # a shipment whose later updates wait is not silent
            track = self.load(sid)
            if track.memory is None:
                continue
            decision = rules.stalled(track.memory, now, self.clock())
            if decision is not None:
                self.emit(decision, None, partition)
                track = replace(track, memory=track.memory.remember(decision))
                self.table[sid] = track
                escalated += 1
            self._note(partition, track)
        return escalated

    # -- metrics --------------------------------------------------------------------------

    def waiting_updates(self) -> int:
        """Updates waiting for an earlier one of their shipment, on this worker."""
        return sum(count for count, _ in self.waiting.values())

    def oldest_wait_s(self) -> float:
        """Seconds the longest-waiting update has waited (0 when none waits)."""
        if not self.waiting:
            return 0.0
        return max(0.0, (self.clock() - min(s for _, s in self.waiting.values())) / 1000)
