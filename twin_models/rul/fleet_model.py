"""FleetModel: an immutable, versioned snapshot of what a fleet of one kind has learnt.

The fleet learner (:mod:`twin_models.rul.fleet_learner`) emits a new :class:`FleetModel` after
learning; every asset's :class:`~twin_models.rul.fleet_view.FleetView` applies the version of its
kind whose ``effective_from_s`` (event time) is the latest at or before the window it estimates.
A model holds the trajectory-similarity lives (:class:`~twin_models.rul.trend.FleetRul`, compact:
downsampled trajectories and log errors), the completed lives' lengths (the prior), and the
fitted condition regression (:class:`FittedRegression`: frozen regime centres and statistics, the
regressor, held-out residuals). ``predict`` is pure: a model is shared by every asset of its kind.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from twin_models.records import TwinSnapshot
from twin_models.rul.calibration import RulErrors
from twin_models.rul.conformal import ConformalTable, conformal_default
from twin_models.rul.damage import DamagePrior
from twin_models.rul.life_model import LifeModel, LifeRecord
from twin_models.rul.regimes import RegimeStats
from twin_models.rul.regression import last_condition_row
from twin_models.rul.regressors import BatchRegressor
from twin_models.rul.trend import FleetRul, RulEstimate, fuse

__all__ = ["FittedRegression", "FleetModel", "assign_regimes"]

FloatArray = npt.NDArray[np.float64]
AnyFloats = npt.NDArray[np.floating[Any]]  # float32 rows as the views keep them, or float64
IntArray = npt.NDArray[np.int64]
_DEGRADED = ("degrading", "critical")


def assign_regimes(centres: FloatArray, atol: float, rtol: float, settings: AnyFloats) -> IntArray:
    """The nearest regime of every settings row (scaled distance, as ``OperatingRegimes.assign``)."""
    n = settings.shape[0]
    if centres.shape[0] == 0:
        return np.full(n, -1, dtype=np.int64)
    if settings.size == 0 or centres.shape[0] == 1:  # one regime: the argmin of one column is 0
        return np.zeros(n, dtype=np.int64)
    s = np.asarray(settings, dtype=float)
    if not np.isfinite(s).all():  # nan_to_num only when it changes something (its cost, per window)
        s = np.nan_to_num(s)
    tol = atol + rtol * np.abs(centres)
    dev = (np.abs(s[:, None, :] - centres[None, :, :]) / tol[None]).max(axis=2)
    return np.asarray(dev.argmin(axis=1), dtype=np.int64)


@dataclass(frozen=True)
class FittedRegression:
    """A fitted condition regression: capped time to failure from an asset's recent windows."""

    centres: FloatArray
    atol: float
    rtol: float
    stats: RegimeStats
    model: BatchRegressor
    residuals: FloatArray  # (predicted, true - predicted), held out
    window: int
    baseline_windows: int
    cap_s: float
    coverage: float

    def predict_rul(self, times: FloatArray, settings: FloatArray, rows: FloatArray, t0_s: float,
                    head_settings: FloatArray, head_rows: FloatArray) -> RulEstimate | None:
        """RUL now from the life's last ``window`` windows and its first (baseline) windows."""
        if rows.shape[0] == 0 or head_rows.shape[0] == 0:
            return None
        return self.predict_from(times, settings, rows, t0_s, self.baseline(head_settings, head_rows))

    def baseline(self, head_settings: AnyFloats, head_rows: AnyFloats) -> FloatArray:
        """The life's baseline: the mean z-score of its first windows."""
        z = self.stats.normalise(self.regimes(head_settings), head_rows.astype(float))
        return np.asarray(z.mean(axis=0))

    def predict_from(self, times: FloatArray, settings: FloatArray, rows: FloatArray, t0_s: float,
                     base: FloatArray) -> RulEstimate | None:
        """:meth:`predict_rul` with the life's :meth:`baseline` already computed."""
        if rows.shape[0] == 0:
            return None
        z = self.stats.normalise(self.regimes(settings), rows.astype(float))
        x = last_condition_row(z, times, base, t0_s, self.window)
        rul = float(self.clip(self.model.predict(x))[0])
        lo, hi = self.interval(rul)
        return RulEstimate(rul, lo, hi, "fleet_regression")

    def regimes(self, settings: AnyFloats) -> IntArray:
        """Regimes of settings rows, with the centres frozen in this model."""
        return assign_regimes(self.centres, self.atol, self.rtol, settings)

    def clip(self, pred: FloatArray) -> FloatArray:
        """Predictions clipped to [0, cap]."""
        return np.clip(pred, 0.0, self.cap_s if self.cap_s > 0 else np.inf)

    def interval(self, rul: float) -> tuple[float, float]:
        """Conformal bounds around ``rul`` from the held-out residuals of its prediction bin."""
        table = self.conformal
        return conformal_default(rul, self.cap_s) if table is None else table.interval(rul)

    @cached_property
    def conformal(self) -> ConformalTable | None:
        """The residuals' quantiles per prediction bin, computed once per model (not pickled)."""
        return ConformalTable.of(self.residuals, self.cap_s, self.coverage)

    def __getstate__(self) -> dict[str, object]:
        """The fields only (the cached table is rebuilt where the model is used)."""
        state = self.__dict__.copy()
        state.pop("conformal", None)
        return state


