"""compose.yaml run for real: the whole deployment under podman, checked from outside.

`make compose-test` prepares podman and the images of the local variant (ops/compose/local.sh),
then this module brings up compose.yaml + compose.local.yaml as the project `shipstream-ctest`
on its own loopback ports, drives a small surge through POST /ingest and through Kafka, checks
what a user would check, kills a processing container, and tears everything down.

podman-compose's exit codes are not trusted (1.0.3 returned 0 on failures; 1.6.0 ignores
`service_healthy` on podman < 4.6): services are started in dependency order here and every
step is judged by the containers' state and by real endpoints.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local" / "compose"
VENV_BIN = ROOT / ".venv" / "bin"
PROJECT = "shipstream-ctest"
ROLES = ("ingestion", "processing", "decision", "communication")
REPLICAS = {"ingestion": 1, "processing": 2, "decision": 1, "communication": 1}
# This test's host ports (127.0.0.1 only), apart from every other stack on the machine.
PORTS = {
    "KAFKA_HOST_PORT": 39092,
    "REGISTRY_HOST_PORT": 38081,
    "PROMETHEUS_HOST_PORT": 39090,
    "INGEST_HOST_PORT": 36066,
    "ENDPOINT_HOST_PORT": 38700,
    "GRAFANA_HOST_PORT": 36075,
}
EVENTS_PARTITIONS = 12
LAG_ALERTS = {"ShipstreamConsumerLagHigh", "ShipstreamConsumerLagGrowing"}
T = TypeVar("T")

pytestmark = pytest.mark.timeout(1500)


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(LOCAL / "containers.conf")
    env["CONTAINERS_STORAGE_CONF"] = str(LOCAL / "storage.conf")
    env.update({k: str(v) for k, v in PORTS.items()})
    return env


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SHIPSTREAM_BROKER"] = f"127.0.0.1:{PORTS['KAFKA_HOST_PORT']}"
    env["SHIPSTREAM_REGISTRY_URL"] = (
        f"http://127.0.0.1:{PORTS['REGISTRY_HOST_PORT']}/apis/ccompat/v7"
    )
    env["SHIPSTREAM_APP_ID"] = "shipstream"
    return env


def run(
    *cmd: str, check: bool = True, timeout: float = 300, **kw: Any
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(  # noqa: S603 - fixed commands of this test
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=kw.pop("env", podman_env()),
        **kw,
    )
    if check and out.returncode != 0:
        msg = (
            f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
        raise AssertionError(msg)
    return out


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return run("podman", *args, check=check, timeout=timeout)


def compose(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """podman-compose; its exit code is reported, never relied on."""
    return run(
        str(VENV_BIN / "podman-compose"),
        "-p",
        PROJECT,
        "-f",
        str(ROOT / "compose.yaml"),
        "-f",
        str(ROOT / "compose.local.yaml"),
        *args,
        check=False,
        timeout=timeout,
        cwd=ROOT,
    )


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 2.0) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (AssertionError, OSError, subprocess.SubprocessError, ValueError) as exc:
            result, last = None, exc
        if result:
            return result
        time.sleep(every)
    msg = f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})"
    raise AssertionError(msg)


def http_json(url: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")  # noqa: S310
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback URLs
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Container:
    name: str
    service: str
    id: str


def containers(all_: bool = True) -> list[Container]:
    args = ["ps", "--format", "json", "--filter", f"label=io.podman.compose.project={PROJECT}"]
    out = podman(*(args + (["-a"] if all_ else []))).stdout
    found = []
    for c in json.loads(out or "[]"):
        labels = c.get("Labels") or {}
        found.append(
            Container(c["Names"][0], labels.get("com.docker.compose.service", ""), c["Id"])
        )
    return sorted(found, key=lambda c: c.name)


def of(service: str, running_only: bool = True) -> list[Container]:
    return [c for c in containers(all_=not running_only) if c.service == service]


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(podman("inspect", name).stdout)
    return data[0]


def healthy(name: str) -> bool:
    """Runs the healthcheck compose.yaml defines (podman has no timer for it without systemd)."""
    return podman("healthcheck", "run", name, check=False, timeout=60).returncode == 0


HEALTHZ = (
    "import json, socket, urllib.request as u, urllib.error as e\n"
    "url = 'http://%s:6066/healthz' % socket.gethostbyname(socket.gethostname())\n"
    "try:\n    r = u.urlopen(url, timeout=5); print(r.status, r.read().decode())\n"
    "except e.HTTPError as x:\n    print(x.code, x.read().decode())\n"
)


def healthz(name: str) -> tuple[int, dict[str, Any]]:
    """A worker's GET /healthz, asked inside its container (replicas publish no host port)."""
    out = podman("exec", name, "python", "-c", HEALTHZ, timeout=60).stdout.strip()
    status, _, body = out.partition(" ")
    return int(status), json.loads(body)


