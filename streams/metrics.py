"""Prometheus metrics of a worker: one place that names them all (prefix ``shipstream_``).

Metrics live in a registry owned by each :class:`Metrics` object rather than the global one,
so several apps built in one test process do not collide.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from streams.patches import continuity, offset_guard

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _CommitGuardCollector:
    """The commit guard's and the continuity check's counts, read at scrape time.

    They are process-wide, like the patches that keep them.
    """

    def collect(self) -> Iterator[Metric]:
        state = offset_guard.STATE
        yield CounterMetricFamily(
            "shipstream_commit_redeliveries",
            "Partitions delivered again from the committed offset because a record was skipped",
            value=state.redeliveries,
        )
        yield CounterMetricFamily(
            "shipstream_inferred_gaps_refused",
            "Offset gaps faust inferred from stale read offsets and the commit guard refused",
            value=state.refused_gaps,
        )
        yield CounterMetricFamily(
            "shipstream_delivery_reads_again",
            "Fetches not delivered because records before them were fetched and dropped; "
            "the partition was read again from the next record to deliver",
            value=continuity.STATE.reads_again,
        )
        yield CounterMetricFamily(
            "shipstream_delivery_holes_given_up",
            "Offsets the log no longer had after repeated reads (retention): never processed",
            value=continuity.STATE.given_up,
        )


class Tally:
    """Counts of a labelled counter, added to it once per batch instead of once per record.

    ``counter.labels(...).inc()`` takes a lock and two lookups; per record, in the agents' inner
    loops, that showed in profiles.
    """

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.counts: collections.Counter[tuple[str, ...]] = collections.Counter()

    def add(self, *labels: str) -> None:
        """Count one record under ``labels``."""
        self.counts[labels] += 1

    def flush(self) -> None:
        """Add the counts to the counter, and start again."""
        counts, self.counts = self.counts, collections.Counter()
        for labels, n in counts.items():
            self.counter.labels(*labels).inc(n)


class Metrics:
    """The worker's metrics; ``render()`` is what ``GET /metrics`` returns."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "shipstream_events_total",
            "Records handled, by stage and outcome",
            ["stage", "outcome"],
            registry=r,
        )
        self.duplicates = Counter(
            "shipstream_duplicates_total",
            "Duplicate records ignored, by stage",
            ["stage"],
            registry=r,
        )
        self.dlq = Counter(
            "shipstream_dlq_total",
            "Records written to the DLQ, by stage and reason",
            ["stage", "reason"],
            registry=r,
        )
        self.decisions = Counter(
            "shipstream_decisions_total",
            "Decisions committed, by action and rule",
            ["action", "rule"],
            registry=r,
        )
        self.decision_latency = Histogram(
            "shipstream_decision_latency_seconds",
            "Seconds from ingestion (since=ingested) or event time (since=occurred) to decision",
            ["since"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "shipstream_action_deliveries_total",
            "Action deliveries, by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.delivery_attempts = Counter(
            "shipstream_action_attempts_total",
            "HTTP attempts to deliver actions, by endpoint",
            ["endpoint"],
            registry=r,
        )
        self.circuit_open = Gauge(
            "shipstream_endpoint_circuit_open",
            "1 while an endpoint's circuit breaker is open",
            ["endpoint"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "shipstream_consumer_lag",
            "High watermark minus committed offset, from the broker, per group/topic/partition",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.table_keys = Gauge(
            "shipstream_table_keys",
            "Keys in a state table on this worker (active partitions), as estimated by RocksDB",
            ["table"],
            registry=r,
        )
        self.rebalances = Counter(
            "shipstream_rebalances_total",
            "Partition assignments received by this worker",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "shipstream_assigned_partitions",
            "Partitions currently assigned to this worker",
            registry=r,
        )
        self.decisions_already_sent = Counter(
            "shipstream_decisions_already_sent_total",
            "Decisions a replay took again but a previous owner had committed; not re-sent",
            registry=r,
        )
        self.updates_waiting = Gauge(
            "shipstream_updates_waiting",
            "Updates held until an earlier update of their shipment (the hub detour) arrives",
            registry=r,
        )
        self.updates_waiting_oldest = Gauge(
            "shipstream_updates_waiting_oldest_seconds",
            "Seconds the longest-held update has waited for an earlier one of its shipment",
            registry=r,
        )
        self.order_gaps_skipped = Counter(
            "shipstream_order_gaps_skipped_total",
            "Shipments whose held updates passed the bound and were evaluated without the "
            "missing earlier one",
            registry=r,
        )
        self.reference_age = Gauge(
            "shipstream_reference_age_seconds",
            "Seconds since this worker's hub network was last known to be caught up with "
            "reference.hubs",
            registry=r,
        )
        self.reference_hubs = Gauge(
            "shipstream_reference_hubs",
            "Hubs in this worker's hub network",
            registry=r,
        )
        self.registry_errors = Counter(
            "shipstream_registry_errors_total",
            "Failed schema registry calls, by kind: not_found (a record's unknown schema id, "
            "dead-lettered), refused, server_error, auth, timeout, connection, bad_response "
            "(retried)",
            ["kind"],
            registry=r,
        )
        r.register(_CommitGuardCollector())
        self.stream_time = Gauge(
            "shipstream_stream_time_ms",
            "Greatest occurred_at seen, per partition",
            ["partition"],
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
