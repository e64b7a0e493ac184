"""The Grafana dashboard: valid JSON, queries that parse and read only metrics workers export.

A query on a renamed metric shows "No data" without any error, so names are checked against
streams.metrics, and the PromQL itself is parsed by promtool (as recording rules in a scratch
file, Grafana's $variables replaced by values of the same shape).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.tools.metric_names import exported_names, promql_metric_names, unknown_names

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "ops" / "grafana"
DASHBOARD = GRAFANA / "shipstream.json"

# What the dashboard must show (the metrics behind each subject).
REQUIRED_METRICS = {
    "shipstream_events_total",  # throughput by stage/outcome
    "shipstream_consumer_lag",  # lag per partition
    "shipstream_decision_latency_seconds_bucket",  # latency p50/p99
    "shipstream_dlq_total",  # DLQ by reason
    "shipstream_action_deliveries_total",  # deliveries by status
    "shipstream_rebalances_total",
    "shipstream_table_keys",
}
# Grafana's built-in and dashboard variables, replaced by values of the same PromQL shape.
VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$role": ".*",
    "$group": ".*",
}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    out = []
    for p in dashboard()["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # panels inside collapsed rows
    return out


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{p['title']}/{t['refId']}", t) for p in panels() for t in p.get("targets", [])]


def test_dashboard_identity_and_layout() -> None:
    d = dashboard()
    assert d["uid"] == "shipstream-overview"
    assert isinstance(d["schemaVersion"], int)
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels():
        assert {"h", "w", "x", "y"} <= set(p["gridPos"])
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p.get("targets"), f"panel {p['title']} has no query"
            assert p.get("description"), f"panel {p['title']} does not say what it shows"
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), p["title"]


@pytest.mark.parametrize(("where", "target"), targets(), ids=[w for w, _ in targets()])
def test_queries_read_only_exported_metrics(where: str, target: dict[str, Any]) -> None:
    assert promql_metric_names(target["expr"]), f"{where} reads no metric"
    assert unknown_names(target["expr"], exported_names()) == set()


def test_template_variable_queries_read_exported_metrics() -> None:
    for var in dashboard()["templating"]["list"]:
        if var["type"] != "query":
            continue
        inner = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["definition"])
        assert inner, var["definition"]
        assert unknown_names(inner.group(1), exported_names()) == set()


def test_dashboard_covers_the_required_subjects() -> None:
    used = set().union(*(promql_metric_names(t["expr"]) for _, t in targets()))
    assert REQUIRED_METRICS - used == set()


def test_queries_parse_as_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.fail("promtool not found: run ops/setup.sh (make test does) to install prometheus")
    rules = []
    for i, (_, target) in enumerate(targets()):
        expr = target["expr"]
        for var, value in VARIABLES.items():
            expr = expr.replace(var, value)
        assert "$" not in expr.replace("$1", ""), f"unknown Grafana variable in {expr}"
        rules.append({"record": f"grafana:query_{i}", "expr": expr})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_datasource_is_the_provisioned_one() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    uids = {ds["uid"] for ds in provisioned["datasources"] if ds["type"] == "prometheus"}
    var = next(v for v in dashboard()["templating"]["list"] if v["type"] == "datasource")
    assert var["current"]["value"] in uids
    for p in panels():
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]


def test_dashboard_provider_points_where_compose_mounts_the_json() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/shipstream.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./ops/grafana/shipstream.json:{path}/shipstream.json:ro" in mounts
    assert "./ops/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
