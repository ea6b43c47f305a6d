"""The prediction's feature row (:func:`~twin_models.rul.regression.last_condition_row`) and
trend (:func:`~twin_models.rul.regression.last_trend`) are the last row of
:func:`~twin_models.rul.regression.condition_rows` / ``local_trend``, bit for bit: short and long
histories (windows that reach the first row or not, under 3 rows), discrete and continuous
z-scores, large ages; and the z-scores (``RegimeStats.normalise``) and regimes (``assign_regimes``)
themselves are as before."""

from __future__ import annotations

import numpy as np
import pytest

from twin_models.rul.fleet_model import assign_regimes
from twin_models.rul.regimes import RegimeStats
from twin_models.rul.regression import condition_rows, last_condition_row, last_trend, local_trend


def _life(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d)) * rng.choice([1e-3, 1.0, 30.0], size=d)
    z[:, : d // 3] = np.round(z[:, : d // 3] * 4) / 4  # discrete sensors: equal readings
    z[rng.random(z.shape) < 0.03] = 0.0
    t0 = float(rng.uniform(0, 1e9))
    times = t0 + np.cumsum(rng.choice([600.0, 3600.0, 3600.5], size=n)) + rng.uniform(0, 1e6)
    return z, times, rng.normal(size=d), t0


@pytest.mark.parametrize("window", [1, 2, 3, 5, 30])
def test_last_row_equals_condition_rows_last_row_bit_for_bit(window: int) -> None:
    checked = 0
    for n in [1, 2, 3, 4, window - 1, window, window + 1, 2 * window + 3, 61]:
        if n < 1:
            continue
        for seed in range(12):
            z, times, base, t0 = _life(n, 13, seed * 100 + n)
            want = condition_rows(z, times, base, t0, window, 5)[-1:]
            got = last_condition_row(z, times, base, t0, window)
            assert got.shape == want.shape == (1, 4 * 13 - 13 + 1)
            assert np.array_equal(got.view(np.int64), want.view(np.int64)), (n, seed)
            # unrounded too (the features' rounding would hide a difference in the last bits)
            (level, slope), (levels, slopes) = last_trend(z, window), local_trend(z, window)
            assert np.array_equal(level.view(np.int64), levels[-1].view(np.int64)), (n, seed)
            assert np.array_equal(slope.view(np.int64), slopes[-1].view(np.int64)), (n, seed)
            checked += 1
    assert checked >= 90


def test_a_flat_history_has_zero_slopes_and_its_mean_as_level() -> None:
    z = np.tile([[1.5, -2.0]], (4, 1))
    row = last_condition_row(z, np.arange(4) * 3600.0, np.array([1.0, 0.0]), 0.0, 30)
    assert row.tolist() == [[1.5, -2.0, 0.0, 0.0, 0.5, -2.0, 3.0]]


def _normalise_before(stats: RegimeStats, regimes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """RegimeStats.normalise as it was before round 20 (masked copy, nan_to_num)."""
    out = np.zeros_like(x, dtype=float)
    known = (regimes >= 0) & (regimes < stats.mean.shape[0])
    if known.any():
        out[known] = (x[known] - stats.mean[regimes[known]]) / stats.std[regimes[known]]
    return np.asarray(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), dtype=float)


@pytest.mark.parametrize("unknown", [False, True])
def test_normalise_is_unchanged_bit_for_bit(unknown: bool) -> None:
    rng = np.random.default_rng(3)
    stats = RegimeStats(rng.normal(size=(3, 6)), np.abs(rng.normal(size=(3, 6))))
    stats.std[1, 2] = 0.0  # a zero spread: +-inf and NaN before the clean-up
    x = rng.normal(size=(40, 6)) * 10
    x[rng.random(x.shape) < 0.1] = np.nan
    x[0, :] = [np.inf, -np.inf, -0.0, 0.0, 1e308, -1e308]
    x[:, 2] = np.where(rng.random(40) < 0.3, stats.mean[1, 2], x[:, 2])
    regimes = rng.integers(0, 3, 40)
    if unknown:
        regimes[::5] = -1
        regimes[1::7] = 3
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        got, want = stats.normalise(regimes, x), _normalise_before(stats, regimes, x)
    assert got.dtype == want.dtype == np.float64 and np.isfinite(got).all()
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    assert stats.normalise(regimes[:0], x[:0]).shape == (0, 6)
    ints = np.arange(12).reshape(2, 6)  # integer readings: the same float arithmetic
    assert np.array_equal(stats.normalise(np.zeros(2, dtype=np.int64), ints),
                          _normalise_before(stats, np.zeros(2, dtype=np.int64), ints))


def _assign_before(centres: np.ndarray, atol: float, rtol: float, settings: np.ndarray) -> np.ndarray:
    """assign_regimes as it was before round 20."""
    s = np.nan_to_num(np.asarray(settings, dtype=float))
    tol = atol + rtol * np.abs(centres)
    dev = (np.abs(s[:, None, :] - centres[None, :, :]) / tol[None]).max(axis=2)
    return np.asarray(dev.argmin(axis=1), dtype=np.int64)


@pytest.mark.parametrize("n_regimes", [1, 2, 6])
def test_assign_regimes_is_unchanged(n_regimes: int) -> None:
    rng = np.random.default_rng(n_regimes)
    centres = rng.normal(size=(n_regimes, 3)) * [10.0, 0.1, 50.0]
    settings = centres[rng.integers(0, n_regimes, 200)] + rng.normal(0, 0.05, (200, 3))
    settings[rng.random(settings.shape) < 0.05] = np.nan
    settings[3] = [np.inf, -np.inf, 0.0]
    for rows in (settings, np.nan_to_num(settings), settings.astype(np.float32), settings[:1]):
        with np.errstate(invalid="ignore", over="ignore"):
            got, want = assign_regimes(centres, 0.02, 0.02, rows), _assign_before(centres, 0.02, 0.02, rows)
        assert got.dtype == np.int64
        assert np.array_equal(got, want)
    assert n_regimes == 1 or len(set(assign_regimes(centres, 0.02, 0.02, settings[4:]).tolist())) > 1
