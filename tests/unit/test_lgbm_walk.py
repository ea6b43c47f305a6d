"""The numpy walker of LightGBM's trees (:mod:`twin_models.rul.lgbm_walk`) predicts what
``lightgbm.Booster.predict`` predicts, bit for bit: NaN, infinities, zeros, values at LightGBM's
zero threshold and on (or one ulp beside) the split thresholds, every missing type, one-leaf
trees, several boosters summed; what it does not model is left to LightGBM."""

from __future__ import annotations

import pickle
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from twin_models.rul import lgbm_trees
from twin_models.rul.lgbm_trees import LightGBMTrees
from twin_models.rul.lgbm_walk import ZERO_THRESHOLD, TreeWalker

EDGES = [0.0, -0.0, ZERO_THRESHOLD, -ZERO_THRESHOLD, 5e-36, -5e-36, 1e-300, np.inf, -np.inf, np.nan]


def _train(x: np.ndarray, y: np.ndarray, **params: Any) -> str:
    base = {"objective": "regression", "num_leaves": 32, "max_depth": 5, "min_data_in_leaf": 5,
            "learning_rate": 0.1, "verbosity": -1, "num_threads": 1, "deterministic": True, "seed": 1}
    booster = lgb.train({**base, **params}, lgb.Dataset(x, y), num_boost_round=params.pop("rounds", 40))
    model: str = booster.model_to_string()
    return model


def _data(seed: int, n: int = 1500, d: int = 7, nan: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[:, 1] = np.round(x[:, 1])  # many exact zeros
    x[:, 2] = np.where(rng.random(n) < 0.5, 0.0, x[:, 2])
    x[rng.random(x.shape) < nan] = np.nan
    y = np.nan_to_num(x[:, 0]) * 3 + np.abs(np.nan_to_num(x[:, 1])) + np.isnan(x[:, 3])
    y += rng.normal(0, 0.3, n)
    return x, y


def _probe(walker: TreeWalker, n: int, d: int, seed: int) -> np.ndarray:
    """Random rows, a third of their values replaced by edge values, thresholds and their
    neighbouring doubles."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    thr = walker.threshold
    near = np.concatenate([thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf), [1.0]])
    pick = rng.random(x.shape)
    x = np.where(pick < 0.2, rng.choice(near, size=x.shape), x)
    return np.where((pick >= 0.2) & (pick < 0.33), rng.choice(EDGES, size=x.shape), x)


def _lightgbm(models: list[str], x: np.ndarray) -> np.ndarray:
    out = np.zeros(x.shape[0])
    for m in models:
        out += lgb.Booster(model_str=m).predict(x, num_threads=1)
    return out


def _assert_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
    assert np.array_equal(a.view(np.int64), b.view(np.int64)), np.flatnonzero(a != b)[:5]


@pytest.mark.parametrize(("params", "nan"), [
    ({}, 0.05),  # NaN-type splits (NaN seen in training), default sides learnt
    ({}, 0.0),  # no NaN in training: missing type None, a NaN row is read as 0.0
    ({"zero_as_missing": True}, 0.05),  # Zero-type splits
    ({"use_missing": False}, 0.05),
    ({"max_depth": -1, "num_leaves": 20, "min_data_in_leaf": 2}, 0.02),  # deeper, unbalanced
])
def test_walker_equals_lightgbm_bit_for_bit_on_edge_rows(params: dict[str, Any], nan: float) -> None:
    x, y = _data(0, nan=nan)
    models = [_train(x, y, **params), _train(x[:800], y[:800] * 0.5, seed=4, rounds=7, **params)]
    walker = TreeWalker.from_model_strings(models)
    assert walker is not None and walker.depth >= 2
    probe = _probe(walker, 3000, x.shape[1], seed=1)
    _assert_bits(walker.predict(probe), _lightgbm(models, probe))
    for i in range(0, 300, 7):  # one row at a time (the fleet view's case)
        _assert_bits(walker.predict(probe[i : i + 1]), _lightgbm(models, probe[i : i + 1]))


def test_one_leaf_trees_and_a_single_booster() -> None:
    x, _ = _data(2, n=200, nan=0.0)
    models = [_train(x, np.full(200, 3.25), rounds=3)]  # a constant target: one-leaf trees
    walker = TreeWalker.from_model_strings(models)
    assert walker is not None and walker.depth == 0 and walker.n_internal == 0
    probe = _probe(walker, 50, x.shape[1], seed=3)
    _assert_bits(walker.predict(probe), _lightgbm(models, probe))


def test_what_the_walker_does_not_model_is_left_to_lightgbm() -> None:
    x, y = _data(5, nan=0.0)
    x[:, 1] = np.abs(x[:, 1])  # a categorical column (non-negative integers)
    categorical = lgb.train({"objective": "regression", "verbosity": -1, "num_threads": 1,
                             "min_data_per_group": 5, "cat_smooth": 1.0},
                            lgb.Dataset(x, y, categorical_feature=[1]), num_boost_round=10)
    assert "num_cat=0" not in categorical.model_to_string().split("end of trees")[0].split("Tree=", 2)[1]
    assert TreeWalker.from_model_strings([categorical.model_to_string()]) is None
    assert TreeWalker.from_model_strings([_train(x, np.abs(y), objective="poisson")]) is None
    assert TreeWalker.from_model_strings([_train(x, y), _train(x[:, :5], y)]) is None  # widths differ
    assert TreeWalker.from_model_strings([]) is None
    good = _train(x, y)
    assert TreeWalker.from_model_strings([good.replace("max_feature_idx=6", "max_feature_idx=0")]) is None
    assert TreeWalker.from_model_strings([good.replace("leaf_value=", "leaf_value=x ", 1)]) is None
    assert TreeWalker.from_model_strings([good.replace("num_leaves=", "num_leafs=", 1)]) is None
    model = LightGBMTrees(n_trees=5, min_leaf=5)
    model.models = (categorical.model_to_string(),)
    probe = x[:3]
    _assert_bits(model.predict(probe), categorical.predict(probe, num_threads=1) + 0.0)


def test_lightgbm_trees_walks_small_batches_and_catch_ups_identically() -> None:
    x, y = _data(7, n=2000, nan=0.02)
    model = LightGBMTrees(n_trees=40, min_leaf=10).fit(x, y)
    steps = model.extend_steps(x[:600], y[:600] + 1.0, 8, seed=3)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            extended: LightGBMTrees = stop.value
            break
    probe = _probe(TreeWalker.from_model_strings(extended.models) or pytest.fail("no walker"), 400,
                   x.shape[1], seed=9)
    for m in (model, extended, pickle.loads(pickle.dumps(extended))):
        walker = m._walker()
        assert walker is not None and walker.roots.size == sum(s.count("\nTree=") for s in m.models)
        for n in range(1, lgbm_trees.WALK_ROWS + 1):
            _assert_bits(m.predict(probe[:n]), _lightgbm(list(m.models), probe[:n]))
        _assert_bits(m.predict(probe), _lightgbm(list(m.models), probe))  # LightGBM's own
    assert "_walk" not in extended.__getstate__() and "_walk" in extended.__dict__
    assert model._walker() is not extended._walker()  # the copy's cache is its own
