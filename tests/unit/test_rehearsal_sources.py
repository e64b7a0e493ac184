"""Reading worker counters from /metrics text, from Prometheus' API, and finding the workers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest

from streams.metrics import Metrics
from streams.tools.rehearsal.sources import (
    PrometheusApi,
    SourceError,
    WorkerEndpoints,
    discover_metrics_urls,
    processed_total,
)


def worker_text() -> str:
    m = Metrics()
    m.events.labels("processing", "applied").inc(90)
    m.events.labels("processing", "duplicate").inc(7)
    m.events.labels("processing", "dead_lettered").inc(3)
    m.events.labels("decision", "evaluated").inc(1000)  # another stage: not "processed"
    m.decision_latency.labels("ingested").observe(0.3)
    m.decision_latency.labels("ingested").observe(4.0)
    m.decision_latency.labels("occurred").observe(3600)
    return m.render().decode()


def test_processed_counts_every_outcome_of_the_processing_stage() -> None:
    assert processed_total(worker_text()) == 100


def test_worker_endpoints_read_each_worker_and_skip_the_silent_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.port == 6066:
            return httpx.Response(200, text=worker_text())
        return httpx.Response(503)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    urls = ["http://127.0.0.1:6066/metrics", "http://127.0.0.1:6067/metrics"]
    counters = WorkerEndpoints(urls, client).read()
    assert counters.processed == {urls[0]: 100.0}
    buckets = counters.latency[urls[0]]
    assert buckets[0.5] == 1 and buckets[5.0] == 2 and buckets[math.inf] == 2


def test_worker_endpoints_need_at_least_one_url() -> None:
    with pytest.raises(SourceError):
        WorkerEndpoints([])


def test_prometheus_api_groups_by_instance() -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params["query"]
        queries.append(q)
        if "events_total" in q:
            result = [{"metric": {"instance": "a:1"}, "value": [1.0, "42"]}]
        else:
            result = [
                {"metric": {"instance": "a:1", "le": "1"}, "value": [1.0, "3"]},
                {"metric": {"instance": "a:1", "le": "+Inf"}, "value": [1.0, "5"]},
            ]
        return httpx.Response(200, json={"status": "success", "data": {"result": result}})

    api = PrometheusApi(
        "http://prom:9090/", client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    counters = api.read()
    assert counters.processed == {"a:1": 42.0}
    assert counters.latency == {"a:1": {1.0: 3.0, math.inf: 5.0}}
    assert 'job="shipstream",stage="processing"' in queries[0]
    assert 'since="ingested"' in queries[1]


def test_prometheus_api_down_gives_empty_counters() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        msg = "refused"
        raise httpx.ConnectError(msg, request=request)

    api = PrometheusApi(
        "http://prom:9090", client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    counters = api.read()
    assert (dict(counters.processed), dict(counters.latency)) == ({}, {})


def test_discovers_workers_from_file_sd_targets(tmp_path: Path) -> None:
    group = [{"targets": ["127.0.0.1:6066"], "labels": {"role": "all"}}]
    (tmp_path / "worker-all-6066.json").write_text(json.dumps(group))
    (tmp_path / "worker-x.json").write_text(
        json.dumps([{"targets": ["127.0.0.1:6070", "127.0.0.1:6071"]}])
    )
    (tmp_path / "worker-all-6068.json.tmp").write_text("[half a fi")  # being written: ignored
    (tmp_path / "broken.json").write_text("{not json")
    assert discover_metrics_urls(tmp_path) == [
        "http://127.0.0.1:6066/metrics",
        "http://127.0.0.1:6070/metrics",
        "http://127.0.0.1:6071/metrics",
    ]
    assert discover_metrics_urls(tmp_path / "missing") == []
