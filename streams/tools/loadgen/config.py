"""Knobs of the load generator, in one frozen bundle so a run is reproducible from it."""

from __future__ import annotations

from dataclasses import dataclass, fields

#: 2024-11-29T00:00:00Z, Black Friday: the default start of event time.
BLACK_FRIDAY_2024_MS = 1_732_838_400_000


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    """How many shipments are in flight and how often things go wrong.

    Probabilities ``p_cancel``, ``p_stall``, ``p_late`` and ``p_exception`` are per shipment;
    ``p_duplicate``, ``p_out_of_order`` and ``p_malformed`` are per emitted event.

    Hub arrivals come in linehaul waves (trucks unloaded in the first minutes of every
    ``wave_hours`` block), so arrivals per 15-minute window grow with ``concurrency``: rule R5
    (window over capacity) fires on the shipped network from roughly 20,000 shipments in
    flight; use a network with small capacities to see it at demo sizes.
    """

    seed: int = 0
    #: Event time of the first shipment (epoch ms, UTC).
    start_ms: int = BLACK_FRIDAY_2024_MS
    #: Shipments in flight at once; a new one starts whenever one ends.
    concurrency: int = 1000
    #: Event time over which the first ``concurrency`` shipments are created.
    initial_spread_hours: float = 24.0
    #: Shipment ids are ``f"{id_prefix}-{seed}-{n:08d}"``: distinct across seeds, so two runs
    #: with different seeds never collide in the pipeline's state.
    id_prefix: str = "SHP"
    p_express: float = 0.2
    p_cancel: float = 0.02
    p_stall: float = 0.02
    p_late: float = 0.08
    p_exception: float = 0.05
    p_duplicate: float = 0.02
    p_out_of_order: float = 0.02
    p_malformed: float = 0.005
    wave_hours: int = 2
    #: Carrier names with weights; events use ``carrier=name`` and ``source=f"carrier:{name}"``.
    carriers: tuple[tuple[str, float], ...] = (
        ("acme", 0.5),
        ("swiftship", 0.3),
        ("northwind", 0.2),
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                msg = f"{f.name} must be a probability in [0, 1], got {value}"
                raise ValueError(msg)
        fates = self.p_cancel + self.p_stall + self.p_late
        if fates > 1.0:
            msg = f"p_cancel + p_stall + p_late must not exceed 1, got {fates}"
            raise ValueError(msg)
        if self.concurrency < 1 or self.wave_hours < 1:
            msg = "concurrency and wave_hours must be at least 1"
            raise ValueError(msg)
        if not self.carriers or any(w <= 0 for _, w in self.carriers):
            msg = "carriers must be a non-empty tuple of (name, positive weight)"
            raise ValueError(msg)
