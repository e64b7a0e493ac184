"""Builds the Faust app from settings and registers the agents of the configured role.

``faust -A streams.app worker`` imports this module and reads its ``app`` attribute, which is
built on first access (PEP 562), so importing the module alone does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faust
from mode import ServiceT

from streams import gc_tuning, web, worker_metrics
from streams.agents.communication import agent as communication
from streams.agents.decision import agent as decision
from streams.agents.ingestion import agent as ingestion
from streams.agents.processing import agent as processing
from streams.kafka.clients import faust_credentials
from streams.metrics import Metrics
from streams.monitoring import exporter
from streams.patches import changelog_seek, offset_guard
from streams.pipeline import Pipeline
from streams.settings import Settings, from_env

REGISTRARS = {
    "ingestion": ingestion.register,
    "processing": processing.register,
    "decision": decision.register,
    "communication": communication.register,
}


class App(faust.App):
    """faust's App without its Monitor among the sensors.

    The Monitor keeps in-memory statistics of every record in and out (for faust's web pages,
    which are off); shipstream's metrics are its own, in Prometheus. Called on every record,
    it cost about a third of what faust spends delivering one (``FLOOR_NO_SENSORS=1 python -m
    ops.bench.faust_floor``). It stays the app's monitor, which the consumer still tells of
    end offsets and commits; it is only no longer called per record.
    """

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        """Faust's dependencies, after which the Monitor is taken out of the sensors."""
        dependencies = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return dependencies


def faust_config(settings: Settings) -> dict[str, Any]:
    """Faust settings derived from ours (documented in streams.settings)."""
    config: dict[str, Any] = {
        "broker": settings.broker_url,
        "store": "rocksdb://",
        "datadir": str(settings.data_dir / f"{settings.group_id}-{settings.web_port}"),
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_bind": settings.web_host,
        "canonical_url": f"http://{settings.web_host}:{settings.web_port}",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication,
        "table_standby_replicas": settings.standby_replicas,
        "processing_guarantee": settings.processing_guarantee,
        "producer_acks": -1,
        # Batch produce requests: with no linger every record left in a request of its own,
        # and building and writing those was the largest share of a worker's CPU (py-spy).
        # No stage waits on a single record's ack (decisions are acked per batch).
        "producer_linger": 0.005,
        "producer_max_batch_size": 256 * 1024,
        "consumer_auto_offset_reset": "earliest",
        "web_in_thread": False,
        # faust's own pages (/table/..., /router/..., /graph, stats) would serve table data and
        # the cluster layout to anyone; /shipments/{id} routes without them (issue 12).
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "worker_redirect_stdouts": False,
    }
    if settings.instance_id:
        config["consumer_group_instance_id"] = settings.instance_id
    credentials = faust_credentials(settings)
    if credentials is not None:
        config["broker_credentials"] = credentials
    return config


def build(settings: Settings) -> Pipeline:
    """The app and everything registered on it for ``settings.role``."""
    offset_guard.install()  # before faust builds a consumer: commits only what was processed
    changelog_seek.install()  # a changelog offset below zero is read from the start, not a crash
    config = faust_config(settings)
    Path(config["datadir"]).mkdir(parents=True, exist_ok=True)
    app = App(settings.group_id, **config)
    pipeline = Pipeline(app=app, settings=settings, metrics=Metrics())
    for role in settings.roles:
        REGISTRARS[role](pipeline)
    web.register(pipeline)
    worker_metrics.register(pipeline)
    exporter.register(pipeline)
    return pipeline


def build_app(settings: Settings) -> faust.App:
    """Just the app (what faust's CLI needs)."""
    return build(settings).app


_default: faust.App | None = None


def __getattr__(name: str) -> Any:
    global _default  # the lazily built app faust's CLI asks for
    if name == "app":
        if _default is None:
            _default = build_app(from_env())
            gc_tuning.tune()  # a worker's process: see gc_tuning
        return _default
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
