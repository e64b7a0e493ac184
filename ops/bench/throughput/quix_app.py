"""Peer (b): the same rules as a Quix Streams app. ``python -m ...quix_app CONFIG``.

Runs in the benchmark's own virtualenv (``.local/bench/quix-venv``, Quix pinned there, never
a project dependency) with the repository root on ``PYTHONPATH``, so it imports ``peer`` and
nothing else of shipstream. Per shipment, the state is Quix's RocksDB store with its changelog
topic; ``guarantee`` is Quix's ``at-least-once`` or ``exactly-once`` (transactions per
checkpoint). Quix's defaults otherwise (commit interval 5 s).

The app stops itself after ``expected`` input records: ``Application.stop`` from the last
record's callback ends the poll loop once that record is through, and ``run`` then commits
the checkpoint (producer flushed, state and offsets committed) before it returns.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from quixstreams import Application  # type: ignore[import-not-found]  # in the Quix venv only

from ops.bench.throughput.peer import PeerConfig, Tally, WireCodec, new_state, step

GUARANTEES = {"at_least_once": "at-least-once", "exactly_once": "exactly-once"}


def run(cfg: PeerConfig) -> Tally:
    """Process ``cfg.expected`` records; returns the tally (also written to the stats file)."""
    app = Application(
        broker_address=cfg.broker,
        consumer_group=cfg.group,
        auto_offset_reset="earliest",
        processing_guarantee=GUARANTEES[cfg.guarantee],
        state_dir=cfg.state_dir,
        producer_extra_config={"partitioner": "murmur2_random"},
        loglevel=logging.WARNING,
    )
    source = app.topic(cfg.input_topic, key_deserializer="str", value_deserializer="bytes")
    sink = app.topic(cfg.output_topic, key_serializer="str", value_serializer="bytes")
    codec = WireCodec.of(cfg)
    transit = cfg.transit
    tally = Tally()

    def process(value: bytes, state: Any) -> list[bytes]:
        if tally.first_consumed is None:
            tally.first_consumed = time.time()
        tally.consumed += 1
        if tally.consumed >= cfg.expected:
            app.stop()  # after this record: see the module docstring
        event = codec.decode_event(value)
        if event is None:
            tally.bad += 1
            return []
        current = state.get("s") or new_state()
        decisions = step(current, event, transit, int(time.time() * 1000))
        tally.count(decisions)
        if decisions is None:
            return []
        state.set("s", current)
        return [codec.encode_decision(d) for d in decisions]

    sdf = app.dataframe(source)
    sdf = sdf.apply(process, stateful=True, expand=True)
    sdf.to_topic(sink)
    app.run()
    tally.last_output = time.time()
    tally.write(cfg.stats_path)
    return tally


def main(argv: list[str]) -> int:
    """Run with the config file named on the command line."""
    run(PeerConfig.load(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
