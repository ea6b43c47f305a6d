"""Keep freed heap memory for reuse: glibc ``malloc`` settings for a process that allocates and
frees multi-megabyte arrays all the time (the waveform path).

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
"""

from __future__ import annotations

import ctypes

__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "keep_freed_memory"]

M_TRIM_THRESHOLD = -1
"""``mallopt`` parameter numbers, from glibc's ``malloc.h``."""
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Allocations below this come from the heap, not from ``mmap`` (glibc's largest allowed value on
64-bit systems; the featurization's largest array is 4 MB)."""

TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
"""Free memory at the top of the heap kept mapped before any is returned to the system."""


def keep_freed_memory() -> bool:
    """Apply the settings above to this process's ``malloc``; True if the C library took them
    (glibc), False where it has no ``mallopt`` or refused a value."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    took_mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    took_trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return took_mmap and took_trim
