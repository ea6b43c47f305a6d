"""The histogram tree grower (sibling subtraction, flat columns dropped) against a direct search."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from twin_models.rul.tree_growth import TreeSpec, grow_tree, leaf_of
from twin_models.rul.trees import GradientBoostedTrees

SPEC = TreeSpec(n_bins=8, max_depth=3, min_leaf=5, l2=1.0, learning_rate=0.5)


def _direct_tree(bins: npt.NDArray[np.int64], resid: npt.NDArray[np.float64],
                 spec: TreeSpec) -> tuple[list[int], list[int], list[float]]:
    """Every node's split searched by brute force over (column, cut), rows filtered directly."""
    n_nodes = 2 ** (spec.max_depth + 1) - 1
    feature, cut, value = [-1] * n_nodes, [0] * n_nodes, [0.0] * n_nodes
    members: dict[int, npt.NDArray[np.bool_]] = {0: np.ones(resid.size, dtype=bool)}
    for k in range(n_nodes):
        if k not in members:
            continue
        m = members[k]
        g_tot, c_tot = resid[m].sum(), m.sum()
        value[k] = spec.learning_rate * g_tot / (c_tot + spec.l2)
        if k >= 2**spec.max_depth - 1:
            continue
        best, best_gain = None, 1e-9
        for j in range(bins.shape[1]):
            for b in range(spec.n_bins):
                left = m & (bins[:, j] <= b)
                c = left.sum()
                if c < spec.min_leaf or c_tot - c < spec.min_leaf:
                    continue
                g = resid[left].sum()
                gain = g**2 / (c + spec.l2) + (g_tot - g) ** 2 / (c_tot - c + spec.l2)
                gain -= g_tot**2 / (c_tot + spec.l2)
                if gain > best_gain + 1e-9:
                    best, best_gain = (j, b), gain
        if best is not None:
            feature[k], cut[k] = best
            members[2 * k + 1] = m & (bins[:, best[0]] <= best[1])
            members[2 * k + 2] = m & (bins[:, best[0]] > best[1])
    return feature, cut, value


def test_grown_tree_equals_a_direct_split_search() -> None:
    rng = np.random.default_rng(4)
    bins = rng.integers(0, SPEC.n_bins, size=(400, 5))
    resid = np.where(bins[:, 1] > 3, 5.0, -2.0) + np.where(bins[:, 3] > 5, 3.0, 0.0) + rng.normal(0, 1, 400)
    code = bins + np.arange(5) * SPEC.n_bins
    tree = grow_tree(code, resid, SPEC)
    feature, cut, value = _direct_tree(bins, resid, SPEC)
    assert tree.feature.tolist() == feature
    assert tree.cut[tree.feature >= 0].tolist() == [c for c, f in zip(cut, feature, strict=True) if f >= 0]
    np.testing.assert_allclose(tree.value, value, rtol=1e-12, atol=1e-12)
    assert (tree.feature >= 0).sum() >= 3  # the data have splits to find


def test_leaf_of_walks_rows_to_the_leaf_whose_value_they_get() -> None:
    rng = np.random.default_rng(5)
    bins = rng.integers(0, SPEC.n_bins, size=(300, 4))
    resid = np.where(bins[:, 2] > 2, 4.0, -4.0) + rng.normal(0, 0.5, 300)
    code = bins + np.arange(4) * SPEC.n_bins
    tree = grow_tree(code, resid, SPEC)
    leaves = leaf_of(tree.feature, np.maximum(tree.feature, 0) * SPEC.n_bins + tree.cut, code, SPEC.max_depth)
    assert (tree.feature[leaves] < 0).all()
    for leaf in np.unique(leaves):
        rows = leaves == leaf
        expected = SPEC.learning_rate * resid[rows].sum() / (rows.sum() + SPEC.l2)
        assert abs(tree.value[leaf] - expected) < 1e-9
    assert np.unique(leaves).size >= 2


