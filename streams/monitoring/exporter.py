"""Exporting a worker's own consumer lag as ``shipstream_consumer_lag``, from a Faust timer.

The lag alerts, the dashboard and KEDA's view of lag all read the broker's numbers
(:mod:`streams.monitoring.lag`); this module puts them on the worker's ``GET /metrics``. Every
worker of a role exports its group's lag, so the series are duplicated per worker on purpose
(any survivor keeps reporting); the alert rules take ``max`` per partition before summing.

Wire it in where the app is built (one line)::

    from streams.monitoring import exporter
    exporter.register(pipeline)

Faust is not imported here: the app is used through its ``timer`` decorator only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from streams.monitoring.lag import LagGaugeWriter, LagSampleError, LagSampler

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 15.0
"""Seconds between samples: a few admin round trips each, well under Prometheus' 5-15 s
scrape cadence mattering for alerts that look at minutes."""


def register(
    pipeline: Pipeline, interval: float = DEFAULT_INTERVAL, sampler: LagSampler | None = None
) -> Callable[[], Awaitable[None]]:
    """Sample this worker's consumer group every ``interval`` seconds; returns the timer body.

    The blocking admin calls run in the loop's default executor (``sample_async``), so the
    agents keep consuming while the broker answers. A failed sample is logged and retried at
    the next tick, leaving the last values in place.
    """
    settings = pipeline.settings
    # Every group of this deployment, not just the worker's own: when the last worker of a role
    # is down, Prometheus drops its series, and only the other roles' workers can still report
    # that role's growing lag (the alert rules take max per group/topic/partition).
    sampler = sampler or LagSampler(settings.broker, group_prefix=f"{settings.app_id}-")
    writer = LagGaugeWriter(pipeline.metrics.consumer_lag)
    app: Any = pipeline.app

    async def export_consumer_lag() -> None:
        try:
            samples = await sampler.sample_async()
        except LagSampleError as exc:
            log.warning("consumer lag of %s not sampled: %s", settings.group_id, exc)
            return
        writer.update(samples)

    app.timer(interval, name="shipstream.consumer_lag")(export_consumer_lag)
    return export_consumer_lag
