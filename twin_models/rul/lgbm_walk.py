"""A numpy walker of a LightGBM booster's trees, bit-identical to ``Booster.predict`` (small batches).

Why: ``lightgbm.Booster.predict`` costs ~0.2-0.3 ms of fixed overhead per call (parameter
strings, ctypes, its own checks), and the fleet view predicts ONE row per scored window through
every booster of the fleet model. :class:`TreeWalker` walks all the trees of one booster at once,
one array step per tree level, from the booster's own model string.

Bit-identical, because it follows what LightGBM 4's C++ does for a dense float64 row of a
regression model (``c_api.cpp`` row functions, ``Tree::NumericalDecision``, ``GBDT::PredictRaw``):

* an input value with ``|v| <= kZeroThreshold`` (``1e-35f``) is read as 0.0 (LightGBM keeps only
  the row's non-zero values and fills the rest with 0.0);
* at a split whose missing type is not NaN, a NaN value is read as 0.0; a value that is missing
  (NaN at a NaN-type split, zero at a Zero-type split) goes to the split's default side;
  otherwise ``value <= threshold`` goes left;
* a one-leaf tree gives its leaf's value; the row's prediction is ``0.0`` plus each tree's leaf
  value in the model's tree order, one addition at a time (an ``add.accumulate``, never a
  pairwise ``sum``); a regression objective's output is that raw sum.

The model string's doubles are printed with 17 significant digits (LightGBM's own format), so
``float()`` reads back exactly what LightGBM parsed. What this walker does not model (categorical
splits, linear trees, several trees per iteration, an objective that transforms the raw score,
averaged outputs) makes :meth:`TreeWalker.from_model_strings` return None: the caller then keeps
LightGBM's own predict. ``tests/unit/test_lgbm_walk.py`` compares both on random rows with NaN,
infinities, zeros and values equal to the thresholds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ZERO_THRESHOLD", "TreeWalker"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
ZERO_THRESHOLD = float(np.float32(1e-35))
"""LightGBM's ``kZeroThreshold`` (a ``1e-35f`` float literal widened to double)."""
_CATEGORICAL, _DEFAULT_LEFT = 1, 2  # decision_type bits
_MISSING_ZERO, _MISSING_NAN = 1, 2  # (decision_type >> 2) & 3
_OBJECTIVES = ("regression", "regression_l2", "l2", "mean_squared_error", "mse")


@dataclass(frozen=True)
class _Tree:
    feature: list[int]
    threshold: list[float]
    decision: list[int]
    left: list[int]
    right: list[int]
    value: list[float]


