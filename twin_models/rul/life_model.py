"""RUL of a bearing from the fleet's completed lives: a Bayesian posterior over its total life.

Each completed life of the kind is a :class:`LifeRecord`: its length, the shaft speed it ran at,
and its health indicator (:class:`~twin_models.rul.life_indicator.LifeIndicator`) as a function
of the fraction of the life elapsed (``GRID``). :class:`LifeModel` turns them into, for a bearing
of age ``a`` whose indicator reads ``z`` now:

1. **Prior over its life** ``L``: in revolutions (the rating life of a rolling bearing is counted
   in revolutions, so a slower shaft lives longer in seconds), weighted by ``load^load_exponent``
   when the loads are known (ISO 281; :mod:`twin_models.rul.life_prior`), fitted to the ``n``
   completed lives: by default log-normal, and with few lives the parameters are uncertain, so
   the predictive distribution is a Student t with ``n - 1`` degrees of freedom and scale
   ``sd * sqrt(1 + 1/n)`` (the standard predictive of a normal sample with unknown mean and
   variance); with ``bandwidth > 0`` a kernel mixture over the lives instead, which keeps groups
   of lives apart.
2. **Length bias**: the bearing is seen at a moment of its life, not at its start; a moment
   uniform over the life has density ``1/L`` given ``L``, and ``L > a`` (it still runs).
3. **Evidence of the indicator**: ``z`` at life fraction ``a/L`` is compared with the completed
   lives' indicators at the same fraction (a mixture over lives, each a normal with the lives'
   spread at that fraction, at least ``noise``): a risen indicator makes the late fractions, so
   the short remaining lives, likely.
4. **Decision**: the point estimate maximises the expected PHM 2012 accuracy under the posterior
   (late errors cost four times early ones, so under uncertainty it lands on the early side by
   itself, no fudge factor); the interval is the posterior's central ``coverage`` quantiles.

Pure and deterministic: the posterior is evaluated on a fixed grid of ``particles`` quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin_models.evaluate.scoring import phm2012_accuracy
from twin_models.rul.life_prior import kernel_quantiles, lognormal_quantiles, usage_rates
from twin_models.rul.trend import RulEstimate

__all__ = ["GRID", "LifeModel", "LifeRecord", "life_record"]

FloatArray = npt.NDArray[np.float64]
GRID = np.linspace(0.0, 1.0, 51)
"""Life fractions at which a completed life's indicator is kept."""


@dataclass(frozen=True)
class LifeRecord:
    """One completed life: length (s), shaft speed (Hz, None if unknown), indicator on ``GRID``,
    bearing load (N, None if unknown: records from before ``asset_metadata.v2`` have none)."""

    life_s: float
    speed_hz: float | None
    curve: tuple[float, ...]
    load_n: float | None = None


def life_record(times_s: Sequence[float], indicator: Sequence[float], failure_s: float,
                t0_s: float, speed_hz: float | None, load_n: float | None = None) -> LifeRecord | None:
    """The record of a life from its windows' (time, indicator); None if it is too short."""
    life = failure_s - t0_s
    if len(times_s) < 2 or not life > 0.0:
        return None
    frac = (np.asarray(times_s, dtype=float) - t0_s) / life
    curve = np.interp(GRID, frac, np.asarray(indicator, dtype=float))
    return LifeRecord(float(life), speed_hz, tuple(float(v) for v in curve), load_n)


class LifeModel:
    """Posterior RUL of a bearing from completed lives (see the module docstring)."""

    def __init__(self, records: Sequence[LifeRecord], *, coverage: float = 0.8, noise: float = 0.1,
                 particles: int = 2000, bandwidth: float = 0.0, load_exponent: float = 0.0) -> None:
        if len(records) < 2:
            msg = f"a life model needs at least 2 completed lives, got {len(records)}"
            raise ValueError(msg)
        self.records = tuple(records)
        self.coverage = coverage
        self.noise = noise
        self.load_exponent = load_exponent
        self.revolutions, self.loaded, self.ref_load = usage_rates(
            [r.speed_hz for r in records], [getattr(r, "load_n", None) for r in records], load_exponent)
        rates = np.array([self.rate(r.speed_hz, getattr(r, "load_n", None)) for r in records])
        logs = np.log(np.array([r.life_s for r in records]) * rates)
        self.mean_rate = float(np.exp(np.mean(np.log(rates))))  # for an asset of unknown usage
        self.log_lives = (kernel_quantiles(logs, bandwidth, particles) if bandwidth > 0.0
                          else lognormal_quantiles(logs, particles))
        self.curves = np.array([r.curve for r in records])

    def rate(self, speed_hz: float | None, load_n: float | None) -> float:
        """Usage per second on the model's clock (revolutions, load-weighted per ISO 281)."""
        out = 1.0
        if self.revolutions:
            out = speed_hz if speed_hz else math.nan
        if self.loaded:
            out *= (load_n / self.ref_load) ** self.load_exponent if load_n else math.nan
        return out

    def lives_s(self, speed_hz: float | None, load_n: float | None = None) -> FloatArray:
        """The prior's life particles in seconds at this speed and load (equal prior mass); an
        unknown speed or load: the fleet's mean usage rate."""
        per = self.rate(speed_hz, load_n)
        if not math.isfinite(per):
            per = self.mean_rate
        return np.asarray(np.exp(self.log_lives) / per)

    def posterior(self, age_s: float, z: float, speed_hz: float | None,
                  load_n: float | None = None) -> tuple[FloatArray, FloatArray]:
        """(remaining lives, normalised weights) given the age and the indicator now."""
        lives = self.lives_s(speed_hz, load_n)
        w = np.where(lives > age_s, 1.0 / lives, 0.0)
        frac = np.clip(age_s / lives, 0.0, 1.0)
        m = np.array([np.interp(frac, GRID, c) for c in self.curves])  # lives x particles
        s = np.maximum(m.std(axis=0, ddof=1), self.noise)
        w = w * np.mean(np.exp(-0.5 * ((z - m) / s) ** 2), axis=0) / s
        total = float(w.sum())
        if not total > 0.0:  # the indicator fits no life: fall back to the length-biased prior
            w = np.where(lives > age_s, 1.0 / lives, 0.0)
            total = float(w.sum())
        if not total > 0.0:  # older than every life the prior allows
            return np.array([1.0]), np.array([1.0])
        return np.maximum(lives - age_s, 1.0), w / total

    def predict(self, age_s: float, z: float, speed_hz: float | None,
                load_n: float | None = None) -> RulEstimate:
        """The estimate maximising the expected PHM 2012 accuracy, with its posterior interval."""
        rul, w = self.posterior(age_s, z, speed_hz, load_n)
        order = np.argsort(rul)
        rul, w = rul[order], w[order]
        cdf = np.cumsum(w)
        cands = quantiles(rul, cdf, np.linspace(0.01, 0.99, 99))
        act, pred = np.broadcast_arrays(rul[None, :], cands[:, None])
        expected = phm2012_accuracy(act, pred) @ w
        best = float(cands[int(np.argmax(expected))])
        lo, hi = quantiles(rul, cdf, np.array([(1 - self.coverage) / 2, (1 + self.coverage) / 2]))
        return RulEstimate(best, min(float(lo), best), max(float(hi), best), "fleet_life")


def quantiles(values: FloatArray, cdf: FloatArray, qs: FloatArray) -> FloatArray:
    """Weighted quantiles of sorted ``values`` with cumulative weights ``cdf``."""
    idx = np.minimum(np.searchsorted(cdf, qs), values.size - 1)
    return np.asarray(values[idx])
