"""Property: whatever the body, every record is accepted or rejected with a reason.

What ``POST /ingest`` does with a body, minus Kafka: split it, parse each record, and for an
accepted one build what the producer will encode (the key and the Avro body). Nothing may
raise but ``BodyError`` for the body as a whole; an accepted event must encode, since a
failure there would be a 500 (or an internal_error dead letter) in the running worker.
"""

from __future__ import annotations

import io
import json
import re

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.agents.ingestion.body import BodyError, split_body
from streams.agents.ingestion.validation import ValidationError, parse_record
from streams.codecs import registry
from streams.topics import EVENTS
from tests.ingest_bodies import bodies, records

SCHEMA = fastavro.parse_schema(json.loads(registry.load_schema(EVENTS.schema_file)))  # type: ignore[arg-type]
REASON = re.compile(r"^[a-z][a-z_]*[a-z]$")


def outcomes(body: bytes, content_type: str) -> list[str]:
    """``accepted`` or the reason, per record; ``body:<reason>`` for a body refused whole."""
    try:
        recs = split_body(body, content_type)
    except BodyError as exc:
        assert REASON.match(exc.reason), exc.reason
        return [f"body:{exc.reason}"]
    out = []
    for rec in recs:
        if rec.error is not None:
            assert REASON.match(rec.reason) and rec.error
            out.append(rec.reason)
            continue
        try:
            event = parse_record(rec.value)
        except ValidationError as exc:
            assert REASON.match(exc.reason) and exc.message
            exc.message.encode()  # goes into a DLQ header
            out.append(exc.reason)
            continue
        event.shipment_id.encode()  # the Kafka key
        fastavro.schemaless_writer(io.BytesIO(), SCHEMA, event.to_avro())
        out.append("accepted")
    return out


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=512), st.sampled_from(["", "application/json", "application/x-ndjson"]))
def test_arbitrary_bytes(body: bytes, content_type: str) -> None:
    outcomes(body, content_type)


@FUZZ
@given(bodies())
def test_json_ish_bodies(body_and_type: tuple[bytes, str]) -> None:
    outcomes(*body_and_type)


@FUZZ
@given(st.lists(records(), min_size=1, max_size=8))
def test_one_outcome_per_ndjson_line_whatever_the_others(items: list[object]) -> None:
    lines = [json.dumps(item).encode() for item in items]
    got = outcomes(b"\n".join(lines), "application/x-ndjson")
    assert len(got) == len(items)
    # each line is judged alone: the same as when sent by itself
    assert got == [outcomes(line, "application/x-ndjson")[0] for line in lines]
