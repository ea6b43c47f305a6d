"""The clock gate's check of a whole column piece (:meth:`flows.dataflow.clock_gate.ClockGate._columns`).

A piece goes whole when every sample is within ``limit`` seconds of the asset's front before it (the
clock's front, then the highest time so far in the piece); the front and the highest time of each
channel then follow the piece. The rule is a walk over the samples in order (:func:`_walk`); a
piece of many samples is checked with numpy instead (:func:`_arrays`): the front before each sample
is the running maximum of the times before it, and every comparison is the walk's float64
arithmetic on the same values, so both give the same answer and the same front and highest times.

Why: with a source batch of up to 8 polls (``kafka_entries.BATCH_POLLS``) a scalar fleet's pieces
hold hundreds of samples (~400 on ``bench_scalar.py``'s fleet), and the walk cost ~3 % of the
scalar run (``benchmarks/RESULTS.md``, round 31, part SCALAR31); a few numpy calls cost less from
:data:`WALK_MAX` samples on. Short pieces (a live stream's) keep the walk.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["WALK_MAX", "on_time"]

WALK_MAX = 96
"""Pieces of at most this many samples are walked in Python (below it, cheaper than numpy's calls)."""

OnTime = tuple[float, dict[int, float]]
"""The front after the piece, and the highest time of each channel code in it."""


def on_time(times_us: npt.NDArray[np.int64], channel_idx: npt.NDArray[np.int16], front: float,
            limit: float) -> OnTime | None:
    """The piece's front and highest times per channel when every sample (times in microseconds since
    the epoch) is within ``limit`` s of the front before it; else None. ``front``: the asset's (NaN
    before its first sample: then the piece's first time)."""
    ts = times_us / 1e6
    if len(ts) <= WALK_MAX:
        return _walk(ts.tolist(), channel_idx.tolist(), front, limit)
    return _arrays(ts, channel_idx, front, limit)


def _walk(ts: list[float], codes: list[int], front: float, limit: float) -> OnTime | None:
    """The rule, sample by sample."""
    if front != front:
        front = ts[0]
    tops: dict[int, float] = {}
    for t, code in zip(ts, codes, strict=True):
        if not abs(t - front) <= limit:
            return None
        if t > front:
            front = t
        if t > tops.get(code, -math.inf):
            tops[code] = t
    return front, tops


def _arrays(ts: npt.NDArray[np.float64], codes: npt.NDArray[np.int16], front: float,
            limit: float) -> OnTime | None:
    """The rule on the arrays: the front before sample ``i`` is ``max(front, ts[:i])``."""
    if front != front:
        front = float(ts[0])
    highest = np.maximum.accumulate(ts)  # NaN from a NaN time on: that sample fails below anyway
    before = np.empty_like(ts)
    before[0] = front
    np.maximum(highest[:-1], front, out=before[1:])
    if not bool((np.abs(ts - before) <= limit).all()):
        return None
    if int(codes.min()) < 0:  # not a piece's codes (indexes into its channels): the walk's dict
        return _walk(ts.tolist(), codes.tolist(), front, limit)
    tops = np.full(int(codes.max()) + 1, -np.inf)
    np.maximum.at(tops, codes, ts)  # a channel's highest time; -inf: none in the piece (times are finite)
    top = float(highest[-1])
    return (top if top > front else front), {code: t for code, t in enumerate(tops.tolist())
                                             if t != -math.inf}
