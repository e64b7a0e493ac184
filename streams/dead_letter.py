"""Dead letters: what failed, where, and why, carried in the headers SPEC names.

The value is the original bytes unchanged, so a fixed pipeline can redrive it as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_MESSAGE_CHARS = 1000


@dataclass(frozen=True)
class DeadLetter:
    """One record bound for ``shipments.dlq``."""

    key: bytes | None
    value: bytes | None
    stage: str
    reason: str
    error_class: str
    message: str
    source_topic: str
    source_partition: int = -1
    source_offset: int = -1

    def headers(self) -> list[tuple[str, bytes]]:
        """The SPEC headers plus ``error.message`` for humans."""
        return [
            ("error.stage", self.stage.encode()),
            ("error.reason", self.reason.encode()),
            ("error.class", self.error_class.encode()),
            ("error.message", self.message[:MAX_MESSAGE_CHARS].encode()),
            ("source.topic", self.source_topic.encode()),
            ("source.partition", str(self.source_partition).encode()),
            ("source.offset", str(self.source_offset).encode()),
        ]


def from_exception(
    exc: BaseException,
    *,
    key: bytes | None,
    value: bytes | None,
    stage: str,
    reason: str,
    source_topic: str,
    source_partition: int = -1,
    source_offset: int = -1,
) -> DeadLetter:
    """A dead letter describing an exception raised while handling a record."""
    return DeadLetter(
        key=key,
        value=value,
        stage=stage,
        reason=reason,
        error_class=type(exc).__qualname__,
        message=str(exc),
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
    )
