"""``shipstream tail TOPIC``: print records as JSON lines, values decoded.

Values are decoded by what the topic carries: Avro topics of the catalogue through their
:class:`~streams.codecs.avro.AvroSerde` (the registry's writer schema, our reader schema), any
other Confluent-framed value by its schema id alone, JSON as JSON, and the rest as text or,
when not UTF-8, base64. A value that does not decode is still printed (raw, with ``error``):
``tail`` is how one looks at bad records.

It reads without a consumer group (partitions are assigned, nothing is committed), so it
never disturbs the workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams import topics as catalogue
from streams.errors import ShipstreamError
from streams.kafka import reader
from streams.kafka.partitioner import partition_for
from streams.kafka.reader import Record
from streams.model import to_epoch_ms
from streams.settings import Settings
from streams.tools.clients import check_broker, check_registry, client_logger
from streams.tools.console import dumps, iso_ms, resolve
from streams.tools.records import ValueDecoder, bytes_field

log = logging.getLogger(__name__)

DEFAULT_LAST = 10
IDLE_TIMEOUT_S = 30.0
_RELATIVE = re.compile(r"-(\d+)([smhd])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser(
        "tail",
        help="print a topic's records as JSON lines, values decoded",
        description="Default: the last 10 records of each partition, oldest first "
        "(with -f: new records only, until Ctrl-C).",
    )
    p.add_argument("topic", help="short catalogue name (events, dlq, …) or full topic name")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    p.add_argument("--key", help="only records with this key")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-offset", type=_offset_arg, metavar="N", help="start at offset N")
    start.add_argument(
        "--from-time",
        type=_time_arg,
        metavar="TIME",
        help="start at the first record at/after TIME: ISO-8601 with a zone, epoch ms, "
        "or a time ago as --from-time=-15m (s, m, h, d)",
    )
    start.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    p.add_argument("--partition", type=_offset_arg, metavar="P", help="only this partition")
    p.add_argument(
        "-n",
        "--max",
        type=_positive_arg,
        metavar="N",
        help="at most N records; without a start flag or -f: the last N (default 10 per partition)",
    )
    p.set_defaults(run=run)


# --- arguments --------------------------------------------------------------------------


def parse_time(text: str, now_ms: int) -> int:
    """Epoch ms of ``--from-time``: epoch ms, ISO-8601 with a zone, or ``-<n><s|m|h|d>`` ago."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    rel = _RELATIVE.fullmatch(text)
    if rel:
        return now_ms - int(rel.group(1)) * _UNIT_MS[rel.group(2)]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        msg = f"{text!r} is not a time: use ISO-8601 (2026-11-25T10:00:00Z), epoch ms, or -15m"
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        # Guessing a zone would silently shift the start by hours.
        msg = f"{text!r} has no zone; add Z or an offset (2026-11-25T10:00:00Z)"
        raise ValueError(msg)
    return to_epoch_ms(parsed)


def _time_arg(text: str) -> int:
    try:
        return parse_time(text, int(time.time() * 1000))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _offset_arg(text: str) -> int:
    if not text.isdigit():
        msg = f"{text!r} is not a non-negative integer"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _positive_arg(text: str) -> int:
    value = _offset_arg(text)
    if value < 1:
        msg = "must be at least 1"
        raise argparse.ArgumentTypeError(msg)
    return value


# --- where to start ---------------------------------------------------------------------


@dataclass(frozen=True)
class StartAt:
    """Where reading starts in each partition."""

    mode: str
    """``last`` (value records before the end), ``beginning``, ``end``, ``offset``, ``time``."""
    value: int = 0
    keep_last: int | None = None
    """Print only the last matches per partition (read to the end first)."""


def start_of(args: argparse.Namespace) -> StartAt:
    """The start the flags ask for."""
    if args.from_beginning:
        return StartAt("beginning")
    if args.from_offset is not None:
        return StartAt("offset", args.from_offset)
    if args.from_time is not None:
        return StartAt("time", args.from_time)
    if args.follow:
        return StartAt("end")
    last = args.max or DEFAULT_LAST
    if args.key is not None:
        # The last records of one key may be anywhere: scan, keep the last ones.
        return StartAt("beginning", keep_last=last)
    return StartAt("last", last, keep_last=last)


def start_offsets(
    marks: dict[int, tuple[int, int]], start: StartAt, by_time: dict[int, int] | None = None
) -> dict[int, int]:
    """The first offset to read per partition, kept within its low..high watermarks.

    ``by_time`` holds ``offsets_for_times`` answers: -1 when no record is that recent.
    """
    out = {}
    for p, (low, high) in marks.items():
        if start.mode == "beginning":
            offset = low
        elif start.mode == "end":
            offset = high
        elif start.mode == "last":
            offset = high - start.value
        elif start.mode == "offset":
            offset = start.value
        elif start.mode == "time":
            found = (by_time or {}).get(p, -1)
            offset = high if found < 0 else found
        else:
            msg = f"unknown start mode {start.mode!r}"
            raise ValueError(msg)
        out[p] = min(max(offset, low), high)
    return out


# --- decoding ---------------------------------------------------------------------------


def record_json(rec: Record, decoded: dict[str, Any]) -> dict[str, Any]:
    """One output line's object."""
    return {
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "timestamp": rec.timestamp_ms,
        "time": iso_ms(rec.timestamp_ms),
        "key": bytes_field(rec.key),
        "headers": {k: bytes_field(v) for k, v in rec.headers.items()},
        **decoded,
    }


# --- services ---------------------------------------------------------------------------


