"""``shipstream load``: generated shipment lifecycles at a rate profile, Black Friday included.

Valid and duplicate events are produced keyed by shipment_id (murmur2); malformed JSON records
are refused by validation into the DLQ, as ``POST /ingest`` would; bytes that are not Avro are
produced as they are, for the processing stage to dead-letter. The summary says what the
pipeline should end with, so ``shipstream reconcile`` can be compared against it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streams.kafka.events import EventPublisher
from streams.settings import Settings
from streams.tools.loadgen.arguments import add_load_arguments
from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.driver import drive
from streams.tools.loadgen.items import Item
from streams.tools.loadgen.options import LoadOptions
from streams.tools.loadgen.stream import generate_items
from streams.tools.loadgen.summary import StreamSummary, counted


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("load", help="generate shipment events at a rate profile")
    add_load_arguments(p)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--summary", type=Path, help="write the expected outcomes as JSON here")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Drive the generator into Kafka and print what the pipeline should end with."""
    options = LoadOptions.from_args(args)
    count, duration = options.limits()
    pub = EventPublisher(settings)
    summary = StreamSummary()
    config = LifecycleConfig(seed=options.seed, concurrency=options.concurrency)
    items = counted(generate_items(config), summary)

    sent = [0]

    def sink(batch: list[Item]) -> None:
        for item in batch:
            pub.publish_generated(item, sent[0])
            sent[0] += 1

    result = drive(
        items,
        sink,
        options.build_profile(),
        count=count,
        duration_s=duration,
        on_tick=lambda: pub.producer.poll(0),
        progress=False if args.no_progress else None,
    )
    pub.flush()
    report = {
        "sent": result.sent,
        "elapsed_s": round(result.elapsed_s, 2),
        "rate_avg": round(result.average_rate, 1),
        **summary.as_dict(),
    }
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0
