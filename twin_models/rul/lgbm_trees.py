"""Gradient-boosted trees by LightGBM, with the contract of our numpy trees (``regressor = "lightgbm"``).

:class:`LightGBMTrees` is a drop-in for :class:`~twin_models.rul.trees.GradientBoostedTrees` in
the fleet learner: ``fit`` / ``predict``, ``fit_steps`` (a fit in bounded slices of work),
``extend_steps`` / ``extend_binned_steps`` (a catch-up: more stages boosted on the residuals of
this model's predictions) and ``bin_rows`` (what a catch-up keeps per life). The settings mirror
the numpy trees' (chosen a priori, not tuned): 200 stages at shrinkage 0.08, depth 5 (32
leaves), 20 rows per leaf at least, L2 1.0, 48 bins per column, a seeded sample of
``min(0.6 n, max_rows)`` rows per stage (LightGBM's bagging, redrawn every stage).

Why the slices are built by hand: ``lightgbm.Dataset(x)`` bins every row in one call (~0.3 s of
CPU for the 20,000 x 85 rows of C-MAPSS FD001), far over the learner step's 50 ms budget. The
dataset is built as LightGBM builds one from a ``lightgbm.Sequence``: bin edges found on a seeded
sample of :data:`SAMPLE_ROWS` rows, then the rows pushed :data:`PUSH_ROWS` at a time (LightGBM's
``Dataset._init_from_sample`` / ``Dataset._push_rows``, which its Sequence path uses; pinned by
the version range in pyproject.toml and by ``tests/unit/test_lgbm_trees.py``). Each
``Booster.update()`` is one stage; :data:`STAGES_PER_STEP` stages make a slice.

Determinism: ``deterministic=True``, a fixed :data:`NUM_THREADS`, every seed derived from
``seed``: the same rows give the same model bit for bit, run to run.

A catch-up's stages are a second booster trained from the base's predictions (``init_score``),
so the base's predictions of the stored rows (kept per life by the learner) are all it needs; the
model predicts the sum of its boosters. Pickled as LightGBM's model strings (text) inside this
class: the fleet-model topic's unpickler (``flows.app.fleet_topic``) allows ``twin_models``
classes and plain data, never ``lightgbm``'s own; a string LightGBM cannot parse fails the
unpickling (the message is refused).

Predictions of up to :data:`WALK_ROWS` rows (the fleet view's one row per window) are made by
:class:`~twin_models.rul.lgbm_walk.TreeWalker` from the model strings, bit-identical to
LightGBM's, without ``Booster.predict``'s per-call overhead; the walker is built once per
:attr:`~LightGBMTrees.models` and, like the parsed boosters, never pickled.

``lightgbm`` is imported where it is used: importing it costs ~0.5 s of CPU (it probes for
pandas, pyarrow ...), which commands that never fit or load such a model should not pay.
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from twin_models.rul.lgbm_walk import TreeWalker

__all__ = ["NUM_THREADS", "LightGBMTrees"]

FloatArray = npt.NDArray[np.float64]
NUM_THREADS = 1
"""LightGBM's threads, fixed (its results do not depend on them with ``deterministic``, but its
time does: see RESULTS.md, round 19, part fleetlgb)."""
SAMPLE_ROWS = 2000
"""Rows sampled to find the bin edges (~25 ms of CPU at 85 columns; LightGBM's own default
samples up to 200,000 rows, ~0.2 s here)."""
PUSH_ROWS = 1000
"""Rows binned into the dataset per slice (~7 ms of CPU at 85 columns)."""
STAGES_PER_STEP = 2
"""Boosting stages (``Booster.update()``) per slice: ~3 ms each on 20,000 rows."""
PREDICT_ROWS = 500
"""Rows predicted per slice of :meth:`LightGBMTrees.extend_steps` (~5 ms with 200 stages)."""
WALK_ROWS = 4
"""At most this many rows are predicted by the numpy walker, more by LightGBM: one row ~26 us
by the walker vs ~100 us by LightGBM (200 + 30 trees, 85 columns), even at ~8 rows (RESULTS.md,
round 20, part lgbwalk)."""


def _quiet_dataset(lgb: Any, params: dict[str, Any]) -> Any:
    """An empty ``lightgbm.Dataset`` whose sampled construction keeps ``verbosity`` and
    ``num_threads``.

    Why: the sampled path passes LightGBM only the dataset's own parameters, neither of those
    among them, so LightGBM's log level returns to its default there (it then prints a warning on
    stdout for a sample under 20 % of the rows; ours is :data:`SAMPLE_ROWS`, a deliberate bound)
    and the binning would use OpenMP's default threads, not the fixed :data:`NUM_THREADS`."""

    class QuietDataset(lgb.Dataset):  # type: ignore[misc]
        def get_params(self) -> dict[str, Any]:
            return {**super().get_params(), "verbosity": params["verbosity"],
                    "num_threads": params["num_threads"]}

    return QuietDataset(None, params=params, free_raw_data=True)


