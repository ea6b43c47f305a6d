"""The regressor behind the fleet RUL regression, chosen by configuration (``[twin.fleet] regressor``).

``"trees"`` (the default) is the numpy gradient-boosted trees of :mod:`twin_models.rul.trees`.
``"river.<module>.<Name>"`` is one of River's regressors (:data:`RIVER_REGRESSORS`):
:class:`RiverRegressor` gives it the batch ``fit(x, y)`` / ``predict(x)`` of the trees, so that
:class:`~twin_models.rul.regression.RegressionRul` refits either the same way: a fresh River
model learns every stored row once (``learn_one(x, y)``, rows in a seeded random order, features
standardised online for the linear model), then ``predict_one`` gives each prediction. River's
verbs keep River's meaning here: ``x`` are a window's condition features, ``y`` its remaining life.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Iterator
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from river import base

from twin_models.rul.trees import GradientBoostedTrees

__all__ = ["REGRESSORS", "RIVER_REGRESSORS", "BatchRegressor", "RiverRegressor", "make_regressor",
           "regressor_problem"]

FloatArray = npt.NDArray[np.float64]

RIVER_REGRESSORS: tuple[str, ...] = (
    "river.linear_model.LinearRegression",
    "river.tree.HoeffdingTreeRegressor",
    "river.tree.HoeffdingAdaptiveTreeRegressor",
    "river.forest.ARFRegressor",
    "river.neighbors.KNNRegressor",
)
"""River regressors a fleet may choose (fit from dict rows; scaled first when linear)."""

REGRESSORS: tuple[str, ...] = ("trees", *RIVER_REGRESSORS)

_SCALED = ("river.linear_model.", "river.neighbors.")


class BatchRegressor(Protocol):
    """What the regression RUL refits: rows (n, d) and targets (n,) in, predictions out."""

    def fit(self, x: FloatArray, y: FloatArray) -> Any: ...  # noqa: D102

    def predict(self, x: FloatArray) -> FloatArray: ...  # noqa: D102

    def fit_steps(self, x: FloatArray, y: FloatArray) -> Iterator[int]: ...  # noqa: D102


def regressor_problem(name: str) -> str | None:
    """None when ``name`` is a known regressor, else the choices."""
    return None if name in REGRESSORS else f"must be one of {', '.join(REGRESSORS)}"


def _river_model(name: str, seed: int) -> base.Regressor:
    module, _, cls_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        model = cls(seed=seed)
    except TypeError:
        model = cls()
    if name.startswith(_SCALED):
        # imported here: River's preprocessing module imports its trees and scipy.stats (~1 CPU s
        # of every twin command's start-up), and only River regressors need it
        from river import compose, preprocessing

        return compose.Pipeline(preprocessing.StandardScaler(), model)  # type: ignore[return-value]
    return model  # type: ignore[no-any-return]


class RiverRegressor:
    """A River regressor refitted on a batch of rows: one online pass in a seeded order."""

    def __init__(self, name: str, seed: int = 0) -> None:
        problem = regressor_problem(name)
        if problem is not None or name == "trees":
            msg = f"RiverRegressor {name!r}: {problem or 'not a River regressor'}"
            raise ValueError(msg)
        self.name = name
        self.seed = seed
        self.model = _river_model(name, seed)

    @staticmethod
    def _row(r: FloatArray) -> dict[Hashable, Any]:
        return {j: float(v) for j, v in enumerate(r)}

    def fit(self, x: FloatArray, y: FloatArray) -> RiverRegressor:
        """A fresh model learns every row once."""
        for _ in self.fit_steps(x, y):
            pass
        return self

    def fit_steps(self, x: FloatArray, y: FloatArray, rows_per_step: int = 200) -> Iterator[int]:
        """:meth:`fit` in slices of ``rows_per_step`` rows (yields the rows learnt so far)."""
        self.model = _river_model(self.name, self.seed)
        order = np.random.default_rng(self.seed).permutation(len(y))
        for k, i in enumerate(order, 1):
            self.model.learn_one(self._row(x[i]), float(y[i]))
            if k % rows_per_step == 0:
                yield k

    def predict(self, x: FloatArray) -> FloatArray:
        """Predictions of rows ``x`` (n, d)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return np.array([float(self.model.predict_one(self._row(r)) or 0.0) for r in x])


def make_regressor(name: str, seed: int, *, stages: float = 1.0,
                   max_rows: int | None = None) -> BatchRegressor:
    """An unfitted regressor of the configured kind; trees with ``stages`` < 1 boost that share
    of the stages at a learning rate raised in proportion (shrinkage x stages kept: a cheaper
    model of about the same fit); ``max_rows`` caps the rows sampled per tree. River models
    ignore both."""
    if name == "trees":
        model = GradientBoostedTrees(seed=seed)
        if max_rows is not None:
            model.max_rows = max_rows
        if stages != 1.0:
            model.n_trees = max(1, round(model.n_trees * stages))
            model.learning_rate = model.learning_rate / stages
        return model
    return RiverRegressor(name, seed)
