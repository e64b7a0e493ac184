"""Changelog seeks that cannot crash a worker: a patch we carry for faust 0.15.3.

faust's recovery seeks each changelog partition to the offset it computed ("earliest offset
minus one", or the last offset the local store persisted) and maps -1 to 0, but nothing else:
when a rebalance lands while a recovery is starting its standbys, the earliest offset it asked
for can come back as -1 and become -2, and aiokafka's ``seek`` raises "Offset must be a
positive integer". The Recovery service crashes, and the worker with it (seen by
``ops/bench`` failover: a standby worker exited with 1 right after "Starting standby
partitions..."). Reading a changelog from its start instead only costs time, so any offset
below zero is sought as 0.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from faust.tables.recovery import Recovery

log = logging.getLogger(__name__)

_installed = False


def sanitize(offsets: Counter[Any], tps: set[Any]) -> list[Any]:
    """Replace offsets below -1 (or missing values) by -1, which faust seeks as 0."""
    fixed = []
    for tp in tps:
        offset = offsets[tp]
        if offset is None or offset < -1:
            offsets[tp] = -1
            fixed.append(tp)
    return fixed


def install() -> None:
    """Patch faust's Recovery (idempotent)."""
    global _installed  # the patch is process-wide, like the class it patches
    if _installed:
        return
    _installed = True
    original = Recovery._seek_offsets  # noqa: SLF001  # the method this module fixes

    async def _seek_offsets(
        self: Recovery, consumer: Any, tps: set[Any], offsets: Counter[Any], title: str
    ) -> None:
        fixed = sanitize(offsets, tps)
        if fixed:
            log.warning(
                "%s changelog offsets below zero for %s; reading those partitions from the start",
                title,
                sorted(f"{tp.topic}[{tp.partition}]" for tp in fixed),
            )
        await original(self, consumer, tps, offsets, title)

    Recovery._seek_offsets = _seek_offsets  # type: ignore[method-assign]  # noqa: SLF001
