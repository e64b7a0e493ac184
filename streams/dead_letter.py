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
        """The SPEC headers plus ``error.message`` for humans.

        Text that UTF-8 cannot encode (a lone surrogate quoted from bad input) is escaped:
        writing a dead letter must not fail because of what it reports.
        """
        return [
            ("error.stage", _utf8(self.stage)),
            ("error.reason", _utf8(self.reason)),
            ("error.class", _utf8(self.error_class)),
            ("error.message", _utf8(self.message[:MAX_MESSAGE_CHARS])),
            ("source.topic", _utf8(self.source_topic)),
            ("source.partition", str(self.source_partition).encode()),
            ("source.offset", str(self.source_offset).encode()),
        ]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", errors="backslashreplace")


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
