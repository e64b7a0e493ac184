"""``shipstream lag``: consumer lag per group, topic and partition, from the broker.

The same figures as ``kafka-consumer-groups --describe`` (and as the workers' lag gauge, since
both come from :class:`~streams.monitoring.lag.LagSampler`): committed offset, log end offset,
lag, with totals. Table changelogs are left out: faust never commits on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any

from streams.monitoring.lag import LagSampler, PartitionLag
from streams.settings import Settings
from streams.tools.clients import check_broker, client_logger
from streams.tools.console import table


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("lag", help="consumer lag per group, topic and partition")
    p.add_argument(
        "--group",
        action="append",
        dest="groups",
        metavar="G",
        help="a group to describe (repeatable); default: every group named <app id>-…",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def by_group(samples: list[PartitionLag]) -> dict[str, list[PartitionLag]]:
    """Samples grouped by consumer group, in sampling order."""
    out: dict[str, list[PartitionLag]] = defaultdict(list)
    for s in samples:
        out[s.group].append(s)
    return dict(out)


def as_json(samples: list[PartitionLag]) -> dict[str, Any]:
    """JSON form: per group its partitions and total, plus the grand total."""
    groups = by_group(samples)
    return {
        "groups": {
            g: {
                "total_lag": sum(s.lag for s in rows),
                "partitions": [
                    {
                        "topic": s.topic,
                        "partition": s.partition,
                        "committed": s.committed,
                        "log_end_offset": s.high,
                        "log_start_offset": s.low,
                        "lag": s.lag,
                    }
                    for s in rows
                ],
            }
            for g, rows in groups.items()
        },
        "total_lag": sum(s.lag for s in samples),
    }


def render(samples: list[PartitionLag]) -> str:
    """A table like ``kafka-consumer-groups --describe``, with a total per group."""
    rows: list[list[object]] = []
    for group, items in by_group(samples).items():
        rows.extend([s.group, s.topic, s.partition, s.committed, s.high, s.lag] for s in items)
        rows.append([group, "(total)", "", "", "", sum(s.lag for s in items)])
    header = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")
    return table(rows, header) + f"\n\ntotal lag: {sum(s.lag for s in samples)}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the lag; exit 1 when a group named with --group has no offsets or members."""
    check_broker(settings)
    prefix = f"{settings.app_id}-"
    sampler = LagSampler(
        settings.broker,
        groups=args.groups,
        group_prefix=prefix,
        # LagSampler types its config as scalars; librdkafka also takes a Logger here.
        client_config={"logger": client_logger()},  # type: ignore[dict-item]
    )
    samples = sampler.sample()
    if args.json:
        print(json.dumps(as_json(samples), indent=2))
    elif samples:
        print(render(samples))
    elif not args.groups:
        print(f"no consumer groups named {prefix}… with committed offsets", file=sys.stderr)
    unknown = sorted(set(args.groups or ()) - {s.group for s in samples})
    if unknown:
        print(f"no offsets and no members for group(s): {', '.join(unknown)}", file=sys.stderr)
        return 1
    return 0
