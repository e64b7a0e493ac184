"""The collector's thresholds for a worker: fewer, larger collections, start-up frozen.

A worker keeps tens of thousands of long-lived objects (the decoded table values of
``streams.patches.table_io``, faust's and aiokafka's state) and allocates a few dozen
short-lived ones per event. With CPython's default thresholds (700, 10, 10) the collector
ran over 2,000 times while 200,000 events went through a processing worker and took 3.4 s of
its CPU, mostly walking the long-lived objects again and again; with these, 9 collections and
0.4 s (``python -m ops.bench.throughput --systems shipstream``, 8,100-9,300 -> 9,700-9,900
events per CPU-second). Reference counting frees almost everything a worker drops; the
collector is only for cycles, which still go, just in larger, rarer sweeps.
"""

from __future__ import annotations

import gc

#: Allocations between young collections, then young collections per middle one, and middle
#: ones per full one (CPython's defaults: 700, 10, 10).
THRESHOLDS = (100_000, 50, 1000)


def tune() -> None:
    """Set the thresholds; freeze what exists now (modules, the app): it lives as long as we do."""
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()
