"""A series' dominant period, from the autocorrelation of the values seen so far.

:func:`dominant_period` finds the lag of the highest *prominent* peak of the sample
autocorrelation function (ACF) of a series after its least-squares line is removed (a trend is not
a cycle). Every limit is fixed a priori, none was chosen on scored data:

- ``MIN_PERIOD`` = 4 rows: a shorter "cycle" is indistinguishable from noise at one row's
  resolution (a peak needs a rise and a fall on each side);
- ``MIN_CYCLES`` = 3: a lag is a candidate only if the series holds three of its cycles (two cycles
  give one pair of repeats, which a single coincidence can fake);
- ``MIN_ACF`` = 0.3 at the peak: the usual floor of a "moderate" correlation; and the peak must
  rise ``MIN_PROMINENCE`` = 0.3 above the lowest ACF at a shorter lag, so that the slowly decaying
  ACF of a random walk or of a level shift (no trough, small wiggles) has no period.

No peak passing these: ``None`` (no period). The ACF is computed with one zero-padded FFT
(Wiener-Khinchin), O(n log n).

:class:`PeriodTracker` estimates it online, rarely: on the last ``memory`` values, each time the
number of values seen reaches ``first`` x 2^k (so O(log n) estimates, none per row).

>>> import math
>>> t = PeriodTracker(first=100, memory=2000)
>>> for i in range(1200):
...     t.learn_one(math.sin(2 * math.pi * i / 48))
>>> t.period
48
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_ACF", "MIN_CYCLES", "MIN_PERIOD", "MIN_PROMINENCE", "PeriodTracker", "acf",
           "dominant_period"]

MIN_PERIOD = 4
MIN_CYCLES = 3
MIN_ACF = 0.3
MIN_PROMINENCE = 0.3


def acf(values: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sample autocorrelation of ``values`` after removing their least-squares line (lag 0 = 1)."""
    x = np.asarray(values, dtype=float)
    n = x.size
    if n < 2:
        return np.ones(n)
    t = np.arange(n, dtype=float)
    slope, intercept = np.polyfit(t, x, 1)
    r = x - (slope * t + intercept)
    size = 1 << int(2 * n - 1).bit_length()
    spec = np.fft.rfft(r, size)
    c = np.fft.irfft(spec * np.conj(spec), size)[:n]
    if c[0] <= 0.0 or not math.isfinite(float(c[0])):
        return np.zeros(n)
    out: npt.NDArray[np.float64] = c / c[0]
    return out


def dominant_period(values: Sequence[float] | npt.NDArray[np.float64]) -> int | None:
    """Lag of the highest prominent ACF peak with ``MIN_CYCLES`` cycles in the data, else None."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    max_lag = x.size // MIN_CYCLES
    if max_lag < MIN_PERIOD + 1:
        return None
    r = acf(x)[: max_lag + 2]
    best, best_lag = -math.inf, None
    low = np.minimum.accumulate(r)  # the lowest ACF at a lag <= each lag
    for lag in range(MIN_PERIOD, min(max_lag, r.size - 2) + 1):
        peak = r[lag]
        if not (peak > r[lag - 1] and peak >= r[lag + 1]):
            continue
        if peak >= MIN_ACF and peak - low[lag] >= MIN_PROMINENCE and peak > best:
            best, best_lag = float(peak), lag
    return best_lag


class PeriodTracker:
    """The dominant period of a stream, re-estimated at ``first`` x 2^k values seen.

    ``period``: the latest estimate (None: no period found yet, or none in the latest estimate);
    ``changed``: True right after a ``learn_one`` whose estimate differs from the previous one.
    """

    def __init__(self, first: int = 200, memory: int = 8064) -> None:
        if first < 1 or memory < 1:
            msg = f"first={first} and memory={memory} must be positive"
            raise ValueError(msg)
        self.first = first
        self.memory = memory
        self.values: deque[float] = deque(maxlen=memory)
        self.n = 0
        self.period: int | None = None
        self.changed = False
        self._next = first

    def learn_one(self, x: float) -> None:
        """Remember ``x``; at a checkpoint, estimate the period again."""
        self.changed = False
        if not math.isfinite(x):
            return
        self.values.append(x)
        self.n += 1
        if self.n >= self._next:
            self._next *= 2
            period = dominant_period(np.fromiter(self.values, dtype=float, count=len(self.values)))
            self.changed = period != self.period
            self.period = period