def watermarks(settings: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """Low/high offsets per partition of an existing topic (errors say what to do)."""
    topics = check_broker(settings).list_topics(timeout=10).topics
    if topic not in topics:
        msg = f"no topic {topic} on {settings.broker}; `shipstream topics --all` lists them"
        raise ShipstreamError(msg)
    return reader.end_offsets(settings, topic)


# --- reading ----------------------------------------------------------------------------


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the records; Ctrl-C stops cleanly (exit 0)."""
    topic, spec = resolve(settings, args.topic)
    marks = watermarks(settings, topic)
    if spec is not None and spec.schema_file is not None:
        check_registry(settings)
    if args.partition is not None:
        if args.partition not in marks:
            msg = f"{topic} has partitions 0..{len(marks) - 1}, not {args.partition}"
            raise ShipstreamError(msg)
        marks = {args.partition: marks[args.partition]}
    elif args.key is not None and spec is not None:
        # Catalogue topics are partitioned by murmur2 of the key: only one partition to read.
        p = partition_for(args.key, len(marks))
        marks = {p: marks[p]}
    tail = Tail(
        settings,
        topic,
        spec,
        marks,
        start_of(args),
        follow=args.follow,
        key=args.key,
        limit=args.max,
    )
    # Ctrl-C ends the loop at its next poll (every 0.5 s) rather than raising
    # KeyboardInterrupt wherever it lands: inside a librdkafka callback (its logger is Python's)
    # that could leave the process hanging in close() (seen once in make test).
    previous = signal.signal(signal.SIGINT, tail.stop)
    try:
        tail.open()
        tail.read()
    except BrokenPipeError:
        # `shipstream tail … | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)
        tail.close()
    return 0


class Tail:
    """One reading session: assigned partitions, a decoder, counters."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        spec: catalogue.TopicSpec | None,
        marks: dict[int, tuple[int, int]],
        start: StartAt,
        *,
        follow: bool = False,
        key: str | None = None,
        limit: int | None = None,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.topic = topic
        self.broker = settings.broker
        self.marks = marks
        self.start = start
        self.follow = follow
        self.key = None if key is None else key.encode()
        self.limit = limit
        self.decoder = ValueDecoder(settings, spec)
        self.consumer = reader.consumer(settings, logger=client_logger())
        self.emit = emit or (lambda line: print(line, flush=follow))
        self.printed = 0
        self.pending: set[int] = set()
        self.stopping = False

    def open(self) -> None:
        """Assign the partitions at their start offsets."""
        by_time = None
        if self.start.mode == "time":
            request = [TopicPartition(self.topic, p, self.start.value) for p in self.marks]
            try:
                found = self.consumer.offsets_for_times(request, timeout=10)
            except KafkaException as exc:
                msg = f"offsets_for_times on {self.topic} failed ({exc})"
                raise ShipstreamError(msg) from exc
            by_time = {tp.partition: tp.offset for tp in found}
        starts = start_offsets(self.marks, self.start, by_time)
        self.pending = {p for p, o in starts.items() if o < self.marks[p][1]}
        assigned = starts if self.follow else {p: starts[p] for p in self.pending}
        if assigned:
            self.consumer.assign([TopicPartition(self.topic, p, o) for p, o in assigned.items()])

    def stop(self, *_: Any) -> None:
        """End the reading at the next poll (Ctrl-C with --follow)."""
        self.stopping = True

    def done(self) -> bool:
        """Whether reading is over."""
        if self.stopping:
            return True
        if self.limit is not None and self.printed >= self.limit:
            return True
        return not self.follow and not self.pending

    def read(self) -> None:
        """Read until the ends seen at start (or forever with --follow)."""
        kept: dict[int, deque[Record]] = {}
        idle = 0.0
        while not self.done():
            msg = self.consumer.poll(0.5)
            if msg is None:
                idle += 0.5
                if not self.follow and idle > IDLE_TIMEOUT_S:
                    msg_ = f"reading {self.topic} stalled with partitions {sorted(self.pending)}"
                    raise ShipstreamError(msg_)
                continue
            idle = 0.0
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:  # noqa: SLF001  # librdkafka's name
                    self.pending.discard(msg.partition() or 0)
                    continue
                if self.follow and not err.fatal():
                    # a broker restart while following: librdkafka reconnects by itself
                    log.warning("reading %s: %s (retrying)", self.topic, err.str())
                    continue
                emsg = f"reading {self.topic} from {self.broker}: {err.str()}"
                raise ShipstreamError(emsg)
            rec = Record.of(msg)
            if not self.follow:
                high = self.marks[rec.partition][1]
                if rec.offset >= high - 1:
                    self.pending.discard(rec.partition)
                if rec.offset >= high:
                    continue  # arrived after we started; only --follow shows those
            if self.key is not None and rec.key != self.key:
                continue
            if self.start.keep_last is not None:
                kept.setdefault(rec.partition, deque(maxlen=self.start.keep_last)).append(rec)
                continue
            self.show(rec)
        # Like tail(1): the last records, oldest first (by time, across partitions).
        ordered = sorted(
            (r for rows in kept.values() for r in rows),
            key=lambda r: (r.timestamp_ms, r.partition, r.offset),
        )
        for rec in ordered[-self.limit :] if self.limit else ordered:
            self.show(rec)

    def show(self, rec: Record) -> None:
        """Emit one record."""
        self.emit(dumps(record_json(rec, self.decoder.decode(rec.value))))
        self.printed += 1

    def close(self) -> None:
        """Leave (nothing to commit: there is no group)."""
        self.consumer.close()
