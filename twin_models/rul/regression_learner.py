"""The learning half of the fleet's condition regression, in bounded slices of work.

:class:`RegressionLearner` stores the condition rows of completed lives (float32, at most
``max_life_rows`` rows per life and ``max_lives`` lives: bounded state), teaches the operating
regimes with them (statistics from each life's first ``baseline_windows`` windows: healthy
behaviour), and refits the regressor once the lives have grown by ``refit_growth`` — as a *job*
that :meth:`RegressionLearner.work` advances by a few units per call (a tree of the boosted
ensemble, 200 rows of a River regressor, the rows of ten lives, one held-out life's residuals),
so no single call of the learner step takes long. A finished job yields an immutable
:class:`~twin_models.rul.fleet_model.FittedRegression` (the features, target, cross-fitted
residuals and conformal interval are those of :mod:`twin_models.rul.regression`).

The job is transient: a learner pickled mid-job (a recovery snapshot) restarts it after a resume,
with the same seeds, so the fitted model is the same; only its publication comes later.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twin_models.rul.fleet_model import FittedRegression
from twin_models.rul.regimes import OperatingRegimes, RegimeStats
from twin_models.rul.regression import condition_rows
from twin_models.rul.regressors import BatchRegressor, make_regressor

__all__ = ["RegressionLearner", "StoredLife"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AnyFloats = npt.NDArray[np.floating[Any]]
Job = Generator[int, None, FittedRegression]


@dataclass(frozen=True)
class RefitSpec:
    """What a refit job works on, frozen when it starts (so that it can be replayed)."""

    stats: RegimeStats
    centres: FloatArray
    lives: tuple[StoredLife, ...]
    seed: int
    cross_fit: bool
    lives_learnt: int


@dataclass(frozen=True)
class StoredLife:
    """A completed life's condition rows (float32) and the regimes they were assigned."""

    times: FloatArray
    regimes: IntArray
    rows: npt.NDArray[np.float32]
    head_regimes: IntArray
    head_rows: npt.NDArray[np.float32]
    t0_s: float
    complete: bool
    failure_s: float


