from __future__ import annotations

from streams.patches.inflight import BatchInFlight, InOrderAcker


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


class Source:
    def __init__(self) -> None:
        self.acked: list[str] = []

    def done(self, batch: str, *, ack: bool) -> None:
        assert ack
        self.acked.append(batch)


def test_a_batch_is_acked_after_its_last_record_and_after_every_earlier_batch() -> None:
    source, other = Source(), Source()
    acker = InOrderAcker()
    first = BatchInFlight(source, "first", 2, acker)
    second = BatchInFlight(source, "second", 1, acker)
    elsewhere = BatchInFlight(other, "elsewhere", 1, acker)
    second.record_done()
    first.record_done()
    assert source.acked == []  # first still has a record in flight, second waits for it
    elsewhere.record_done()
    assert other.acked == ["elsewhere"]  # another source is not held up
    first.record_done()
    assert source.acked == ["first", "second"]
    assert acker.in_flight == 0
