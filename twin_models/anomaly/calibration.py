"""Turn a raw anomaly statistic into a calibrated score in [0, 1].

:class:`TailCalibrator` keeps a bounded history of raw statistics seen on normal data. Below the
tail threshold ``u`` (its ``1 - tail_fraction`` quantile) the score is the empirical CDF; above it,
the excess over ``u`` follows an exponential tail fitted by its mean excess (peaks over threshold,
the GPD with shape 0; Siffer et al., "Anomaly detection in streams with extreme value theory",
KDD 2017). The tail scale is estimated from quantile spacing, ``beta = (q(1 - f/4) - q(1 - f)) /
ln 4``, which stays unbiased when the history is censored above those quantiles (detectors stop
learning from windows they already find anomalous). So ``score = 1 - P(raw >= x | normal)``
and ``score >= 0.999`` means "rarer than one window in a thousand of normal operation".

>>> cal = TailCalibrator(window=200, min_samples=20)
>>> for i in range(200):
...     cal.learn_one(float(i % 10))
>>> cal.score_one(5.0) < 0.7 < cal.score_one(9.0) < 0.999 < cal.score_one(40.0)
True
"""

from __future__ import annotations

import bisect
import math
from collections import deque

__all__ = ["EmpiricalTail", "TailCalibrator"]


class TailCalibrator:
    """Empirical CDF with an exponential upper tail over a sliding window of raw statistics."""

    def __init__(self, window: int = 2000, tail_fraction: float = 0.1, min_samples: int = 30):
        if not 0.0 < tail_fraction < 0.5:
            msg = f"tail_fraction must be in (0, 0.5), got {tail_fraction}"
            raise ValueError(msg)
        self.window = window
        self.tail_fraction = tail_fraction
        self.min_samples = min_samples
        self._fifo: deque[float] = deque(maxlen=window)
        self._sorted: list[float] = []

    @property
    def n(self) -> int:
        """Number of raw statistics currently held."""
        return len(self._fifo)

    def learn_one(self, raw: float) -> None:
        """Add one raw statistic observed in normal operation."""
        if not math.isfinite(raw):
            return
        if len(self._fifo) == self._fifo.maxlen:
            old = self._fifo[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._fifo.append(raw)
        bisect.insort(self._sorted, raw)

    def score_one(self, raw: float) -> float:
        """Calibrated score in [0, 1]: 1 - tail probability of ``raw`` under normal operation."""
        if math.isnan(raw):
            return 0.0
        n = len(self._sorted)
        if n < self.min_samples:
            return 0.0
        k = max(1, int(n * self.tail_fraction))
        u = self._sorted[n - k - 1] if n > k else self._sorted[0]
        if raw <= u:
            return bisect.bisect_right(self._sorted, raw) / (n + 1)
        upper = self._sorted[min(n - 1, n - max(1, k // 4))]
        beta = max((upper - u) / math.log(4.0), 1e-9)
        tail = (k / (n + 1)) * math.exp(-(raw - u) / beta)
        return min(1.0, max(0.0, 1.0 - tail))

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the held raw statistics (NaN when empty)."""
        if not self._sorted:
            return math.nan
        idx = min(len(self._sorted) - 1, max(0, int(q * len(self._sorted))))
        return self._sorted[idx]


class EmpiricalTail:
    """Two-sided tail probabilities of a value among a sliding history of values.

    Inside the range seen, ``upper(x) = (#{h >= x} + 1) / (n + 1)`` (and ``lower`` likewise): the
    rank p-value, exact for exchangeable data and free of any distributional assumption. Beyond the
    largest (smallest) value seen it extrapolates an exponential tail, ``exp(-(x - max) / beta) /
    (n + 1)``, whose scale ``beta`` is the mean excess of the ``k`` largest values over the
    ``k+1``-th (the maximum-likelihood scale of an exponential tail, peaks over threshold), never
    below ``floor`` (the resolution below which differences do not matter).

    >>> tail = EmpiricalTail(window=1000)
    >>> for i in range(1000):
    ...     tail.learn_one(float(i % 100))
    >>> round(tail.upper(99.0), 3), round(tail.lower(0.0), 3), tail.upper(150.0) < 1e-3
    (0.011, 0.011, True)
    """

    def __init__(self, window: int = 20000, k: int = 20, min_samples: int = 30) -> None:
        self.window = window
        self.k = k
        self.min_samples = min_samples
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    @property
    def n(self) -> int:
        """Number of values held."""
        return len(self._sorted)

    def learn_one(self, x: float) -> None:
        """Add one value (the oldest is forgotten once ``window`` are held)."""
        if not math.isfinite(x):
            return
        if len(self._fifo) >= self.window:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._fifo.append(x)
        bisect.insort(self._sorted, x)

    def upper(self, x: float, floor: float = 0.0) -> float:
        """P(value >= x): rank p-value, exponential beyond the maximum; 1 while learning."""
        s = self._sorted
        n = len(s)
        if n < self.min_samples or math.isnan(x):
            return 1.0
        ge = n - bisect.bisect_left(s, x)
        if ge:
            return (ge + 1) / (n + 1)
        k = min(self.k, n - 1)
        beta = max(math.fsum(s[-k:]) / k - s[-k - 1], floor, 1e-300)
        return math.exp(-(x - s[-1]) / beta) / (n + 1)

    def lower(self, x: float, floor: float = 0.0) -> float:
        """P(value <= x): rank p-value, exponential below the minimum; 1 while learning."""
        s = self._sorted
        n = len(s)
        if n < self.min_samples or math.isnan(x):
            return 1.0
        le = bisect.bisect_right(s, x)
        if le:
            return (le + 1) / (n + 1)
        k = min(self.k, n - 1)
        beta = max(s[k] - math.fsum(s[:k]) / k, floor, 1e-300)
        return math.exp(-(s[0] - x) / beta) / (n + 1)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the values held (NaN when empty)."""
        if not self._sorted:
            return math.nan
        idx = min(len(self._sorted) - 1, max(0, int(q * (len(self._sorted) - 1))))
        return self._sorted[idx]
