"""Deterministic decision ids: the same input stream always gives the same ids.

An id is derived only from what the decision is about — shipment, rule and, for rules that
may fire again, what makes this firing distinct — never from wall clock, offsets or
instance. So a decision re-taken after a crash and replay gets the id it had the first time,
and ``Idempotency-Key: <decision_id>`` lets the endpoints drop the repeat.
"""

from __future__ import annotations

import hashlib

ID_HEX_CHARS = 32  # 128 bits: collisions are not a concern at any realistic volume.


def decision_id(shipment_id: str, rule: str, discriminator: str = "") -> str:
    """Hex id of ``(shipment, rule, discriminator)``.

    The discriminator is empty for once-only rules (R2, R3, R6) and otherwise names the
    firing: the exception code (R1), the ETA at notification (R4), the hub (R5), the time of
    the last event before the silence (R7).
    """
    text = f"{shipment_id}|{rule}|{discriminator}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_HEX_CHARS]
