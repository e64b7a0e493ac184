"""What a chaos run does, in one frozen bundle parsed from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.reference.hubs import load_hubs
from streams.settings import GUARANTEES, from_env

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = REPO_ROOT / ".local" / "chaos"

#: Workers per role at the start; every kill and scale change keeps at least one per role.
DEFAULT_FLEET = (("processing", 2), ("decision", 2), ("communication", 1))


@dataclass(frozen=True, slots=True)
class StackPorts:
    """Ports of the chaos stack, apart from the shared one (9092/9093/8081/9000)."""

    kafka: int = 19092
    controller: int = 19093
    registry: int = 18081
    registry_management: int = 19001
    endpoint: int = 8790
    first_worker: int = 6300

    @property
    def broker(self) -> str:
        """Bootstrap address of the chaos broker."""
        return f"127.0.0.1:{self.kafka}"

    @property
    def registry_url(self) -> str:
        """Confluent-compatible API of the chaos registry."""
        return f"http://127.0.0.1:{self.registry}/apis/ccompat/v7"

    def stack_env(self, state_dir: Path) -> dict[str, str]:
        """What ``ops/stack.sh`` needs to run (and stop) this stack and only this one."""
        return {
            "SHIPSTREAM_STATE_DIR": str(state_dir),
            "KAFKA_PORT": str(self.kafka),
            "KAFKA_CONTROLLER_PORT": str(self.controller),
            "REGISTRY_PORT": str(self.registry),
            "REGISTRY_MANAGEMENT_PORT": str(self.registry_management),
            # a plaintext stack whatever the caller's shell says (`make chaos SECURE=1`)
            "SECURE": "",
        }


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """Every knob of a run; the JSON result repeats it, so a run can be reproduced."""

    events: int = 20_000
    rate: float = 100.0
    kills: int = 6
    kill_interval_s: float | None = None
    #: Kills during a broker outage: Kafka is stopped, the worker keeps processing what it had
    #: fetched for ``outage_s`` (writes it cannot send stay in its memory), is SIGKILLed, and
    #: Kafka starts again. A freeze (SIGSTOP) would not do: requests already in the socket are
    #: served when the broker thaws, so nothing is left unacknowledged.
    outage_kills: int = 0
    outage_s: float = 3.0
    scale_changes: int = 2
    broker_restart: bool = True
    guarantee: str = "at_least_once"
    standby_replicas: int = 1
    partitions: int = 12
    fleet: tuple[tuple[str, int], ...] = DEFAULT_FLEET
    #: Roles whose workers may be killed (default: every role of the fleet).
    kill_roles: tuple[str, ...] = ()
    restart_delay_s: float = 2.0
    #: faust's broker_session_timeout (default 60 s): how long the group waits for a killed
    #: static member before moving its partitions. The harness restarts victims sooner.
    session_timeout_s: float = 10.0
    concurrency: int = 300
    seed: int = 1
    endpoint_failure_rate: float = 0.02
    recovery_timeout_s: float = 120.0
    drain_timeout_s: float = 300.0
    settle_s: float = 15.0
    keep_stack: bool = False
    keep_topics: bool = False
    worker_root: Path = REPO_ROOT
    state_dir: Path = STATE_DIR
    result_path: Path | None = None
    ports: StackPorts = field(default_factory=StackPorts)

    def __post_init__(self) -> None:
        if self.guarantee not in GUARANTEES:
            msg = f"--guarantee must be one of {GUARANTEES}, got {self.guarantee!r}"
            raise ValueError(msg)
        if self.events < 1 or self.rate <= 0:
            msg = "--events must be at least 1 and --rate positive"
            raise ValueError(msg)
        if min(self.kills, self.outage_kills, self.scale_changes) < 0:
            msg = "--kills, --outage-kills and --scale-changes must not be negative"
            raise ValueError(msg)
        if any(n < 1 for _, n in self.fleet):
            msg = "every role of the fleet needs at least one worker"
            raise ValueError(msg)

    @property
    def load_duration_s(self) -> float:
        """How long the generator runs at ``rate``."""
        return self.events / self.rate

    @property
    def actions(self) -> int:
        """Disruptions in the run: kills, scale changes and the broker restart."""
        return self.kills + self.outage_kills + self.scale_changes + int(self.broker_restart)

    @property
    def interval_s(self) -> float:
        """Seconds between disruptions: spread over the load unless ``--kill-interval``."""
        if self.kill_interval_s is not None:
            return self.kill_interval_s
        return self.load_duration_s / (self.actions + 1)


def _fleet(text: str) -> tuple[tuple[str, int], ...]:
    """``processing=2,decision=2,communication=1`` -> pairs."""
    out = []
    for part in text.split(","):
        role, _, count = part.partition("=")
        out.append((role.strip(), int(count)))
    return tuple(out)


def parse_args(argv: Sequence[str] | None = None) -> ChaosConfig:
    """Command-line options to a config."""
    d = ChaosConfig()
    p = argparse.ArgumentParser(
        prog="python -m ops.chaos.harness",
        description="Kill, scale and restart the pipeline under load on a second stack, then "
        "verify from the topics that every event was applied once and every decision "
        "committed and delivered once.",
    )
    p.add_argument("--events", type=int, default=d.events, help="records the generator sends")
    p.add_argument("--rate", type=float, default=d.rate, help="records per second")
    p.add_argument("--kills", type=int, default=d.kills, help="SIGKILLs of random workers")
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between disruptions (default: spread evenly over the load)",
    )
    p.add_argument(
        "--outage-kills",
        type=int,
        default=d.outage_kills,
        help="kills while the broker is stopped (the worker dies with unsent writes)",
    )
    p.add_argument(
        "--outage", type=float, default=d.outage_s, help="seconds the worker runs without Kafka"
    )
    p.add_argument("--scale-changes", type=int, default=d.scale_changes)
    p.add_argument("--no-broker-restart", action="store_true")
    p.add_argument(
        "--guarantee",
        default=from_env().processing_guarantee,
        choices=GUARANTEES,
        help="the workers' SHIPSTREAM_PROCESSING_GUARANTEE (default: from the environment)",
    )
    p.add_argument("--standby-replicas", type=int, default=d.standby_replicas)
    p.add_argument("--partitions", type=int, default=d.partitions)
    p.add_argument(
        "--fleet",
        type=_fleet,
        default=d.fleet,
        help="workers per role, e.g. processing=2,decision=2,communication=1",
    )
    p.add_argument(
        "--kill-roles",
        type=lambda text: tuple(r.strip() for r in text.split(",") if r.strip()),
        default=(),
        help="only kill workers of these roles, e.g. processing,decision",
    )
    p.add_argument("--restart-delay", type=float, default=d.restart_delay_s)
    p.add_argument("--session-timeout", type=float, default=d.session_timeout_s)
    p.add_argument("--concurrency", type=int, default=d.concurrency, help="shipments in flight")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--endpoint-failure-rate", type=float, default=d.endpoint_failure_rate)
    p.add_argument("--recovery-timeout", type=float, default=d.recovery_timeout_s)
    p.add_argument("--drain-timeout", type=float, default=d.drain_timeout_s)
    p.add_argument("--settle", type=float, default=d.settle_s, help="quiet seconds = drained")
    p.add_argument("--keep-stack", action="store_true", help="leave the chaos stack running")
    p.add_argument("--keep-topics", action="store_true", help="keep the run's topics")
    p.add_argument(
        "--worker-root",
        type=Path,
        default=d.worker_root,
        help="checkout the workers run from (a worktree with a patch under test)",
    )
    p.add_argument("--result", type=Path, default=None, help="JSON result path")
    a = p.parse_args(argv)
    try:
        return ChaosConfig(
            events=a.events,
            rate=a.rate,
            kills=a.kills,
            kill_interval_s=a.interval,
            outage_kills=a.outage_kills,
            outage_s=a.outage,
            scale_changes=a.scale_changes,
            broker_restart=not a.no_broker_restart,
            guarantee=a.guarantee,
            standby_replicas=a.standby_replicas,
            partitions=a.partitions,
            fleet=a.fleet,
            kill_roles=a.kill_roles,
            restart_delay_s=a.restart_delay,
            session_timeout_s=a.session_timeout,
            concurrency=a.concurrency,
            seed=a.seed,
            endpoint_failure_rate=a.endpoint_failure_rate,
            recovery_timeout_s=a.recovery_timeout,
            drain_timeout_s=a.drain_timeout,
            settle_s=a.settle,
            keep_stack=a.keep_stack,
            keep_topics=a.keep_topics,
            worker_root=a.worker_root.resolve(),
            result_path=a.result,
        )
    except ValueError as exc:
        p.error(str(exc))
        raise  # unreachable: p.error exits


#: The chaos stack's hubs take 1/100 of the shipped capacity (at least 2 arrivals per
#: 15-minute window), so that a run of ~100k events reroutes (R5) in many windows. With the
#: shipped network a hub window sees ~3 arrivals and R5 would never be exercised.
CAPACITY_DIVISOR = 100


def hub_network() -> list[dict[str, Any]]:
    """The hub network the chaos stack publishes and its verifier evaluates with."""
    return [
        {**hub, "capacity_per_window": max(2, int(hub["capacity_per_window"]) // CAPACITY_DIVISOR)}
        for hub in load_hubs()
    ]
