from __future__ import annotations

from streams.agents.processing.windows import (
    WINDOW_MS,
    HubWindowCounts,
    parse_window_key,
    window_key,
    window_start,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a window boundary
H = 3_600_000


def test_boundary_belongs_to_the_window_starting_there() -> None:
    assert window_start(T0) == T0
    assert window_start(T0 + WINDOW_MS - 1) == T0
    assert window_start(T0 + WINDOW_MS) == T0 + WINDOW_MS
    assert window_start(T0 - 1) == T0 - WINDOW_MS


def test_window_key_roundtrip_even_with_at_sign_in_hub() -> None:
    assert window_key("AMS", T0 + 5) == f"AMS@{T0}"
    assert parse_window_key(window_key("A@B", T0)) == ("A@B", T0)


def test_arrivals_are_numbered_per_hub_and_window() -> None:
    counts = HubWindowCounts()
    assert counts.record("AMS", T0, "s1", "e1").k == 1
    assert counts.record("AMS", T0 + WINDOW_MS - 1, "s2", "e2").k == 2
    assert counts.record("AMS", T0 + WINDOW_MS, "s3", "e3").k == 1  # next window
    assert counts.record("RTM", T0, "s4", "e4").k == 1  # other hub


def test_redelivered_arrival_keeps_its_number_and_does_not_inflate() -> None:
    counts = HubWindowCounts()
    for i in range(3):
        counts.record("AMS", T0 + i, f"s{i}", f"e{i}")
    again = counts.record("AMS", T0 + 1, "s1", "e1")
    assert (again.k, again.redelivered) == (2, True)
    assert counts.record("AMS", T0 + 9, "s9", "e9").k == 4


def test_late_arrival_past_retention_gets_no_number() -> None:
    counts = HubWindowCounts(retention_ms=2 * H)
    counts.record("AMS", T0 + 3 * H, "s1", "e1")  # stream time moves on
    late = counts.record("AMS", T0 + H - WINDOW_MS, "s2", "e2")  # window ended 2 h ago
    assert (late.k, late.late) == (None, True)
    assert counts.record("AMS", T0 + H, "s3", "e3").k == 1  # the next window still counts


def test_old_windows_of_a_hub_are_dropped_as_its_stream_time_moves() -> None:
    store: dict[str, object] = {}
    counts = HubWindowCounts(store=store, retention_ms=H)
    counts.record("AMS", T0, "s1", "e1")
    counts.record("AMS", T0 + H, "s2", "e2")
    assert f"AMS@{T0}" in store  # the first window ended 45 min before stream time
    counts.record("RTM", T0 + 9 * H, "s9", "e9")  # another hub's time does not expire AMS
    assert f"AMS@{T0}" in store
    counts.record("AMS", T0 + H + WINDOW_MS, "s3", "e3")
    assert sorted(k for k in store if k.startswith("AMS@")) == [
        f"AMS@{T0 + H}",
        f"AMS@{T0 + H + WINDOW_MS}",
    ]
    assert store["AMS#index"] == {
        "stream_time": T0 + H + WINDOW_MS,
        "starts": [T0 + H, T0 + H + WINDOW_MS],
    }


def test_stream_time_survives_a_new_instance_on_the_same_store() -> None:
    store: dict[str, object] = {}
    HubWindowCounts(store=store, retention_ms=H).record("AMS", T0 + 3 * H, "s1", "e1")
    late = HubWindowCounts(store=store, retention_ms=H).record("AMS", T0, "s2", "e2")
    assert late.late and late.k is None
