"""The fleet regression's boosting by LightGBM (``regressor = "lightgbm"``): the numpy trees'
contract (fit in bounded slices, catch-ups), identical outputs run to run and whatever the
threads, and a model that travels the fleet-model topic as text inside our own class."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

from flows.app.fleet_topic import load_model, model_message
from tests.unit.test_fleet_catch_up import _cfg, _feed, _life
from twin_models.rul import lgbm_trees
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.lgbm_trees import LightGBMTrees
from twin_models.rul.regressors import REGRESSORS, make_regressor, river_model
from twin_models.rul.trend import FleetRul


def _rows(n: int = 3000, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[:, 1] = np.round(x[:, 1])  # a discrete sensor
    y = 2e5 + 8e4 * x[:, 0] + 3e4 * np.abs(x[:, 1]) + rng.normal(0, 1e4, n)
    return x, y


def test_lightgbm_is_a_selectable_regressor_with_the_trees_settings() -> None:
    assert "lightgbm" in REGRESSORS
    model = make_regressor("lightgbm", 5, stages=0.5, max_rows=1000)
    assert isinstance(model, LightGBMTrees)
    assert (model.n_trees, model.learning_rate, model.max_rows, model.seed) == (100, 0.16, 1000, 5)
    params = model.params(4000, 5)
    assert params["bagging_fraction"] == 0.25 and params["bagging_freq"] == 1  # 1000 of 4000 rows
    assert params["num_leaves"] == 32 and params["max_depth"] == 5 and params["deterministic"]
    assert params["num_threads"] == lgbm_trees.NUM_THREADS
    assert model.params(100, 5)["bagging_fraction"] == 0.6  # as the trees: 60 % when under max_rows
    assert LightGBMTrees(subsample=1.0).params(100, 5)["bagging_freq"] == 0  # every row: no bagging


def test_same_seed_same_predictions_fit_or_in_slices() -> None:
    x, y = _rows()
    a = LightGBMTrees(n_trees=40, seed=3).fit(x, y)
    b = LightGBMTrees(n_trees=40, seed=3)
    slices = list(b.fit_steps(x, y))
    assert np.array_equal(a.predict(x), b.predict(x))
    # the edges, every PUSH_ROWS rows, the booster, then every STAGES_PER_STEP stages
    assert len(slices) == 1 + 3 + 1 + 40 // lgbm_trees.STAGES_PER_STEP
    other = LightGBMTrees(n_trees=40, seed=4).fit(x, y)
    assert not np.array_equal(a.predict(x), other.predict(x))  # the seed draws the rows
    rmse = float(np.sqrt(np.mean((a.predict(x) - y) ** 2)))
    assert rmse < 0.3 * float(np.std(y))


def test_two_threads_give_the_same_model() -> None:
    x, y = _rows(4000, 10, seed=1)
    one = LightGBMTrees(n_trees=30, seed=2, num_threads=1).fit(x, y)
    two = LightGBMTrees(n_trees=30, seed=2, num_threads=2).fit(x, y)
    assert np.array_equal(one.predict(x), two.predict(x))


def test_a_pickled_model_predicts_the_same_and_holds_no_lightgbm_object() -> None:
    x, y = _rows()
    model = LightGBMTrees(n_trees=30, seed=1).fit(x, y)
    blob = pickle.dumps(model)
    assert b"lightgbm" not in blob.replace(b"twin_models.rul.lgbm_trees", b"")
    back = pickle.loads(blob)
    assert np.array_equal(back.predict(x), model.predict(x))
    assert LightGBMTrees().predict(x[:3]).tolist() == [0.0, 0.0, 0.0]  # unfitted


def test_a_catch_up_adds_a_booster_and_leaves_the_base_unchanged() -> None:
    x, y = _rows()
    base = LightGBMTrees(n_trees=30, seed=1).fit(x[:2000], y[:2000])
    before = base.predict(x)
    gen = base.extend_steps(x, y, 10, seed=9)
    try:
        while True:
            next(gen)
    except StopIteration as done:
        ext = done.value
    assert len(ext.models) == 2 and base.models == ext.models[:1]
    assert np.array_equal(base.predict(x), before)
    new = slice(2000, None)  # rows the base never saw: the catch-up learnt them
    assert np.mean((ext.predict(x[new]) - y[new]) ** 2) < np.mean((before[new] - y[new]) ** 2)
    binned = base.extend_binned_steps(base.bin_rows(x), base.predict(x), y, 10, seed=9)
    try:
        while True:
            next(binned)
    except StopIteration as done:
        assert np.array_equal(done.value.predict(x), ext.predict(x))
    with pytest.raises(ValueError, match="fitted"):
        next(LightGBMTrees().extend_binned_steps(x, before, y, 5, seed=1))


def test_a_fleet_learner_with_lightgbm_catches_up_and_resumes_to_the_same_model() -> None:
    rng = np.random.default_rng(3)
    cfg = replace(_cfg(steps=5, tickets=400), regressor="lightgbm")
    lives = [_life(rng, n) for n in (90, 100, 110, 120)]
    learner = FleetLearner("engine", cfg)
    models = [m for k, rows in enumerate(lives[:3]) for m in _feed(learner, cfg, k, rows)]
    assert models and isinstance(models[-1].regression.model, LightGBMTrees)  # type: ignore[union-attr]
    restored = pickle.loads(pickle.dumps(learner))
    a = _feed(learner, cfg, 3, lives[3])
    b = _feed(restored, cfg, 3, lives[3])
    assert len(a) == len(b) >= 1
    ra, rb = a[-1].regression, b[-1].regression
    assert ra is not None and rb is not None
    assert len(ra.model.models) == 2  # type: ignore[attr-defined]  # the refit and its catch-up
    x = np.random.default_rng(1).normal(size=(40, 7))
    assert np.array_equal(ra.model.predict(x), rb.model.predict(x))


def _fleet_model_with_lightgbm() -> FleetModel:
    rng = np.random.default_rng(3)
    cfg = replace(_cfg(), regressor="lightgbm")
    learner = FleetLearner("engine", cfg)
    models = [m for k, n in enumerate((90, 100, 110)) for m in _feed(learner, cfg, k, _life(rng, n))]
    assert models[-1].regression is not None
    return models[-1]


def test_a_fleet_model_with_lightgbm_passes_the_topic_and_a_tampered_one_is_refused() -> None:
    model = _fleet_model_with_lightgbm()
    key, value, _headers = model_message(model)
    got = load_model(key, value)
    assert isinstance(got, FleetModel) and got.regression is not None
    x = np.random.default_rng(2).normal(size=(20, 7))
    assert model.regression is not None
    assert np.array_equal(got.regression.model.predict(x), model.regression.model.predict(x))
    # the model string is LightGBM's text: a damaged one fails the unpickling, not a prediction
    text = model.regression.model.models[0]  # type: ignore[attr-defined]
    broken = value.replace(text.encode()[:200], b"tree\nnum_leaves=x" + b" " * 183)
    assert broken != value
    refused = load_model(key, broken)
    assert isinstance(refused, str) and "does not unpickle" in refused
    # LightGBM's own classes never pass the allow-list
    import lightgbm

    class Smuggled:
        def __reduce__(self) -> tuple[object, ...]:
            return (lightgbm.Booster, (), None)

    smuggled = pickle.dumps(replace(model, regression=replace(model.regression, model=Smuggled())))
    refused = load_model(key, smuggled)
    assert isinstance(refused, str) and "lightgbm" in refused and "not allowed" in refused


def test_the_river_verbs_refit_lightgbm() -> None:
    model = river_model("lightgbm", seed=1)
    assert model.booster == "lightgbm"  # type: ignore[attr-defined]
    for i in range(120):
        model.learn_one({"a": float(i % 10), "b": 1.0}, float(i % 10) * 2.0)
    assert isinstance(model.model, LightGBMTrees)  # type: ignore[attr-defined]
    assert abs(model.predict_one({"a": 8.0, "b": 1.0}) - 16.0) < 2.0


def test_an_empty_fleet_model_still_loads() -> None:
    empty = FleetModel("pump", 1, 0.0, 1, FleetRul(), 1, (3600.0,), None, True, 0.8)
    assert isinstance(load_model(*model_message(empty)[:2]), FleetModel)
