"""FleetLearner: the lives of one asset kind teach the fleet model; it publishes versions.

One learner per asset kind (the ``fleet_rul`` step, keyed by kind) sees only completed lives,
as :class:`~twin_models.rul.fleet_view.LifeChunk` items (a life closed by a failure, its
condition rows cut in parts). Per call it does a bounded amount of work: it stores the part and
advances the regression's refit job by ``fit_steps_per_call`` units
(:class:`~twin_models.rul.regression_learner.RegressionLearner`). When a life is complete it
learns its trajectory (similarity), its length (prior) and its condition rows (regression), and
emits a new :class:`~twin_models.rul.fleet_model.FleetModel` version; a refit that finishes
emits one too, and so does a catch-up (the work tickets that follow a life: an idle learner
whose model misses lives boosts the last refit further on every life, so no life waits for the
next refit; the last lives of a fleet would otherwise never be learnt). A version applies from
``failure time of the life being learnt + model_delay_s``
(event time), so every asset applies the same version to the same window whatever the
partitioning, as long as versions reach the twins before their data (see ``model_delay_s``).
A refit or catch-up that raises is abandoned (the versions published stay, the item is learnt,
no version is published for it) and counted in :attr:`FleetLearner.fit_failures`; the next job
starts once more lives are learnt.

State is bounded: ``max_lives`` lives of at most 1024 trajectory points (similarity) and
``max_life_rows`` float32 condition rows (regression), plus the parts of lives still arriving.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np

from twin_models.moved_modules import restore_state
from twin_models.rul.calibration import RulErrors, life_errors
from twin_models.rul.fleet import FleetRulConfig, FleetTwin
from twin_models.rul.fleet_model import FittedRegression, FleetModel, frozen_similarity
from twin_models.rul.fleet_view import LifeChunk, LifeSummary, RefitWork
from twin_models.rul.life_model import LifeRecord
from twin_models.rul.regimes import OperatingRegimes
from twin_models.rul.regression_learner import RegressionLearner, StoredLife
from twin_models.rul.trend import CompletedLife, FleetRul

__all__ = ["FleetLearner"]

SIMILARITY_LIVES = 200
"""Lives the trajectory-similarity model keeps at most (the old fleet step's bound)."""

DAMAGE_PRIOR_LIVES = 20
"""Damage fits of completed lives the damage prior is built from (the latest failures)."""

MAX_PENDING = 10_000
"""Lives whose parts are still arriving (a bound; older partial lives are dropped). A life's last
part (the one with the summary) comes after its others, so once it came the life is learnt or,
a part lost before it, dropped at once: it never waits here for this bound."""


class FleetLearner:
    """Learns the completed lives of one asset kind; emits versioned :class:`FleetModel` s."""

    def __init__(self, kind: str, config: FleetRulConfig, *, similarity_min_lives: int = 1) -> None:
        self.kind = kind
        self.config = config
        self.similarity = FleetRul(max_lives=min(SIMILARITY_LIVES, config.max_lives))
        self.similarity_min_lives = similarity_min_lives
        self.life_lengths: deque[float] = deque(maxlen=config.max_lives)
        self.life_failures: deque[float] = deque(maxlen=config.max_lives)
        self.regression: RegressionLearner | None = None
        self.fitted: FittedRegression | None = None
        self.pending: dict[tuple[str, int], list[LifeChunk]] = {}
        self.version = 0
        self.lives = 0
        # (failure time, life at rate 1, q, usage) of the latest-failed lives with a damage fit
        self.damage_fits: list[tuple[float, float, float, float]] = []
        # (failure time, life record) of the latest-failed lives with an indicator (life model)
        self.life_records: list[tuple[float, LifeRecord]] = []
        self.rul_errors = RulErrors()  # the completed lives' rul_s errors per rul_source

    def __setstate__(self, state: dict[str, object]) -> None:
        """Learners pickled before the damage prior have no damage fits."""
        state.setdefault("damage_fits", [])
        state.setdefault("life_records", [])
        state.setdefault("rul_errors", RulErrors())
        restore_state(self, state)

    @classmethod
    def from_fleet_twin(cls, old: FleetTwin, config: FleetRulConfig) -> FleetLearner:
        """Migrate the state of the old ``fleet_rul`` step (one :class:`FleetTwin` per kind):
        its completed lives carry over; the assets' current-life trajectories start afresh."""
        learner = cls(old.kind, config, similarity_min_lives=old.similarity_min_lives)
        learner.similarity = old.model
        learner.life_lengths.extend(old.life_lengths)
        learner.life_failures.extend([-math.inf] * len(old.life_lengths))
        learner.lives = len(old.life_lengths)
        reg = old.regression
        if reg is not None:
            learner.regression = learner._new_regression(reg.n_features, reg.regimes)
            for life in reg.lives:
                learner.regression.lives.append(StoredLife(
                    life.times, life.regimes, life.rows.astype(np.float32), life.head_regimes,
                    life.head_rows.astype(np.float32), life.t0_s, life.complete, life.failure_s))
            learner.regression.lives_learnt = reg.lives_learnt
        return learner

    def _new_regression(self, n_features: int, regimes: OperatingRegimes | None = None) -> RegressionLearner:
        cfg = self.config
        regimes = regimes or OperatingRegimes(n_features, atol=cfg.regime_atol, rtol=cfg.regime_rtol,
                                              max_regimes=cfg.max_regimes)
        return RegressionLearner(
            n_features, window=cfg.trend_windows, baseline_windows=cfg.baseline_windows,
            cap_s=cfg.rul_cap_s, min_lives=cfg.min_lives, max_lives=cfg.max_lives,
            refit_growth=cfg.refit_growth, coverage=cfg.coverage, regimes=regimes, seed=cfg.seed,
            regressor=cfg.regressor, catch_up_trees=cfg.catch_up_trees, background=cfg.background_fit)

    def learn(self, chunk: LifeChunk) -> list[FleetModel]:
        """Take one part of a completed life; the new model version(s) it gives, if any."""
        changed = False
        if self.regression is not None:
            fitted = self.regression.work(self.config.fit_steps_per_call)
            if fitted is not None:
                self.fitted, changed = fitted, True
        key = (chunk.asset_id, chunk.life_id)
        parts = self.pending.setdefault(key, [])
        parts.append(chunk)
        if chunk.summary is not None:  # the life's last part: the life completes now or never
            del self.pending[key]
            if len(parts) == chunk.parts:
                self._learn_life(chunk.summary, parts)
                changed = True
        if len(self.pending) > MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))
        return [self._publish(chunk.failure_s)] if changed else []

    def work(self, ticket: RefitWork) -> list[FleetModel]:
        """One more slice of the job under way: a refit, or, when the learner is otherwise idle
        and its model misses lives, a catch-up (the last refit boosted further on every life);
        the version it gives once done, effective from the ticket's failure time + ``model_delay_s``."""
        if self.regression is None:
            return []
        fitted = self.regression.work(self.config.fit_steps_per_call, catch_up=True)
        if fitted is None:
            return []
        self.fitted = fitted
        return [self._publish(ticket.failure_s)]

    def drain(self, failure_s: float) -> FleetModel | None:
        """Finish the refit under way in one go (unbounded: for tools and tests, not the flow);
        the version it gives, effective from ``failure_s + model_delay_s``."""
        if self.regression is None:
            return None
        fitted = self.regression.work(10**9)
        if fitted is None:
            return None
        self.fitted = fitted
        return self._publish(failure_s)

    @property
    def fit_failures(self) -> int:
        """Refit and catch-up jobs that raised and were abandoned (the flow counts and logs them)."""
        return self.regression.fit_failures if self.regression is not None else 0

    @property
    def last_fit_failure(self) -> str:
        """Why the last abandoned job failed ('' if none did)."""
        return self.regression.last_fit_failure if self.regression is not None else ""

    def _learn_life(self, life: LifeSummary, parts: list[LifeChunk]) -> None:
        parts = sorted(parts, key=lambda c: c.part)
        self.similarity.learn_life(CompletedLife(
            life.asset_id, self.kind, life.failure_s, tuple(life.times_s.tolist()),
            tuple(life.indicator.tolist()), tuple(life.estimates_s.tolist())))
        self.life_lengths.append(life.failure_s - life.t0_s)
        self.life_failures.append(life.failure_s)
        self.lives += 1
        if life.sources:
            self.rul_errors = self.rul_errors.learn(life_errors(
                life.failure_s, life.times_s.tolist(), life.estimates_s.tolist(), life.sources))
        if life.damage_fit is not None:
            self._learn_damage_fit(life.failure_s, life.damage_fit)
        if life.life is not None:  # in failure order, the latest max_lives
            bisect.insort(self.life_records, (life.failure_s, life.life), key=lambda r: r[0])
            del self.life_records[: max(0, len(self.life_records) - self.config.max_lives)]
        if life.n_rows == 0 or not self.config.rul_features:
            return
        rows = np.vstack([c.rows for c in parts])
        if self.regression is None:
            self.regression = self._new_regression(rows.shape[1])
        self.regression.learn_life(
            np.concatenate([c.times_s for c in parts]), np.vstack([c.settings for c in parts]), rows,
            life.head_settings, life.head_rows, life.t0_s, life.complete, life.failure_s)

    def _learn_damage_fit(self, failure_s: float, fit: tuple[float, float, float]) -> None:
        """Keep the fit among the ``DAMAGE_PRIOR_LIVES`` latest failures (in failure order, so
        the set is the same whatever order the lives were learnt in)."""
        if not all(math.isfinite(v) and v >= 0.0 for v in fit) or fit[0] <= 0.0:
            return
        bisect.insort(self.damage_fits, (failure_s, *fit))
        del self.damage_fits[: max(0, len(self.damage_fits) - DAMAGE_PRIOR_LIVES)]

    def _publish(self, failure_s: float) -> FleetModel:
        self.version += 1
        cfg = self.config
        return FleetModel(
            kind=self.kind, version=self.version, effective_from_s=cfg.effective_from_s(failure_s),
            lives=self.lives, similarity=frozen_similarity(self.similarity),
            similarity_min_lives=self.similarity_min_lives, life_lengths=tuple(self.life_lengths),
            regression=self.fitted, prior=cfg.prior, coverage=cfg.coverage,
            model_delay_s=cfg.model_delay_s, life_failures=tuple(self.life_failures),
            damage_fits=tuple(self.damage_fits), damage_prior_lives=cfg.damage_prior_lives,
            life_records=tuple(self.life_records) if cfg.life_model else (),
            life_coverage=cfg.coverage, life_bandwidth=cfg.life_bandwidth,
            life_load_exponent=cfg.life_load_exponent, rul_errors=self.rul_errors)
