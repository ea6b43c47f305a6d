"""The clock gate's check of a whole column piece: numpy on long pieces, the walk on short ones, the
same verdict, front and per-channel highest times as the rule sample by sample (random pieces:
in order, with repeated times, jumps ahead and back past the limit, a NaN front)."""

from __future__ import annotations

import math
import random
from itertools import accumulate

import numpy as np

from flows.dataflow.clock_columns import WALK_MAX, _arrays, on_time


def _rule(ts: list[float], codes: list[int], front: float,
          limit: float) -> tuple[float, dict[int, float]] | None:
    """The rule as the clock gate states it: each sample within ``limit`` of the front before it, the
    highest of the asset's front and the piece's times before the sample."""
    fronts = list(accumulate(ts, max, initial=ts[0] if math.isnan(front) else front))
    if not all(abs(t - before) <= limit for t, before in zip(ts, fronts, strict=False)):
        return None
    tops: dict[int, float] = {}
    for t, code in zip(ts, codes, strict=True):
        tops[code] = max(tops.get(code, t), t)
    return fronts[-1], tops


def _piece(rng: random.Random, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = 1_767_225_600_000_000 + rng.randrange(0, 10**9)
    times, codes = [], []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.01:
            t += rng.choice((1, -1)) * rng.randrange(100, 400) * 1_000_000  # a jump near the limit
        elif roll < 0.6:
            t += rng.randrange(0, 2_000_000)
        else:
            t -= rng.randrange(0, 1_500_000)  # behind the front, usually within the limit
        times.append(t)
        codes.append(rng.randrange(0, 5))
    return np.asarray(times, dtype=np.int64), np.asarray(codes, dtype=np.int16)


def test_a_piece_is_judged_as_sample_by_sample_whatever_its_length() -> None:
    rng = random.Random(31)
    whole = parted = 0
    for i in range(600):
        n = rng.choice((1, 2, 10, WALK_MAX, WALK_MAX + 1, 300, 1000))
        times, codes = _piece(rng, n)
        ts = (times / 1e6).tolist()
        front = math.nan if i % 3 == 0 else ts[0] + rng.uniform(-200.0, 200.0)
        limit = rng.choice((120.0, 300.0))
        want = _rule(ts, codes.tolist(), front, limit)
        got = on_time(times, codes, front, limit)
        assert got == want
        assert _arrays(times / 1e6, codes, front, limit) == want  # the numpy path at any length
        if want is not None:
            whole += 1
            assert type(got[0]) is float and all(type(v) is float for v in got[1].values())
        else:
            parted += 1
    assert whole > 100 and parted > 100  # both verdicts seen


def test_a_front_ahead_or_a_nan_time_sends_the_piece_sample_by_sample() -> None:
    times = np.arange(200, dtype=np.int64) * 1_000_000 + 1_767_225_600_000_000
    codes = np.zeros(200, dtype=np.int16)
    assert on_time(times, codes, 1_767_225_600.0 + 1000.0, 120.0) is None  # the clock's front far ahead
    assert on_time(times, codes, math.inf, 120.0) is None
    got = on_time(times, codes, math.nan, 120.0)
    assert got == (1_767_225_600.0 + 199.0, {0: 1_767_225_600.0 + 199.0})