def _header(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, val = line.partition("=")
        if sep:
            out[key.strip()] = val.strip()
    return out


def _parse_tree(block: str) -> _Tree | None:
    """One ``Tree=k`` block; None for what the walker does not model."""
    kv = _header(block)
    n_leaves = int(kv["num_leaves"])
    if int(kv.get("num_cat", "0")) != 0 or int(kv.get("is_linear", "0")) != 0 or n_leaves < 1:
        return None
    value = [float(v) for v in kv["leaf_value"].split()]
    if len(value) != n_leaves:
        return None
    if n_leaves == 1:
        return _Tree([], [], [], [], [], value)
    cols = [kv[k].split() for k in ("split_feature", "threshold", "decision_type", "left_child",
                                    "right_child")]
    if any(len(c) != n_leaves - 1 for c in cols):
        return None
    feature, decision, left, right = ([int(v) for v in c] for c in (cols[0], *cols[2:]))
    if any(d & _CATEGORICAL for d in decision):
        return None
    return _Tree(feature, [float(v) for v in cols[1]], decision, left, right, value)


class TreeWalker:
    """The trees of one or more LightGBM regression boosters as flat arrays, walked together.

    Layout: every internal node of every tree first (tree by tree, booster by booster), then
    every leaf. A prediction finds each internal node's side for the row (one array step over
    all nodes), turns that into each node's next node (a leaf's next node is itself), then
    follows the next nodes from every root ``depth`` times (the deepest tree's depth).
    """

    def __init__(self, boosters: list[list[_Tree]], n_features: int) -> None:
        trees = [t for b in boosters for t in b]
        n_int = sum(len(t.feature) for t in trees)
        feature: list[int] = []
        threshold: list[float] = []
        decision: list[int] = []
        left: list[int] = []
        right: list[int] = []
        value: list[float] = []
        roots: list[int] = []
        depth = 0
        for t in trees:
            base, leaf0 = len(feature), n_int + len(value)
            roots.append(base if t.feature else leaf0)
            feature += t.feature
            threshold += t.threshold
            decision += t.decision
            left += (base + c if c >= 0 else leaf0 + ~c for c in t.left)
            right += (base + c if c >= 0 else leaf0 + ~c for c in t.right)
            value += t.value
            depth = max(depth, _depth(t))
        dec = np.array(decision, dtype=np.int64)
        missing = (dec >> 2) & 3
        self.n_features = n_features
        self.depth = depth
        self.n_internal = n_int
        self.segments = np.cumsum([0] + [len(b) for b in boosters]).tolist()  # trees per booster
        self.roots: IntArray = np.array(roots, dtype=np.intp)
        self.feature: IntArray = np.array(feature, dtype=np.intp)
        self.threshold: FloatArray = np.array(threshold, dtype=np.float64)
        self.left: IntArray = np.array(left, dtype=np.intp)
        self.right: IntArray = np.array(right, dtype=np.intp)
        self.leaf_self: IntArray = np.arange(n_int, n_int + len(value), dtype=np.intp)
        self.value: FloatArray = np.concatenate([np.zeros(n_int), np.array(value, dtype=np.float64)])
        self.nan_missing = missing == _MISSING_NAN
        self.zero_missing = missing == _MISSING_ZERO
        self.default_left = (dec & _DEFAULT_LEFT) != 0
        self.any_zero_missing = bool(self.zero_missing.any())

    @classmethod
    def from_model_strings(cls, models: tuple[str, ...] | list[str]) -> TreeWalker | None:
        """The walker of LightGBM model strings (their predictions summed in this order); None
        if one holds what the walker does not model (then LightGBM's own predict is the one to
        use), they disagree on the number of features, or a split names a feature past it."""
        try:  # LightGBM has parsed these strings already; anything else here: LightGBM's predict
            parsed = [_parse_model(m) for m in models]
        except (KeyError, ValueError, IndexError):
            return None
        if not parsed or any(p is None for p in parsed):
            return None
        widths = {p[1] for p in parsed if p is not None}
        width = widths.pop() if len(widths) == 1 else 0
        trees = [p[0] for p in parsed if p is not None]
        if width < 1 or any(f >= width or f < 0 for b in trees for t in b for f in t.feature):
            return None
        return cls(trees, width)

    def predict(self, x: FloatArray) -> FloatArray:
        """LightGBM's predictions of rows ``x`` (n, n_features), each booster's summed in order
        (``0.0 + first + second ...``, as ``out += booster.predict(x)`` one booster at a time)."""
        n, d = x.shape
        if d != self.n_features:
            msg = f"lightgbm walker: rows have {d} columns, the model {self.n_features}"
            raise ValueError(msg)
        x = np.where(np.abs(x) <= ZERO_THRESHOLD, 0.0, x)  # NaN stays NaN
        v = x.take(self.feature, axis=1)  # (n, internal nodes)
        if self.any_zero_missing or bool(np.isnan(x).any()):
            nan = np.isnan(v)
            v = np.where(nan & ~self.nan_missing, 0.0, v)
            missing = (nan & self.nan_missing) | (self.zero_missing & (v == 0.0))
            go_left = np.where(missing, self.default_left, v <= self.threshold)
        else:
            go_left = v <= self.threshold
        nxt = np.where(go_left, self.left, self.right)
        width = self.value.size
        if n == 1:
            nxt = np.concatenate((nxt.ravel(), self.leaf_self))
            node = self.roots
            for _ in range(self.depth):
                node = nxt.take(node)
            leaves = self.value.take(node)[None, :]
        else:
            rows = (np.arange(n, dtype=np.intp) * width)[:, None]
            nxt = np.concatenate((nxt, np.broadcast_to(self.leaf_self, (n, self.leaf_self.size))), axis=1)
            nxt += rows
            node = self.roots + rows
            flat = nxt.ravel()
            for _ in range(self.depth):
                node = flat.take(node)
            leaves = self.value.take(node - rows)
        out = np.zeros(n)
        for lo, hi in itertools.pairwise(self.segments):
            if hi > lo:  # one addition at a time in tree order (GBDT::PredictRaw), then += 0.0 + that
                out += np.add.accumulate(leaves[:, lo:hi], axis=1)[:, -1]
        return out


def _parse_model(model: str) -> tuple[list[_Tree], int] | None:
    """One model string's trees and number of features; None for what the walker does not model."""
    head, sep, rest = model.partition("\nTree=")
    kv = _header(head)
    if not sep or kv.get("num_class", "1") != "1" or kv.get("num_tree_per_iteration", "1") != "1":
        return None
    if kv.get("objective") not in _OBJECTIVES or "\naverage_output" in head or "max_feature_idx" not in kv:
        return None
    body = rest.split("\nend of trees", 1)[0]
    trees = [_parse_tree(b) for b in ("Tree=" + body).split("\nTree=")]
    if not trees or any(t is None for t in trees):
        return None
    return [t for t in trees if t is not None], int(kv["max_feature_idx"]) + 1


def _depth(t: _Tree) -> int:
    """Levels from the root to the deepest leaf (0 for a one-leaf tree)."""
    if not t.feature:
        return 0
    deepest, stack = 0, [(0, 1)]
    while stack:
        i, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in (t.left[i], t.right[i]) if c >= 0)
    return deepest
