"""A window's scalar statistics are bit for bit those of the 2-D array version (issue 10, SCALAR2).

``aggregate_window`` used to put a window's (time, value) pairs of a channel in one 2-D array and
take its columns (strided views); it now builds one flat array of times and one of values per
channel, and reads each distinct timestamp's seconds once. The features must not move by a bit.
"""

from __future__ import annotations

import math
import random
import struct
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from twin_models.features.window import aggregate_window, scalar_stats
from twin_models.records import ScalarSample

START = datetime(2026, 1, 1, tzinfo=UTC)


def _reference(scalars: list[ScalarSample]) -> dict[str, float]:
    """The scalar features as computed before (pairs -> one 2-D array -> its columns)."""
    by_channel: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for s in scalars:
        by_channel[s.channel].append((s.timestamp.timestamp(), s.value))
    out = {}
    for channel, pairs in by_channel.items():
        arr = np.asarray(pairs, dtype=float)
        for name, value in scalar_stats(arr[:, 0], arr[:, 1]).items():
            out[f"{channel}.{name}"] = value
    return out


def _window(rng: random.Random) -> list[ScalarSample]:
    channels = rng.sample(["temperature", "pressure", "current", "speed", "load"], rng.randint(1, 4))
    n = rng.choice([1, 2, 3, 7, 60, 61, 240, 1000])
    scale = rng.choice([1e-6, 1.0, 1e3, 1e9])
    offset = rng.choice([0.0, 50.0, -1e4])
    out = []
    for i in range(n):
        ts = START + timedelta(seconds=i * 60.0 / n + rng.random() * 1e-3, microseconds=rng.randint(0, 9))
        if rng.random() < 0.1:  # the same instant in another UTC zone object
            ts = ts.astimezone(timezone(timedelta(0)))
        for ch in channels:
            if rng.random() < 0.9:
                value: float = offset + scale * rng.gauss(0.0, 1.0)
                out.append(ScalarSample("a", ch, ts, value if rng.random() < 0.95 else int(value)))
    if rng.random() < 0.3:
        rng.shuffle(out)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_scalar_features_are_bit_for_bit_those_of_the_2d_array_version(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        scalars = _window(rng)
        fv = aggregate_window("a", START, START + timedelta(minutes=1), [], scalars)
        ref = _reference(scalars)
        assert list(fv.features) == list(ref)  # same names, same order
        for name, value in ref.items():
            got = fv.features[name]
            assert got == value or (np.isnan(got) and np.isnan(value)), (name, got, value)
        assert fv.n_records == len(scalars)


def _methods_reference(times_s: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """scalar_stats as written before round 3 (NumPy's array methods, one call each)."""
    out = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
           "max": float(values.max()), "last": float(values[np.argmax(times_s)])}
    if values.size >= 3 and float(times_s.max() - times_s.min()) > 0.0:
        t = (times_s - times_s.mean()) / 3600.0
        out["slope_per_h"] = float((t * (values - values.mean())).sum() / (t * t).sum())
    else:
        out["slope_per_h"] = 0.0
    return out


def test_scalar_stats_are_bit_for_bit_those_of_the_array_methods() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5000):
        n = int(rng.choice([1, 2, 3, 5, 17, 60, 61, 128, 129, 240, 1000]))
        times = np.sort(rng.uniform(0, 60, n)) + 1.7e9
        if rng.random() < 0.3:
            times = np.round(times)
        values = rng.normal(rng.choice([0.0, 50.0, -1e4, 1e9]), rng.choice([1e-6, 1.0, 1e3]), n)
        if rng.random() < 0.2:
            values = np.round(values, 2)
        assert scalar_stats(times, values) == _methods_reference(times, values)


def test_one_sample_scalar_stats_keep_the_bits_of_the_array_methods() -> None:
    """A C-MAPSS cycle gives one sample per channel (its own path since issue 10, TWIN4): the
    same bits, the sign of zero included (the mean of -0.0 is +0.0, its min and max -0.0)."""
    for v in (0.0, -0.0, 1.5, -2.25e-7, 8138.62, 1e300, math.nan, math.inf, -math.inf):
        times, values = np.array([1.7e9]), np.array([v])
        with np.errstate(invalid="ignore"):  # the array methods' std of an infinity: inf - inf
            want = _methods_reference(times, values)
        got = scalar_stats(times, values)
        assert list(got) == list(want)
        assert [_bits(x) for x in got.values()] == [_bits(x) for x in want.values()], v


def _bits(x: float) -> bytes:
    """A float's exact bits (a NaN's sign and payload included, which ``==`` and ``repr`` hide)."""
    return struct.pack("<d", x)


@pytest.mark.parametrize("v", [math.nan, math.inf, -math.inf])
def test_a_non_finite_sample_gives_a_nan_std_without_a_warning(v: float) -> None:
    """NaN and infinities never reach a window in the flow (admission refuses them), but
    ``scalar_stats`` is twin_models' own API: its answer for one is NumPy's (the mean and the
    extremes the sample, the std NaN), given without a RuntimeWarning (pyproject turns
    twin_models' RuntimeWarnings into errors: one means a NaN or an overflow nobody meant)."""
    got = scalar_stats(np.array([1.7e9]), np.array([v]))
    assert math.isnan(got["std"]) and got["slope_per_h"] == 0.0
    assert [_bits(got[k]) for k in ("mean", "min", "max", "last")] == [_bits(v)] * 4
