"""A scalar window's features and data-quality stats for all its channels at once, as 2-D rows.

Why: on a scalar fleet (``twin run`` of ``benchmarks/bench_scalar.py``: 4 channels x 60 samples a
window) the window step called :func:`twin_models.quality.stats.scalar_channel_stats` and
:func:`twin_models.features.window.scalar_stats` once per channel, ~25 NumPy calls of a few
microseconds each on 60 numbers; together ~8 % of the run's main thread (``benchmarks/RESULTS.md``,
issue 10, part SCALAR32). When every channel holds the same number of samples (>= 2), the same
reductions run once over a (channels x samples) array.

The same numbers, bit for bit, as the per-channel functions: a reduction along the last axis of a
C-contiguous 2-D array sums each row pairwise exactly as it sums the row alone, an order statistic
(``np.partition``) is the same element, and the square roots are IEEE's correctly rounded ones
(``tests/unit/test_scalar_rows.py`` compares them on random and degenerate windows).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from twin_models.quality.stats import NAN, ChannelStats

__all__ = ["scalar_rows"]

Columns = Mapping[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]
_ADD, _MIN, _MAX = np.add.reduce, np.minimum.reduce, np.maximum.reduce
_F64 = np.dtype(np.float64)


def scalar_rows(scalars: Columns) -> tuple[dict[str, float], dict[str, ChannelStats]] | None:
    """(``<channel>.<feature>`` -> number, as :func:`~twin_models.features.window.aggregate_columns`
    names them for ``scalars``; channel -> :class:`ChannelStats`, as
    :func:`~twin_models.quality.stats.window_stats` gives them) when every channel of ``scalars``
    (channel -> (times in s sorted, values)) holds the same number of samples, at least 2, as float64
    arrays (the flow's columns); else None: float32, int or bool arrays are summed in their own dtype
    by the per-channel functions (an int64 sum wraps, a bool std raises), which give those."""
    if not scalars:
        return None
    columns = list(scalars.values())
    n = columns[0][1].size
    if n < 2 or any(v.size != n or t.size != n or v.dtype != _F64 or t.dtype != _F64 for t, v in columns):
        return None  # float64 only: the per-channel functions compute in the arrays' own dtype (round 34)
    times = np.array([t for t, _v in columns], dtype=np.float64)
    values = np.array([v for _t, v in columns], dtype=np.float64)
    k = len(columns)
    # shared by both: scalar_stats's mean, deviations and std are scalar_channel_stats's mean and spread
    mean = _ADD(values, axis=1) / n
    dev = values - mean[:, None]
    std = np.sqrt(_ADD(dev * dev, axis=1) / n)
    lo, hi = _MIN(values, axis=1), _MAX(values, axis=1)
    # scalar_stats: the last value, the least-squares slope
    last = values.ravel()[times.argmax(axis=1) + np.arange(0, k * n, n)]
    span = (_MAX(times, axis=1) - _MIN(times, axis=1)).tolist()
    t = (times - (_ADD(times, axis=1) / n)[:, None]) / 3600.0
    # the slope's quotient in Python floats (the same IEEE division), rows without one skipped:
    # np.errstate around an array division cost more than the division
    slope_num, slope_den = _ADD(t * dev, axis=1).tolist(), _ADD(t * t, axis=1).tolist()
    # scalar_channel_stats: steps, the two largest deviations from the median, samples at the rails
    dt = times[:, 1:] - times[:, :-1]
    half, mid = n // 2, (n - 1) // 2  # mid: of the n - 1 steps
    spike = np.abs(values - np.partition(values, half, axis=1)[:, half:half + 1])
    top2 = np.partition(spike, n - 2, axis=1)[:, n - 2:]
    at_hi, at_lo = _ADD(values == hi[:, None], axis=1), _ADD(values == lo[:, None], axis=1)
    features: dict[str, float] = {}
    quality: dict[str, ChannelStats] = {}
    rows = zip(mean.tolist(), std.tolist(), lo.tolist(), hi.tolist(), last.tolist(), slope_num, slope_den,
               span, times[:, 0].tolist(), times[:, -1].tolist(), _MAX(dt, axis=1).tolist(),
               np.partition(dt, mid, axis=1)[:, mid].tolist(), _ADD(dt <= 0.0, axis=1).tolist(),
               top2[:, 1].tolist(), top2[:, 0].tolist(), at_hi.tolist(), at_lo.tolist(), strict=True)
    for channel, (m, sd, vmin, vmax, end, num, den, wide, first, final, max_dt, median_dt, dups, top, second,
                  n_hi, n_lo) in zip(scalars, rows, strict=True):
        names = _names(channel)
        features[names[0]], features[names[1]], features[names[2]] = m, sd, vmin
        features[names[3]], features[names[4]] = vmax, end
        features[names[5]] = (_quotient(num, den) if n >= 3 and wide > 0.0 else 0.0)
        rail = float(max(n_hi, n_lo)) if vmax > vmin else 0.0
        quality[channel] = ChannelStats("scalar", n, first, final, max_dt, median_dt, dups, vmin, vmax, sd,
                                        n >= 3 and vmax == vmin, rail, top, second, NAN, NAN, m)
    return features, quality


def _quotient(num: float, den: float) -> float:
    """``num / den`` as NumPy divides (a zero ``den``, which no real span gives: inf or NaN, with
    NumPy's warning, as scalar_stats)."""
    return num / den if den else float(np.float64(num) / np.float64(den))


@lru_cache(maxsize=4096)
def _names(channel: str) -> tuple[str, ...]:
    """A channel's feature names, in scalar_stats's order (a fleet's channels repeat every window)."""
    return tuple(f"{channel}.{name}" for name in ("mean", "std", "min", "max", "last", "slope_per_h"))
