"""The learning half of the fleet's condition regression, in bounded slices of work.

:class:`RegressionLearner` stores the condition rows of completed lives (float32, at most
``max_life_rows`` rows per life and ``max_lives`` lives: bounded state), teaches the operating
regimes with them (statistics from each life's first ``baseline_windows`` windows: healthy
behaviour), and refits the regressor once the lives have grown by ``refit_growth`` — as a *job*
that :meth:`RegressionLearner.work` advances by a few units per call (a tree of the boosted
ensemble, 200 rows of a River regressor, the rows of ten lives, one held-out life's residuals),
so no single call of the learner step takes long. Between refits, a *catch-up* job (started
by idle capacity, :meth:`RegressionLearner.work` with ``catch_up``) boosts the last full fit
``catch_up_trees`` more stages on every stored life, so the lives completed since reach the
model at a tenth of a refit's cost. A finished job yields an immutable
:class:`~twin_models.rul.fleet_model.FittedRegression` (the features, target, cross-fitted
residuals and conformal interval are those of :mod:`twin_models.rul.regression`).

The job is transient: a learner pickled mid-job (a recovery snapshot) restarts it after a resume,
with the same seeds, so the fitted model is the same; only its publication comes later.

With ``background`` (``[pipeline.twin.fleet] background_fit``, the default) the job runs ahead
in a worker thread (:class:`~twin_models.rul.job_thread.JobThread`) while the calls keep the same
quota of units: the model is handed over at the same call as without the thread (that call waits
for the thread if it is behind), so versions, and everything the twins compute with them, are the
same; what the thread wins is wall time (LightGBM's C code runs without the GIL). The job reads
only its frozen spec and the learner's settings, and writes nothing the calls read before the
hand-over (the cross-fitted residuals reach the learner with the model), so the thread and the
calls (and the pickling of recovery snapshots and undo checkpoints) never race.
A job that raises (a fit refused by its regressor: too few rows, say) is abandoned at the same
call with or without the thread: nothing it computed is kept (the model, its residuals and the
published versions stay those of the last job that finished), the failure is counted with its
reason (:attr:`RegressionLearner.fit_failures`, :attr:`RegressionLearner.last_fit_failure`: the
flow's ``fleet_rul`` step logs it and counts it in ``twin_fleet_fit_failures_total``), the call
returns no model, and no new job starts before more lives are learnt (the next refit then starts
when due, with them: the same failing job is never run again). A learner that is
dropped mid-job (its state undone after a failed item: the undo unpickles a copy, which starts a
thread of its own) leaves its thread to finish that one job unread; at interpreter exit running
threads are cancelled between two units.
The one object the thread shares with the flow is the published model a catch-up extends: it
predicts the new lives' rows with it while twins predict with it too (read-only; LightGBM's
prediction from two threads on one booster is safe at the same number of iterations, which ours
always use, and the parsed boosters are cached idempotently), so ``predict`` must stay safe to
call from two threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from twin_models.rul.fit_rows import FitRows
from twin_models.rul.fleet_model import FittedRegression
from twin_models.rul.fleet_view import LIFE_HISTORY
from twin_models.rul.job_thread import JobThread
from twin_models.rul.regimes import OperatingRegimes, RegimeStats
from twin_models.rul.regression import condition_rows
from twin_models.rul.regressors import BatchRegressor, make_regressor

__all__ = ["RegressionLearner", "StoredLife"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AnyFloats = npt.NDArray[np.floating[Any]]
Job = Generator[int, None, FittedRegression]
CATCH_UP_TREES = 20
"""Trees a catch-up adds to the last full fit (a tenth of a refit's 200)."""
CATCH_UP_SEED = 7919
"""Offset of a catch-up's seed from the refits' (so that the two never draw the same rows)."""
HALF_MODEL_STAGES = 0.5
"""The cross-fitted half models' share of a full model's boosting stages (at a learning rate
raised in proportion: :func:`~twin_models.rul.regressors.make_regressor`). They only estimate the
held-out residuals behind the conformal interval, never a point estimate, and were ~40 % of the
learner's trees (two full-size models per cross-fit)."""
POINT_MODEL_STAGES = 1.0
"""The full fits' share of the trees' default boosting stages (at a learning rate raised in
proportion); the cross-fitted half models take :data:`HALF_MODEL_STAGES` of that."""
TREE_MAX_ROWS = 5000
"""Rows sampled per tree of every fit (the trees' ``max_rows``)."""
HELD_LIVES_PER_STEP = 4
"""Held-out lives predicted per slice of a cross-fit (a life: ~200 rows, ~1 ms per half model)."""
MAX_REASON_CHARS = 500
"""Longest reason kept for a failed job (:attr:`RegressionLearner.last_fit_failure`)."""
ROWS_PER_STEP = 500
"""Rows binned and predicted by a full fit per slice (:class:`~.fit_rows.FitRows`): ~10 ms of CPU
with 200 trees (as :data:`~twin_models.rul.trees.PREDICT_SLICE_ROWS`)."""


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
class CatchUpSpec:
    """A catch-up job: the last full fit, boosted further on every stored life (frozen inputs)."""

    base: FittedRegression
    lives: tuple[StoredLife, ...]
    seed: int
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
                 max_life_rows: int = LIFE_HISTORY, max_residuals: int = 20000,
                 catch_up_trees: int = CATCH_UP_TREES, background: bool = False) -> None:
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
        self.catch_up_trees = catch_up_trees
        self.base: FittedRegression | None = None  # the last full fit (what a catch-up extends)
        self.lives_in_model = 0  # lives learnt when the newest model's job started
        self.job_spec: RefitSpec | CatchUpSpec | None = None  # the job under way: its inputs, frozen
        self.job_units = 0  # units of work it has done
        self.job: Job | JobThread | None = None  # transient: rebuilt from the spec (and replayed)
        self.background = background  # run the job ahead in a worker thread (JobThread)
        self.fit_rows: FitRows | None = None  # transient: the base's bins and predictions per life
        self.fit_failures = 0  # jobs that raised and were abandoned
        self.last_fit_failure = ""  # the reason of the last one
        self.lives_at_failure = 0  # lives learnt when it started: no new job before more are learnt

    def __getstate__(self) -> dict[str, Any]:
        """The running job (a generator or its thread) is not pickled: its spec and progress are,
        and the job is rebuilt and fast-forwarded on the next call after a restore (an undo or a
        resume; in the background, the thread starts afresh and the quota is kept)."""
        state = self.__dict__.copy()
        state["job"] = None
        state.pop("fit_rows", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Learners pickled before catch-ups existed: no base to extend until the next refit;
        before issue 12 they kept only a life's last 400 rows (the lives learnt after a resume
        are stored whole, as the views send them)."""
        state.setdefault("catch_up_trees", CATCH_UP_TREES)
        state["max_life_rows"] = max(state.get("max_life_rows", 0), LIFE_HISTORY)
        state.setdefault("base", None)
        state.setdefault("lives_in_model", state.get("lives_at_fit", 0))
        state["fit_rows"] = None  # rebuilt by the next catch-up
        state.setdefault("background", False)
        state.setdefault("fit_failures", 0)
        state.setdefault("last_fit_failure", "")
        state.setdefault("lives_at_failure", 0)
        self.__dict__.update(state)

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

    def work(self, units: int, *, catch_up: bool = False) -> FittedRegression | None:
        """Advance the job by ``units`` (starting one when due); the model once it is done.

        A refit starts once the lives have grown by ``refit_growth``; with ``catch_up`` (idle
        capacity: the work tickets after a life) an idle learner whose model misses lives starts a
        catch-up instead: :meth:`_catch_up`, ~1/10 of a refit."""
        if self.job_spec is None:
            if self._due():
                self.job_spec, self.job_units = self._spec(), 0
            elif catch_up and self._behind():
                self.job_spec, self.job_units = self._catch_up_spec(), 0
        spec = self.job_spec
        if spec is None:
            return None
        if self.background:
            return self._work_thread(spec, units)
        job = self.job
        try:
            if not isinstance(job, Generator):
                job = self.job = self._job(spec)
                for _ in range(self.job_units):  # after a restore: redo the work done before it
                    next(job)
            for _ in range(units):
                next(job)
                self.job_units += 1
        except StopIteration as done:
            return self._finish(spec, done.value)
        except Exception as exc:  # noqa: BLE001 - a fit that fails must not stop the learner
            self._abandon(spec, exc)
        return None

    job_pace: Any = None
    """Tests: called by a background job's thread after every unit (:class:`JobThread` ``pace``)."""

    def _work_thread(self, spec: RefitSpec | CatchUpSpec, units: int) -> FittedRegression | None:
        """:meth:`work` with the job in its thread: the same quota, the model at the same call."""
        job = self.job
        if not isinstance(job, JobThread):  # a new job, or after a restore: from its first unit
            job = self.job = JobThread(self._job(spec), name="twin-fleet-fit", pace=self.job_pace)
        target = self.job_units + units
        try:
            ended, value = job.advance(target)
        except Exception as exc:  # noqa: BLE001 - as a failed generator: abandoned
            self._abandon(spec, exc)
            return None
        if not ended:
            self.job_units = target
            return None
        return self._finish(spec, value)

    def _finish(self, spec: RefitSpec | CatchUpSpec, fitted: FittedRegression) -> FittedRegression:
        """The job is done: its model becomes the learner's (and a refit's residuals too)."""
        self.job, self.job_spec, self.job_units = None, None, 0
        self.lives_in_model = spec.lives_learnt
        if isinstance(spec, RefitSpec):
            self.lives_at_fit, self.base, self.residuals = spec.lives_learnt, fitted, fitted.residuals
            if spec.cross_fit:
                self.lives_at_residuals = spec.lives_learnt
        return fitted

    def _abandon(self, spec: RefitSpec | CatchUpSpec, exc: Exception) -> None:
        """The job raised: drop it and what it computed, count it, and start no job before more
        lives are learnt (so the same failing job is not run again). The model, the residuals and
        what a catch-up extends stay those of the last job that finished; the kept bins and
        predictions (a cache the job may have been writing) are rebuilt by the next catch-up."""
        self.job, self.job_spec, self.job_units = None, None, 0
        self.fit_rows = None
        self.lives_at_failure = spec.lives_learnt
        self.fit_failures += 1
        what = "refit" if isinstance(spec, RefitSpec) else "catch-up"
        reason = f"{what} on {len(spec.lives)} lives failed: {type(exc).__name__}: {exc}"
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 3] + "..."
        self.last_fit_failure = reason

    def _job(self, spec: RefitSpec | CatchUpSpec) -> Job:
        return self._refit(spec) if isinstance(spec, RefitSpec) else self._catch_up(spec)

    def _behind(self) -> bool:
        """A full fit exists, can be extended, and lives were learnt since the newest model."""
        base = self.base
        return (base is not None and self.catch_up_trees > 0 and hasattr(base.model, "extend_steps")
                and self.lives_learnt > max(self.lives_in_model, self.lives_at_failure))

    def _catch_up_spec(self) -> CatchUpSpec:
        assert self.base is not None  # noqa: S101 - _behind() checked it
        return CatchUpSpec(self.base, tuple(self.lives), self.seed + self.lives_learnt + CATCH_UP_SEED,
                           self.lives_learnt)

    def _spec(self) -> RefitSpec:
        grown = self.lives_learnt - self.lives_at_residuals
        cross_fit = grown >= self.residual_growth * self.lives_at_residuals  # (counted once done)
        d = len(self.regimes.centres[0]) if self.regimes.centres else 0
        return RefitSpec(self.regimes.stats(),
                         np.asarray(self.regimes.centres, dtype=float).reshape(len(self.regimes.centres), d),
                         tuple(self.lives), self.seed + self.lives_learnt, cross_fit, self.lives_learnt)

    def _due(self) -> bool:
        grown = self.lives_learnt - self.lives_at_fit >= max(1.0, self.refit_growth * self.lives_at_fit)
        return (len(self.lives) >= self.min_lives and (self.lives_at_fit == 0 or grown)
                and self.lives_learnt > self.lives_at_failure)

    def _rows(self, stats: RegimeStats, life: StoredLife) -> FloatArray:
        z = stats.normalise(life.regimes, life.rows.astype(float))
        base = None
        if not life.complete:
            base = stats.normalise(life.head_regimes, life.head_rows.astype(float)).mean(axis=0)
        return condition_rows(z, life.times, base, life.t0_s, self.window, self.baseline_windows)

    def _target(self, life: StoredLife) -> FloatArray:
        ttf = life.failure_s - life.times
        return np.minimum(ttf, self.cap_s) if self.cap_s > 0 else ttf

    def _fit(self, x: FloatArray, y: FloatArray, seed: int, stages: float = 1.0,
             keep_rows: bool = False) -> Generator[int, None, BatchRegressor]:
        model = make_regressor(self.regressor, seed, stages=stages * POINT_MODEL_STAGES,
                               max_rows=TREE_MAX_ROWS)
        if keep_rows and hasattr(model, "bin_rows"):  # the trees: keep what the catch-ups reuse
            yield from model.fit_steps(x, y, keep_rows=True)  # type: ignore[call-arg]
        else:
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
        model = yield from self._fit(np.vstack(feats), np.concatenate(targets), spec.seed, keep_rows=True)
        residuals = self.residuals  # the last cross-fit's, unless this refit cross-fits
        if spec.cross_fit:
            held = yield from self._cross_fit(feats, targets, spec.seed)
            residuals = residuals if held is None else held
        if hasattr(model, "bin_rows"):  # what the catch-ups on this fit will boost on
            yield from self._keep_fit_rows(FitRows(model), spec.lives, feats)
        return FittedRegression(
            spec.centres, self.regimes.atol, self.regimes.rtol, spec.stats, model, residuals,
            self.window, self.baseline_windows, self.cap_s, self.coverage)

    def _keep_fit_rows(self, rows: FitRows, lives: tuple[StoredLife, ...],
                       feats: list[FloatArray]) -> Generator[int, None, None]:
        """Bin and predict every life's rows under the new full fit (:class:`FitRows`), a slice
        of :data:`ROWS_PER_STEP` rows at a time, for the catch-ups that will extend it: from the
        bins and leaves the fit kept (``fitted_rows``, no tree walk), else by predicting them."""
        done = lo = 0
        for life, x in zip(lives, feats, strict=True):
            known = rows.model.fitted_rows(lo, lo + x.shape[0])
            if known is None:
                rows.put(life, x)
            else:
                rows.put_known(life, *known)
            lo += x.shape[0]
            done += x.shape[0]
            if done >= ROWS_PER_STEP:
                done = 0
                yield 0
        rows.model.drop_rows()
        self.fit_rows = rows

    def _catch_up(self, spec: CatchUpSpec) -> Job:
        """The last full fit, boosted ``catch_up_trees`` more stages on every stored life (the
        base's regime statistics and residuals kept): the lives completed since the refit reach
        the model without waiting for the next one (the last ``refit_growth`` of a fleet's lives
        would otherwise never be learnt when no more fail).

        The base's bins and predictions of its own lives were kept by the refit
        (:class:`FitRows`): only the lives learnt since it are binned and predicted here, in
        slices (the slices depend on those lives only, so a restored learner, whose kept rows
        are gone, does the same slices: it rebuilds the missing rows in its first one)."""
        base = spec.base
        rows = self.fit_rows
        if rows is None or rows.model is not base.model:
            rows = self.fit_rows = FitRows(base.model)
        first_new = max(0, len(spec.lives) - (spec.lives_learnt - self.lives_at_fit))
        kept, done = [], 0
        for i, life in enumerate(spec.lives):
            entry = rows.get(life) or rows.put(life, self._rows(base.stats, life))
            kept.append(entry)
            if i >= first_new:
                done += entry.pred.size
                if done >= ROWS_PER_STEP:
                    done = 0
                    yield 0
        rows.keep_only(spec.lives)
        targets = np.concatenate([self._target(life) for life in spec.lives])
        model = yield from base.model.extend_binned_steps(  # type: ignore[attr-defined]
            np.vstack([e.bins for e in kept]), np.concatenate([e.pred for e in kept]), targets,
            self.catch_up_trees, spec.seed)
        return replace(base, model=model)

    def _cross_fit(self, feats: list[FloatArray], targets: list[FloatArray],
                   seed: int) -> Generator[int, None, FloatArray | None]:
        """Held-out residuals by 2-fold cross-fitting over lives (each predicted by a model that
        never saw it); None if there are too few lives."""
        rng = np.random.default_rng(seed)
        fold = rng.permutation(len(feats)) % 2
        pairs: list[FloatArray] = []
        for k in (0, 1):
            train = [i for i, f in enumerate(fold) if f != k]
            held = [i for i, f in enumerate(fold) if f == k]
            if len(train) < 2 or not held:
                continue
            half = yield from self._fit(np.vstack([feats[i] for i in train]),
                                        np.concatenate([targets[i] for i in train]), seed + 1 + k,
                                        HALF_MODEL_STAGES)
            for n, i in enumerate(held, 1):
                pred = np.clip(half.predict(feats[i]), 0.0, self.cap_s if self.cap_s > 0 else np.inf)
                pairs.append(np.column_stack([pred, targets[i] - pred]))
                if n % HELD_LIVES_PER_STEP == 0 or n == len(held):
                    yield 0
        if not pairs:
            return None
        res = np.vstack(pairs)
        if res.shape[0] > self.max_residuals:
            res = res[rng.choice(res.shape[0], self.max_residuals, replace=False)]
        return res
