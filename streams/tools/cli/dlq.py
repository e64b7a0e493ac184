"""``shipstream dlq list|show|redrive``: look at dead letters and send them back once fixed.

Redrive re-publishes a dead letter where it came from:

- a record read from a topic (``source.topic`` is a topic) goes back to that topic (or
  ``--to``) with its original key and value bytes unchanged;
- a record that never reached a topic (``http:/ingest``, ``file:…``: it failed ingestion's
  validation) goes through validation again and, when valid now, is Avro-encoded and published
  to ``shipments.events`` keyed by shipment id, as ingestion would have; still invalid, it is
  reported and left alone.

Each redriven record carries ``redriven.from=dlq:<partition>:<offset>``. A dead letter is never
redriven twice: its DLQ position is recorded in the compacted topic ``shipments.dlq.redriven``
in the *same transaction* as the re-published records, so a crash leaves either both or
neither, and a concurrent redrive is fenced (same ``transactional.id``) before it reads which
positions are done. Order: DLQ order, which is per-key order for keyed dead letters (one key,
one DLQ partition); one idempotent producer keeps it per target partition.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from streams import topics as catalogue
from streams.agents.ingestion.validation import ValidationError, parse_record
from streams.codecs.avro import AvroSerde
from streams.errors import ServiceUnavailable, ShipstreamError
from streams.kafka import admin, reader
from streams.kafka.producer import make_producer
from streams.kafka.reader import Record
from streams.pipeline import INGESTED_AT_HEADER
from streams.settings import Settings
from streams.tools.clients import admin_client, check_broker, check_registry, client_logger
from streams.tools.console import dumps, iso_ms, table
from streams.tools.records import ValueDecoder, bytes_field, framed_schema_id

REDRIVEN = catalogue.TopicSpec(
    "shipments.dlq.redriven",
    "DLQ position <partition>:<offset>",
    "json",
    cleanup_policy="compact",
    partitions=1,
    internal=True,
    doc="Which dead letters `shipstream dlq redrive` has re-published (one marker each).",
)
REDRIVEN_FROM = "redriven.from"
INGESTION_SOURCES = ("http:", "file:")
"""``source.topic`` values of records that failed ingestion before reaching a topic."""
DEFAULT_LIST = 50
Header = tuple[str, str | bytes | None]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command and its own sub-commands."""
    p = sub.add_parser("dlq", help="list, show and redrive dead letters")
    dsub = p.add_subparsers(dest="dlq_command", required=True)

    ls = dsub.add_parser("list", help="the last dead letters, one line each")
    _filters(ls)
    ls.add_argument("-n", type=int, default=DEFAULT_LIST, help=f"how many (default {DEFAULT_LIST})")
    ls.add_argument("--json", action="store_true", help="print JSON lines")
    ls.set_defaults(run=run_list)

    show = dsub.add_parser("show", help="one dead letter: headers and value")
    show.add_argument("position", type=_position_arg, metavar="PARTITION:OFFSET")
    show.set_defaults(run=run_show)

    rd = dsub.add_parser("redrive", help="re-publish dead letters to where they came from")
    _filters(rd)
    rd.add_argument("--dry-run", action="store_true", help="say what would be redriven")
    rd.add_argument("--to", metavar="TOPIC", help="publish here instead of the source topic")
    rd.set_defaults(run=run_redrive)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", help="only this error.stage (ingestion, processing, …)")
    p.add_argument("--reason", help="only this error.reason (not_avro, invalid_enum, …)")


# --- dead letters -----------------------------------------------------------------------


def parse_position(text: str) -> tuple[int, int]:
    """``"3:17"`` → ``(3, 17)``."""
    part, sep, off = text.partition(":")
    if not sep or not part.isdigit() or not off.isdigit():
        msg = f"{text!r} is not PARTITION:OFFSET (e.g. 3:17)"
        raise ValueError(msg)
    return int(part), int(off)