class RegressionLearner:
    """Completed lives -> fitted condition regressions, refitted in bounded slices."""

    def __init__(self, n_features: int, *, window: int, baseline_windows: int, cap_s: float,
                 min_lives: int, max_lives: int, refit_growth: float, coverage: float,
                 regimes: OperatingRegimes, seed: int, regressor: str,
                 max_life_rows: int = 400, max_residuals: int = 20000) -> None:
        self.n_features = n_features
        self.window, self.baseline_windows, self.cap_s = window, baseline_windows, cap_s
        self.min_lives, self.refit_growth, self.coverage = min_lives, refit_growth, coverage
        self.regimes, self.seed, self.regressor = regimes, seed, regressor
        self.max_life_rows, self.max_residuals = max_life_rows, max_residuals
        self.lives: deque[StoredLife] = deque(maxlen=max_lives)
        self.residuals: FloatArray = np.zeros((0, 2))
        self.lives_learnt = 0
        self.lives_at_fit = 0
        self.lives_at_residuals = 0
        self.residual_growth = 0.25
        self.job_spec: RefitSpec | None = None  # the refit under way: its inputs, frozen
        self.job_units = 0  # units of work it has done
        self.job: Job | None = None  # transient: rebuilt from the spec and replayed when needed

    def __getstate__(self) -> dict[str, Any]:
        """The running job (a generator) is not pickled: its spec and progress are, and the job
        is rebuilt and fast-forwarded on the next call after a restore (an undo or a resume)."""
        state = self.__dict__.copy()
        state["job"] = None
        return state

    def learn_life(self, times: FloatArray, settings: AnyFloats, rows: AnyFloats,
                   head_settings: AnyFloats, head_rows: AnyFloats, t0_s: float,
                   complete: bool, failure_s: float) -> None:
        """Store a completed life (its last ``max_life_rows`` rows) and teach the regimes."""
        if rows.shape[0] == 0:
            return
        bw = self.baseline_windows
        n_head = head_rows.shape[0] if complete else 0
        head_reg = [self.regimes.learn_one(s, r) for s, r in zip(head_settings, head_rows, strict=True)]
        reg = [self.regimes.learn_one(s, r, update_stats=False) if i >= n_head else head_reg[i]
               for i, (s, r) in enumerate(zip(settings, rows, strict=True))]
        keep = slice(max(0, rows.shape[0] - self.max_life_rows), None)
        self.lives.append(StoredLife(
            np.asarray(times[keep], dtype=float), np.asarray(reg[keep], dtype=np.int64),
            np.asarray(rows[keep], dtype=np.float32), np.asarray(head_reg[:bw], dtype=np.int64),
            np.asarray(head_rows[:bw], dtype=np.float32), t0_s,
            complete and keep.start == 0, failure_s))
        self.lives_learnt += 1

    def work(self, units: int) -> FittedRegression | None:
        """Advance the refit job by ``units`` (starting one when due); the model once it is done."""
        if self.job_spec is None and self._due():
            self.job_spec, self.job_units = self._spec(), 0
        spec = self.job_spec
        if spec is None:
            return None
        if self.job is None:
            self.job = self._refit(spec)
            for _ in range(self.job_units):  # after a restore: redo the work done before it
                next(self.job)
        try:
            for _ in range(units):
                next(self.job)
                self.job_units += 1
        except StopIteration as done:
            self.job, self.job_spec, self.job_units = None, None, 0
            self.lives_at_fit = spec.lives_learnt
            return done.value  # type: ignore[no-any-return]
        return None

    def _spec(self) -> RefitSpec:
        grown = self.lives_learnt - self.lives_at_residuals
        cross_fit = grown >= self.residual_growth * self.lives_at_residuals
        if cross_fit:
            self.lives_at_residuals = self.lives_learnt
        d = len(self.regimes.centres[0]) if self.regimes.centres else 0
        return RefitSpec(self.regimes.stats(),
                         np.asarray(self.regimes.centres, dtype=float).reshape(len(self.regimes.centres), d),
                         tuple(self.lives), self.seed + self.lives_learnt, cross_fit, self.lives_learnt)

    def _due(self) -> bool:
        grown = self.lives_learnt - self.lives_at_fit >= max(1.0, self.refit_growth * self.lives_at_fit)
        return len(self.lives) >= self.min_lives and (self.lives_at_fit == 0 or grown)

    def _rows(self, stats: RegimeStats, life: StoredLife) -> FloatArray:
        z = stats.normalise(life.regimes, life.rows.astype(float))
        base = None
        if not life.complete:
            base = stats.normalise(life.head_regimes, life.head_rows.astype(float)).mean(axis=0)
        return condition_rows(z, life.times, base, life.t0_s, self.window, self.baseline_windows)

    def _target(self, life: StoredLife) -> FloatArray:
        ttf = life.failure_s - life.times
        return np.minimum(ttf, self.cap_s) if self.cap_s > 0 else ttf

    def _fit(self, x: FloatArray, y: FloatArray, seed: int) -> Generator[int, None, BatchRegressor]:
        model = make_regressor(self.regressor, seed)
        yield from model.fit_steps(x, y)
        return model

    def _refit(self, spec: RefitSpec) -> Job:
        """The refit as a job (see the module docstring); the same model as a refit in one go."""
        feats: list[FloatArray] = []
        for i, life in enumerate(spec.lives):
            feats.append(self._rows(spec.stats, life))
            if i % 10 == 9:
                yield 0
        targets = [self._target(life) for life in spec.lives]
        model = yield from self._fit(np.vstack(feats), np.concatenate(targets), spec.seed)
        if spec.cross_fit:
            yield from self._cross_fit(feats, targets, spec.seed)
        return FittedRegression(
            spec.centres, self.regimes.atol, self.regimes.rtol, spec.stats, model, self.residuals,
            self.window, self.baseline_windows, self.cap_s, self.coverage)

    def _cross_fit(self, feats: list[FloatArray], targets: list[FloatArray],
                   seed: int) -> Generator[int, None, None]:
        """Held-out residuals by 2-fold cross-fitting over lives (each predicted by a model that
        never saw it)."""
        rng = np.random.default_rng(seed)
        fold = rng.permutation(len(feats)) % 2
        pairs: list[FloatArray] = []
        for k in (0, 1):
            train = [i for i, f in enumerate(fold) if f != k]
            held = [i for i, f in enumerate(fold) if f == k]
            if len(train) < 2 or not held:
                continue
            half = yield from self._fit(np.vstack([feats[i] for i in train]),
                                        np.concatenate([targets[i] for i in train]), seed + 1 + k)
            for i in held:
                pred = np.clip(half.predict(feats[i]), 0.0, self.cap_s if self.cap_s > 0 else np.inf)
                pairs.append(np.column_stack([pred, targets[i] - pred]))
                yield 0
        if pairs:
            res = np.vstack(pairs)
            if res.shape[0] > self.max_residuals:
                res = res[rng.choice(res.shape[0], self.max_residuals, replace=False)]
            self.residuals = res
