"""CPU time and peak memory of process trees, from /proc (Linux).

CPU of a process is ``utime + stime + cutime + cstime`` of ``/proc/<pid>/stat``: its own time
and that of the children it has waited for. A tree's CPU is that sum over its live processes:
when a child ends and is reaped, its time moves into its parent's ``cutime``, so it is counted
once, never twice. A root that exited is read once more as a zombie (``final``), before it is
reaped, which gives its exact total.

Peak memory is ``VmHWM`` of ``/proc/<pid>/status`` (the resident high-water mark), the greatest
value seen per process; a tree's peak is the sum over its processes, an upper bound of their
peak together.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Seconds of CPU of one process (``cutime``/``cstime``: of its waited-for children)."""

    utime: float
    stime: float
    cutime: float
    cstime: float

    @property
    def total(self) -> float:
        """Own time plus waited-for children's."""
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(text: str) -> CpuTimes:
    """CPU times from the text of ``/proc/<pid>/stat``.

    The command name (field 2) is in parentheses and may itself hold spaces and parentheses,
    so fields are counted from the last ``)``: state is then field 3, utime field 14.
    """
    rest = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) / CLK_TCK for v in rest[11:15])
    return CpuTimes(utime, stime, cutime, cstime)


def read_cpu(pid: int) -> CpuTimes | None:
    """CPU times of a process (a zombie too); None when it is gone."""
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None


def parse_hwm_kb(status: str) -> int | None:
    """``VmHWM`` in kB from the text of ``/proc/<pid>/status`` (None: a zombie has none)."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def read_hwm_kb(pid: int) -> int | None:
    """Peak resident memory of a live process, in kB."""
    try:
        return parse_hwm_kb((PROC / str(pid) / "status").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid: int) -> list[int]:
    """Direct children of a process (from ``/proc/<pid>/task/*/children``)."""
    out: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return out
    for task in tasks:
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(children(p))
    return seen


def interpolate(points: list[tuple[float, float]], t: float) -> float | None:
    """Value at time ``t`` of a time-ordered series, linear between samples, clamped at the
    ends; None for an empty series."""
    if not points:
        return None
    times = [p[0] for p in points]
    i = bisect_left(times, t)
    if i == 0:
        return points[0][1]
    if i == len(points):
        return points[-1][1]
    (t0, v0), (t1, v1) = points[i - 1], points[i]
    if t1 == t0:
        return v1
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


@dataclass
class TreeSampler:
    """Samples the CPU and peak memory of some process trees, in a thread.

    ``timeline`` is (wall time, CPU seconds of all trees together); ``cpu_at(t)`` reads it.
    """

    interval_s: float = 0.25
    roots: dict[int, str] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    hwm_kb: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    finals: dict[int, float] = field(default_factory=dict)
    timeline: list[tuple[float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add(self, pid: int, name: str) -> None:
        """Watch the tree under ``pid`` from now on."""
        with self._lock:
            self.roots[pid] = name
        self.sample()

    def sample(self) -> None:
        """One sample of every tree."""
        now = time.time()
        with self._lock:
            for root, name in self.roots.items():
                if root in self.finals:
                    continue
                total, seen = 0.0, False
                for pid in tree(root):
                    times = read_cpu(pid)
                    if times is None:
                        continue
                    seen = True
                    total += times.total
                    hwm = read_hwm_kb(pid)
                    if hwm is not None:
                        self.hwm_kb[pid] = max(hwm, self.hwm_kb.get(pid, 0))
                        self.names.setdefault(pid, name if pid == root else f"{name}/child")
                if seen:
                    self.cpu[root] = max(total, self.cpu.get(root, 0.0))
            self.timeline.append((now, sum(self.cpu.values())))

    def final(self, pid: int) -> None:
        """Read a root that has exited but is not reaped yet (its exact total), then stop
        sampling it."""
        times = read_cpu(pid)
        with self._lock:
            if times is not None:
                self.cpu[pid] = max(times.total, self.cpu.get(pid, 0.0))
            self.finals[pid] = self.cpu.get(pid, 0.0)
            self.timeline.append((time.time(), sum(self.cpu.values())))

    def cpu_at(self, t: float) -> float | None:
        """CPU seconds of all trees together at wall time ``t`` (interpolated)."""
        with self._lock:
            return interpolate(list(self.timeline), t)

    def peak_rss_kb(self) -> int:
        """Sum over every process seen of its peak resident memory."""
        with self._lock:
            return sum(self.hwm_kb.values())

    def per_process(self) -> list[dict[str, object]]:
        """Peak memory and name of every process seen; CPU per root."""
        with self._lock:
            return [
                {
                    "pid": pid,
                    "name": self.names.get(pid, "?"),
                    "peak_rss_mb": round(kb / 1024, 1),
                    "cpu_s": round(self.cpu[pid], 2) if pid in self.cpu else None,
                }
                for pid, kb in sorted(self.hwm_kb.items())
            ]

    def start(self) -> None:
        """Sample every ``interval_s`` until ``stop``."""
        self._thread = threading.Thread(target=self._loop, name="procstat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        """Take a last sample and stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait until a child process has exited, without reaping it (so ``/proc/<pid>/stat``
    still holds its final CPU times); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if info is not None:
            return True
        time.sleep(0.05)
    return False
