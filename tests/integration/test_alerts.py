"""The alert rules on a real Prometheus, against real workers: lag and worker-down alerts fire
when the decision worker stops under load, and resolve when it comes back.

A private Prometheus (own port, own TSDB in tmp_path) scrapes the test's workers every second
and loads rules derived from ops/prometheus/rules/shipstream.yml by
ops/prometheus/testing/derive.py: same names and expressions, ``for:`` and range windows / 30,
lag thresholds x 0.1. The first tests check the derivation itself (no network).

While the only decision worker is down, its group's lag is reported by the processing worker:
every worker exports the lag of every group of the deployment, so a role that is entirely down
still pages on lag.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from ops.prometheus.testing.derive import (
    RULES,
    DeriveError,
    Speedup,
    derive,
    derive_file,
    is_lag_rule,
    parse_duration,
    scale_thresholds,
    shorten_ranges,
)
from ops.prometheus.testing.server import PrivatePrometheus, static_job
from streams.kafka import admin
from streams.kafka.reference import publish_hubs
from streams.settings import Settings
from streams.tools.loadgen.options import LoadOptions
from streams.tools.rehearsal.load import LoadRun
from tests.integration.conftest import Worker, provision

T = TypeVar("T")
SPEEDUP = Speedup()  # for/ranges / 30, lag thresholds x 0.1
RATE = 100.0  # events/s: ~95 updates/s for the decision group, 1000 records of lag in ~11 s
LOAD_MAX_S = 330.0


def rules_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def skeleton(expr: str, *, numbers: bool) -> str:
    """The expression without its range windows (and compared numbers): what must not change."""
    out = re.sub(r"\[[^\]]*\]", "[]", expr)
    if numbers:
        out = re.sub(r"(>=|<=|==|!=|>|<)(\s*)(bool\s+)?[0-9.e+-]+", r"\1\2\3N", out)
    return out


# ---------------------------------------------------------------- the derivation, no network


def test_helpers_shorten_windows_and_scale_comparisons_only() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert shorten_ranges("rate(x[5m]) + max_over_time(y[10m:1m])", SPEEDUP) == (
        "rate(x[10s]) + max_over_time(y[20s:2s])"
    )
    assert shorten_ranges("rate(x[30s])", SPEEDUP) == "rate(x[5s])"  # the floor
    assert scale_thresholds('x{le="5"} > 10000 and y >= bool 5', 0.1) == (
        'x{le="5"} > 1000 and y >= bool 0.5'
    )
    with pytest.raises(DeriveError):
        parse_duration("5 minutes")


def test_offsets_are_refused_rather_than_half_derived() -> None:
    doc = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "x offset 5m > 1"}]}]}
    with pytest.raises(DeriveError, match="offset"):
        derive(doc, SPEEDUP)


def test_derived_rules_are_the_real_ones_shortened() -> None:
    source = yaml.safe_load(RULES.read_text())
    derived = derive(source, SPEEDUP)
    real, fast = rules_of(source), rules_of(derived)
    assert list(fast) == list(real)
    for name, rule in real.items():
        d = fast[name]
        assert (d["labels"], d["annotations"]) == (rule["labels"], rule["annotations"]), name
        lag = is_lag_rule(rule)
        assert skeleton(d["expr"], numbers=lag) == skeleton(rule["expr"], numbers=lag), name
        assert parse_duration(d["for"]) == max(2, round(parse_duration(rule["for"]) / 30)), name
    assert {n for n, r in real.items() if is_lag_rule(r)} == {
        "ShipstreamConsumerLagHigh",
        "ShipstreamConsumerLagGrowing",
    }
    assert ") > 1000" in fast["ShipstreamConsumerLagHigh"]["expr"]
    assert fast["ShipstreamConsumerLagHigh"]["for"] == "10s"
    assert "[20s]" in fast["ShipstreamConsumerLagGrowing"]["expr"]
    assert fast["ShipstreamWorkerDown"]["expr"] == real["ShipstreamWorkerDown"]["expr"]
    assert fast["ShipstreamWorkerDown"]["for"] == "4s"
    assert ") > 30" in fast["ShipstreamDecisionLatencyHigh"]["expr"]  # seconds, not lag


def test_derived_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.fail("promtool not found: run ops/setup.sh (make test does)")
    path = derive_file(tmp_path / "rules.yml", SPEEDUP)
    out = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


# ---------------------------------------------------------------- end to end


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alert_state(prom: PrivatePrometheus, name: str, **labels: str) -> str | None:
    """``pending``/``firing`` of the first matching active alert, ``None`` when inactive."""
    for a in prom.alerts():
        if a["labels"].get("alertname") == name and all(
            a["labels"].get(k) == v for k, v in labels.items()
        ):
            return str(a["state"])
    return None


def wait_for(what: str, check: Callable[[], T | None], timeout: float, why: Callable[[], str]) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout:.0f}s\n{why()}")


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_lag_and_worker_down_alerts_fire_and_resolve(settings: Settings, tmp_path: Path) -> None:
    began = time.monotonic()
    s = settings.with_(standby_replicas=0)
    provision(s)
    publish_hubs(s)
    processing = Worker(s.with_(role="processing", web_port=_free_port()), tmp_path / "proc.log")
    decision = Worker(s.with_(role="decision", web_port=_free_port()), tmp_path / "decision.log")
    group = decision.settings.group_id
    decision_target = f"127.0.0.1:{decision.settings.web_port}"
    stoppers: list[Callable[[], object]] = []
    try:
        stoppers.append(processing.stop)
        processing.start()
        stoppers.append(decision.stop)
        decision.start()
        rules = derive_file(tmp_path / "rules.yml", SPEEDUP)
        workers = [
            (f"127.0.0.1:{w.settings.web_port}", {"role": w.settings.role})
            for w in (processing, decision)
        ]
        prom = PrivatePrometheus(
            tmp_path / "prometheus",
            [static_job("shipstream", workers)],
            rule_files=[rules],
        ).start()
        stoppers.append(prom.stop)
        load = LoadRun(s, LoadOptions(rate=RATE, duration_s=LOAD_MAX_S, seed=7)).start()
        stoppers.append(lambda: (load.stop(), load.join(30)))

        lag_query = f'shipstream_consumer_lag{{group="{group}"}}'

        def why() -> str:
            return (
                f"alerts: {prom.alerts()}\n"
                f"lag: {prom.query(lag_query)}\n"
                f"up: {prom.query('up')}\nload: produced {load.produced}, error {load.error}\n"
                f"--- decision worker log ---\n{decision.tail(20)}"
            )

        # Healthy under load: both targets up, the decision group's lag seen, and low.
        wait_for(
            "both workers scraped up",
            lambda: len(prom.query('up{job="shipstream"} == 1')) == 2,
            30,
            why,
        )
        wait_for(
            "decision lag exported",
            lambda: prom.query(lag_query),
            45,
            why,
        )
        time.sleep(15)
        assert load.error is None and load.produced > 0.5 * RATE * 15, why()
        assert alert_state(prom, "ShipstreamConsumerLagHigh", group=group) != "firing", why()
        loaded_at = time.monotonic()

        # The decision worker stops while the load goes on.
        decision.stop()
        stopped_at = time.monotonic()
        fired: dict[str, float] = {}

        def both_fire() -> bool:
            if alert_state(prom, "ShipstreamWorkerDown", instance=decision_target) == "firing":
                fired.setdefault("down", time.monotonic() - stopped_at)
            if alert_state(prom, "ShipstreamConsumerLagHigh", group=group) == "firing":
                fired.setdefault("lag", time.monotonic() - stopped_at)
            return len(fired) == 2

        wait_for("WorkerDown and ConsumerLagHigh firing", both_fire, 120, why)
        # The worker-down alert is about the stopped worker only.
        assert alert_state(prom, "ShipstreamWorkerDown", role="processing") is None, why()

        # Back again: it catches up and both alerts resolve.
        decision.start()
        restarted_at = time.monotonic()

        def resolved() -> bool:
            return (
                alert_state(prom, "ShipstreamConsumerLagHigh", group=group) is None
                and alert_state(prom, "ShipstreamWorkerDown", instance=decision_target) is None
            )

        wait_for("alerts resolved after the restart", resolved, 150, why)
        assert load.running and load.error is None, "the load must outlast the test: " + why()
        print(  # timings for whoever tunes the test
            f"\nbaseline {loaded_at - began:.0f}s; after stop: down fired {fired['down']:.0f}s, "
            f"lag fired {fired['lag']:.0f}s; resolved {time.monotonic() - restarted_at:.0f}s "
            f"after restart; total {time.monotonic() - began:.0f}s"
        )
    finally:
        for stop in reversed(stoppers):
            stop()
        groups = [f"{s.app_id}-processing", f"{s.app_id}-decision"]
        client = admin.admin(s)  # keep a reference: a destroyed client fails its futures
        for fut in client.delete_consumer_groups(groups, request_timeout=30).values():
            try:
                fut.result(40)
            except Exception as exc:  # cleanup: report, do not mask the result
                print(f"consumer group not deleted: {exc!r}")
