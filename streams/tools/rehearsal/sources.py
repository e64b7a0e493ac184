"""Where a rehearsal reads the workers' counters: their /metrics, or Prometheus' HTTP API.

Both give the same :class:`Counters`: cumulative values per worker, so the sampler can take
deltas worker by worker and notice a worker that restarted (its counter went down).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streams.errors import ShipstreamError
from streams.tools import histogram

log = logging.getLogger(__name__)

EVENTS = "shipstream_events_total"
LATENCY = "shipstream_decision_latency_seconds"
#: Records read from shipments.events, whatever became of them (applied, duplicate, DLQ).
PROCESSED_STAGE = "processing"
#: Decision latency from ingestion: the pipeline's own delay (see the README).
LATENCY_SINCE = "ingested"


class SourceError(ShipstreamError):
    """Worker metrics cannot be read at all; the message says where they were looked for."""


@dataclass(frozen=True)
class Counters:
    """Cumulative worker counters at one moment, keyed by worker (URL or instance label)."""

    #: ``shipstream_events_total{stage="processing"}``, summed over outcomes.
    processed: Mapping[str, float] = field(default_factory=dict)
    #: Cumulative buckets of ``shipstream_decision_latency_seconds{since="ingested"}``.
    latency: Mapping[str, Mapping[float, float]] = field(default_factory=dict)


class CounterSource(Protocol):
    """Anything that reads :class:`Counters` (a fake in unit tests)."""

    def read(self) -> Counters:
        """The counters now; workers that do not answer are left out."""
        ...

    def describe(self) -> str:
        """Where the counters come from, for the report."""
        ...


def processed_total(text: str) -> float:
    """``shipstream_events_total`` of the processing stage in a worker's /metrics text."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == EVENTS and sample.labels.get("stage") == PROCESSED_STAGE:
                total += sample.value
    return total


class WorkerEndpoints:
    """Reads each worker's ``GET /metrics`` directly."""

    def __init__(self, urls: Sequence[str], client: httpx.Client | None = None) -> None:
        if not urls:
            msg = "no worker metrics URL given"
            raise SourceError(msg)
        self.urls = list(urls)
        self.client = client or httpx.Client(timeout=5.0)

    def read(self) -> Counters:
        """One GET per worker; a worker that does not answer is skipped with a warning."""
        processed: dict[str, float] = {}
        latency: dict[str, Mapping[float, float]] = {}
        for url in self.urls:
            try:
                r = self.client.get(url)
                r.raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("worker metrics not read from %s: %s", url, exc)
                continue
            processed[url] = processed_total(r.text)
            latency[url] = histogram.parse_buckets(r.text, LATENCY, {"since": LATENCY_SINCE})
        return Counters(processed, latency)

    def describe(self) -> str:
        """The URLs."""
        return ", ".join(self.urls)


class PrometheusApi:
    """Reads the same counters from Prometheus (job ``shipstream``), per ``instance``."""

    def __init__(self, url: str, job: str = "shipstream", client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self.job = job
        self.client = client or httpx.Client(timeout=10.0)

    def _query(self, expr: str) -> list[dict[str, object]]:
        try:
            r = self.client.get(f"{self.url}/api/v1/query", params={"query": expr})
            r.raise_for_status()
            body = r.json()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            log.warning("Prometheus query failed at %s: %s", self.url, exc)
            return []
        if body.get("status") != "success":
            log.warning("Prometheus refused %s: %s", expr, body.get("error"))
            return []
        return list(body["data"]["result"])

    def read(self) -> Counters:
        """Two instant queries, summed by instance (and by bucket for the histogram)."""
        processed: dict[str, float] = {}
        expr = f'sum by (instance) ({EVENTS}{{job="{self.job}",stage="{PROCESSED_STAGE}"}})'
        for row in self._query(expr):
            processed[_instance(row)] = _value(row)
        latency: dict[str, dict[float, float]] = {}
        expr = (
            f'sum by (instance, le) ({LATENCY}_bucket{{job="{self.job}",since="{LATENCY_SINCE}"}})'
        )
        for row in self._query(expr):
            metric = row["metric"]
            if not isinstance(metric, dict) or "le" not in metric:
                continue
            le = math.inf if metric["le"] == "+Inf" else float(metric["le"])
            latency.setdefault(_instance(row), {})[le] = _value(row)
        return Counters(processed, latency)

    def describe(self) -> str:
        """The Prometheus URL and job."""
        return f"Prometheus {self.url} (job {self.job})"


def _instance(row: Mapping[str, object]) -> str:
    metric = row["metric"]
    return str(metric.get("instance", "")) if isinstance(metric, dict) else ""


def _value(row: Mapping[str, object]) -> float:
    value = row["value"]
    return float(value[1]) if isinstance(value, list) else math.nan


def discover_metrics_urls(targets_dir: Path) -> list[str]:
    """``/metrics`` URLs of the workers registered in ops/workers.sh's file_sd target files."""
    urls: list[str] = []
    for path in sorted(targets_dir.glob("*.json")):
        try:
            groups = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping target file %s: %s", path, exc)
            continue
        urls.extend(f"http://{t}/metrics" for t in _targets(groups))
    return urls


def _targets(groups: object) -> Iterable[str]:
    if not isinstance(groups, list):
        return []
    return [
        str(t)
        for g in groups
        if isinstance(g, dict)
        for t in g.get("targets", [])
        if isinstance(t, str)
    ]
