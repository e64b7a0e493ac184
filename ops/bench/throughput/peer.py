"""What the benchmark's peers compute: SPEC's rules R1-R4 and R6, per shipment, from scratch.

Both peers (the raw confluent-kafka loop and the Quix Streams app) import this module, the
Quix app from its own virtualenv, so it needs nothing but the standard library and fastavro.
It is written independently of ``streams/`` on purpose: it is the peers' logic and a second
reading of SPEC, not a copy of shipstream's reducer and rules.

State of one shipment is a JSON-ready dict (Quix stores it as JSON in RocksDB; the raw loop
keeps it in a dict):

- ``ids``: event ids applied (dedup: an id seen before is a duplicate, ignored);
- ``dest``, ``promised``, ``level``: the CREATED facts, applied whenever CREATED arrives;
- ``status``, ``at``: type and time of the event with the greatest occurred_at (an older event
  is applied but moves neither);
- ``hub``, ``hub_at``: the ARRIVED_HUB/DEPARTED_HUB scan with the greatest occurred_at (SPEC's
  definition of the latest hub scan; ties go to the later arrival);
- ``codes``, ``held``, ``expedited``, ``notified``, ``closed``: what was decided (R1 codes,
  R2, R3, the ETA of the last R4 notice, R6).

ETA = latest hub scan time + the hub's ``transit_hours`` to the destination region; unknown
when any part is missing. Rules run after each applied event, in order R1, R2, R3, R4, R6;
a closed shipment gets no more decisions. Not here: R5 (hub windows) and R7 (stream time).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fastavro

HOUR_MS = 3_600_000
R4_LATE_MS = 4 * HOUR_MS
R4_STEP_MS = HOUR_MS
_SCANS = ("ARRIVED_HUB", "DEPARTED_HUB")
_CLOSING = ("DELIVERED", "CANCELLED")
_R1_CODES = ("DAMAGED", "LOST")
_HEADER = struct.Struct(">bI")

#: transit hours: hub code -> destination region -> hours
Transit = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class PeerConfig:
    """What a peer process needs; written to a JSON file by the benchmark, read by the peer."""

    broker: str
    input_topic: str
    output_topic: str
    group: str
    #: input records to consume before stopping (every record of the input topic)
    expected: int
    event_schema: dict[str, Any]
    event_schema_id: int
    decision_schema: dict[str, Any]
    decision_schema_id: int
    transit: dict[str, dict[str, int]]
    stats_path: str
    #: ``at_least_once`` or ``exactly_once`` (Quix), or the raw loop's ``none`` / ``transactions``
    guarantee: str = "at_least_once"
    state_dir: str = ""
    transaction_ms: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    def dump(self, path: Path) -> None:
        """Write as JSON."""
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> PeerConfig:
        """Read what ``dump`` wrote."""
        return cls(**json.loads(Path(path).read_text()))


def strip_logical_types(schema: Any) -> Any:
    """The schema without ``logicalType``: timestamp-millis then decodes as the plain epoch-ms
    long it is on the wire, instead of a datetime converted back and forth."""
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical_types(v) for v in schema]
    return schema


class WireCodec:
    """Confluent wire format (magic 0, 4-byte schema id, Avro body) for events and decisions."""

    def __init__(
        self,
        event_schema: dict[str, Any],
        event_schema_id: int,
        decision_schema: dict[str, Any],
        decision_schema_id: int,
    ) -> None:
        self._event = fastavro.parse_schema(strip_logical_types(event_schema))
        self._event_id = event_schema_id
        self._decision = fastavro.parse_schema(strip_logical_types(decision_schema))
        self._decision_header = _HEADER.pack(0, decision_schema_id)

    @classmethod
    def of(cls, cfg: PeerConfig) -> WireCodec:
        """The codec a peer config describes."""
        return cls(
            cfg.event_schema, cfg.event_schema_id, cfg.decision_schema, cfg.decision_schema_id
        )

    def decode_event(self, raw: bytes | None) -> dict[str, Any] | None:
        """The event, or None for bytes that are not a ShipmentEvent of our schema id (the
        load generator's malformed records: JSON, garbage, unknown schema ids)."""
        if raw is None or len(raw) < 6:
            return None
        magic, schema_id = _HEADER.unpack_from(raw)
        if magic != 0 or schema_id != self._event_id:
            return None
        try:
            event = fastavro.schemaless_reader(io.BytesIO(raw[5:]), self._event, None)
        except (ValueError, EOFError, IndexError, StopIteration, UnicodeDecodeError):
            return None
        return event if isinstance(event, dict) else None

    def encode_decision(self, decision: Mapping[str, Any]) -> bytes:
        """A decision dict (as ``step`` returns) in the wire format."""
        buf = io.BytesIO()
        buf.write(self._decision_header)
        fastavro.schemaless_writer(buf, self._decision, decision)
        return buf.getvalue()


def new_state() -> dict[str, Any]:
    """The state of a shipment nothing is known of."""
    return {
        "ids": [],
        "dest": None,
        "promised": None,
        "level": None,
        "status": None,
        "at": None,
        "hub": None,
        "hub_at": None,
        "codes": [],
        "held": False,
        "expedited": False,
        "notified": None,
        "closed": False,
    }


def eta_of(state: Mapping[str, Any], transit: Transit) -> int | None:
    """Latest hub scan + transit hours to the destination; None when a part is unknown."""
    hub, at, dest = state["hub"], state["hub_at"], state["dest"]
    if hub is None or at is None or dest is None:
        return None
    hours = transit.get(hub, {}).get(dest)
    return None if hours is None else at + hours * HOUR_MS


def decision_id(shipment_id: str, rule: str, discriminator: str = "") -> str:
    """Deterministic id: the same input gives the same ids (hex of SHA-256, 128 bits)."""
    text = f"{shipment_id}|{rule}|{discriminator}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def step(
    state: dict[str, Any], event: Mapping[str, Any], transit: Transit, decided_at: int
) -> list[dict[str, Any]] | None:
    """Apply one event to ``state`` (changed in place) and decide on it.

    Returns None for a duplicate (state untouched), else the decisions taken, in rule order.
    """
    event_id = event["event_id"]
    ids: list[str] = state["ids"]
    if event_id in ids:
        return None
    ids.append(event_id)
    kind, at = event["event_type"], event["occurred_at"]
    if state["at"] is None or at >= state["at"]:
        state["status"], state["at"] = kind, at
    if kind == "CREATED":
        for src, dst in (("destination", "dest"), ("promised_at", "promised")):
            if event.get(src) is not None:
                state[dst] = event[src]
        if event.get("service_level") is not None:
            state["level"] = event["service_level"]
    elif kind in _SCANS and (state["hub_at"] is None or at >= state["hub_at"]):
        state["hub"], state["hub_at"] = event.get("hub"), at
    eta = eta_of(state, transit)
    if state["closed"]:
        return []
    out: list[dict[str, Any]] = []

    def decide(rule: str, action: str, reason: str, discriminator: str = "") -> None:
        sid = event["shipment_id"]
        out.append(
            {
                "decision_id": decision_id(sid, rule, discriminator),
                "shipment_id": sid,
                "action": action,
                "rule": rule,
                "reason": reason,
                "based_on_event_id": event_id,
                "event_occurred_at": at,
                "decided_at": decided_at,
                "eta": eta,
                "target_hub": None,
                "details": {"event_type": kind},
            }
        )

    code = event.get("exception_code") if kind == "EXCEPTION" else None
    if code in _R1_CODES and code not in state["codes"]:
        state["codes"].append(code)
        decide("R1", "ESCALATE", f"shipment reported {code.lower()}", code)
    if code == "ADDRESS_ISSUE" and not state["held"]:
        state["held"] = True
        decide("R2", "HOLD", "address issue")
    promised, level = state["promised"], state["level"]
    if eta is not None and promised is not None:
        if level == "EXPRESS" and eta > promised and not state["expedited"]:
            state["expedited"] = True
            decide("R3", "EXPEDITE", "express shipment expected after its promise")
        notified = state["notified"]
        if (
            level in ("STANDARD", None)
            and eta >= promised + R4_LATE_MS
            and (notified is None or eta >= notified + R4_STEP_MS)
        ):
            state["notified"] = eta
            decide("R4", "NOTIFY_CUSTOMER", "expected 4 h or more after its promise", str(eta))
    if kind in _CLOSING:
        state["closed"] = True
        decide("R6", "CLOSE", f"shipment {kind.lower()}")
    return out


@dataclass
class Tally:
    """What a peer did, written to its stats file for the benchmark."""

    consumed: int = 0
    applied: int = 0
    duplicates: int = 0
    bad: int = 0
    decisions: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    first_consumed: float | None = None
    last_output: float | None = None

    def count(self, decisions: list[dict[str, Any]] | None) -> None:
        """Count one decoded record's outcome (``step``'s result)."""
        if decisions is None:
            self.duplicates += 1
            return
        self.applied += 1
        for d in decisions:
            self.decisions += 1
            self.by_rule[d["rule"]] = self.by_rule.get(d["rule"], 0) + 1

    def write(self, path: str | Path, **extra: Any) -> None:
        """The stats file."""
        Path(path).write_text(json.dumps({**asdict(self), **extra}))
