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

__all__ = ["TailCalibrator"]


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
