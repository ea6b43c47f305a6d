"""Process-wide memory settings of a long run: glibc ``malloc`` keeps freed heap memory for reuse
(the waveform path), and Python's cyclic garbage collector runs less often (every path).

Why: the batched featurization works on 2-D arrays of up to 256 frames, 1-4 MB each, a few dozen per
batch, each freed a moment later. With glibc's defaults an allocation that large is served by
``mmap`` (or from the top of the heap, returned to the system when more than the trim threshold
is free there), so nearly every new array faults in fresh zero-filled pages: ~25-40 minor page
faults per frame, ~10 % of the featurization's CPU, most of it in the kernel
(``benchmarks/RESULTS.md``, "Waveform path, round 4"). Raising the mmap threshold to glibc's
maximum and the trim threshold above it lets freed arrays be reused in place: ~6 faults per
frame. The cost is memory: up to :data:`TRIM_THRESHOLD_BYTES` of freed heap may stay mapped.

Other C libraries (musl, macOS) have no such knobs: :func:`keep_freed_memory` then changes
nothing and says so. The settings are process-wide and values only, never behaviour.

The collector (:func:`collect_less`): with CPython's default thresholds (700, 10, 10) a ``twin
run`` over scalars made 1,860 young, 169 middle and 10 full collections per 576,000 records,
0.6-0.9 CPU s, 7-8 % of the run (``benchmarks/RESULTS.md``, "... round 18"): a poll's records,
runs and window columns live a few milliseconds, long enough to be scanned and promoted again and
again, and each full collection walked every object of the process. Round 18 raised the young
threshold to 50,000 (147 young, 13 middle, 1 full: 0.07-0.10 CPU s). Round 47 (part GC47) split
that young collection in five: a young collection walks every new object still alive, and in
``twin run`` those are mostly records that live for seconds (windows, the archive's buffers until
their flush), so each of the 50,000-object collections held the GIL for 24-56 CPU ms, the
worker's longest pause of its own in the latency benchmark's live phase. A young collection now
waits for :data:`YOUNG_THRESHOLD` (10,000) more tracked objects than were freed (9-18 CPU ms
there), and a middle one for :data:`MIDDLE_THRESHOLD` (50) young ones: every 500,000, as before,
so the middle and full collections come as often as they did, and a new object is walked by one
young collection, as before (the collector's CPU over a run: the same within the noise).
Garbage cycles are still collected: reference counting never frees them, so they count towards
the threshold and at most that many wait for a collection.

The frozen heap (round 26, ``benchmarks/bench_gc.py``): a full collection walks every tracked
object, those built before the run too (imports, the flow, the models, the simulated fleet):
~170,000 objects in ``twin demo``, whose full collections took 30-70 CPU ms each (up to ~270 ms
of wall time on a shared VM). ``twin demo`` therefore also freezes (``gc.freeze``) what exists
when its engine starts (:func:`collecting_less` ``freeze=True``), so the run's collections walk
only what the run made, and gives it back (``gc.unfreeze``) after. No ``gc.collect`` first (~35
ms): start-up's little garbage, and any cycle through a frozen object, waits until the run ends
(the demo's peak RSS did not grow). ``TWIN_GC=default`` (:data:`GC_ENV`) leaves CPython's
collector untouched.
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GC_ENV", "GC_SETTINGS", "MIDDLE_THRESHOLD", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES",
           "YOUNG_THRESHOLD", "collect_less", "collecting_less", "gc_setting", "keep_freed_memory"]

M_TRIM_THRESHOLD = -1
"""``mallopt`` parameter numbers, from glibc's ``malloc.h``."""
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Allocations below this come from the heap, not from ``mmap`` (glibc's largest allowed value on
64-bit systems; the featurization's largest array is 4 MB)."""

TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
"""Free memory at the top of the heap kept mapped before any is returned to the system."""

YOUNG_THRESHOLD = 10_000
"""Net new tracked objects (allocations minus frees) before a young collection (CPython: 700).
A collection walks those still alive: 10,000 is a few ms with the GIL held (round 18's 50,000
paused `twin run`'s worker 20-60 ms; round 47, GC47)."""

MIDDLE_THRESHOLD = 50
"""Young collections before a middle one (CPython: 10): 50 x 10,000, the 500,000 net new objects
of round 18's 50,000 x 10, so middle and full collections are as rare as they were. The full
collection keeps CPython's ratio (10)."""


def keep_freed_memory() -> bool:
    """Apply the settings above to this process's ``malloc``; True if the C library took them
    (glibc), False where it has no ``mallopt`` or refused a value."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    took_mmap: bool = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    took_trim: bool = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return took_mmap and took_trim


GC_ENV = "TWIN_GC"
"""The environment variable that chooses the collector's setting of a run (:data:`GC_SETTINGS`)."""

GC_SETTINGS = ("tuned", "default")
"""``tuned`` (unset or empty: the same): :func:`collecting_less` raises the young threshold (and
``twin demo`` freezes what was built before its run); ``default``: CPython's collector, untouched."""


def gc_setting() -> str:
    """The collector's setting from :data:`GC_ENV`; a ValueError naming it for any other value
    (``twin`` checks it before any command runs: one line, exit 2)."""
    text = os.environ.get(GC_ENV, "")
    value = text.strip().lower() or "tuned"
    if value not in GC_SETTINGS:
        msg = f"{GC_ENV}={text!r} is not a known setting (tuned or default)"
        raise ValueError(msg)
    return value


def collect_less() -> tuple[int, int, int]:
    """Raise the young generation's threshold to :data:`YOUNG_THRESHOLD` and the middle one's to
    :data:`MIDDLE_THRESHOLD` (the full collection keeps its ratio). Returns the thresholds that were
    in force before; a run uses :func:`collecting_less`, which gives them back."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, before[2])
    return before


@contextmanager
def collecting_less(*, freeze: bool = False) -> Iterator[None]:
    """:func:`collect_less` for the block (a run of ``twin run``, a backtest, ``twin demo``), and
    with ``freeze`` also ``gc.freeze`` of every object that exists when it starts; the thresholds
    in force given back and the frozen objects unfrozen after it (failed or not): a run inside a
    caller's process (tests, notebooks) leaves that process as it found it. A caller that froze
    its own heap keeps it frozen: nothing more is frozen then. ``TWIN_GC=default``: nothing
    changed.

    Only ``twin demo`` freezes (round 26, RESULTS.md): its collections 0.58 -> 0.22 CPU s, the
    longest full one ~120-270 -> ~35-90 ms, -1.7 % CPU (5 pairs; the young threshold alone gave it
    nothing in round 18). ``twin run`` and the FD001 backtest spent the same in collections with
    it (their full collections are start-up's and the end's), and the backtest's CPU read higher in
    4 of 6 pairs (median +2.3 %, not resolved on a shared VM): not kept there."""
    if gc_setting() == "default":
        yield
        return
    before = collect_less()
    froze = freeze and gc.get_freeze_count() == 0  # a caller's own freeze is left as it is
    if froze:
        gc.freeze()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if froze:
            gc.unfreeze()
