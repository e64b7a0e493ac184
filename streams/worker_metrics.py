"""Worker-level metrics that no agent owns: rebalances, assignment size, table sizes.

Table sizes are RocksDB's own estimate per partition store (``rocksdb.estimate-num-keys``, what
Kafka Streams reports as ``estimate-num-keys``), read in microseconds. Counting keys meant
iterating every store on the event loop: with ~90,000 shipments that blocked a worker for
~0.5 s every 30 s, and the demo's decision latency showed it as a spike at each sample
(session 13). The estimate counts a key written again since the last compaction more than
once (1.5x on a demo's tables); it is a gauge to watch a table grow, not a count.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

TABLE_SIZE_INTERVAL_S = 30.0
ESTIMATE_NUM_KEYS = "rocksdb.estimate-num-keys"


def estimated_keys(table: Any) -> int:
    """Keys of ``table`` in this worker's active partitions, without reading them.

    A RocksDB store sums its partitions' estimates (faust's ``_dbs_for_actives``: the stores of
    the partitions this worker serves); any other store (``memory://``) is a dict: its length.
    """
    store = table.data
    actives = getattr(store, "_dbs_for_actives", None)
    if actives is None:
        return len(store)
    return sum(db.property_int_value(ESTIMATE_NUM_KEYS) or 0 for db in actives())


def register(p: Pipeline) -> None:
    """Count assignments and sample table sizes on this worker."""
    app = p.app
    metrics = p.metrics

    async def on_assigned(_sender: Any, *_args: Any, **_kw: Any) -> None:
        metrics.rebalances.inc()
        metrics.assigned_partitions.set(len(app.assignor.assigned_actives()))

    # mode types receivers with a keyword-only `signal`; ours takes it through **_kw.
    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

    async def table_sizes() -> None:
        """Keys in active partitions, as estimated by each store (see module)."""
        for name, table in app.tables.items():
            if getattr(table, "is_global", False):
                continue
            try:
                metrics.table_keys.labels(name).set(estimated_keys(table))
            except Exception:  # a table mid-recovery can refuse; the next sample will do
                log.debug("could not size table %s", name, exc_info=True)

    app.timer(TABLE_SIZE_INTERVAL_S, name="worker.table_sizes")(table_sizes)
