"""The interpreter's thread switch interval while ``twin run``'s dataflow runs (issue 10: latency).

Bytewax runs a worker's steps on one thread, and the archive sink writes its files on background
threads (:mod:`flows.dataflow.sinks.archive_writer`) whose record -> Arrow conversion holds the
GIL. The worker gives the GIL up many times per window (the engine between Python calls, every
Kafka poll and flush) and, while a writer runs, waits for it back until the writer's time slice
ends: CPython's switch interval, 5 ms by default. At each epoch's end every archive table hands
its rows over at once, and that wait, paid again at every hand-back, delayed every output of the
moment by 150-230 ms at 50 % load (benchmarks/RESULTS.md, round 46, part LAT46: the stall of
issue 10's latency target). With :data:`SWITCH_INTERVAL_S` each wait is about 1 ms. The interval
only matters while threads contend for the GIL: a thread alone is never asked to give it up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SWITCH_INTERVAL_S", "switching_often"]

SWITCH_INTERVAL_S = 0.001
"""Seconds a thread may hold the GIL while another waits for it, during a run (CPython: 0.005)."""


@contextmanager
def switching_often(interval_s: float = SWITCH_INTERVAL_S) -> Iterator[None]:
    """``sys.setswitchinterval(interval_s)`` for the block; the caller's interval given back after
    it (failed or not), so a run inside a caller's process (tests, notebooks) leaves it as it was."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
