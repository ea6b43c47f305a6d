"""DamageState: a physics-informed damage estimate with honest uncertainty (a particle filter).

Damage ``d`` runs from 0 (a fresh flaw) to 1 (failure) under a Paris-law growth
``dd/dt = k * rate(t) * (d0 + d)^q`` (NOTES-physics: da/dN = C dK^m with dK ~ sqrt(a), so the
exponent on damage is ``q = m/2`` in [1, 2] for m in 2-4), driven by the usage rate of the
operating context (:mod:`twin_models.rul.profile`: ``duty * speed/reference * load^3``). The law has
a closed form for piecewise-constant rates, ``(d0 + d)^(1-q)`` falls linearly in the usage
integral, so both the per-window step and the forecast are exact and vectorised over particles.

Each particle is ``d`` and ``(k, q, gamma, linear, fail_level)``; the observation is the
health-index excess ``y`` (the failure indicator's excess over the healthy baseline as a share of
the distance to the failure threshold, the twin's ``1 - health_index`` before clipping), modelled
as ``y = fail_level * (linear * d + (1 - linear) * d^gamma)`` plus noise: failure (``d = 1``) is
the indicator near its threshold, which is how the twin's failure threshold is defined; the
power lets the indicator stay flat while the spall is small and rise steeply as it spreads, as
run-to-failure data show, and the small linear part follows the first impacts' energy. The envelope-line SNR
would see damage earlier but has no failure level, and a band RMS has no threshold in the
metadata; the excess is the one indicator whose value at failure is known.

The noise starts at the healthy windows' excess noise (the twin's noise floor). Every window, the
indicator is first *predicted* from the state as it was; the squared standardised residual feeds
an EWMA and, when it exceeds 1 (residuals larger than the predicted spread), inflates the
observation variance by that factor, so an overconfident model widens its own intervals. The
prior is wide and physical (:class:`DamagePrior`), tightened by completed lives of the same kind
with :meth:`DamagePrior.from_lives`. Resampling (systematic, when the effective sample size falls
under half) adds Liu-West kernel jitter to the parameters so they keep exploring.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from twin_models.rul.profile import (
    LOAD_EXPONENT,
    MAX_LOAD,
    MAX_SPEED_HZ,
    OperatingProfile,
    time_of_usage,
    usage_integral,
)

__all__ = ["DamageForecast", "DamagePrior", "DamageState", "weighted_quantiles"]

FloatArray = npt.NDArray[np.float64]
_SHRINK = 0.98  # Liu-West: shrink parameters 2 % towards their mean, add the lost variance as noise
_MAX_INFLATION = 100.0
_MIN_JITTER = 0.02  # share of a parameter's range: the jitter's floor, so a collapsed cloud re-spreads
_QUANTILES = (0.1, 0.5, 0.9)
WIDE_LIVES = 2.0
"""The wide prior's weight in a fleet prior, counted in lives: with n completed lives, a share
2 / (2 + n) of the particles start from the wide prior (the first lives of a fleet to complete
are its shortest, a biased sample; chosen over 1 on demo seeds 11-14, never on seeds 1-10)."""
_Z80 = 1.2816  # a normal's 80 % central band: mean +- this many standard deviations


@dataclass(frozen=True, slots=True)
class DamagePrior:
    """Where the particles start: wide, physical ranges (uniform; the life log-uniform).

    ``life_s``: time from ``d = 0`` to failure at usage rate 1 (full load, reference speed), from
    an hour (accelerated run-to-failure tests) to a year (``3.2e7`` s); ``q``: the Paris exponent
    on damage, m/2 for m in 2-4 (1.02, not 1, keeps the closed form's ``1 - q`` away from 0);
    ``damage``: damage at the first evidence of a defect; ``gamma``: the indicator's exponent
    (1: proportional to damage, 10: flat until the spall spreads; chosen over 1-6 and 1-12 on
    demo seeds 11-20, never on the reported seeds 1-10); ``linear``: the share of the indicator
    that grows in proportion to damage (the first impacts); ``fail_level``: the indicator at
    failure as a share of the nominal failure threshold (failures come before an indicator
    that is smoothed and averaged over load reaches the threshold); ``d0``: the flaw offset that
    makes growth start from a finite rate at ``d = 0``; ``first_usage_s``: when completed lives
    of the kind are known, the usage (rate x seconds) from the first evidence of damage to
    failure they took: each particle's starting damage is then the one that leaves it that
    much usage (log-uniform in the range), instead of uniform in ``damage``.
    """

    life_s: tuple[float, float] = (3.6e3, 3.2e7)
    q: tuple[float, float] = (1.02, 2.0)
    damage: tuple[float, float] = (0.0, 0.5)
    gamma: tuple[float, float] = (1.0, 10.0)
    linear: tuple[float, float] = (0.0, 0.3)
    fail_level: tuple[float, float] = (0.5, 1.0)
    d0: float = 0.1
    first_usage_s: tuple[float, float] | None = None
    wide: DamagePrior | None = None
    wide_share: float = 0.0

    def from_lives(self, fits: Sequence[Sequence[float]], *, margin: float = 3.0) -> DamagePrior:
        """This prior narrowed to the ``(life_s, q[, usage_s])`` that explained completed lives of
        the kind (:meth:`DamageState.fit` at each failure): lives within ``margin`` x of the
        fitted ones, ``q`` within 0.2, never outside this prior's own ranges; the usage from the
        first evidence to failure within ``margin`` x of theirs."""
        if not fits:
            return self
        lives = [f[0] for f in fits]
        qs = [f[1] for f in fits]
        life = (max(self.life_s[0], min(lives) / margin), min(self.life_s[1], max(lives) * margin))
        q = (max(self.q[0], min(qs) - 0.2), min(self.q[1], max(qs) + 0.2))
        if not (life[0] < life[1] and q[0] < q[1]):
            return self
        used = [f[2] for f in fits if len(f) > 2 and f[2] > 0.0]
        usage = (min(used) / margin, max(used) * margin) if used else self.first_usage_s
        wide = self.wide or self
        return replace(self, life_s=life, q=q, first_usage_s=usage, wide=wide,
                       wide_share=WIDE_LIVES / (WIDE_LIVES + len(fits)))


@dataclass(frozen=True, slots=True)
class DamageForecast:
    """What a damage state predicts under a plan: the RUL distribution (seconds from now; None
    when that quantile fails beyond ``horizon_s``), P(failure before each of ``times_s``) and
    the indicator's quantiles (``indicator[i]`` = (quantile, values at ``indicator_times_s``))."""

    horizon_s: float
    rul_median_s: float | None
    rul_p10_s: float | None
    rul_p90_s: float | None
    times_s: tuple[float, ...]
    p_failure: tuple[float, ...]
    indicator_times_s: tuple[float, ...]
    indicator: tuple[tuple[float, tuple[float, ...]], ...]


def weighted_quantiles(values: FloatArray, weights: FloatArray, qs: Sequence[float]) -> FloatArray:
    """The ``qs`` quantiles of ``values`` under ``weights`` (the first value whose cumulative
    weight reaches each quantile)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    idx = np.searchsorted(cum, np.asarray(qs) * cum[-1], side="left")
    out: FloatArray = values[order][np.minimum(idx, len(values) - 1)]
    return out


class DamageState:
    """One degrading asset's damage and growth-law parameters (picklable, bounded, seeded).

    ``theta`` holds each particle's parameters, columns :data:`PARAMS`; ``d`` its damage.
    """

    PARAMS = ("log_k", "q", "gamma", "linear", "fail_level")

    def __init__(self, *, reference_speed_hz: float, noise: float, prior: DamagePrior | None = None,
                 n_particles: int = 400, seed: int = 0, smoothing: float = 0.05,
                 lead_s: float = 6 * 3600.0, reference_load: float = 1.0) -> None:
        if not (reference_speed_hz > 0.0 and reference_load > 0.0 and n_particles >= 10
                and 0.0 < smoothing <= 1.0):
            msg = (f"DamageState needs reference speed and load > 0, n_particles >= 10, smoothing "
                   f"in (0, 1]; got {reference_speed_hz}, {reference_load}, {n_particles}, {smoothing}")
            raise ValueError(msg)
        self.prior = prior or DamagePrior()
        self.reference_speed_hz = reference_speed_hz
        self.reference_load = reference_load
        self.noise = max(noise, 1e-3) if math.isfinite(noise) else 1e-3
        self.smoothing = smoothing
        self.lead_s = lead_s
        self._rng = np.random.default_rng(seed)
        self._draw(n_particles)
        self.t_s: float | None = None
        self.n_obs = 0
        self.rate: float | None = None  # EWMA of the usage rate: the "as now" plan
        self.resid_sq = 1.0  # EWMA of squared standardised one-window prediction residuals
        self.lead_resid_sq = 1.0  # the same for the predictions made lead_s ahead
        self._pending: deque[tuple[float, float, float]] = deque(maxlen=256)
        self.load_mean: float | None = None  # EWMA of the load; of (load - mean)^2; and of
        self.load_var = 0.0  # (load - mean) * residual: the indicator's load slope
        self.load_cov = 0.0
        self.usage_s = 0.0  # usage (rate x seconds) since the state started: to failure, at the end

    def __setstate__(self, state: dict[str, object]) -> None:
        """States pickled before the usage count start it at 0 (their fit has no usage)."""
        state.setdefault("usage_s", 0.0)
        self.__dict__.update(state)

    def _draw(self, n: int) -> None:
        """The starting cloud: from the prior, a share ``wide_share`` of it from the wide prior
        the fleet's was narrowed from (so lives unlike the fleet's so far keep some mass)."""
        p = self.prior
        self.theta, self.d = self._draw_from(p, n)
        if p.wide is not None and p.wide_share > 0.0:
            theta, d = self._draw_from(p.wide, n)
            mask = self._rng.uniform(size=n) < p.wide_share
            self.theta = np.where(mask[:, None], theta, self.theta)
            self.d = np.where(mask, d, self.d)
        self.logw = np.zeros(n)

    def _draw_from(self, p: DamagePrior, n: int) -> tuple[FloatArray, FloatArray]:
        rng = self._rng
        life = np.exp(rng.uniform(math.log(p.life_s[0]), math.log(p.life_s[1]), n))
        q = rng.uniform(p.q[0], p.q[1], n)
        theta = np.column_stack([
            np.log(self._g_full(q) / life), q, rng.uniform(*p.gamma, n),
            rng.uniform(*p.linear, n), rng.uniform(*p.fail_level, n)])
        d: FloatArray = rng.uniform(p.damage[0], p.damage[1], n)
        if p.first_usage_s is not None:  # the damage that leaves each particle the fleet's usage
            lo, hi = p.first_usage_s
            left = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
            zf, fall = (p.d0 + 1.0) ** (1.0 - q), (q - 1.0) * np.exp(theta[:, 0])
            with np.errstate(over="ignore", invalid="ignore"):
                start = (zf + fall * left) ** (1.0 / (1.0 - q)) - p.d0
            d = np.clip(np.nan_to_num(start, nan=p.damage[0]), p.damage[0], p.damage[1])
        return theta, d

    def _bounds(self) -> list[tuple[float, float]]:
        """Range of each column of ``theta`` (log k: what the prior's lives allow at any q): the
        wide prior's when the fleet's narrowed it (a prior is where particles start, the
        physical ranges are where they may go)."""
        p = self.prior.wide or self.prior
        q = np.array(p.q)
        g = self._g_full(q)
        log_k = (float(np.log(g.min() / p.life_s[1])) - 2.0, float(np.log(g.max() / p.life_s[0])) + 2.0)
        return [log_k, p.q, p.gamma, p.linear, p.fail_level]

    def _g_full(self, q: FloatArray) -> FloatArray:
        """``∫_0^1 (d0 + x)^-q dx``: usage x k that takes a fresh flaw to failure."""
        d0 = self.prior.d0
        out: FloatArray = (d0 ** (1.0 - q) - (d0 + 1.0) ** (1.0 - q)) / (q - 1.0)
        return out

    @property
    def weights(self) -> FloatArray:
        """Normalised particle weights."""
        w = np.exp(self.logw - self.logw.max())
        out: FloatArray = w / w.sum()
        return out

    def usage_rate(self, load: float, speed_hz: float) -> float:
        """``(speed / reference) * (load / reference)^3`` of one window (a missing or bad
        value counts as its reference; bad: outside what a plan may hold, :data:`MAX_LOAD`,
        :data:`MAX_SPEED_HZ`)."""
        ref = self.reference_load
        lo = load / ref if _plausible_load(load) else 1.0
        ok = math.isfinite(speed_hz) and 0.0 < speed_hz <= MAX_SPEED_HZ
        sp = speed_hz if ok else self.reference_speed_hz
        return float(sp / self.reference_speed_hz * lo**LOAD_EXPONENT)

    def _z(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(d0 + d)^(1-q) now, its value at failure, and its fall per unit of usage."""
        d0, q = self.prior.d0, self.theta[:, 1]
        return ((d0 + self.d) ** (1.0 - q), (d0 + 1.0) ** (1.0 - q),
                (q - 1.0) * np.exp(self.theta[:, 0]))

    def _advance(self, usage: FloatArray | float) -> FloatArray:
        """Every particle's damage after ``usage`` (rate x seconds), capped at 1."""
        z0, zf, fall = self._z()
        z = z0 - fall * usage
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            d = np.maximum(z, zf) ** (1.0 / (1.0 - self.theta[:, 1])) - self.prior.d0
        out: FloatArray = np.where(z <= zf, 1.0, np.clip(d, 0.0, 1.0))
        return out

    def _indicator(self, d: FloatArray) -> FloatArray:
        """Each particle's expected indicator at damage ``d``: a small linear part (the first
        impacts) plus a steep power (the spreading spall), ``fail_level`` at failure."""
        _, _, gamma, linear, level = self.theta.T
        out: FloatArray = level * (linear * d + (1.0 - linear) * d**gamma)
        return out

    def _obs_var(self) -> float:
        return self.noise**2 * min(max(self.resid_sq, 1.0), _MAX_INFLATION)

    def predict_indicator(self, t_s: float, load: float, speed_hz: float) -> tuple[float, float]:
        """Mean and standard deviation of the indicator at ``t_s`` under a window's load and
        speed, from the state as it is (pure)."""
        dt = 0.0 if self.t_s is None else max(t_s - self.t_s, 0.0)
        y = self._indicator(self._advance(self.usage_rate(load, speed_hz) * dt))
        w = self.weights
        mean = float(w @ y)
        return mean, math.sqrt(float(w @ (y - mean) ** 2) + self._obs_var())

    def update(self, t_s: float, indicator: float, load: float, speed_hz: float) -> bool | None:
        """Advance to ``t_s`` under the window's context, then weigh the particles by the
        window's indicator (a non-finite indicator only advances). Returns whether the
        indicator fell inside the 80 % band predicted for it from the state as it was (mean
        +- 1.28 sd; None when not scored): the calibration of the indicator predictions."""
        if load > MAX_LOAD:  # a sensor's absurd value (9e12): as missing, here and in the load
            load = math.nan  # correction, not a usage rate that would rule the next many windows
        rate = self.usage_rate(load, speed_hz)
        a = self.smoothing
        self.rate = rate if self.rate is None else a * rate + (1 - a) * self.rate
        if not math.isfinite(indicator):
            self._move_to(t_s, rate)
            return None
        mean, sd = self.predict_indicator(t_s, load, speed_hz)
        self._move_to(t_s, rate)
        indicator = self._load_corrected(indicator, mean, load)
        inside = abs(indicator - mean) <= _Z80 * sd
        self.resid_sq = a * min(((indicator - mean) / sd) ** 2, 1e4) + (1 - a) * self.resid_sq
        self.logw = self.logw - 0.5 * (indicator - self._indicator(self.d)) ** 2 / self._obs_var()
        self.logw -= self.logw.max()
        self.n_obs += 1
        w = self.weights
        if 1.0 / float(w @ w) < 0.5 * len(w):
            self._resample(w)
        self._check_leads(t_s, indicator)
        if self.lead_s > 0.0:
            ahead = t_s + self.lead_s
            self._pending.append((ahead, *self.predict_indicator(ahead, load, speed_hz)))
        return inside

    def _check_leads(self, t_s: float, indicator: float) -> None:
        """Score the predictions made ``lead_s`` ago that are due: forecasts that miss by more
        than their spread raise :attr:`spread_scale`."""
        a = self.smoothing
        while self._pending and self._pending[0][0] <= t_s:
            _, mean, sd = self._pending.popleft()
            r2 = min(((indicator - mean) / sd) ** 2, 1e4)
            self.lead_resid_sq = a * r2 + (1 - a) * self.lead_resid_sq

    @property
    def spread_scale(self) -> float:
        """sqrt of the lead residuals' excess over their predicted spread (>= 1): scales the
        parameters' jitter and the log-RUL spread."""
        return math.sqrt(min(max(self.lead_resid_sq, 1.0), _MAX_INFLATION))

    def _load_corrected(self, indicator: float, mean: float, load: float) -> float:
        """The indicator minus its learnt load sensitivity (the slope of prediction residuals
        on the load's deviation from its recent mean): a machine's failure indicator also
        follows its load (RMS rises with load), which is not damage."""
        if not math.isfinite(load):
            return indicator
        a = self.smoothing
        if self.load_mean is None:
            self.load_mean = load
        dl = load - self.load_mean
        slope = self.load_cov / self.load_var if self.n_obs >= 10 and self.load_var > 0.0 else 0.0
        self.load_cov = a * dl * (indicator - mean) + (1 - a) * self.load_cov
        self.load_var = a * dl * dl + (1 - a) * self.load_var
        self.load_mean = a * load + (1 - a) * self.load_mean
        return indicator - slope * dl

    def _move_to(self, t_s: float, rate: float) -> None:
        dt = 0.0 if self.t_s is None else max(t_s - self.t_s, 0.0)
        self.d = self._advance(rate * dt)
        self.usage_s += rate * dt
        self.t_s = t_s if self.t_s is None else max(self.t_s, t_s)

    def _resample(self, w: FloatArray) -> None:
        """Systematic resampling, then Liu-West jitter of the parameters within their ranges
        (at least 2 % of each range, scaled up by :attr:`spread_scale` while forecasts miss)."""
        n = len(w)
        pos = (self._rng.uniform() + np.arange(n)) / n
        idx = np.minimum(np.searchsorted(np.cumsum(w), pos), n - 1)
        self.d, self.logw = self.d[idx], np.zeros(n)
        theta = self.theta[idx]
        bounds = np.array(self._bounds())
        spread = np.maximum(theta.std(axis=0), _MIN_JITTER * (bounds[:, 1] - bounds[:, 0]))
        h = math.sqrt(1.0 - _SHRINK**2) * self.spread_scale
        noise = self._rng.standard_normal(theta.shape) * (h * spread)
        theta = _SHRINK * theta + (1 - _SHRINK) * theta.mean(axis=0) + noise
        self.theta = np.clip(theta, bounds[:, 0], bounds[:, 1])

    def damage_quantiles(self) -> tuple[float, float, float]:
        """10 %, 50 % and 90 % quantiles of the damage now."""
        lo, mid, hi = weighted_quantiles(self.d, self.weights, _QUANTILES).tolist()
        return lo, mid, hi

    def fit(self) -> tuple[float, float, float]:
        """Posterior medians of (life at rate 1, q) and the usage since the state started: what
        explained this life, for the prior of the next lives of the kind
        (:meth:`DamagePrior.from_lives`; called at the failure, the usage is the one from the
        first evidence of damage to failure)."""
        w, q = self.weights, self.theta[:, 1]
        life = self._g_full(q) / np.exp(self.theta[:, 0])
        return (float(weighted_quantiles(life, w, (0.5,))[0]),
                float(weighted_quantiles(q, w, (0.5,))[0]), self.usage_s)

    def as_now(self) -> OperatingProfile:
        """A constant plan at the recent usage rate (as a load at the reference speed)."""
        rate = 1.0 if self.rate is None else self.rate
        load = min(self.reference_load * rate ** (1.0 / LOAD_EXPONENT), MAX_LOAD)  # a fast speed's rate
        return OperatingProfile.constant(load, self.reference_speed_hz)

    def failure_times(self, profile: OperatingProfile) -> FloatArray:
        """Seconds from now to each particle's failure under ``profile`` (inf: never)."""
        z0, zf, fall = self._z()
        return time_of_usage(profile, self.reference_speed_hz, np.maximum((z0 - zf) / fall, 0.0),
                             self.reference_load)

    def _widened(self, fail: FloatArray, w: FloatArray) -> FloatArray:
        """Failure times spread around their median by :attr:`spread_scale` in log time."""
        scale = self.spread_scale
        finite = np.isfinite(fail) & (fail > 0.0)
        if scale == 1.0 or not finite.any():
            return fail
        mid = math.log(max(float(weighted_quantiles(fail, w, (0.5,))[0]), 1.0))
        if not math.isfinite(mid):
            return fail
        out = fail.copy()
        out[finite] = np.exp(mid + scale * (np.log(fail[finite]) - mid))
        return out

    def spread_failure_times(self, profile: OperatingProfile) -> FloatArray:
        """Seconds from now to each particle's failure under ``profile``, spread by
        :attr:`spread_scale`: what :meth:`forecast`'s RUL and P(failure) come from."""
        return self._widened(self.failure_times(profile), self.weights)

    def forecast(self, profile: OperatingProfile, *, horizon_s: float,
                 times_s: Sequence[float] = (), n_points: int = 12) -> DamageForecast:
        """RUL distribution, P(failure before each of ``times_s``) and indicator quantiles under
        ``profile`` from now. Pure: the state is the same after."""
        if not (horizon_s > 0.0 and n_points >= 2):
            msg = f"forecast needs horizon_s > 0 and n_points >= 2, got {horizon_s}, {n_points}"
            raise ValueError(msg)
        w = self.weights
        fail = self.spread_failure_times(profile)
        fail = np.where(fail > horizon_s, math.inf, fail)
        rul = [None if not math.isfinite(v) else float(v)
               for v in weighted_quantiles(fail, w, _QUANTILES).tolist()]
        p_fail = tuple(float(w @ (fail <= t)) for t in times_s)
        finite = fail[np.isfinite(fail)]
        span = min(horizon_s, 1.2 * float(finite.max())) if finite.size else horizon_s
        grid = np.linspace(0.0, span, n_points)
        usage = usage_integral(profile, self.reference_speed_hz, grid, self.reference_load)
        ys = np.stack([self._indicator(self._advance(u)) for u in usage.tolist()], axis=1)
        quants = [(q, tuple(float(weighted_quantiles(ys[:, j], w, (q,))[0])
                            for j in range(n_points))) for q in _QUANTILES]
        return DamageForecast(horizon_s, rul[1], rul[0], rul[2], tuple(float(t) for t in times_s),
                              p_fail, tuple(grid.tolist()), tuple(quants))


def _plausible_load(load: float) -> bool:
    """A window's load the damage law takes (else it counts as missing): finite, in [0, MAX_LOAD]."""
    return math.isfinite(load) and 0.0 <= load <= MAX_LOAD