class LightGBMTrees:
    """Least-squares gradient boosting by LightGBM, fitted in bounded slices."""

    def __init__(self, *, n_trees: int = 200, learning_rate: float = 0.08, max_depth: int = 5,
                 min_leaf: int = 20, l2: float = 1.0, max_bins: int = 48, subsample: float = 0.6,
                 max_rows: int = 5000, seed: int = 0, num_threads: int = NUM_THREADS) -> None:
        self.n_trees = n_trees
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_leaf = min_leaf
        self.l2 = l2
        self.max_bins = max_bins
        self.subsample = subsample
        self.max_rows = max_rows
        self.seed = seed
        self.num_threads = num_threads
        self.n_features = 0
        self.models: tuple[str, ...] = ()  # LightGBM model strings: the fit, then each catch-up's

    @property
    def fitted(self) -> bool:
        """True once :meth:`fit` has run."""
        return bool(self.models)

    def params(self, n_rows: int, seed: int) -> dict[str, Any]:
        """LightGBM's parameters for a fit (or a catch-up) on ``n_rows`` rows drawn with ``seed``."""
        take = max(2 * self.min_leaf, min(int(self.subsample * n_rows), self.max_rows))
        fraction = min(1.0, take / max(1, n_rows))
        return {
            "objective": "regression", "learning_rate": self.learning_rate,
            "max_depth": self.max_depth, "num_leaves": 2**self.max_depth,
            "min_data_in_leaf": self.min_leaf, "min_sum_hessian_in_leaf": 0.0, "lambda_l2": self.l2,
            "max_bin": self.max_bins, "bagging_fraction": fraction,
            "bagging_freq": 1 if fraction < 1.0 else 0,
            "seed": seed, "bagging_seed": seed, "data_random_seed": seed, "feature_fraction_seed": seed,
            "deterministic": True, "force_row_wise": True, "num_threads": self.num_threads,
            "verbosity": -1,
        }

    def fit(self, x: FloatArray, y: FloatArray) -> LightGBMTrees:
        """Fit on rows ``x`` (n, d) and targets ``y`` (n,)."""
        for _ in self.fit_steps(x, y):
            pass
        return self

    def fit_steps(self, x: FloatArray, y: FloatArray, *, keep_rows: bool = False) -> Iterator[int]:
        """:meth:`fit` in slices (the same model as ``fit``): yields after the bin edges, after
        every :data:`PUSH_ROWS` rows binned and every :data:`STAGES_PER_STEP` stages.
        ``keep_rows`` is accepted for the trees' signature (nothing is kept: :meth:`fitted_rows`
        is None, the learner predicts the rows instead)."""
        x, y = self._check(x, y)
        self.n_features = x.shape[1]
        model = yield from self._boost_steps(x, y, None, self.n_trees, self.seed)
        self.models = (model,)
        self.__dict__["_parsed"] = None

    def _check(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] < 2 * self.min_leaf:
            msg = f"lightgbm fit needs (n, d) rows and n targets with n >= {2 * self.min_leaf}, got {x.shape}"
            raise ValueError(msg)
        return x, y

    def _boost_steps(self, x: FloatArray, y: FloatArray, init: FloatArray | None, stages: int,
                     seed: int) -> Generator[int, None, str]:
        """``stages`` stages boosted on ``(x, y)`` from ``init`` (None: the mean of ``y``), in
        slices; returns the booster's model string."""
        import lightgbm as lgb

        n = x.shape[0]
        params = self.params(n, seed)
        sample = np.sort(np.random.default_rng(seed).permutation(n)[:SAMPLE_ROWS]).astype(np.int32)
        data = _quiet_dataset(lgb, params)
        cols = [np.ascontiguousarray(c) for c in x[sample].T]
        # LightGBM takes a column's sample as its non-zero values and their positions
        nonzero = [(np.abs(c) > 1e-35) | np.isnan(c) for c in cols]
        data._init_from_sample([c[k] for c, k in zip(cols, nonzero, strict=True)],
                               [np.flatnonzero(k).astype(np.int32) for k in nonzero], sample.size, n)
        yield 0
        for lo in range(0, n, PUSH_ROWS):
            data._push_rows(x[lo : lo + PUSH_ROWS])
            yield 0
        data.set_label(y)
        if init is not None:
            data.set_init_score(np.asarray(init, dtype=np.float64))
        booster = lgb.Booster(params, data)
        yield 0
        for k in range(stages):
            booster.update()
            if (k + 1) % STAGES_PER_STEP == 0 or k + 1 == stages:
                yield k + 1
        model: str = booster.model_to_string()
        booster.free_dataset()
        return model

    def _boosters(self) -> list[Any]:
        """The boosters of :attr:`models`, parsed once (not pickled)."""
        cached = self.__dict__.get("_parsed")
        if cached is None:
            import lightgbm as lgb

            cached = [lgb.Booster(model_str=m) for m in self.models]
            self.__dict__["_parsed"] = cached
        return cached

    def _walker(self) -> TreeWalker | None:
        """The :class:`~twin_models.rul.lgbm_walk.TreeWalker` of :attr:`models` (None where it
        does not model them), built once per :attr:`models` (not pickled)."""
        cached = self.__dict__.get("_walk")
        if cached is None or cached[0] is not self.models:
            cached = (self.models, TreeWalker.from_model_strings(self.models))
            self.__dict__["_walk"] = cached
        walker: TreeWalker | None = cached[1]
        return walker

    def predict(self, x: FloatArray) -> FloatArray:
        """Predictions for rows ``x`` (n, d): the sum of the boosters' (0.0 before any fit).

        Up to :data:`WALK_ROWS` rows are walked by numpy (:mod:`twin_models.rul.lgbm_walk`,
        bit-identical to LightGBM's predict, without its per-call overhead); more go to
        LightGBM."""
        x = np.ascontiguousarray(np.atleast_2d(np.asarray(x, dtype=np.float64)))
        out = np.zeros(x.shape[0])
        if x.shape[0] == 0 or not self.models:
            return out
        if x.shape[0] <= WALK_ROWS:
            walker = self._walker()
            if walker is not None and walker.n_features == x.shape[1]:
                return walker.predict(x)
        for booster in self._boosters():
            out += booster.predict(x, num_threads=self.num_threads)
        return out

    def fitted_rows(self, lo: int, hi: int) -> None:
        """None: a fit keeps no rows (LightGBM's own training scores are not this model's
        predictions to the last bit; the learner predicts the rows instead)."""
        return None

    def drop_rows(self) -> None:
        """Nothing kept (:meth:`fitted_rows`)."""

    def bin_rows(self, x: FloatArray) -> FloatArray:
        """The rows a catch-up boosts on: the rows themselves (LightGBM bins a catch-up's
        dataset with edges of its own)."""
        return np.array(x, dtype=np.float64)

    def extend_steps(self, x: FloatArray, y: FloatArray, n_more: int,
                     seed: int) -> Generator[int, None, LightGBMTrees]:
        """A copy of this fitted model with ``n_more`` stages boosted on the residuals of its
        predictions of ``(x, y)`` (``seed`` draws the rows); this model is unchanged. Yields
        after every :data:`PREDICT_ROWS` rows predicted, then as :meth:`extend_binned_steps`."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        pred = np.empty(x.shape[0])
        for lo in range(0, x.shape[0], PREDICT_ROWS):
            pred[lo : lo + PREDICT_ROWS] = self.predict(x[lo : lo + PREDICT_ROWS])
            yield 0
        return (yield from self.extend_binned_steps(x, pred, y, n_more, seed))

    def extend_binned_steps(self, bins: FloatArray, pred: FloatArray, y: FloatArray, n_more: int,
                            seed: int) -> Generator[int, None, LightGBMTrees]:
        """:meth:`extend_steps` on rows (:meth:`bin_rows`) and this model's predictions of them:
        a booster of ``n_more`` stages from those predictions joins the model's."""
        if not self.fitted:
            msg = "lightgbm extend needs a fitted model"
            raise ValueError(msg)
        x, y = self._check(bins, y)
        more = yield from self._boost_steps(x, y, pred, n_more, seed)
        ext = copy.copy(self)
        ext.models = (*self.models, more)
        ext.__dict__["_parsed"] = None
        return ext

    def __getstate__(self) -> dict[str, object]:
        """Settings and model strings (the parsed boosters are rebuilt where they are used)."""
        state = self.__dict__.copy()
        state.pop("_parsed", None)
        state.pop("_walk", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore and parse the model strings now: a string LightGBM cannot read fails here
        (an untrusted payload is refused when it is unpickled, not at its first prediction)."""
        models = state.get("models")
        if not isinstance(models, tuple) or not all(isinstance(m, str) for m in models):
            msg = "LightGBMTrees state: models must be a tuple of LightGBM model strings"
            raise TypeError(msg)
        self.__dict__.update(state)
        self.__dict__["_parsed"] = None
        if models:
            self._boosters()
