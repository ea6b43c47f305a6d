"""A scalar window's channels computed as one 2-D array give every number, bit for bit, of the
per-channel functions (issue 10, part SCALAR32): ``scalar_stats``'s features and
``scalar_channel_stats``'s data-quality stats, in the same order, for windows whose channels hold
the same number of samples; anything else is left to the per-channel path (None).
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from twin_models.features.scalar_rows import scalar_rows
from twin_models.features.window import scalar_stats
from twin_models.quality.stats import scalar_channel_stats

CHANNELS = ["temperature", "pressure", "current", "speed", "load", "flow"]


def _bits(x: object) -> object:
    """A value as its exact bits and type (floats by their hex: -0.0, NaN and the last bit count)."""
    return (type(x).__name__, x.hex()) if isinstance(x, float) else (type(x).__name__, x)


def _per_channel(scalars: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[list, list]:
    features = [(f"{c}.{name}", _bits(v)) for c, (t, v) in scalars.items()
                for name, v in scalar_stats(t, v).items()]
    quality = [(c, [_bits(f) for f in dataclasses.astuple(scalar_channel_stats(t, v))])
               for c, (t, v) in scalars.items()]
    return features, quality


def _window(rng: random.Random) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    n = rng.choice([2, 3, 4, 7, 59, 60, 61, 128, 129, 240, 1000])
    out = {}
    for channel in rng.sample(CHANNELS, rng.randint(1, 6)):
        start = rng.choice([1.7e9, 0.0, 1e-300, rng.uniform(-1e6, 1e6)])
        step = rng.choice([1.0, 0.001, 1e-9, 0.0, rng.uniform(0.0, 5.0)])
        times = start + step * np.arange(n)
        if rng.random() < 0.3:  # repeated timestamps, steps of 0
            times = np.sort(np.round(times, rng.randint(0, 2)))
        kind = rng.random()
        if kind < 0.15:  # flat
            values = np.full(n, rng.choice([0.0, -0.0, 5.5, -1e15]))
        elif kind < 0.3:  # railed: a few levels, the extremes repeated
            values = np.array([rng.choice([0.0, -0.0, 1.0, 100.0, 100.0]) for _ in range(n)])
        else:
            scale = rng.choice([1e-300, 1e-3, 1.0, 1e3, 1e15])
            values = np.array([rng.gauss(rng.uniform(-50, 50), 1.0) * scale for _ in range(n)])
        out[channel] = (times.astype(np.float64), values.astype(np.float64))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_rows_are_the_per_channel_numbers_bit_for_bit(seed: int) -> None:
    windows = [_window(random.Random(seed * 1000 + k)) for k in range(150)]
    for scalars in windows:
        got = scalar_rows(scalars)
        assert got is not None
        features, quality = got
        want_features, want_quality = _per_channel(scalars)
        assert [(k, _bits(v)) for k, v in features.items()] == want_features
        assert [(c, [_bits(f) for f in dataclasses.astuple(s)]) for c, s in quality.items()] == want_quality


def test_a_bench_fleet_window() -> None:
    """The benchmark's shape: 4 channels x 60 samples at 1 Hz, values rounded to 4 decimals."""
    rng = np.random.default_rng(7)
    t = (1.7672256e9 + np.arange(60, dtype=np.int64) * 1_000_000 // 1) / 1.0
    scalars = {c: (t, np.round(rng.uniform(20, 80) + rng.normal(0, 0.5, 60), 4)) for c in CHANNELS[:4]}
    features, quality = scalar_rows(scalars)  # type: ignore[misc]
    want_features, want_quality = _per_channel(scalars)
    assert [(k, _bits(v)) for k, v in features.items()] == want_features
    assert [(c, [_bits(f) for f in dataclasses.astuple(s)]) for c, s in quality.items()] == want_quality


@pytest.mark.parametrize("sizes", [(), (1,), (1, 1), (60, 59), (2, 3), (5, 5, 4)])
def test_windows_the_rows_do_not_take(sizes: tuple[int, ...]) -> None:
    """One sample (the per-channel functions' own shortcuts), or channels of different lengths."""
    scalars = {CHANNELS[i]: (np.arange(n, dtype=np.float64), np.ones(n)) for i, n in enumerate(sizes)}
    assert scalar_rows(scalars) is None


@pytest.mark.parametrize("values", [np.arange(5, dtype=np.float32) + np.float32(0.1),
                                    np.arange(5, dtype=np.float16) / 3,
                                    np.array([2**62, 1, 2**62 + 1, 3, 2**53 + 1]), np.arange(5),
                                    np.array([True, False, True, True, False])])
def test_arrays_not_of_float64_are_left_to_the_per_channel_path(values: np.ndarray) -> None:
    """Round 34 (HOSTILE34): the per-channel functions sum a float32 or int64 array in its own dtype
    (an int64 sum wraps: a mean of -1.8e18 for values near 4.6e18), a bool one raises; the rows cast to
    float64 and gave other numbers. Such a window (a library caller's: the flow's columns are float64)
    is the per-channel path's."""
    t = np.arange(5, dtype=np.float64)
    assert scalar_rows({"a": (t, values), "b": (t, np.arange(5.0))}) is None
    assert scalar_rows({"a": (values.astype(np.float64), t)}) is not None
    assert scalar_rows({"a": (t.astype(np.float32), t)}) is None
