"""Fleet RUL by regression: condition features -> remaining life, learnt from completed lives.

Every window of an asset carries a few condition features (e.g. the sensor readings of a
turbofan) and, optionally, its operating settings. :class:`RegressionRul` keeps, per asset and
life, a bounded :class:`ConditionTrack` of those raw values and the operating regime of each window
(:class:`~twin_models.rul.regimes.OperatingRegimes`, whose statistics are learnt from the first
``baseline_windows`` of every life: healthy behaviour at each operating point).

Features of a window, all causal (computed from the life's windows up to it), on regime z-scores:

- the **level** and **slope** of each feature: a least-squares line over the last ``window``
  windows, evaluated at the current window (smooths the noise without the lag of a moving mean);
- the level minus the life's own **baseline** (mean of its first ``baseline_windows`` windows):
  engines and bearings start from different points;
- the **age** of the life (hours since its first window).

Target: the time to failure, optionally capped at ``cap_s`` (the piecewise-linear RUL
convention: early life is indistinguishable from healthy operation). When a failure completes a
life, its windows become training rows and the regressor
(:class:`~twin_models.rul.trees.GradientBoostedTrees`) is refitted once the number of lives has grown
by ``refit_growth``. Refits also cross-fit two half models (lives split in two folds): every
stored life is predicted by a model that never saw it, and those errors (true - predicted) are
the held-out residuals. (Errors of the live model on each life as it completes would be biased
when lives start together: the lives that complete later are the longer ones, always
underestimated by a model of the shorter ones.) The interval is their ``(1-coverage)/2`` and
``(1+coverage)/2`` quantiles in the bin of the prediction (split-conformal, Mondrian by predicted
RUL; coverage holds when lives are exchangeable).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin_models.rul.conformal import conformal_interval
from twin_models.rul.regimes import OperatingRegimes, RegimeStats
from twin_models.rul.regressors import BatchRegressor, make_regressor
from twin_models.rul.trend import RulEstimate

__all__ = ["FEATURE_DECIMALS", "ConditionTrack", "RegressionRul", "condition_rows", "last_condition_row",
           "last_trend", "local_trend"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FEATURE_DECIMALS = 6
"""Decimals kept of every condition feature (:func:`condition_rows`): a millionth of a healthy
standard deviation (z-scores) or of an hour (age), far below any sensor's resolution, far above
the rounding noise of the running sums behind the trends (~1e-13). Without it, windows whose
readings are equal (the discrete sensors of C-MAPSS) got levels and slopes that differ in the
last bits, by an amount that depends on the regime statistics and on how many rows the sums ran
over; the trees' quantile bins then cut such ties at random, and training rows (a whole life's
sums) and predictions (the last ``window`` rows' sums) disagreed on which side of a cut a value
lies (issue 12: FD003 lost ~1 RMSE to it when the statistics came from other lives' heads)."""


def local_trend(z: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Causal least-squares line over the last ``window`` rows, at every row: (level, slope/row).

    Rows with fewer than 3 points in their window get the mean and a zero slope.
    """
    n = z.shape[0]
    k = np.arange(n, dtype=float)
    pad = np.zeros((1,) + z.shape[1:])

    def csum(a: FloatArray) -> FloatArray:
        return np.concatenate([pad if a.ndim > 1 else np.zeros(1), np.cumsum(a, axis=0)])

    lo = np.maximum(np.arange(n) - window + 1, 0)
    hi = np.arange(n) + 1
    kk = k[:, None] if z.ndim > 1 else k
    c_k, c_kk = csum(k), csum(k * k)
    c_y, c_ky = csum(z), csum(kk * z)
    s0 = (hi - lo).astype(float)
    sk, skk = c_k[hi] - c_k[lo], c_kk[hi] - c_kk[lo]
    sy, sky = c_y[hi] - c_y[lo], c_ky[hi] - c_ky[lo]
    if z.ndim > 1:
        s0, sk, skk = s0[:, None], sk[:, None], skk[:, None]
    det = s0 * skk - sk * sk
    ok = (s0 >= 3) & (det > 0)
    slope = np.where(ok, (s0 * sky - sk * sy) / np.where(ok, det, 1.0), 0.0)
    mean = sy / s0
    level = np.where(ok, mean + slope * (kk - sk / s0), mean)
    return level, slope


def condition_rows(z: FloatArray, times_s: FloatArray, baseline: FloatArray | None, t0_s: float,
                   window: int, baseline_windows: int) -> FloatArray:
    """Feature rows (level, slope x window, level - baseline, age h) for every row of ``z``,
    rounded to :data:`FEATURE_DECIMALS` (equal readings give equal features, bit for bit).

    ``baseline`` is the life's baseline when its first windows are not all in ``z`` (a long life
    whose history was truncated, or a single-row prediction); None: the causal mean of the first
    ``baseline_windows`` rows of ``z``.
    """
    level, slope = local_trend(z, window)
    if baseline is None:
        counts = np.arange(1, min(len(z), baseline_windows) + 1)[:, None]
        head = np.cumsum(z[:baseline_windows], axis=0) / counts
        base = np.vstack([head, np.repeat(head[-1:], max(len(z) - baseline_windows, 0), axis=0)])
    else:
        base = np.broadcast_to(baseline, z.shape)
    age_h = ((times_s - t0_s) / 3600.0)[:, None]
    rows: FloatArray = np.hstack([level, slope * window, level - base, age_h])
    return np.round(rows, FEATURE_DECIMALS)


def last_trend(z: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """:func:`local_trend` ``(z, window)`` at the last row only, bit for bit: (level, slope/row),
    each (d,), for 2-d ``z`` (n >= 1 rows).

    The same floating-point operations in the same order as :func:`local_trend` at that row: the
    same sequential ``cumsum`` s, the difference of two of their prefix sums (minus the 0.0 pad
    when the window reaches the first row), then the same arithmetic on scalars instead of
    columns. ``tests/unit/test_regression_rows.py`` compares both, unrounded, on random lives.
    """
    n, d = z.shape
    lo = max(n - window, 0)
    k = np.arange(n, dtype=float)
    c_k, c_kk = np.cumsum(k), np.cumsum(k * k)
    c_y, c_ky = np.cumsum(z, axis=0), np.cumsum(k[:, None] * z, axis=0)
    if lo > 0:
        sk, skk = c_k[-1] - c_k[lo - 1], c_kk[-1] - c_kk[lo - 1]
        sy, sky = c_y[-1] - c_y[lo - 1], c_ky[-1] - c_ky[lo - 1]
    else:
        sk, skk = c_k[-1] - 0.0, c_kk[-1] - 0.0
        sy, sky = c_y[-1] - 0.0, c_ky[-1] - 0.0
    s0 = np.float64(n - lo)
    det = s0 * skk - sk * sk
    mean = sy / s0
    if s0 >= 3 and det > 0:
        slope = (s0 * sky - sk * sy) / det
        return mean + slope * (k[-1] - sk / s0), slope
    return mean, np.zeros(d)


def last_condition_row(z: FloatArray, times_s: FloatArray, baseline: FloatArray, t0_s: float,
                       window: int) -> FloatArray:
    """``condition_rows(z, times_s, baseline, t0_s, window, ...)[-1:]`` bit for bit, computing
    only the last row's features (:func:`last_trend`): a prediction's row, one of the fleet
    view's per-window costs, where ``condition_rows`` spent ~25 small array steps on every row
    of ``z``. ``np.round`` works element by element, the rest is the same arithmetic."""
    level, slope = last_trend(z, window)
    age_h = (times_s[-1:] - t0_s) / 3600.0
    row = np.concatenate([level, slope * window, level - np.asarray(baseline, dtype=float), age_h])
    return np.round(row, FEATURE_DECIMALS)[None, :]


@dataclass
class ConditionTrack:
    """One asset's current life: raw condition values and regime per window (bounded)."""

    life_id: int
    max_len: int

    def __post_init__(self) -> None:
        self.times: deque[float] = deque(maxlen=self.max_len)
        self.regimes: deque[int] = deque(maxlen=self.max_len)
        self.rows: deque[FloatArray] = deque(maxlen=self.max_len)
        self.head: list[tuple[int, FloatArray]] = []  # the life's first windows (its baseline)
        self.t0_s = math.nan
        self.n_seen = 0

    def append(self, t_s: float, regime: int, row: FloatArray, baseline_windows: int) -> None:
        """Remember one window."""
        if self.n_seen == 0:
            self.t0_s = t_s
        if len(self.head) < baseline_windows:
            self.head.append((regime, row))
        self.times.append(t_s)
        self.regimes.append(regime)
        self.rows.append(row)
        self.n_seen += 1

    def arrays(self, last: int | None = None) -> tuple[FloatArray, IntArray, FloatArray]:
        """(times, regimes, raw rows) of the last ``last`` windows (all by default)."""
        n = len(self.times) if last is None else min(last, len(self.times))
        times = np.fromiter(list(self.times)[-n:], float, n)
        regimes = np.fromiter(list(self.regimes)[-n:], np.int64, n)
        rows = np.vstack(list(self.rows)[-n:])
        return times, regimes, rows

    def baseline(self, stats: RegimeStats) -> FloatArray:
        """Mean z-score of the life's first windows."""
        regimes = np.array([r for r, _ in self.head], dtype=np.int64)
        z = stats.normalise(regimes, np.vstack([x for _, x in self.head]))
        return np.asarray(z.mean(axis=0), dtype=float)


@dataclass(frozen=True)
class _Life:
    times: FloatArray
    regimes: IntArray
    rows: FloatArray
    head_regimes: IntArray
    head_rows: FloatArray
    t0_s: float
    complete: bool  # the whole life is in ``rows`` (not truncated by the track's bound)
    failure_s: float


class RegressionRul:
    """Regression of (capped) time to failure on causal condition features.

    ``regressor``: ``"trees"`` (gradient-boosted trees, the default) or a River regressor
    (:mod:`twin_models.rul.regressors`). Verbs (:class:`twin_models.contracts.RulEstimator`):
    ``update`` a track with a window, ``learn_life`` a completed life, ``predict_rul`` (pure).
    """

    regressor: str = "trees"  # class default: models pickled before the setting existed

    def __init__(
        self,
        n_features: int,
        *,
        window: int = 30,
        baseline_windows: int = 20,
        cap_s: float = 0.0,
        min_lives: int = 10,
        max_lives: int = 300,
        refit_growth: float = 0.1,
        coverage: float = 0.8,
        max_residuals: int = 20000,
        regimes: OperatingRegimes | None = None,
        seed: int = 0,
        regressor: str = "trees",
    ) -> None:
        self.n_features = n_features
        self.regressor = regressor
        self.window = window
        self.baseline_windows = baseline_windows
        self.cap_s = cap_s
        self.min_lives = min_lives
        self.refit_growth = refit_growth
        self.coverage = coverage
        self.seed = seed
        self.regimes = regimes or OperatingRegimes(n_features)
        self.lives: deque[_Life] = deque(maxlen=max_lives)
        self.max_residuals = max_residuals
        self.residuals: FloatArray = np.zeros((0, 2))  # (predicted, true - predicted), held out
        self.model: BatchRegressor | None = None
        self.stats: RegimeStats | None = None
        self.lives_learnt = 0
        self.lives_at_fit = 0
        self.lives_at_residuals = 0
        self.residual_growth = 0.25  # the residuals are renewed less often than the model

    def update(self, track: ConditionTrack, t_s: float, settings: FloatArray, row: FloatArray) -> None:
        """Add one window to an asset's track; the life's first windows teach the regime stats."""
        healthy = track.n_seen < self.baseline_windows
        regime = self.regimes.learn_one(settings, row, update_stats=healthy)
        track.append(t_s, regime, np.asarray(row, dtype=float), self.baseline_windows)

    def _rows(self, stats: RegimeStats, life: _Life) -> FloatArray:
        z = stats.normalise(life.regimes, life.rows)
        base = None
        if not life.complete:
            base = stats.normalise(life.head_regimes, life.head_rows).mean(axis=0)
        return condition_rows(z, life.times, base, life.t0_s, self.window, self.baseline_windows)

    def _target(self, life: _Life) -> FloatArray:
        ttf = life.failure_s - life.times
        return np.minimum(ttf, self.cap_s) if self.cap_s > 0 else ttf

    def learn_life(self, track: ConditionTrack, failure_s: float) -> None:
        """A failure completed the track's life: store it and refit once the lives have grown."""
        if track.n_seen == 0:
            return
        times, regimes, rows = track.arrays()
        life = _Life(times, regimes, rows,
                     np.array([r for r, _ in track.head], dtype=np.int64),
                     np.vstack([x for _, x in track.head]), track.t0_s,
                     track.n_seen == len(track.times), failure_s)
        self.lives.append(life)
        self.lives_learnt += 1
        grown = self.lives_learnt - self.lives_at_fit >= max(1.0, self.refit_growth * self.lives_at_fit)
        if len(self.lives) >= self.min_lives and (self.model is None or grown):
            self.refit()

    def _fit_rows(self, lives: list[_Life], stats: RegimeStats, seed: int) -> BatchRegressor:
        x = np.vstack([self._rows(stats, life) for life in lives])
        y = np.concatenate([self._target(life) for life in lives])
        model = make_regressor(self.regressor, seed)
        model.fit(x, y)
        return model

    def refit(self) -> None:
        """Refit on the stored lives (with a frozen copy of the regime statistics); once the lives
        have grown by 25 % since the last time, renew the held-out residuals by 2-fold cross-fitting
        over lives (each life predicted by a model that never saw it)."""
        stats = self.regimes.stats()
        lives = list(self.lives)
        seed = self.seed + self.lives_learnt
        self.model = self._fit_rows(lives, stats, seed)
        self.stats = stats
        self.lives_at_fit = self.lives_learnt
        if self.lives_learnt - self.lives_at_residuals < self.residual_growth * self.lives_at_residuals:
            return
        self.lives_at_residuals = self.lives_learnt
        rng = np.random.default_rng(seed)
        fold = rng.permutation(len(lives)) % 2
        pairs: list[FloatArray] = []
        for k in (0, 1):
            train = [life for life, f in zip(lives, fold, strict=True) if f != k]
            held = [life for life, f in zip(lives, fold, strict=True) if f == k]
            if len(train) < 2 or not held:
                continue
            half = self._fit_rows(train, stats, seed + 1 + k)
            for life in held:
                pred = self._clip(half.predict(self._rows(stats, life)))
                pairs.append(np.column_stack([pred, self._target(life) - pred]))
        if pairs:
            res = np.vstack(pairs)
            if res.shape[0] > self.max_residuals:
                res = res[rng.choice(res.shape[0], self.max_residuals, replace=False)]
            self.residuals = res

    def _clip(self, pred: FloatArray) -> FloatArray:
        return np.clip(pred, 0.0, self.cap_s if self.cap_s > 0 else np.inf)

    def predict_rul(self, track: ConditionTrack) -> RulEstimate | None:
        """RUL of the track's asset now (None before the first fit or without windows)."""
        if self.model is None or self.stats is None or track.n_seen == 0:
            return None
        times, regimes, rows = track.arrays(self.window)
        z = self.stats.normalise(regimes, rows)
        base = track.baseline(self.stats)
        x = last_condition_row(z, times, base, track.t0_s, self.window)
        rul = float(self._clip(self.model.predict(x))[0])
        lo, hi = self.interval(rul)
        return RulEstimate(rul, lo, hi, "fleet_regression")

    def interval(self, rul: float) -> tuple[float, float]:
        """Conformal bounds around ``rul`` from the held-out residuals of its prediction bin."""
        return conformal_interval(rul, self.residuals, self.cap_s, self.coverage)
