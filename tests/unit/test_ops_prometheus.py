"""Alert rules: valid for Prometheus, unit-tested with promtool, and reading real metrics.

promtool comes from ops/setup.sh (Debian's prometheus package), which `make test` runs; without
it these tests fail rather than skip, so CI cannot pass with the rules untested.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.tools.metric_names import exported_names, promql_metric_names, unknown_names

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "ops" / "prometheus"
RULES = PROM_DIR / "rules" / "shipstream.yml"
RULE_TESTS = PROM_DIR / "tests" / "shipstream_test.yml"
SEVERITIES = {"page", "ticket"}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if found is None:
        pytest.fail("promtool not found: run ops/setup.sh (make test does) to install prometheus")
    return found


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    return [r for g in load(RULES)["groups"] for r in g["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules(promtool: str) -> None:
    out = run([promtool, "check", "rules", str(RULES)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests(promtool: str) -> None:
    out = run([promtool, "test", "rules", str(RULE_TESTS)])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for case in load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - fires == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested not firing"
    assert (fires | silent) - names == set(), "tests of alerts that do not exist"


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alert_has_severity_and_annotations(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in SEVERITIES
    assert {"summary", "description", "runbook"} <= set(alert["annotations"])
    assert alert["alert"].startswith("Shipstream")


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert", r.get("record")))
def test_rules_read_only_metrics_the_workers_export(rule: dict[str, Any]) -> None:
    assert promql_metric_names(rule["expr"]), "the expression reads no metric at all"
    assert unknown_names(rule["expr"], exported_names()) == set()


def test_rule_tests_feed_only_exported_metrics() -> None:
    """Tests of imaginary series would pass while the real alert never fires."""
    exported = exported_names() | {"up"}
    for case in load(RULE_TESTS)["tests"]:
        for series in case.get("input_series", []):
            assert series["series"].split("{", 1)[0] in exported, series["series"]


def test_job_named_in_rules_is_scraped_and_rules_are_loaded() -> None:
    config = load(PROM_DIR / "prometheus.yml")
    jobs = {s["job_name"] for s in config["scrape_configs"]}
    assert "shipstream" in jobs
    for rule in rules():
        assert 'job="' not in rule["expr"] or 'job="shipstream"' in rule["expr"]
    rel = str(RULES.relative_to(PROM_DIR))
    assert any(fnmatch.fnmatch(rel, pattern) for pattern in config["rule_files"])
    # promtool test files must not match a rule_files pattern: Prometheus would load them
    rel_test = str(RULE_TESTS.relative_to(PROM_DIR))
    assert not any(fnmatch.fnmatch(rel_test, pattern) for pattern in config["rule_files"])


def test_exported_names_expand_families() -> None:
    names = exported_names()
    assert "shipstream_events_total" in names
    assert "shipstream_consumer_lag" in names
    assert {
        "shipstream_decision_latency_seconds_bucket",
        "shipstream_decision_latency_seconds_sum",
        "shipstream_decision_latency_seconds_count",
    } <= names
    assert "shipstream_events" not in names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="shipstream"} == 0', {"up"}),
        (
            'sum by (e) (rate(a_total{status=~"FAILED_.*"}[5m])) / ignoring(x) b_total > 0.05',
            {"a_total", "b_total"},
        ),
        ("histogram_quantile(0.99, sum(rate(h_bucket[$__rate_interval])) by (le))", {"h_bucket"}),
        ("max_over_time(x[10m:1m]) and on (group) y offset 5m > 1e3", {"x", "y"}),
        ('label_replace(z{a="b"}, "dst", "$1", "src", "(.*)")', {"z"}),
    ],
)
def test_promql_metric_names(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names
