"""Peer (a): a raw confluent-kafka loop, the Python ceiling. ``python -m ...raw_loop CONFIG``.

consume (batches of 500) -> fastavro decode -> ``peer.step`` on a dict of states -> produce
the decisions (Avro, wire format). Nothing is durable: state lives in this process's memory,
so a restart would start from nothing. ``guarantee``:

- ``none``: offsets auto-committed as consumed (librdkafka's default, every 5 s);
- ``transactions``: a transactional producer; every ``transaction_ms`` the consumed offsets
  are sent to the transaction and it is committed, so outputs and input offsets commit
  together. The state is still only in memory: this is the cost of the transactions, not
  exactly-once processing.

Stops after ``expected`` input records, flushes (or commits the last transaction) and writes
its stats: when the first record was consumed and when the last output was acknowledged.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from ops.bench.throughput.peer import PeerConfig, Tally, WireCodec, new_state, step

BATCH = 500


def _check(msg: Message) -> bool:
    """True for a record; False for a partition EOF; raises on a real error."""
    err = msg.error()
    if err is None:
        return True
    if err.code() == KafkaError._PARTITION_EOF:  # noqa: SLF001  # librdkafka's public code
        return False
    raise KafkaException(err)


def run(cfg: PeerConfig) -> Tally:
    """Consume ``cfg.expected`` records; returns the tally (also written to the stats file)."""
    transactional = cfg.guarantee == "transactions"
    consumer = Consumer(
        {
            "bootstrap.servers": cfg.broker,
            "group.id": cfg.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": not transactional,
            "isolation.level": "read_committed",
        }
    )
    pconf: dict[str, Any] = {
        "bootstrap.servers": cfg.broker,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    }
    if transactional:
        pconf["transactional.id"] = f"{cfg.group}-tx"
    producer = Producer(pconf)
    codec = WireCodec.of(cfg)
    transit = cfg.transit
    states: dict[bytes, dict[str, Any]] = {}
    tally = Tally()
    out_topic = cfg.output_topic

    def produce(key: bytes | None, value: bytes) -> None:
        while True:
            try:
                producer.produce(out_topic, value, key)
                return
            except BufferError:
                producer.poll(0.05)

    if transactional:
        producer.init_transactions()
        producer.begin_transaction()
    last_tx = time.monotonic()
    consumer.subscribe([cfg.input_topic])
    try:
        while tally.consumed < cfg.expected:
            # never ask for more than is left: consume() waits its timeout for a full batch
            msgs = consumer.consume(min(BATCH, cfg.expected - tally.consumed), timeout=0.5)
            if msgs and tally.first_consumed is None:
                tally.first_consumed = time.time()
            now_ms = int(time.time() * 1000)
            for msg in msgs:
                if not _check(msg):
                    continue
                tally.consumed += 1
                event = codec.decode_event(msg.value())
                if event is None:
                    tally.bad += 1
                    continue
                key = msg.key() or event["shipment_id"].encode()
                state = states.get(key)
                if state is None:
                    state = states[key] = new_state()
                decisions = step(state, event, transit, now_ms)
                tally.count(decisions)
                for d in decisions or ():
                    produce(key, codec.encode_decision(d))
            producer.poll(0)
            if transactional and time.monotonic() - last_tx >= cfg.transaction_ms / 1000:
                _commit_transaction(producer, consumer)
                last_tx = time.monotonic()
        if transactional:
            _commit_transaction(producer, consumer, begin=False)
        else:
            if producer.flush(120):
                text = "records left unacknowledged after 120 s"
                raise RuntimeError(text)
            consumer.commit(asynchronous=False)
        tally.last_output = time.time()
    finally:
        consumer.close()
    tally.write(cfg.stats_path, shipments=len(states))
    return tally


def _commit_transaction(producer: Producer, consumer: Consumer, begin: bool = True) -> None:
    positions = consumer.position(consumer.assignment())
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata())
    producer.commit_transaction()
    if begin:
        producer.begin_transaction()


def main(argv: list[str]) -> int:
    """Run with the config file named on the command line."""
    run(PeerConfig.load(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
