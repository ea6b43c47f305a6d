"""Operating regimes, found online, and per-regime normalisation of condition features.

Machines that run at a few discrete operating points (a turbofan's altitude / Mach / throttle
set-points, a pump's speed steps) read very different sensor values at each of them, so raw
sensor levels say more about the operating point than about wear. :class:`OperatingRegimes`
clusters the operating-setting vectors online (leader clustering: a setting vector joins the
nearest regime whose centre it matches within a tolerance on every coordinate,
``|x - c| <= atol + rtol * |c|``, else it founds a new regime, up to ``max_regimes``) and learns,
per regime, the mean and variance of every condition feature (Welford). A feature is then
expressed as a z-score against its regime's statistics, which removes the operating point.

Which windows teach the statistics is the caller's choice: the fleet model teaches them with the
first windows of every life (healthy behaviour), so a z-score reads "how far from a healthy
machine at this operating point".

>>> reg = OperatingRegimes(n_features=1)
>>> for alt, s in [(0.0, 10.0), (0.001, 12.0), (35.0, 50.0), (35.01, 54.0)]:
...     _ = reg.learn_one([alt], [s])
>>> reg.n_regimes, reg.assign([34.99]), reg.assign([0.0])
(2, 1, 0)
>>> [round(float(v), 3) for v in reg.normalise(1, np.array([[52.0]]))[0]]
[0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["OperatingRegimes", "RegimeStats"]

FloatArray = npt.NDArray[np.float64]


class RegimeStats:
    """A frozen copy of the per-regime means and standard deviations (rows = regimes)."""

    def __init__(self, mean: FloatArray, std: FloatArray) -> None:
        self.mean = mean
        self.std = std

    def normalise(self, regimes: npt.NDArray[np.int64], x: FloatArray) -> FloatArray:
        """z-scores of rows ``x`` (n, d) in their regimes; unknown regimes and NaN give 0."""
        known = (regimes >= 0) & (regimes < self.mean.shape[0])
        if known.all():  # the usual case (a fleet view's every window): no masked copies
            out = np.asarray((x - self.mean[regimes]) / self.std[regimes], dtype=float)
        else:
            out = np.zeros_like(x, dtype=float)
            if known.any():
                r = regimes[known]
                out[known] = (x[known] - self.mean[r]) / self.std[r]
        # NaN and infinities to 0.0 (as nan_to_num(..., 0.0, 0.0, 0.0), at a fraction of its cost)
        return np.where(np.isfinite(out), out, 0.0)


class OperatingRegimes:
    """Online leader clustering of operating settings plus per-regime feature statistics."""

    def __init__(
        self,
        n_features: int,
        *,
        atol: float = 0.02,
        rtol: float = 0.02,
        max_regimes: int = 12,
        rel_std_floor: float = 1e-3,
    ) -> None:
        self.n_features = n_features
        self.atol = atol
        self.rtol = rtol
        self.max_regimes = max_regimes
        self.rel_std_floor = rel_std_floor
        self.centres: list[FloatArray] = []
        self.counts: list[int] = []
        self.n: list[FloatArray] = []  # per regime, per feature: count, mean, M2 (Welford)
        self.mean: list[FloatArray] = []
        self.m2: list[FloatArray] = []

    @property
    def n_regimes(self) -> int:
        """Regimes found so far."""
        return len(self.centres)

    def _nearest(self, s: FloatArray) -> tuple[int, bool]:
        """Index of the nearest regime (scaled distance) and whether it is within tolerance."""
        if not self.centres:
            return -1, False
        c = np.asarray(self.centres)
        tol = self.atol + self.rtol * np.abs(c)
        dev = np.abs(s[None, :] - c) / tol
        j = int(np.argmin(dev.max(axis=1)))
        return j, bool(dev[j].max() <= 1.0)

    def assign(self, settings: Sequence[float] | FloatArray) -> int:
        """The regime of a settings vector (nearest; -1 before any regime exists). Pure."""
        s = np.nan_to_num(np.asarray(settings, dtype=float))
        if s.size == 0:
            return 0 if self.centres else -1
        return self._nearest(s)[0]

    def learn_one(self, settings: Sequence[float] | FloatArray, features: Sequence[float] | FloatArray,
                  *, update_stats: bool = True) -> int:
        """Assign the settings (founding a regime if none matches), learn; return the regime."""
        s = np.nan_to_num(np.asarray(settings, dtype=float))
        j, ok = self._nearest(s) if s.size else (0 if self.centres else -1, bool(self.centres))
        if not ok and self.n_regimes < self.max_regimes:
            self.centres.append(s.copy())
            self.counts.append(0)
            self.n.append(np.zeros(self.n_features))
            self.mean.append(np.zeros(self.n_features))
            self.m2.append(np.zeros(self.n_features))
            j = self.n_regimes - 1
        self.counts[j] += 1
        if s.size:
            self.centres[j] += (s - self.centres[j]) / self.counts[j]
        if update_stats:
            self._update(j, np.asarray(features, dtype=float))
        return j

    def _update(self, j: int, x: FloatArray) -> None:
        ok = np.isfinite(x)
        n, mean, m2 = self.n[j], self.mean[j], self.m2[j]
        n[ok] += 1.0
        delta = np.where(ok, x - mean, 0.0)
        mean += np.where(ok, delta / np.maximum(n, 1.0), 0.0)
        m2 += np.where(ok, delta * (np.where(ok, x, 0.0) - mean), 0.0)

    def stats(self) -> RegimeStats:
        """A copy of the current statistics (std floored relative to the mean's magnitude)."""
        if not self.centres:
            return RegimeStats(np.zeros((0, self.n_features)), np.ones((0, self.n_features)))
        n = np.asarray(self.n)
        mean = np.asarray(self.mean).copy()
        var = np.asarray(self.m2) / np.maximum(n - 1.0, 1.0)
        floor = np.maximum(self.rel_std_floor * np.abs(mean), 1e-9)
        std = np.maximum(np.sqrt(np.maximum(var, 0.0)), floor)
        std[n < 2] = np.inf  # too little data: the feature reads as 0 (no evidence)
        return RegimeStats(mean, std)

    def normalise(self, regime: int, x: FloatArray) -> FloatArray:
        """z-scores of rows ``x`` (n, d) in one regime, with the current statistics."""
        regimes = np.full(np.atleast_2d(x).shape[0], regime, dtype=np.int64)
        return self.stats().normalise(regimes, np.atleast_2d(np.asarray(x, dtype=float)))
