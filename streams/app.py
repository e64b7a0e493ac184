"""Builds the Faust app from settings and registers the agents of the configured role.

``faust -A streams.app worker`` imports this module and reads its ``app`` attribute, which is
built on first access (PEP 562), so importing the module alone does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust

from streams import web, worker_metrics
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
    app = faust.App(settings.group_id, **config)
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
        return _default
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