def events_partitions(body: dict[str, Any]) -> set[int]:
    return {
        int(tp.rsplit(":", 1)[1]) for tp in body["assigned"] if tp.startswith("shipments.events:")
    }


@dataclass
class Deployment:
    started: float = field(default_factory=time.monotonic)
    log: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.log.append(f"{time.monotonic() - self.started:7.1f}s {line}")
        print(self.log[-1], flush=True)  # noqa: T201 - progress of a long test, shown with -s


def up(d: Deployment) -> None:
    """`up -d` in the steps Podman 4.3 needs (README), each judged by the containers' health.

    podman-compose ignores `service_healthy` on Podman < 4.6, and Apicurio started before Kafka
    answers never gets its storage (HTTP 500 "delegate is null"): Kafka first. A worker
    `--requires` bootstrap, and Podman before 4.4 cannot start a container whose requirement has
    exited while the requirement's own requirements run ("depends on container ... not found in
    input list"): so the services behind bootstrap start after it, --no-deps.
    """
    (LOCAL / "logs").mkdir(exist_ok=True)
    # The ports are in the ephemeral range: a passing client connection can hold one a moment.
    wait_for("this test's host ports to be free", ports_free, 60)
    out = compose("up", "-d", "--no-build", "kafka")
    (LOCAL / "logs" / "compose-up-1.log").write_text(out.stdout + out.stderr)
    d.note(f"up -d kafka: exit {out.returncode} (not trusted)")
    assert len(of("kafka")) == 1, f"kafka is not running: {out.stderr[-2000:]}"
    (kafka,) = of("kafka")
    wait_for(f"{kafka.name} healthy", lambda: healthy(kafka.name), 180, every=3)
    out = compose("up", "-d", "--no-build", "registry", "prometheus", "bootstrap")
    (LOCAL / "logs" / "compose-up-2.log").write_text(out.stdout + out.stderr)
    d.note(
        f"kafka healthy; up -d registry prometheus bootstrap: exit {out.returncode} (not trusted)"
    )
    (boot,) = of("bootstrap", running_only=False)

    def bootstrap_done() -> bool:
        state = inspect(boot.name)["State"]
        if state["Status"] != "exited":
            return False
        logs = podman("logs", boot.name, check=False)
        assert state["ExitCode"] == 0, (
            f"bootstrap exited {state['ExitCode']}: {logs.stderr[-3000:]}"
        )
        return True

    wait_for("bootstrap to finish", bootstrap_done, 330, every=3)
    d.note("bootstrap exited 0")
    out = compose("up", "-d", "--no-build", "--no-deps", "endpoint", *ROLES)
    (LOCAL / "logs" / "compose-up-3.log").write_text(out.stdout + out.stderr)
    d.note(f"up -d --no-deps endpoint {' '.join(ROLES)}: exit {out.returncode} (not trusted)")
    for role, n in REPLICAS.items():
        assert len(of(role)) == n, (
            f"{role}: {len(of(role))} running, expected {n}: {out.stderr[-2000:]}"
        )
    for service in ("kafka", "registry", "prometheus", "endpoint", *ROLES):
        for c in of(service):
            wait_for(f"{c.name} healthy", partial(healthy, c.name), 300, every=3)
    d.note("every container passes its healthcheck (workers: GET /healthz 200)")


