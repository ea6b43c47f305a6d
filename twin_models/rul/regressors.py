"""The regressor behind the fleet RUL regression, chosen by configuration (``[twin.fleet] regressor``).

``"lightgbm"`` (the fleet's default since round 19) is gradient boosting by LightGBM
(:mod:`twin_models.rul.lgbm_trees`), with the settings of ``"trees"``, the numpy gradient-boosted
trees of :mod:`twin_models.rul.trees` (the default before; LightGBM's learner takes ~37 % less
CPU for as good an RMSE on C-MAPSS: benchmarks/RESULTS.md, round 19, part fleetlgb).
``"river.<module>.<Name>"`` is one of River's regressors (:data:`RIVER_REGRESSORS`):
:class:`RiverRegressor` gives it the batch ``fit(x, y)`` / ``predict(x)`` of the trees, so that
:class:`~twin_models.rul.regression.RegressionRul` refits either the same way: a fresh River
model learns every stored row once (``learn_one(x, y)``, rows in a seeded random order), then
``predict_one`` gives each prediction. River's verbs keep River's meaning here: ``x`` are a
window's condition features, ``y`` its remaining life.

:func:`river_model` is the River estimator a name selects (``river.base.Regressor``, every one
checked by the same contract test), the trees included (:class:`~.online_trees.OnlineTrees`, with
either booster).
Scaling: the fleet's batch refit (:class:`RiverRegressor`) standardises features AND target
with the batch's own statistics for every River model (remaining lives are ~10^5-10^6 s; online
scalers explode on their first rows: see the class). For rows that arrive one at a time
(:func:`river_model`), the linear model and the neighbours see features standardised online
(``preprocessing.StandardScaler``) and the linear model a standardised target
(``preprocessing.TargetStandardScaler``, :mod:`.target_scaling`).
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Iterator
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from river import base

from twin_models.rul import lgbm_trees
from twin_models.rul.lgbm_trees import LightGBMTrees
from twin_models.rul.trees import GradientBoostedTrees

__all__ = ["BOOSTED", "REGRESSORS", "RIVER_REGRESSORS", "BatchRegressor", "RiverRegressor", "make_regressor",
           "regressor_problem", "river_model"]

FloatArray = npt.NDArray[np.float64]

RIVER_REGRESSORS: tuple[str, ...] = (
    "river.linear_model.LinearRegression",
    "river.tree.HoeffdingTreeRegressor",
    "river.tree.HoeffdingAdaptiveTreeRegressor",
    "river.forest.ARFRegressor",
    "river.neighbors.KNNRegressor",
)
"""River regressors a fleet may choose (fit from dict rows; scaled first when linear)."""

BOOSTED: tuple[str, ...] = ("trees", "lightgbm")
"""Batch gradient boosting: our numpy trees, or LightGBM with the same settings."""

REGRESSORS: tuple[str, ...] = (*BOOSTED, *RIVER_REGRESSORS)

_SCALED = ("river.linear_model.", "river.neighbors.")
_TARGET_SCALED = ("river.linear_model.",)
CLIP_SD = 5.0
"""Standardised features are clipped to +-5 sd in a River refit: a heavy-tailed feature (a slope
that is ~0 but for a few windows) reaches ~sqrt(n) sd, and one such row makes SGD diverge."""


class BatchRegressor(Protocol):
    """What the regression RUL refits: rows (n, d) and targets (n,) in, predictions out."""

    def fit(self, x: FloatArray, y: FloatArray) -> Any: ...  # noqa: D102

    def predict(self, x: FloatArray) -> FloatArray: ...  # noqa: D102

    def fit_steps(self, x: FloatArray, y: FloatArray) -> Iterator[int]: ...  # noqa: D102


def regressor_problem(name: str) -> str | None:
    """None when ``name`` is a known regressor, else the choices."""
    return None if name in REGRESSORS else f"must be one of {', '.join(REGRESSORS)}"


def _bare_model(name: str, seed: int) -> base.Regressor:
    module, _, cls_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        return cls(seed=seed)  # type: ignore[no-any-return]
    except TypeError:
        return cls()  # type: ignore[no-any-return]


def river_model(name: str, seed: int = 0) -> base.Regressor:
    """The River regressor a fleet's ``regressor`` name selects, untrained, for rows that arrive
    one at a time: ``"trees"`` and ``"lightgbm"`` are :class:`~twin_models.rul.online_trees.OnlineTrees`
    (refits of that booster); River's
    linear model and neighbours get online scalers as the module says. Raises ValueError for an
    unknown name."""
    problem = regressor_problem(name)
    if problem is not None:
        msg = f"regressor {name!r}: {problem}"
        raise ValueError(msg)
    if name in BOOSTED:
        from twin_models.rul.online_trees import OnlineTrees

        return OnlineTrees(seed=seed, booster=name)
    model = _bare_model(name, seed)
    if not name.startswith(_SCALED):
        return model
    # imported here: River's preprocessing module imports its trees and scipy.stats (~1 CPU s
    # of every twin command's start-up), and only River regressors need it
    from river import compose, preprocessing

    scaled = compose.Pipeline(preprocessing.StandardScaler(), model)
    if name.startswith(_TARGET_SCALED):
        from twin_models.rul.target_scaling import StandardisedTarget

        return StandardisedTarget(regressor=scaled)  # type: ignore[arg-type]
    return scaled  # type: ignore[return-value]


class RiverRegressor:
    """A River regressor refitted on a batch of rows: one online pass in a seeded order.

    The batch is known before the pass, so its features and target are standardised with the
    batch's own means and deviations (exact, fixed for the pass; a constant column stays 0)
    rather than by online scalers: an online scaler's first rows see variances near 0 (C-MAPSS's
    discrete sensors), the scaled values explode and SGD diverges (FD001 RMSE 91.9). Each
    standardised row is clipped to +-:data:`CLIP_SD` and divided by sqrt(d) (d features): a
    typical row then has norm ~1 whatever d, so River's default SGD step (0.01) is a step of ~1 %
    of the error per row, stable for any number of features (normalised LMS); order-preserving,
    so River's trees split as before, and uniform, so the neighbours' distances rank alike. The
    River model itself is bare (River's defaults); predictions are mapped back to the target's
    scale.
    """

    x_mean: FloatArray | None = None  # class defaults: models pickled before the scaling
    x_scale: FloatArray | None = None
    y_mean, y_scale = 0.0, 1.0

    def __init__(self, name: str, seed: int = 0) -> None:
        problem = regressor_problem(name)
        if problem is not None or name in BOOSTED:
            msg = f"RiverRegressor {name!r}: {problem or 'not a River regressor'}"
            raise ValueError(msg)
        self.name = name
        self.seed = seed
        self.model = _bare_model(name, seed)

    def _row(self, r: FloatArray) -> dict[Hashable, Any]:
        if self.x_mean is not None and self.x_scale is not None:
            r = np.clip((r - self.x_mean) / self.x_scale, -CLIP_SD, CLIP_SD) / np.sqrt(r.size)
        return {j: float(v) for j, v in enumerate(r)}

    def fit(self, x: FloatArray, y: FloatArray) -> RiverRegressor:
        """A fresh model learns every row once."""
        for _ in self.fit_steps(x, y):
            pass
        return self

    def fit_steps(self, x: FloatArray, y: FloatArray, rows_per_step: int = 200) -> Iterator[int]:
        """:meth:`fit` in slices of ``rows_per_step`` rows (yields the rows learnt so far)."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.model = _bare_model(self.name, self.seed)
        sd = x.std(axis=0)
        self.x_mean, self.x_scale = x.mean(axis=0), np.where(sd > 0, sd, 1.0)
        self.y_mean, self.y_scale = float(y.mean()), float(y.std()) or 1.0
        z = (y - self.y_mean) / self.y_scale
        order = np.random.default_rng(self.seed).permutation(len(y))
        for k, i in enumerate(order, 1):
            self.model.learn_one(self._row(x[i]), float(z[i]))
            if k % rows_per_step == 0:
                yield k

    def predict(self, x: FloatArray) -> FloatArray:
        """Predictions of rows ``x`` (n, d), on the target's scale."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        z = np.array([float(self.model.predict_one(self._row(r)) or 0.0) for r in x])
        return z * self.y_scale + self.y_mean


def make_regressor(name: str, seed: int, *, stages: float = 1.0,
                   max_rows: int | None = None) -> BatchRegressor:
    """An unfitted regressor of the configured kind; boosted trees (ours or LightGBM's) with
    ``stages`` < 1 boost that share of the stages at a learning rate raised in proportion
    (shrinkage x stages kept: a cheaper model of about the same fit); ``max_rows`` caps the rows
    sampled per tree. River models ignore both."""
    if name in BOOSTED:
        model: GradientBoostedTrees | LightGBMTrees = (
            GradientBoostedTrees(seed=seed) if name == "trees"
            else LightGBMTrees(seed=seed, num_threads=lgbm_trees.NUM_THREADS))
        if max_rows is not None:
            model.max_rows = max_rows
        if stages != 1.0:
            model.n_trees = max(1, round(model.n_trees * stages))
            model.learning_rate = model.learning_rate / stages
        return model
    return RiverRegressor(name, seed)
