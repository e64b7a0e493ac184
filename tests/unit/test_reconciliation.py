from __future__ import annotations

from streams.tools.reconciliation import reconcile


def test_every_input_accounted_for() -> None:
    inputs = [("t", 0, 0, ("S1", "e1")), ("t", 0, 1, ("S1", "e1")), ("t", 1, 0, None)]
    r = reconcile(inputs, {"S1": ["e1"]}, [(1, 0)])
    assert r.ok and (r.expected_applied, r.expected_duplicates, r.expected_dead) == (1, 1, 1)


def test_a_lost_event_and_a_missing_dead_letter_are_reported() -> None:
    inputs = [("t", 0, 0, ("S1", "e1")), ("t", 0, 1, ("S1", "e2")), ("t", 1, 0, None)]
    r = reconcile(inputs, {"S1": ["e1"]}, [])
    assert not r.ok and r.lost == 2
    assert r.missing_from_state == ["S1/e2"] and r.missing_from_dlq == ["1@0"]


def test_state_that_no_input_explains_is_a_mismatch() -> None:
    r = reconcile([("t", 0, 0, ("S1", "e1"))], {"S1": ["e1", "ghost"]}, [])
    assert not r.ok and r.unexpected_in_state == ["S1/ghost"]