def test_flat_columns_change_no_tree() -> None:
    """A column whose rows share one value is dropped from the histograms: same splits, same
    predictions, features still numbered as the caller's columns."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(600, 3))
    y = 3 * x[:, 0] - 2 * x[:, 2] + rng.normal(0, 0.1, 600)
    wide = np.column_stack([np.full(600, 7.0), x[:, 0], np.zeros(600), x[:, 1], x[:, 2]])
    narrow = GradientBoostedTrees(n_trees=15, seed=2).fit(x, y)
    padded = GradientBoostedTrees(n_trees=15, seed=2).fit(wide, y)
    assert np.array_equal(padded.predict(wide), narrow.predict(x))
    as_wide = np.array([-1, 1, 3, 4])[narrow.feature + 1]
    assert np.array_equal(padded.feature, as_wide)


def test_column_subsampling_still_predicts_its_training_rows() -> None:
    """With ``colsample`` < 1 every column is kept (the seeded draws over all of them)."""
    rng = np.random.default_rng(7)
    x = np.column_stack([np.ones(800), rng.normal(size=(800, 4))])
    y = np.where(x[:, 1] > 0, 10.0, 0.0) + x[:, 3]
    model = GradientBoostedTrees(n_trees=80, learning_rate=0.3, colsample=0.6, seed=1).fit(x, y)
    assert float(np.sqrt(np.mean((model.predict(x) - y) ** 2))) < 1.0
    assert set(np.unique(model.feature[model.feature >= 0])) <= {1, 2, 3, 4}


def test_cross_fit_half_models_boost_half_the_stages_at_twice_the_rate() -> None:
    """The residuals' half models keep shrinkage x stages of a full model at half its trees."""
    from twin_models.rul.regression_learner import HALF_MODEL_STAGES
    from twin_models.rul.regressors import make_regressor

    full = make_regressor("trees", 3)
    half = make_regressor("trees", 3, stages=HALF_MODEL_STAGES)
    assert isinstance(full, GradientBoostedTrees) and isinstance(half, GradientBoostedTrees)
    assert half.n_trees == full.n_trees // 2
    assert half.n_trees * half.learning_rate == full.n_trees * full.learning_rate


def _walk_each_tree(model: GradientBoostedTrees, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Reference prediction: every tree walked on its float thresholds, stopping at its leaves."""
    vals = np.zeros((x.shape[0], model.value.shape[0]))
    for i, row in enumerate(x):
        for t in range(model.value.shape[0]):
            k = 0
            while model.feature[t, k] >= 0:
                k = 2 * k + 1 + int(row[model.feature[t, k]] >= model.threshold[t, k])
            vals[i, t] = model.value[t, k]
    return model.base + vals.sum(axis=1)


def test_prediction_on_the_full_depth_layout_equals_the_walk_to_each_leaf() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(500, 4))
    y = np.where(x[:, 0] > 0.5, 20.0, 0.0) + 5 * x[:, 1] * (x[:, 2] > 0)
    model = GradientBoostedTrees(n_trees=25, max_depth=4, min_leaf=40, seed=1).fit(x, y)
    assert (model.feature[:, 1:] < 0).any() and (model.feature[:, 1:] >= 0).any()  # uneven trees
    new = rng.normal(size=(60, 4))
    np.testing.assert_array_equal(model.predict(new), _walk_each_tree(model, new))
    extended = next(_drain(model.extend_steps(x, y, 5, seed=2)))
    np.testing.assert_array_equal(extended.predict(new), _walk_each_tree(extended, new))
    np.testing.assert_array_equal(model.predict(new), _walk_each_tree(model, new))  # unchanged


def _drain(job):  # type: ignore[no-untyped-def]
    try:
        while True:
            next(job)
    except StopIteration as done:
        yield done.value


def test_the_learner_fits_its_share_of_the_stages_on_capped_row_samples(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The learner's full fits boost ``POINT_MODEL_STAGES`` of the trees' stages at a learning rate
    raised in proportion, the half models half of that, every tree on at most ``TREE_MAX_ROWS``
    rows (set here to values other than the defaults, so that ignoring them fails)."""
    from twin_models.rul import regression_learner
    from twin_models.rul.regimes import OperatingRegimes

    monkeypatch.setattr(regression_learner, "POINT_MODEL_STAGES", 0.25)
    monkeypatch.setattr(regression_learner, "TREE_MAX_ROWS", 123)
    learner = regression_learner.RegressionLearner(
        3, window=10, baseline_windows=5, cap_s=100.0, min_lives=3, max_lives=50, refit_growth=0.1,
        coverage=0.8, regimes=OperatingRegimes(3), seed=0, regressor="trees")
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 3)), rng.uniform(0, 100, 300)
    default = GradientBoostedTrees()
    for share in (1.0, regression_learner.HALF_MODEL_STAGES):
        job = learner._fit(x, y, 1, share)
        try:
            while True:
                next(job)
        except StopIteration as done:
            model = done.value
        assert isinstance(model, GradientBoostedTrees)
        assert model.n_trees == round(default.n_trees * 0.25 * share)
        assert model.learning_rate == default.learning_rate / (0.25 * share)
        assert model.max_rows == 123
        assert model.value.shape[0] == model.n_trees