@dataclass(frozen=True)
class FleetModel:
    """Version ``version`` of the fleet model of ``kind``, applying from ``effective_from_s`` on."""

    kind: str
    version: int
    effective_from_s: float
    lives: int
    similarity: FleetRul
    similarity_min_lives: int
    life_lengths: tuple[float, ...]
    regression: FittedRegression | None
    prior: bool
    coverage: float
    model_delay_s: float = 0.0  # a life counts from its failure time + this (see predict)
    life_failures: tuple[float, ...] = ()  # failure time of each of life_lengths
    # (failure time, life at rate 1, q, usage from the first evidence) of the last lives closed
    # with a damage state, in failure order
    damage_fits: tuple[tuple[float, float, float, float], ...] = ()
    damage_prior_lives: int = 1  # FleetRulConfig.damage_prior_lives
    # (failure time, record) of the completed lives the life model learns from, in failure order
    life_records: tuple[tuple[float, LifeRecord], ...] = ()
    life_coverage: float = 0.8
    life_bandwidth: float = 0.0  # FleetRulConfig.life_bandwidth (0: the log-normal prior)
    life_load_exponent: float = 0.0  # FleetRulConfig.life_load_exponent (0: load not used)
    rul_errors: RulErrors | None = None  # completed lives' rul_s errors (the interval's calibration)

    def predict_life(self, now_s: float, age_s: float, z: float,
                     speed_hz: float | None, load_n: float | None = None) -> RulEstimate | None:
        """The life model's estimate (:mod:`twin_models.rul.life_model`) from the lives that had
        failed ``model_delay_s`` before ``now_s``; None with fewer than two (or none configured)."""
        n = bisect.bisect_right(self.life_records, now_s - self.model_delay_s, key=lambda r: r[0])
        if n < 2:
            return None
        cache: dict[int, LifeModel] = self.__dict__.setdefault("_life_models", {})
        model = cache.get(n)
        if model is None:  # the records are in failure order: the lives in effect are a prefix
            model = cache[n] = LifeModel([r for _, r in self.life_records[:n]], coverage=self.life_coverage,
                                         bandwidth=self.life_bandwidth,
                                         load_exponent=self.life_load_exponent)
        return model.predict(age_s, z, speed_hz, load_n)

    def damage_prior(self, t_s: float, base: DamagePrior | None = None) -> DamagePrior | None:
        """The damage prior for a state starting at event time ``t_s``: ``base`` (the default
        prior) narrowed to the damage fits of the lives that had failed ``model_delay_s`` before
        (as :meth:`predict` counts lives, so it does not depend on when this version was
        learnt); None with fewer than ``damage_prior_lives`` such lives (0: always None)."""
        n = bisect.bisect_right(self.damage_fits, t_s - self.model_delay_s, key=lambda f: f[0])
        if n == 0 or n < self.damage_prior_lives or self.damage_prior_lives == 0:
            return None
        if base is not None:
            return base.from_lives([f[1:] for f in self.damage_fits[:n]])
        cache: dict[int, DamagePrior] = self.__dict__.setdefault("_damage_priors", {})
        prior = cache.get(n)
        if prior is None:  # the fits are in failure order: the lives in effect are a prefix
            prior = cache[n] = DamagePrior().from_lives([f[1:] for f in self.damage_fits[:n]])
        return prior

    def __getstate__(self) -> dict[str, object]:
        """The fields only (not the damage priors cached per number of lives)."""
        state = self.__dict__.copy()
        state.pop("_damage_priors", None)
        state.pop("_life_models", None)
        return state

    def predict(self, snap: TwinSnapshot, hist: Sequence[tuple[float, float, float]],
                track: object | None) -> RulEstimate | None:
        """The fused estimate of the window (the asset's own-trend RUL with the fleet's), or None.

        ``hist`` is the life's trajectory before this window (time, degradation, estimate),
        ``track`` its :class:`~twin_models.rul.fleet_view.LifeTrack` including this window.
        """
        own = (RulEstimate(snap.rul_s, snap.rul_lower_s or 0.0, snap.rul_upper_s or snap.rul_s, "trend")
               if snap.rul_s is not None else None)
        learnt = self._regression(track)
        if learnt is not None:
            return fuse(own, learnt) if own is not None else learnt
        # only the lives that had failed model_delay_s before this window: what this version
        # holds beyond them (lives learnt early from a faster partition) must not depend on timing
        as_of = snap.timestamp.timestamp() - self.model_delay_s
        sim = self.similarity
        if snap.condition not in _DEGRADED or sim.n_lives_as_of(as_of) < self.similarity_min_lives:
            return own if own is not None else self._prior(snap, hist)
        recent = list(hist)[-sim.query_points + 1:]
        times = np.array([h[0] for h in recent] + [snap.timestamp.timestamp()])
        ind = np.array([h[1] for h in recent] + [snap.degradation])
        return fuse(own, sim.predict_rul(times, ind, as_of))

    def _regression(self, track: object | None) -> RulEstimate | None:
        reg = self.regression
        if reg is None or track is None:
            return None
        base = track.baseline(reg)  # type: ignore[attr-defined]
        if base is None:
            return None
        times, settings, rows = track.arrays(reg.window)  # type: ignore[attr-defined]
        return reg.predict_from(times, settings, rows, track.t0_s, base)  # type: ignore[attr-defined]

    def _prior(self, snap: TwinSnapshot, hist: Sequence[tuple[float, float, float]]) -> RulEstimate | None:
        """Mean residual life at the asset's age over the completed lives that outlived it."""
        if not self.prior or not self.life_lengths:
            return None
        now = snap.timestamp.timestamp()
        age = now - (hist[0][0] if hist else now)
        lengths = np.asarray(self.life_lengths)
        if len(self.life_failures) == lengths.size:  # the lives that had failed by now - delay
            lengths = lengths[np.asarray(self.life_failures) <= now - self.model_delay_s]
        left = lengths[lengths > age] - age
        if left.size == 0:
            return None
        lo, hi = np.quantile(left, [(1 - self.coverage) / 2, (1 + self.coverage) / 2])
        rul = float(left.mean())
        return RulEstimate(rul, min(float(lo), rul), max(float(hi), rul), "fleet_prior")


def frozen_similarity(model: FleetRul) -> FleetRul:
    """A copy of the similarity model that later learning cannot change."""
    copy = FleetRul.__new__(FleetRul)
    copy.__dict__.update(model.__dict__)
    copy.lives = deque(model.lives, maxlen=model.lives.maxlen)
    copy.residuals = deque(model.residuals, maxlen=model.residuals.maxlen)
    copy.life_failures = deque(model.life_failures, maxlen=model.life_failures.maxlen)
    copy.residual_failures = deque(model.residual_failures, maxlen=model.residual_failures.maxlen)
    return copy
