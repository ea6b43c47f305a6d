"""A small gradient-boosted regression tree ensemble in numpy (least squares, histogram splits).

Used by the fleet RUL model to map an asset's condition features to its remaining life, refitted
on the fleet's completed lives. Features are binned once per fit into at most ``max_bins`` quantile
bins; every tree grows level by level to ``max_depth``, each split chosen by the largest reduction
of squared error (gradient-boosting gain with L2 leaf regularisation ``l2``), leaves with fewer
than ``min_leaf`` rows are not made. Each tree sees a seeded random ``subsample`` of the rows
(stochastic gradient boosting, Friedman 2002). Prediction walks arrays, so a fitted model is plain
numpy data: picklable, bounded (``n_trees * 2**max_depth`` nodes).

>>> rng = np.random.default_rng(0)
>>> x = rng.uniform(-1, 1, size=(2000, 2))
>>> y = np.where(x[:, 0] > 0, 10.0, 0.0) + x[:, 1]
>>> model = GradientBoostedTrees(n_trees=60, learning_rate=0.2, max_depth=3).fit(x, y)
>>> bool(abs(model.predict(np.array([[0.5, 0.0], [-0.5, 0.0]])) - [10.0, 0.0]).max() < 0.5)
True
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from twin_models.rul.tree_growth import TreeSpec, full_depth_layout, grow_tree, leaf_of

__all__ = ["GradientBoostedTrees"]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
BinArray = npt.NDArray[np.unsignedinteger[Any]]
PREDICT_SLICE_ROWS = 500
"""Rows predicted per slice of :meth:`GradientBoostedTrees.extend_steps`: ~10 ms of CPU with 200
trees of depth 5 (2,000 rows took 35-55 ms and pushed the learner step's p99.9 over 50 ms)."""
TREES_PER_STEP = 2
"""Trees grown between two yields of :meth:`GradientBoostedTrees.fit_steps`: two trees of 5,000
rows cost what one did before the histogram grower (~10 ms of CPU), so a caller's slice of work
stays as long while a refit takes half as many slices."""


class GradientBoostedTrees:
    """Least-squares gradient boosting of depth-limited histogram trees."""

    def __init__(
        self,
        *,
        n_trees: int = 200,
        learning_rate: float = 0.08,
        max_depth: int = 5,
        min_leaf: int = 20,
        l2: float = 1.0,
        max_bins: int = 48,
        subsample: float = 0.6,
        colsample: float = 1.0,
        max_rows: int = 5000,
        seed: int = 0,
    ) -> None:
        self.n_trees = n_trees
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_leaf = min_leaf
        self.l2 = l2
        self.max_bins = max_bins
        self.subsample = subsample
        self.colsample = colsample
        self.max_rows = max_rows
        self.seed = seed
        self.base = 0.0
        self.edges: list[FloatArray] = []
        # one row per tree; internal node k has children 2k+1, 2k+2 (a complete binary layout)
        self.feature = np.zeros((0, 0), dtype=np.int32)
        self.threshold = np.zeros((0, 0))
        self.value = np.zeros((0, 0))

    @property
    def fitted(self) -> bool:
        """True once :meth:`fit` has run."""
        return self.value.shape[0] > 0

    def fit(self, x: FloatArray, y: FloatArray) -> GradientBoostedTrees:
        """Fit on rows ``x`` (n, d) and targets ``y`` (n,); NaN features are not allowed."""
        for _ in self.fit_steps(x, y):
            pass
        return self

    def fit_steps(self, x: FloatArray, y: FloatArray, *, keep_rows: bool = False) -> Iterator[int]:
        """:meth:`fit` in slices: yields on the way through the binning and after every
        :data:`TREES_PER_STEP` trees (the same result as ``fit``), so that a caller can spread a
        fit over bounded slices of work. With ``keep_rows`` the model also keeps the training
        rows' bins and each row's leaf in every tree, for :meth:`fitted_rows` (transient: not
        pickled; :meth:`drop_rows` releases them)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2 * self.min_leaf:
            msg = f"gbm fit needs (n, d) rows and n targets with n >= {2 * self.min_leaf}, got {x.shape}"
            raise ValueError(msg)
        qs = np.linspace(0.0, 1.0, self.max_bins + 1)[1:-1]
        self.edges, cols_b = [], []
        for j in range(x.shape[1]):  # binning 20k x 85 rows is ~10 trees' work: yield on the way
            self.edges.append(np.unique(np.quantile(x[:, j], qs)))
            cols_b.append(np.searchsorted(self.edges[j], x[:, j], side="right"))
            if j % 8 == 7:
                yield 0
        xb = self._codes(cols_b)
        yield 0
        n_nodes = 2 ** (self.max_depth + 1) - 1
        self.feature = np.full((self.n_trees, n_nodes), -1, dtype=np.int32)
        self.threshold = np.zeros((self.n_trees, n_nodes))
        self.value = np.zeros((self.n_trees, n_nodes))
        self.base = float(y.mean())
        pred = np.full(y.shape, self.base)
        leaf_type = np.min_scalar_type(2 ** (self.max_depth + 1))
        leaves = np.empty((self.n_trees, y.size), dtype=leaf_type) if keep_rows else None
        yield from self._boost(x.shape[1], xb, y, pred, 0, np.random.default_rng(self.seed), leaves)
        if leaves is not None:
            self.__dict__["_rows"] = (np.stack(cols_b, axis=1).astype(np.min_scalar_type(self.max_bins)),
                                      leaves)

    def fitted_rows(self, lo: int, hi: int) -> tuple[BinArray, FloatArray] | None:
        """Training rows ``lo:hi`` of a fit with ``keep_rows``: their bins (as :meth:`bin_rows`)
        and this model's predictions of them, equal to :meth:`predict` to the last bit (the same
        leaf values summed in the same order) at a fraction of its cost (no walk: the leaves were
        found while boosting). None without kept rows."""
        kept = self.__dict__.get("_rows")
        if kept is None:
            return None
        bins, leaves = kept
        n_trees = self.value.shape[0]
        vals = np.ascontiguousarray(self.value[np.arange(n_trees)[:, None], leaves[:, lo:hi]].T)
        out = np.full(hi - lo, self.base)
        out += vals.sum(axis=1)
        return bins[lo:hi], out

    def drop_rows(self) -> None:
        """Release the rows kept by ``fit_steps(keep_rows=True)``."""
        self.__dict__.pop("_rows", None)

    def _codes(self, cols_b: list[IndexArray]) -> tuple[IndexArray, IndexArray]:
        """Binned columns -> the codes of the columns that vary (``bin + k * (max_bins + 1)``
        for the k-th of them, see :mod:`.tree_growth`) and those columns' indices.

        A column whose rows all share one bin can never split a node (every cut leaves one side
        empty), so dropping it gives the same trees for less histogram work (C-MAPSS: a third of
        the columns are flat sensors). With column subsampling every column is kept, so that
        the seeded column draws stay those of the whole set."""
        xb = np.stack(cols_b, axis=1)
        used = np.arange(xb.shape[1])
        if self.colsample >= 1.0:
            used = np.flatnonzero(xb.min(axis=0) != xb.max(axis=0))
        return np.ascontiguousarray(xb[:, used] + np.arange(used.size) * (self.max_bins + 1)), used

    def _boost(self, d: int, codes: tuple[IndexArray, IndexArray], y: FloatArray, pred: FloatArray,
               first: int, rng: np.random.Generator,
               leaves: BinArray | None = None) -> Iterator[int]:
        """Grow trees ``first`` .. the last row of the arrays on the residuals of ``pred``
        (``d`` columns of which ``codes`` (:meth:`_codes`) holds the varying ones)."""
        xb, used = codes
        n_take = max(2 * self.min_leaf, min(int(self.subsample * y.size), self.max_rows))
        nb = self.max_bins + 1
        n_cols = max(1, round(self.colsample * d))
        spec = TreeSpec(nb, self.max_depth, self.min_leaf, self.l2, self.learning_rate)
        for t in range(first, self.value.shape[0]):
            rows = rng.choice(y.size, size=n_take, replace=False) if n_take < y.size else np.arange(y.size)
            cols = np.sort(rng.choice(d, size=n_cols, replace=False)) if n_cols < d else used
            code = xb[rows] if n_cols == d else xb[np.ix_(rows, cols)] - ((cols - np.arange(n_cols)) * nb)
            tree = grow_tree(code, y[rows] - pred[rows], spec)
            inner = tree.feature >= 0
            feat = np.where(inner, cols[np.where(inner, tree.feature, 0)], -1)
            self.feature[t] = feat
            self.threshold[t] = [self.edges[f][b] if f >= 0 else 0.0
                                 for f, b in zip(feat, tree.cut, strict=True)]
            self.value[t] = tree.value
            self.__dict__.pop("_walk", None)  # trees written in place: a cached layout is stale
            walk = tree.feature if n_cols == d else feat  # the codes' own columns
            leaf = leaf_of(walk, np.maximum(walk, 0) * nb + tree.cut, xb, self.max_depth)
            pred += tree.value[leaf]
            if leaves is not None:  # the row's leaf in tree t (node < 2 ** (max_depth + 1) - 1)
                leaves[t] = leaf
            if (t + 1 - first) % TREES_PER_STEP == 0 or t + 1 == self.value.shape[0]:
                yield t + 1

    def bin_rows(self, x: FloatArray) -> BinArray:
        """The bins of rows ``x`` (n, d) under this fitted model's edges, one small integer per
        value (``max_bins`` < 256: one byte): what :meth:`extend_binned_steps` boosts on.

        Why a method: the fleet learner keeps each stored life's bins and this model's
        predictions of them between catch-ups, so that a catch-up bins and predicts only the
        lives completed since, not every stored row again."""
        out = np.empty(np.shape(x), dtype=np.min_scalar_type(self.max_bins))
        for _ in self._bin_into(np.asarray(x, dtype=float), out):
            pass
        return out

    def _bin_into(self, x: FloatArray, out: BinArray) -> Iterator[int]:
        """Bin the columns of ``x`` into ``out`` under this model's edges, yielding every 8
        columns (as the binning in :meth:`fit_steps`)."""
        for j, e in enumerate(self.edges):
            out[:, j] = np.searchsorted(e, x[:, j], side="right")
            if j % 8 == 7:
                yield 0

    def extend_steps(self, x: FloatArray, y: FloatArray, n_more: int,
                     seed: int) -> Generator[int, None, GradientBoostedTrees]:
        """A copy of this fitted ensemble with ``n_more`` trees boosted on the residuals of its
        predictions of ``(x, y)`` (this model's bins, its settings; ``seed`` draws the rows).

        Why: a full refit is ~200 trees; between refits the fleet learner keeps its model up to
        date with the lives completed since at a tenth of that cost (the later stages of a
        boosted ensemble fit what the earlier ones miss, here the new lives). Yields after the
        binning, after each slice of predictions and after every :data:`TREES_PER_STEP` trees;
        this model is unchanged."""
        x = np.asarray(x, dtype=float)
        self._check_extend(x, y)
        bins = np.empty(x.shape, dtype=np.min_scalar_type(self.max_bins))
        yield from self._bin_into(x, bins)
        pred = np.empty(x.shape[0])
        for lo in range(0, x.shape[0], PREDICT_SLICE_ROWS):
            pred[lo : lo + PREDICT_SLICE_ROWS] = self.predict(x[lo : lo + PREDICT_SLICE_ROWS])
            yield 0
        return (yield from self.extend_binned_steps(bins, pred, y, n_more, seed))

    def extend_binned_steps(self, bins: BinArray, pred: FloatArray, y: FloatArray, n_more: int,
                            seed: int) -> Generator[int, None, GradientBoostedTrees]:
        """:meth:`extend_steps` on rows given as their bins (:meth:`bin_rows`) and this model's
        predictions of them (:meth:`predict`): the same ensemble, without binning or predicting
        rows again. ``pred`` is not modified. Yields after every :data:`TREES_PER_STEP` trees."""
        y = np.asarray(y, dtype=float)
        self._check_extend(bins, y)
        ext = copy.copy(self)
        xb = self._codes(list(bins.T))
        n_nodes = self.value.shape[1]
        ext.feature = np.vstack([self.feature, np.full((n_more, n_nodes), -1, dtype=np.int32)])
        ext.threshold = np.vstack([self.threshold, np.zeros((n_more, n_nodes))])
        ext.value = np.vstack([self.value, np.zeros((n_more, n_nodes))])
        ext.n_trees = ext.value.shape[0]
        yield from ext._boost(bins.shape[1], xb, y, np.array(pred, dtype=float), self.value.shape[0],
                              np.random.default_rng(seed))
        return ext

    def _check_extend(self, x: npt.NDArray[np.generic], y: FloatArray) -> None:
        y = np.asarray(y)
        if not self.fitted or x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2 * self.min_leaf:
            msg = f"gbm extend needs a fitted model, (n, d) rows and n targets, got {x.shape}"
            raise ValueError(msg)

    def __getstate__(self) -> dict[str, object]:
        """The fitted arrays only (the prediction layout is rebuilt where the model is used)."""
        state = self.__dict__.copy()
        state.pop("_walk", None)
        state.pop("_rows", None)
        return state

    def _walk_layout(self) -> tuple[npt.NDArray[np.int32], FloatArray, FloatArray]:
        """:func:`~.tree_growth.full_depth_layout` of the trees, cached until they change (a fit
        writes new arrays, a copy by :meth:`extend_steps` has its own)."""
        cached = self.__dict__.get("_walk")
        if cached is None or cached[0] is not self.value:
            cached = (self.value, *full_depth_layout(self.feature, self.threshold, self.value))
            self.__dict__["_walk"] = cached
        return cached[1], cached[2], cached[3]

    def predict(self, x: FloatArray) -> FloatArray:
        """Predictions for rows ``x`` (n, d); the training mean before any fit.

        All trees are walked at once (one array step per level, flat ``take`` s on the
        full-depth layout), in chunks of rows.
        """
        x = np.atleast_2d(np.asarray(x, dtype=float))
        out = np.full(x.shape[0], self.base)
        n_trees = self.value.shape[0]
        if n_trees == 0:
            return out
        feature, threshold, value = (a.ravel() for a in self._walk_layout())
        trees = (np.arange(n_trees) * self.value.shape[1])[None, :]
        d = x.shape[1]
        chunk = max(1, 2**20 // n_trees)
        for lo in range(0, x.shape[0], chunk):
            xs = np.ascontiguousarray(x[lo : lo + chunk]).ravel()
            rows = (np.arange(xs.size // d) * d)[:, None]
            node = np.zeros((rows.shape[0], n_trees), dtype=np.intp)
            for _ in range(self.max_depth):
                at = node + trees
                right = xs.take(rows + feature.take(at)) >= threshold.take(at)
                node = 2 * node + 1 + right
            out[lo : lo + chunk] += value.take(node + trees).sum(axis=1)
        return out