def ports_free() -> bool:
    for port in PORTS.values():
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def leftovers() -> list[str]:
    left = [f"container {c.name}" for c in containers()]
    vols = podman("volume", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    left += [f"volume {v}" for v in vols if v.startswith(PROJECT)]
    nets = podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    left += [f"network {n}" for n in nets if n.startswith(PROJECT)]
    procs = run("ps", "-eo", "pid,args", check=False).stdout.splitlines()
    left += [f"process {p.strip()[:160]}" for p in procs if "conmon" in p and f"{PROJECT}_" in p]
    # netavark's DNS server (aardvark-dns) keeps a file per network it serves, and exits with
    # the last one.
    dns = Path("/run/containers/networks/aardvark-dns")
    left += [f"aardvark-dns entry {f}" for f in dns.glob(f"{PROJECT}*")] if dns.is_dir() else []
    return left


def teardown(d: Deployment) -> None:
    d.note(f"down: {compose('down', '-v', '-t', '60', timeout=900).returncode}")
    # What podman-compose missed (it must not be trusted), then the proof that nothing is left.
    for c in containers():
        podman("rm", "-f", "-v", c.name, check=False)
    for v in podman("volume", "ls", "--format", "{{.Name}}", check=False).stdout.split():
        if v.startswith(PROJECT):
            podman("volume", "rm", "-f", v, check=False)
    for n in podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split():
        if n.startswith(PROJECT):
            podman("network", "rm", "-f", n, check=False)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    d = Deployment()
    assert not leftovers(), f"a previous run left {leftovers()}: run `make compose-clean`"
    try:
        up(d)
        yield d
    finally:
        for c in containers():
            if c.service in ROLES or c.service in ("kafka", "registry"):
                logs = podman("logs", "--tail", "30", c.name, check=False)
                (LOCAL / "logs").mkdir(exist_ok=True)
                (LOCAL / "logs" / f"{c.name}.log").write_text(logs.stdout + logs.stderr)
        teardown(d)


def test_workers_run_non_root_on_a_read_only_root(deployment: Deployment) -> None:
    for role in ROLES:
        for c in of(role):
            info = inspect(c.name)
            assert info["HostConfig"]["ReadonlyRootfs"] is True, c.name
            assert podman("exec", c.name, "id", "-u").stdout.strip() == "10001", c.name
            denied = podman("exec", c.name, "touch", "/app/x", check=False)
            assert denied.returncode != 0 and "Read-only" in denied.stderr, c.name
            mounts = {m["Destination"]: m for m in info["Mounts"]}
            assert mounts["/var/lib/shipstream"]["Type"] == "volume", c.name
            env = dict(e.split("=", 1) for e in info["Config"]["Env"])
            # Secrets come as files (``*_FILE``: a path to a mounted secret), never as values.
            secretish = sorted(k for k in env if "PASSWORD" in k or "SECRET" in k)
            assert all(k.endswith("_FILE") for k in secretish), (c.name, secretish)


def test_every_partition_is_served_after_start(deployment: Deployment) -> None:
    for role in ROLES:
        served: set[int] = set()
        for c in of(role):
            status, body = healthz(c.name)
            assert status == 200 and body["recovered"], (c.name, body)
            assert body["group"] == f"shipstream-{role}"
            served |= events_partitions(body)
        if role == "processing":
            assert served == set(range(EVENTS_PARTITIONS)), served


def shipstream(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return run(str(VENV_BIN / "shipstream"), *args, env=cli_env(), check=False, timeout=timeout)


def summary(d: Deployment, tag: str, since: int, report: Path) -> dict[str, Any]:
    """`shipstream summary`: waits for the groups to drain, counts outcomes since `since`."""
    out = LOCAL / f"summary-{tag}.json"
    ran = shipstream(
        "summary", "--since-ms", str(since), "--load-report", str(report),
        "--drain-timeout", "300", "--out", str(out),
    )  # fmt: skip
    d.note(f"summary ({tag}) exit {ran.returncode}: {ran.stdout.strip()[-700:]}")
    assert out.exists(), ran.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def surge(d: Deployment, tag: str, count: int, concurrency: int) -> dict[str, Any]:
    """POST /ingest with a duplicate and malformed items, then a surge through Kafka.

    Few shipments in flight, so that they live their whole life (and get decisions) within
    `count` events.
    """
    since = int(time.time() * 1000)
    ship = f"CTEST-{tag}-{since}"
    good = {
        "event_id": f"{ship}-1",
        "shipment_id": ship,
        "event_type": "CREATED",
        "occurred_at": "2024-11-29T08:00:00Z",
        "source": "carrier:acme",
        "destination": "NE",
        "service_level": "EXPRESS",
        "promised_at": "2024-11-30T08:00:00Z",
    }
    bad_enum = {**good, "event_id": f"{ship}-2", "event_type": "TELEPORTED"}
    body = json.dumps([good, good, bad_enum, 42]).encode()
    status, resp = http_json(f"http://127.0.0.1:{PORTS['INGEST_HOST_PORT']}/ingest", body)
    assert status == 202, resp
    reasons = {r.get("reason") for r in resp["results"]}
    assert resp["accepted"] == 2 and reasons >= {"invalid_enum", "not_an_object"}, resp
    status, resp = http_json(f"http://127.0.0.1:{PORTS['INGEST_HOST_PORT']}/ingest", b"[{]")
    assert status in (400, 422), resp
    d.note(f"POST /ingest ({tag}): 202 with 2 rejected items; a malformed body: {status}")
    report = LOCAL / f"load-{tag}.json"
    load = shipstream(
        "load", "--profile", "surge", "--rate", "40", "--factor", "3", "--ramp", "5",
        "--hold", "5", "--count", str(count), "--concurrency", str(concurrency),
        "--seed", str(since), "--no-progress", "--summary", str(report), timeout=300,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr[-3000:]
    result = summary(d, tag, since, report)
    result["load"] = json.loads(report.read_text())
    result["since"] = since
    result["report"] = report
    return result


def reconcile(d: Deployment) -> dict[str, Any]:
    out = shipstream("reconcile", "--json", timeout=300)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    d.note(f"reconcile: {result}")
    assert result["ok"] and result["lost"] == 0, result
    assert not result["missing_from_state"] and not result["unexpected_in_state"], result
    assert not result["missing_from_dlq"], result
    return result


def delivered(d: Deployment, s: dict[str, Any], tag: str) -> None:
    """Every decision of the surge reaches the endpoint, and none is applied twice."""

    def all_delivered() -> dict[str, Any] | None:
        now = summary(d, tag, s["since"], s["report"])
        decisions = sum(now["decisions_by_action_rule"].values())
        actions = now["actions_by_status"]
        done = actions.get("DELIVERED", 0) + actions.get("DUPLICATE", 0)
        return now if decisions > 0 and done >= decisions else None

    now = wait_for("every decision delivered", all_delivered, 180, every=10)
    _, received = http_json(f"http://127.0.0.1:{PORTS['ENDPOINT_HOST_PORT']}/received")
    d.note(f"endpoint received: {received}")
    assert received["applied"] >= now["actions_by_status"].get("DELIVERED", 0), received
    assert not received["keys_applied_twice"], received


def test_surge_is_reconciled_and_decisions_delivered(deployment: Deployment) -> None:
    s = surge(deployment, "surge", 1500, concurrency=40)
    expected = s["load"]["expected"]
    assert expected["duplicates"] > 0 and expected["dead_lettered"] > 0, expected
    r = reconcile(deployment)
    assert r["expected_duplicates"] >= expected["duplicates"], r
    dlq = s["dlq_by_stage_reason"]
    assert any(k.startswith("ingestion/") for k in dlq) and "ingestion/not_an_object" in dlq, dlq
    delivered(deployment, s, "surge")


def test_prometheus_scrapes_every_worker_and_has_the_lag_alerts(deployment: Deployment) -> None:
    prom = f"http://127.0.0.1:{PORTS['PROMETHEUS_HOST_PORT']}"

    def all_up() -> list[dict[str, Any]] | None:
        _, body = http_json(f"{prom}/api/v1/targets?state=active")
        targets = [t for t in body["data"]["activeTargets"] if t["labels"]["job"] == "shipstream"]
        n = sum(REPLICAS.values())
        ok = len(targets) == n and all(t["health"] == "up" for t in targets)
        return targets if ok else None

    targets = wait_for("prometheus to scrape every worker", all_up, 90, every=5)
    assert {t["labels"]["role"] for t in targets} == set(ROLES)
    _, rules = http_json(f"{prom}/api/v1/rules")
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert names >= LAG_ALERTS, names
    _, lag = http_json(f"{prom}/api/v1/query?query=shipstream_consumer_lag")
    assert lag["data"]["result"], "no shipstream_consumer_lag series scraped"


def test_a_killed_processing_container_has_its_partitions_served_again(
    deployment: Deployment,
) -> None:
    victim, survivor = of("processing")
    _, before = healthz(victim.name)
    lost = events_partitions(before)
    assert lost, before
    podman("kill", "--signal", "KILL", victim.name)
    deployment.note(f"killed {victim.name} (it served shipments.events {sorted(lost)})")

    def served_again() -> bool:
        served: set[int] = set()
        for c in of("processing"):
            status, body = healthz(c.name)
            if status != 200:
                return False
            served |= events_partitions(body)
        return served == set(range(EVENTS_PARTITIONS))

    wait_for("all shipments.events partitions served again", served_again, 180, every=5)
    restarted = any(c.id == victim.id for c in of("processing"))
    deployment.note(
        f"partitions served again ({'victim restarted' if restarted else 'by the survivor'})"
    )
    s = surge(deployment, "after-kill", 600, concurrency=20)
    reconcile(deployment)
    delivered(deployment, s, "after-kill")


def test_sigterm_is_a_clean_leave(deployment: Deployment) -> None:
    for role in ("decision", "communication"):
        (c,) = of(role)
        start = time.monotonic()
        podman("stop", "-t", "60", c.name, timeout=120)
        took = time.monotonic() - start
        state = inspect(c.name)["State"]
        logs = (
            podman("logs", "--tail", "80", c.name).stderr
            + podman("logs", "--tail", "80", c.name).stdout
        )
        deployment.note(f"stopped {c.name} in {took:.1f}s, exit {state['ExitCode']}")
        assert took < 55, (
            f"{c.name} needed {took:.0f}s: SIGTERM did not stop it (SIGKILL after 60 s)"
        )
        assert state["ExitCode"] == 0, logs[-3000:]
        assert "Traceback" not in logs[-5000:] or "CancelledError" in logs, logs[-3000:]


def test_teardown_leaves_nothing_behind(deployment: Deployment) -> None:
    teardown(deployment)
    assert not leftovers(), leftovers()
