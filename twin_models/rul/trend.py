"""Remaining useful life (RUL) with an interval, in seconds.

Two estimators, fused by :func:`fuse`:

- :class:`TrendRul` (the asset's own degradation trend): damage growth accelerates (Paris law), so
  the failure indicator's excess over its healthy baseline is fitted as ``log(excess) = a + b t``
  over the recent windows and extrapolated to the failure threshold. The interval comes from the
  slope's standard error.
- :class:`FleetRul` (completed lives of the fleet): every life that ended in a failure leaves its
  degradation-indicator trajectory against time-to-failure. A degrading asset's recent trajectory
  is matched against each stored life (trajectory similarity, Wang et al., PHM 2008); the
  similarity-weighted median of the matched times-to-failure is the estimate. Completed lives also
  yield the true RUL of every estimate made during them: their log errors give split-conformal
  interval bounds (coverage holds when lives are exchangeable).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin_models.moved_modules import restore_state

__all__ = ["CompletedLife", "FleetRul", "RulEstimate", "TrendRul", "fuse"]


@dataclass(frozen=True, slots=True)
class RulEstimate:
    """Point estimate and interval, seconds."""

    rul_s: float
    lower_s: float
    upper_s: float
    source: str


@dataclass(frozen=True, slots=True)
class CompletedLife:
    """One life that ended in a failure: degradation trajectory and the estimates made during it.

    ``times_s`` are epoch seconds of the windows, ``indicator`` the degradation indicator, and
    ``estimates_s`` the fused RUL estimate emitted at each window (NaN where none was made).
    """

    asset_id: str
    asset_kind: str
    failure_s: float
    times_s: tuple[float, ...]
    indicator: tuple[float, ...]
    estimates_s: tuple[float, ...]


class TrendRul:
    """Log-linear extrapolation of the indicator excess to the failure threshold."""

    def __init__(self, *, fit_points: int = 24, min_points: int = 6, max_rul_s: float = 1e8):
        self.fit_points = fit_points
        self.min_points = min_points
        self.max_rul_s = max_rul_s
        self.history: deque[tuple[float, float]] = deque(maxlen=fit_points)

    def update(self, t_s: float, excess: float, noise: float) -> None:
        """Record the excess of one window if it stands above the noise floor, else forget."""
        if excess > noise > 0.0:
            self.history.append((t_s, math.log(excess)))
        else:
            self.history.clear()

    def predict_rul(self, t_s: float, threshold_excess: float) -> RulEstimate | None:
        """Time until the fitted excess reaches ``threshold_excess`` (None when not degrading)."""
        if len(self.history) < self.min_points or threshold_excess <= 0.0:
            return None
        t = np.array([p[0] for p in self.history]) - t_s
        y = np.array([p[1] for p in self.history])
        (b, a), cov = np.polyfit(t, y, 1, cov=True)
        if not b > 0.0:
            return None
        se = math.sqrt(max(float(cov[0, 0]), 0.0))
        target = math.log(threshold_excess)

        def cross(slope: float) -> float:
            if slope <= 0.0:
                return self.max_rul_s
            return float(min(max((target - a) / slope, 0.0), self.max_rul_s))

        rul = cross(b)
        return RulEstimate(rul, cross(b + 2.0 * se), cross(b - 2.0 * se), "trend")


class FleetRul:
    """Trajectory-similarity RUL from completed lives, with conformal interval from their errors."""

    def __init__(
        self,
        *,
        max_lives: int = 200,
        life_points: int = 128,
        query_points: int = 12,
        max_residuals: int = 4000,
        coverage: float = 0.8,
    ) -> None:
        self.lives: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=max_lives)
        self.life_points = life_points
        self.query_points = query_points
        self.residuals: deque[float] = deque(maxlen=max_residuals)
        self.coverage = coverage
        # the failure time of each life and of each residual's life: a prediction "as of" an
        # event time uses only the lives that had failed by then (deterministic whatever order
        # the lives were learnt in)
        self.life_failures: deque[float] = deque(maxlen=max_lives)
        self.residual_failures: deque[float] = deque(maxlen=max_residuals)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Models pickled before failure times were kept: their lives count as failed long ago."""
        lives, residuals = state["lives"], state["residuals"]
        state.setdefault("life_failures", deque([-math.inf] * len(lives), maxlen=lives.maxlen))
        state.setdefault("residual_failures", deque([-math.inf] * len(residuals), maxlen=residuals.maxlen))
        restore_state(self, state)

    @property
    def n_lives(self) -> int:
        """Completed lives learnt so far."""
        return len(self.lives)

    def n_lives_as_of(self, as_of_s: float) -> int:
        """Completed lives that had failed by event time ``as_of_s``."""
        return sum(1 for f in self.life_failures if f <= as_of_s)

    def learn_life(self, life: CompletedLife) -> None:
        """Store the trajectory (downsampled) and the log errors of the estimates made in it."""
        times = np.asarray(life.times_s, dtype=float)
        if times.size == 0:
            return
        ttf = life.failure_s - times
        for est, true in zip(life.estimates_s, ttf, strict=True):
            if math.isfinite(est) and est > 0.0 and true > 0.0:
                self.residuals.append(math.log(true / est))
                self.residual_failures.append(life.failure_s)
        ind = np.asarray(life.indicator, dtype=float)
        if times.size > self.life_points:
            idx = np.linspace(0, times.size - 1, self.life_points).round().astype(int)
            ttf, ind = ttf[idx], ind[idx]
        self.lives.append((ttf[::-1].copy(), ind[::-1].copy()))
        self.life_failures.append(life.failure_s)

    def predict_rul(self, times_s: np.ndarray, indicator: np.ndarray,
                    as_of_s: float = math.inf) -> RulEstimate | None:
        """Match the recent trajectory (ending now) against every stored life that had failed by
        ``as_of_s``."""
        if not self.lives or times_s.size < 3:
            return None
        rel = times_s[-self.query_points :] - times_s[-1]
        q = indicator[-self.query_points :]
        cands, weights = [], []
        for (ttf, ind), failed in zip(self.lives, self.life_failures, strict=True):
            if failed > as_of_s:
                continue
            best = self._best_alignment(ttf, ind, rel, q)
            if best is not None:
                cands.append(best[0])
                weights.append(math.exp(-best[1]))
        if not cands:
            return None
        rul = _weighted_quantile(np.array(cands), np.array(weights), 0.5)
        return self.interval(rul, np.array(cands), np.array(weights), as_of_s)

    def _best_alignment(
        self, ttf: np.ndarray, ind: np.ndarray, rel: np.ndarray, q: np.ndarray
    ) -> tuple[float, float] | None:
        """Best time-to-failure for "now" within one stored life, and its mean squared error."""
        span = -rel[0]
        anchors = ttf[ttf <= ttf[-1] - span] if ttf.size else ttf
        if anchors.size == 0:
            return None
        # stored life is ordered by increasing ttf; the query point at rel maps to ttf = a - rel
        grid = anchors[:, None] - rel[None, :]
        ref = np.interp(grid, ttf, ind)
        mse = np.mean((ref - q[None, :]) ** 2, axis=1)
        j = int(np.argmin(mse))
        scale = max(float(np.var(q)), 1e-3)
        return float(anchors[j]), float(mse[j] / scale)

    def interval(
        self, rul: float, cands: np.ndarray | None = None, weights: np.ndarray | None = None,
        as_of_s: float = math.inf,
    ) -> RulEstimate:
        """Conformal bounds from completed-life errors (of lives failed by ``as_of_s``), else the
        spread of the matched lives."""
        alpha = (1.0 - self.coverage) / 2.0
        residuals = [r for r, f in zip(self.residuals, self.residual_failures, strict=True) if f <= as_of_s]
        if len(residuals) >= 20:
            # completed lives tell how wrong past estimates were: correct the median bias and
            # take the interval from the residual quantiles (split conformal, log scale)
            lo, mid, hi = np.quantile(np.asarray(residuals), [alpha, 0.5, 1.0 - alpha])
            return RulEstimate(rul * math.exp(mid), rul * math.exp(lo), rul * math.exp(hi), "fleet")
        if cands is not None and weights is not None and cands.size >= 2:
            lo = _weighted_quantile(cands, weights, alpha)
            hi = _weighted_quantile(cands, weights, 1.0 - alpha)
            return RulEstimate(rul, min(lo, rul), max(hi, rul), "fleet")
        return RulEstimate(rul, 0.5 * rul, 2.0 * rul, "fleet")


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    if cum[-1] <= 0.0:
        return float(np.quantile(v, q))
    return float(v[min(int(np.searchsorted(cum, q * cum[-1])), v.size - 1)])


def fuse(*estimates: RulEstimate | None) -> RulEstimate | None:
    """Inverse-variance fusion in log space (interval width as the spread); None if none given."""
    ests = [e for e in estimates if e is not None and e.rul_s > 0.0]
    if not ests:
        return None
    if len(ests) == 1:
        return ests[0]
    logs, ws, los, his = [], [], [], []
    for e in ests:
        width = math.log(max(e.upper_s, e.rul_s * 1.01)) - math.log(max(e.lower_s, 1.0))
        w = 1.0 / max(width, 0.05) ** 2
        logs.append(math.log(e.rul_s) * w)
        los.append(math.log(max(e.lower_s, 1.0)) * w)
        his.append(math.log(max(e.upper_s, 1.0)) * w)
        ws.append(w)
    total = sum(ws)
    rul = math.exp(sum(logs) / total)
    lo, hi = math.exp(sum(los) / total), math.exp(sum(his) / total)
    return RulEstimate(rul, min(lo, rul), max(hi, rul), "+".join(e.source for e in ests))
