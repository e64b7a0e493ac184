"""Web endpoints every worker serves, whatever its role: metrics and health."""

from __future__ import annotations

from typing import Any

from faust import web as fweb

from streams.pipeline import Pipeline


def register(pipeline: Pipeline) -> None:
    """Add ``GET /metrics`` and ``GET /healthz`` to the worker's web server."""
    metrics = pipeline.metrics
    app = pipeline.app

    class MetricsView(fweb.View):
        """Prometheus scrapes this."""

        async def get(self, request: fweb.Request, *args: Any, **kwargs: Any) -> fweb.Response:
            return self.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    class HealthView(fweb.View):
        """Ready once the worker has its assignment and its tables are recovered."""

        async def get(self, request: fweb.Request, *args: Any, **kwargs: Any) -> fweb.Response:
            # TableManager has `recovery`; its interface TableManagerT does not declare it.
            recovery = app.tables.recovery  # type: ignore[attr-defined]
            recovered = bool(recovery.completed.is_set())
            assigned = app.assignor.assigned_actives()
            body = {
                "role": pipeline.settings.role,
                "group": pipeline.settings.group_id,
                "recovered": recovered,
                "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
            }
            return self.json(body, status=200 if recovered else 503)

    network = pipeline.hub_network
    if network is not None:
        hubs = network

        class HubsView(fweb.View):
            """The hub network as this worker sees it (reference.hubs applies at run time)."""

            async def get(self, request: fweb.Request, *args: Any, **kwargs: Any) -> fweb.Response:
                return self.json({code: hubs[code].to_avro() for code in sorted(hubs)})

        app.page("/hubs")(HubsView)
    app.page("/metrics")(MetricsView)
    app.page("/healthz")(HealthView)
