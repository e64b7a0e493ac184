from __future__ import annotations

from streams.dead_letter import DeadLetter


def test_headers_of_a_letter_quoting_a_lone_surrogate_still_encode() -> None:
    letter = DeadLetter(
        key=None,
        value=b"{}",
        stage="ingestion",
        reason="unknown_field",
        error_class="ValidationError",
        message="field '\ud800' is not part of ShipmentEvent",
        source_topic="http:/ingest",
    )
    headers = dict(letter.headers())
    assert headers["error.message"] == b"field '\\ud800' is not part of ShipmentEvent"