def _position_arg(text: str) -> tuple[int, int]:
    try:
        return parse_position(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class Letter:
    """A DLQ record with its headers read."""

    record: Record

    @property
    def position(self) -> str:
        """``<partition>:<offset>`` in the DLQ: the dead letter's identity."""
        return f"{self.record.partition}:{self.record.offset}"

    def _h(self, name: str) -> str:
        return self.record.header(name) or ""

    @property
    def stage(self) -> str:  # noqa: D102
        return self._h("error.stage")

    @property
    def reason(self) -> str:  # noqa: D102
        return self._h("error.reason")

    @property
    def error_class(self) -> str:  # noqa: D102
        return self._h("error.class")

    @property
    def message(self) -> str:  # noqa: D102
        return self._h("error.message")

    @property
    def source_topic(self) -> str:  # noqa: D102
        return self._h("source.topic")

    @property
    def source(self) -> str:
        """Where it came from: ``topic[partition]@offset``, or ``http:/ingest#index``."""
        topic, part, off = self.source_topic, self._h("source.partition"), self._h("source.offset")
        if not topic:
            return "?"
        if part not in ("", "-1"):
            return f"{topic}[{part}]@{off}"
        return f"{topic}#{off}" if off not in ("", "-1") else topic

    @property
    def from_ingestion(self) -> bool:
        """Whether it failed before reaching any topic (HTTP or file ingestion)."""
        return self.source_topic.startswith(INGESTION_SOURCES)


def select(letters: Iterable[Letter], stage: str | None, reason: str | None) -> list[Letter]:
    """The letters matching the filters."""
    return [
        x
        for x in letters
        if (stage is None or x.stage == stage) and (reason is None or x.reason == reason)
    ]


def dlq_order(records: Iterable[Record]) -> list[Record]:
    """Partitions merged by timestamp, each partition kept in offset order (so per key)."""
    by_partition: dict[int, list[Record]] = {}
    for r in records:
        by_partition.setdefault(r.partition, []).append(r)
    for rows in by_partition.values():
        rows.sort(key=lambda r: r.offset)
    return list(heapq.merge(*by_partition.values(), key=lambda r: (r.timestamp_ms, r.partition)))


def read_letters(settings: Settings) -> list[Letter]:
    """Every dead letter present now, in DLQ order."""
    check_broker(settings)
    return [
        Letter(r) for r in dlq_order(reader.read_all(settings, settings.topic(catalogue.DLQ.name)))
    ]


def redriven_positions(settings: Settings) -> dict[str, dict[str, Any]]:
    """Markers of redriven dead letters (empty when nothing was ever redriven)."""
    name = settings.topic(REDRIVEN.name)
    if name not in admin_client(settings).list_topics(timeout=10).topics:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for r in reader.read_all(settings, name):
        key = (r.key or b"").decode(errors="replace")
        if r.value is None:
            out.pop(key, None)
        else:
            out[key] = json.loads(r.value)
    return out


def excerpt(text: str, width: int) -> str:
    """One line of at most ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def hexdump(data: bytes, width: int = 16) -> str:
    """``xxd``-like lines: offset, hex bytes, printable ASCII."""
    lines = []
    for i in range(0, len(data), width):
        chunk = data[i : i + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {hexes:<{width * 3 - 1}}  {text}")
    return "\n".join(lines)


# --- list -------------------------------------------------------------------------------


def list_rows(letters: list[Letter], redriven: set[str]) -> list[list[object]]:
    """The table rows of ``dlq list``."""
    rows: list[list[object]] = []
    for x in letters:
        key = bytes_field(x.record.key)
        key_text = "-" if key is None else key if isinstance(key, str) else "(binary)"
        rows.append(
            [
                x.position,
                excerpt(key_text, 24),
                x.stage,
                x.reason,
                x.error_class,
                x.source,
                "yes" if x.position in redriven else "",
                excerpt(x.message, 60),
            ]
        )
    return rows


def letter_json(x: Letter, redriven: bool) -> dict[str, Any]:
    """One dead letter's headers as JSON (``dlq list --json``)."""
    return {
        "position": x.position,
        "timestamp": x.record.timestamp_ms,
        "key": bytes_field(x.record.key),
        "stage": x.stage,
        "reason": x.reason,
        "class": x.error_class,
        "source": x.source,
        "message": x.message,
        "redriven": redriven,
    }


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print the last dead letters matching the filters."""
    letters = select(read_letters(settings), args.stage, args.reason)
    shown = letters[-args.n :] if args.n > 0 else []
    redriven = set(redriven_positions(settings))
    if args.json:
        for x in shown:
            print(dumps(letter_json(x, x.position in redriven)))
        return 0
    header = ("POSITION", "KEY", "STAGE", "REASON", "CLASS", "SOURCE", "REDRIVEN", "MESSAGE")
    if shown:
        print(table(list_rows(shown, redriven), header))
    print(f"{len(shown)} of {len(letters)} dead letters shown", file=sys.stderr)
    return 0


# --- show -------------------------------------------------------------------------------


def read_one(settings: Settings, topic: str, partition: int, offset: int) -> Record | None:
    """The record at one position, or None when the partition does not hold it."""
    check_broker(settings)
    marks = reader.end_offsets(settings, topic)
    if partition not in marks or not marks[partition][0] <= offset < marks[partition][1]:
        return None
    c = reader.consumer(settings, logger=client_logger())
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:  # noqa: SLF001  # librdkafka's name
                    return None
                raise KafkaException(err)
            rec = Record.of(msg)
            return rec if rec.offset == offset else None  # a control record is not a letter
    finally:
        c.close()
    msg_ = f"reading {topic} {partition}:{offset} timed out"
    raise ShipstreamError(msg_)


def describe(rec: Record, decoded: str | None) -> str:
    """The text of ``dlq show``."""
    key = bytes_field(rec.key)
    lines = [
        f"position   {rec.partition}:{rec.offset}",
        f"timestamp  {iso_ms(rec.timestamp_ms)} ({rec.timestamp_ms})",
        f"key        {dumps(key) if not isinstance(key, str) else key}",
        "headers",
        *(f"  {k}: {dumps(bytes_field(v))[1:-1] if v else ''}" for k, v in rec.headers.items()),
    ]
    value = rec.value
    if value is None:
        lines.append("value      null")
    else:
        try:
            text = value.decode("utf-8")
            printable = all(c.isprintable() or c in "\t\n\r" for c in text)
        except UnicodeDecodeError:
            printable = False
        if printable:
            lines += [f"value      {len(value)} bytes, text", text]
        else:
            lines += [f"value      {len(value)} bytes, binary", hexdump(value)]
    if decoded is not None:
        lines += ["decoded", decoded]
    return "\n".join(lines)


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    """Print one dead letter; exit 1 when there is none at that position."""
    partition, offset = args.position
    topic = settings.topic(catalogue.DLQ.name)
    rec = read_one(settings, topic, partition, offset)
    if rec is None:
        print(f"no dead letter at {partition}:{offset} in {topic}", file=sys.stderr)
        return 1
    decoded = None
    if rec.value is not None and framed_schema_id(rec.value) is not None:
        try:
            decoded = dumps(ValueDecoder(settings, None).decode(rec.value))
        except ServiceUnavailable as exc:
            decoded = f"(not decoded: {exc})"
    print(describe(rec, decoded))
    return 0


# --- redrive ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What redrive does with one dead letter."""

    letter: Letter
    action: str
    """``republish`` (bytes unchanged), ``revalidated``, ``already``, ``invalid``, ``skip``."""
    target: str | None = None
    event: Any = None
    """The ShipmentEvent a revalidated letter became."""
    note: str = ""


def plan(
    letters: Iterable[Letter],
    done: set[str],
    existing_topics: set[str],
    events_topic: str,
    to: str | None = None,
) -> list[Step]:
    """Decide per dead letter, in the order given (pure: no I/O)."""
    steps = []
    for x in letters:
        if x.position in done:
            steps.append(Step(x, "already"))
            continue
        if not x.source_topic:
            steps.append(Step(x, "skip", note="no source.topic header"))
            continue
        target = to or (events_topic if x.from_ingestion else x.source_topic)
        if target not in existing_topics:
            steps.append(Step(x, "skip", target, note=f"no topic {target} on the broker"))
            continue
        if not x.from_ingestion:
            steps.append(Step(x, "republish", target))
            continue
        try:
            if x.record.value is None:
                msg = "the dead letter has no value"
                raise ValueError(msg)
            event = parse_record(json.loads(x.record.value))
        except ValidationError as exc:
            steps.append(Step(x, "invalid", target, note=str(exc)))
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            steps.append(Step(x, "invalid", target, note=f"not a JSON record: {exc}"))
        else:
            steps.append(Step(x, "revalidated", target, event))
    return steps


def summary(steps: list[Step], dry_run: bool) -> str:
    """The counts line."""
    counts = Counter(s.action for s in steps)
    targets = Counter(s.target for s in steps if s.action in ("republish", "revalidated"))
    sent = counts["republish"] + counts["revalidated"]
    where = ", ".join(f"{t}={n}" for t, n in sorted(targets.items())) or "-"
    return (
        f"{'would redrive' if dry_run else 'redriven'} {sent} "
        f"({counts['republish']} as they were, {counts['revalidated']} revalidated; {where}); "
        f"already redriven {counts['already']}; still invalid {counts['invalid']}; "
        f"skipped {counts['skip']}"
    )


class Redrive:
    """One redrive: a transactional producer fenced before it reads what was done."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.marker_topic = settings.topic(REDRIVEN.name)
        tx_id = f"{settings.app_id}-dlq-redrive-{settings.topic(catalogue.DLQ.name)}"
        self.producer = make_producer(
            settings, logger=client_logger(), **{"transactional.id": tx_id, "linger.ms": 20}
        )
        self.errors: list[str] = []
        self.delivered: dict[str, tuple[str, int, int]] = {}

    def start(self) -> None:
        """Create the marker topic, then fence any earlier redrive still in flight."""
        admin.ensure_topics(self.settings, (REDRIVEN,))
        try:
            self.producer.init_transactions(30)
        except KafkaException as exc:
            msg = f"cannot start a transaction on {self.settings.broker} ({exc})"
            raise ShipstreamError(msg) from exc

    def _on_delivery(self, position: str) -> Callable[[KafkaError | None, Message], None]:
        def report(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.errors.append(f"{position}: {err.str()}")
            else:
                self.delivered[position] = (
                    msg.topic() or "",
                    msg.partition() or 0,
                    msg.offset() or 0,
                )

        return report

    def send(self, steps: list[Step]) -> None:
        """Publish the steps and their markers in one transaction."""
        serde = AvroSerde(self.settings, catalogue.EVENTS)
        # Encode first: a registry failure must not happen inside the transaction.
        payloads: list[tuple[str, str, bytes | None, bytes | None, list[Header]]] = []
        for s in steps:
            assert s.target is not None  # noqa: S101  # plan() sets it for what is sent
            headers: list[Header] = [(REDRIVEN_FROM, f"dlq:{s.letter.position}".encode())]
            key, value = s.letter.record.key, s.letter.record.value
            if s.action == "revalidated":
                key, value = s.event.shipment_id.encode(), serde.encode(s.event.to_avro())
                headers.append((INGESTED_AT_HEADER, str(int(time.time() * 1000)).encode()))
            payloads.append((s.letter.position, s.target, key, value, headers))
        p = self.producer
        p.begin_transaction()
        try:
            for position, target, key, value, headers in payloads:
                report = self._on_delivery(position)
                while True:
                    try:
                        p.produce(target, key=key, value=value, headers=headers, on_delivery=report)
                        break
                    except BufferError:  # local queue full: let deliveries drain, then retry
                        p.poll(0.1)
                p.poll(0)
            p.flush(60)
            if self.errors or len(self.delivered) < len(payloads):
                msg = f"redrive failed, nothing committed: {self.errors[:3] or 'unacknowledged'}"
                raise ShipstreamError(msg)
            now = int(time.time() * 1000)
            for position, *_ in payloads:
                topic, part, off = self.delivered[position]
                marker = {"redriven_at": now, "topic": topic, "partition": part, "offset": off}
                p.produce(self.marker_topic, key=position.encode(), value=json.dumps(marker))
            p.commit_transaction(60)
        except BaseException:
            p.abort_transaction(30)
            raise


def run_redrive(args: argparse.Namespace, settings: Settings) -> int:
    """Redrive the matching dead letters; print the counts."""
    letters = select(read_letters(settings), args.stage, args.reason)
    redrive = None if args.dry_run else Redrive(settings)
    if redrive is not None:
        if any(x.from_ingestion for x in letters):
            check_registry(settings)  # they are Avro-encoded: fail before anything is done
        redrive.start()  # fences an earlier redrive before the markers are read
    done = set(redriven_positions(settings))
    existing = set(admin_client(settings).list_topics(timeout=10).topics)
    steps = plan(letters, done, existing, settings.topic(catalogue.EVENTS.name), args.to)
    for s in steps:
        if s.action in ("invalid", "skip"):
            print(f"{s.action} {s.letter.position}: {s.note}", file=sys.stderr)
    to_send = [s for s in steps if s.action in ("republish", "revalidated")]
    if redrive is not None and to_send:
        redrive.send(to_send)
    print(summary(steps, args.dry_run))
    return 0
