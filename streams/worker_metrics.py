"""Worker-level metrics that no agent owns: rebalances, assignment size, table sizes."""

from __future__ import annotations

import logging
from typing import Any

from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

TABLE_SIZE_INTERVAL_S = 30.0


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
        """Keys in active partitions; a scan, hence a slow interval."""
        for name, table in app.tables.items():
            if getattr(table, "is_global", False):
                continue
            try:
                metrics.table_keys.labels(name).set(sum(1 for _ in table.keys()))
            except Exception:  # a table mid-recovery can refuse; the next sample will do
                log.debug("could not size table %s", name, exc_info=True)

    app.timer(TABLE_SIZE_INTERVAL_S, name="worker.table_sizes")(table_sizes)
