"""A catch-up bins and predicts only the lives learnt since its refit, and gives the same model.

Why: binning every stored row and predicting it with the refit's 200 trees was most of each
catch-up's work (~40 of ~70 slices at 100 C-MAPSS lives) although only the newest lives had
changed; the refit now keeps its bins and predictions per life (``FitRows``, transient).
"""

from __future__ import annotations

import pickle

import numpy as np

from twin_models.rul.regimes import OperatingRegimes
from twin_models.rul.regression_learner import CatchUpSpec, RegressionLearner

H = 3600.0


def _learner() -> RegressionLearner:
    return RegressionLearner(3, window=10, baseline_windows=5, cap_s=100 * H, min_lives=3, max_lives=50,
                             refit_growth=100.0, coverage=0.8, regimes=OperatingRegimes(3), seed=1,
                             regressor="trees", catch_up_trees=6)


def _add_life(learner: RegressionLearner, rng: np.random.Generator, k: int, length: int) -> None:
    t = np.arange(length)
    rows = rng.normal(0, 0.3, size=(length, 3)) + np.exp((t - length) / 30.0)[:, None] * [4.0, -2.0, 0.0]
    times = k * 1e6 + (t + 1) * H
    settings = np.zeros((length, 0))
    learner.learn_life(times, settings, rows, settings[:5], rows[:5], k * 1e6, True, times[-1] + H)


def _units(learner: RegressionLearner, **kw: bool) -> tuple[int, object]:
    """Work units until the job under way (or started now) finishes, and its model."""
    for n in range(1, 10_000):
        done = learner.work(1, **kw)
        if done is not None:
            return n, done
    msg = "the job never finished"
    raise AssertionError(msg)


def _reference(learner: RegressionLearner, spec: CatchUpSpec) -> np.ndarray:
    """The catch-up computed the old way: every life's rows binned and predicted again."""
    base = spec.base
    x = np.vstack([learner._rows(base.stats, life) for life in spec.lives])
    y = np.concatenate([learner._target(life) for life in spec.lives])
    steps = base.model.extend_steps(x, y, learner.catch_up_trees, spec.seed)  # type: ignore[attr-defined]
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return np.asarray(done.value.value)


def test_a_catch_up_works_on_the_new_lives_only_and_gives_the_same_trees() -> None:
    rng = np.random.default_rng(8)
    learner = _learner()
    for k in range(30):  # 30 lives of ~150 rows: 4,500 rows for the refit
        _add_life(learner, rng, k, 140 + k % 20)
    refit_units, _ = _units(learner)
    _add_life(learner, rng, 30, 120)  # one life since the refit
    assert learner.work(1, catch_up=True) is None
    spec = learner.job_spec
    assert isinstance(spec, CatchUpSpec)
    units, fitted = _units(learner, catch_up=True)
    # the old catch-up binned (1 slice) and predicted (10 slices of 500 rows) all 4,620 rows
    # before its 3 slices of trees: now only the new life's 120 rows, then the trees
    assert units + 1 <= 4
    assert np.array_equal(fitted.model.value, _reference(learner, spec))  # type: ignore[attr-defined]
    assert refit_units > units


def test_a_restored_learner_rebuilds_the_rows_within_the_same_slices() -> None:
    rng = np.random.default_rng(9)
    learner = _learner()
    for k in range(12):
        _add_life(learner, rng, k, 100)
    _units(learner)
    for k in range(12, 14):
        _add_life(learner, rng, k, 300)  # two new lives of 300 rows: two slices of rows
    assert learner.work(1, catch_up=True) is None
    restored = pickle.loads(pickle.dumps(learner))
    assert restored.fit_rows is None  # transient: not in the recovery state
    a, b = _units(learner, catch_up=True), _units(restored, catch_up=True)
    assert a[0] == b[0]  # the same slice finishes it: publications stay where they were
    assert np.array_equal(a[1].model.value, b[1].model.value)  # type: ignore[attr-defined]


def test_a_fit_keeps_its_rows_bins_and_predictions_equal_to_predicting_them() -> None:
    from twin_models.rul.trees import GradientBoostedTrees

    rng = np.random.default_rng(10)
    x = rng.normal(size=(3000, 4))
    y = 5.0 * x[:, 0] + np.where(x[:, 1] > 0.3, 3.0, 0.0) + rng.normal(0, 0.1, 3000)
    model = GradientBoostedTrees(n_trees=40, seed=3)
    for _ in model.fit_steps(x, y, keep_rows=True):
        pass
    kept = model.fitted_rows(1000, 1700)
    assert kept is not None
    bins, pred = kept
    assert np.array_equal(bins, model.bin_rows(x[1000:1700]))
    assert np.array_equal(pred, model.predict(x[1000:1700]))  # to the last bit, without a walk
    assert "_rows" not in pickle.loads(pickle.dumps(model)).__dict__  # transient
    model.drop_rows()
    assert model.fitted_rows(0, 10) is None
