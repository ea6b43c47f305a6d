"""The fleet regression's condition features and the lives it stores (issue 12, C-MAPSS FD003).

Two causes of FD003's loss since the learner split, each pinned here: features that differed in
their last bits for equal readings (so the trees cut ties at random, and a prediction's features
were not the training rows' features), and completed lives cut to their last 400 rows although
the views keep 1024.
"""

from __future__ import annotations

import pickle

import numpy as np

from twin_models.rul.fleet_view import LIFE_HISTORY
from twin_models.rul.regimes import OperatingRegimes
from twin_models.rul.regression import FEATURE_DECIMALS, condition_rows
from twin_models.rul.regression_learner import RegressionLearner

H = 3600.0


def _discrete_sensor(n: int, offset: float) -> np.ndarray:
    """A z-scored discrete sensor (two readings, as C-MAPSS's sensor 6), off its healthy mean."""
    rng = np.random.default_rng(3)
    return (offset + 0.4629629629 * rng.integers(0, 2, size=n))[:, None]


def test_a_prediction_sees_the_features_its_training_rows_had() -> None:
    # training rows come from sums over the whole life, a prediction from the last 30 windows
    z = _discrete_sensor(400, offset=-3.7)
    times = np.arange(400.0) * H
    life = condition_rows(z, times, None, 0.0, 30, 20)
    base = z[:20].mean(axis=0)
    for end in (60, 217, 400):
        last = condition_rows(z[end - 30:end], times[end - 30:end], base, 0.0, 30, 20)[-1]
        assert np.array_equal(last, life[end - 1])  # bit for bit, not just close


def test_equal_readings_give_equal_features_wherever_they_are_in_a_life() -> None:
    z = np.vstack([_discrete_sensor(90, offset=-3.7), np.full((60, 1), -3.7)])
    rows = condition_rows(z, np.arange(150.0) * H, None, 0.0, 30, 20)
    flat = rows[120:, :3]  # 30 equal readings in every window: level -3.7, slope 0, same base
    assert np.unique(flat, axis=0).shape[0] == 1
    assert flat[0, 1] == 0.0
    assert np.array_equal(rows, np.round(rows, FEATURE_DECIMALS))


def _learner(max_life_rows: int | None = None) -> RegressionLearner:
    kw = {} if max_life_rows is None else {"max_life_rows": max_life_rows}
    return RegressionLearner(2, window=30, baseline_windows=20, cap_s=125 * H, min_lives=3,
                             max_lives=10, refit_growth=0.1, coverage=0.8,
                             regimes=OperatingRegimes(2), seed=0, regressor="trees", **kw)


def _learn(learner: RegressionLearner, n: int) -> None:
    rows = np.random.default_rng(1).normal(size=(n, 2)).astype(np.float32)
    times = np.arange(n, dtype=float) * H
    settings = np.zeros((n, 1), dtype=np.float32)
    learner.learn_life(times, settings, rows, settings[:20], rows[:20], 0.0, True, n * H)


def test_a_long_life_is_stored_whole_as_the_view_kept_it() -> None:
    learner = _learner()
    _learn(learner, 525)  # FD003's longest life
    life = learner.lives[-1]
    assert life.rows.shape[0] == 525 and life.complete
    _learn(learner, LIFE_HISTORY + 5)  # beyond what a view keeps: the last LIFE_HISTORY rows
    assert learner.lives[-1].rows.shape[0] == LIFE_HISTORY and not learner.lives[-1].complete


def test_a_learner_pickled_with_the_old_400_row_bound_stores_whole_lives_after_a_resume() -> None:
    old = _learner(max_life_rows=400)
    restored = pickle.loads(pickle.dumps(old))  # noqa: S301 - our own state
    _learn(restored, 450)
    assert restored.max_life_rows == LIFE_HISTORY
    assert restored.lives[-1].rows.shape[0] == 450 and restored.lives[-1].complete
