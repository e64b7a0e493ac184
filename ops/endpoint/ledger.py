"""What the reference endpoint received: an in-memory ledger, optionally mirrored to JSONL.

Kept apart from the HTTP layer so that the one invariant that matters, "no idempotency key is
ever applied twice", is checked on plain data. The summary counts applications per key from the
records themselves instead of trusting the 409 path, so a bug there would show up in
``keys_applied_twice`` rather than hide.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What the endpoint did with a request."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    TRANSIENT_FAILURE = "transient_failure"
    PERMANENT_FAILURE = "permanent_failure"
    BAD_REQUEST = "bad_request"
    #: The signature was missing, stale or wrong (``--keys-file``): refused with 401.
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True, slots=True)
class Received:
    """One request as recorded (one JSONL line)."""

    at_ms: int
    key: str | None
    path: str
    status: int
    outcome: Outcome
    body: Any


class Ledger:
    """Requests received, keys applied, and how often each key was posted."""

    def __init__(self, record_path: Path | None = None) -> None:
        self.record_path = record_path
        self.requests: list[Received] = []
        self._applied: set[str] = set()
        self._applications: Counter[str] = Counter()
        self._posts: Counter[str] = Counter()
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Open the JSONL mirror (appending, so restarts keep earlier runs)."""
        if self.record_path is not None and self._file is None:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.record_path.open("a", encoding="utf-8")
            log.info("recording requests to %s", self.record_path)

    def close(self) -> None:
        """Close the JSONL mirror."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def is_applied(self, key: str) -> bool:
        """Whether ``key`` was already applied (the next POST with it gets 409)."""
        return key in self._applied

    def record(
        self, key: str | None, path: str, status: int, outcome: Outcome, body: Any
    ) -> Received:
        """Record a request; an APPLIED outcome marks its key applied."""
        entry = Received(int(time.time() * 1000), key, path, status, outcome, body)
        self.requests.append(entry)
        if key is not None:
            self._posts[key] += 1
            if outcome is Outcome.APPLIED:
                self._applied.add(key)
                self._applications[key] += 1
        if self._file is not None:
            # A line per request, flushed, so a crash loses nothing already answered. A sync
            # write of one short line is fine for a test server's event loop.
            self._file.write(json.dumps(asdict(entry)) + "\n")
            self._file.flush()
        return entry

    def reset(self) -> None:
        """Forget everything (the JSONL file is kept: it is the history of all runs)."""
        self.requests.clear()
        self._applied.clear()
        self._applications.clear()
        self._posts.clear()

    def summary(self, *, with_keys: bool = False) -> dict[str, Any]:
        """Counts for ``GET /received``; ``with_keys`` adds how often every key was posted."""
        by_outcome = Counter(r.outcome for r in self.requests)
        by_path: dict[str, Counter[str]] = {}
        for r in self.requests:
            by_path.setdefault(r.path, Counter())[r.outcome] += 1
        failures_by_status = Counter(
            str(r.status)
            for r in self.requests
            if r.outcome not in (Outcome.APPLIED, Outcome.DUPLICATE)
        )
        result: dict[str, Any] = {
            "requests": len(self.requests),
            "applied": by_outcome[Outcome.APPLIED],
            "duplicates": by_outcome[Outcome.DUPLICATE],
            "unauthorized": by_outcome[Outcome.UNAUTHORIZED],
            "failures": sum(failures_by_status.values()),
            "failures_by_status": dict(failures_by_status),
            "by_path": {p: {o.value: c[o] for o in Outcome} for p, c in sorted(by_path.items())},
            "keys_applied_twice": sorted(k for k, n in self._applications.items() if n > 1),
            "keys_posted_more_than_once": sum(1 for n in self._posts.values() if n > 1),
            "max_posts_per_key": max(self._posts.values(), default=0),
        }
        if with_keys:
            result["posts_by_key"] = dict(self._posts)
        return result
