from __future__ import annotations

from streams.patches.inflight import InOrderAcker


class Event:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def ack(self) -> bool:
        self.log.append(self.name)
        return True


def test_acks_wait_for_every_earlier_event_of_the_partition() -> None:
    log: list[str] = []
    acker = InOrderAcker()
    a, b, c = (acker.track(Event(log, n), "p0") for n in "abc")
    other = acker.track(Event(log, "x"), "p1")
    assert acker.done(c) == 0 and acker.done(b) == 0 and log == []
    assert acker.done(other) == 1 and log == ["x"]  # another partition is not held up
    assert acker.done(a) == 3 and log == ["x", "a", "b", "c"]
    assert acker.in_flight == 0
