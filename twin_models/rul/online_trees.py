"""The gradient-boosted trees with River's regressor verbs (``learn_one`` / ``predict_one``).

The fleet regression refits its trees on whole completed lives (a batch fit,
:class:`~twin_models.rul.trees.GradientBoostedTrees`), while River's regressors learn one row at a
time. :class:`OnlineTrees` gives the trees River's contract (``river.base.Regressor``), so that
every regressor a fleet may select (``[twin.fleet] regressor``) is one River estimator and passes
the same checks (``tests/contract/test_regressor_contracts.py``):

- ``learn_one(x, y)`` keeps the row in a bounded window of the last ``max_rows`` rows and refits
  the ensemble once the rows learnt have grown by ``refit_growth`` since the last fit (at least
  ``min_rows`` rows): the refit-on-growth rule of the fleet learner, per row instead of per life;
- ``predict_one(x)`` is pure: the last fit's prediction (0.0 before the first fit);
- features are the names seen so far, as columns in a canonical order (sorted by ``repr``: the
  order of a dict's keys changes nothing); a missing one counts as 0.0 (as River's linear models
  treat it), a new one enters at the next refit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any

import numpy as np
from river import base

from twin_models.rul.lgbm_trees import LightGBMTrees
from twin_models.rul.trees import GradientBoostedTrees

__all__ = ["OnlineTrees"]


class OnlineTrees(base.Regressor):
    """Gradient-boosted trees refitted on a bounded window of rows as rows arrive.

    ``n_trees``, ``max_depth``, ``min_leaf``: the ensemble's (:class:`GradientBoostedTrees`);
    ``max_rows``: rows kept (the oldest go first); ``refit_growth``: relative growth of the rows
    learnt that triggers a refit; ``min_rows``: rows before the first fit; ``seed``: the trees'
    draws (a refit after ``n`` rows uses ``seed + n``: reproducible); ``booster``: ``"trees"``
    (:class:`GradientBoostedTrees`) or ``"lightgbm"`` (:class:`~.lgbm_trees.LightGBMTrees`).
    """

    def __init__(self, n_trees: int = 200, max_depth: int = 5, min_leaf: int = 20,
                 max_rows: int = 5000, refit_growth: float = 0.1, min_rows: int = 100,
                 seed: int = 0, booster: str = "trees") -> None:
        self.n_trees = n_trees
        self.max_depth = max_depth
        self.min_leaf = min_leaf
        self.max_rows = max_rows
        self.refit_growth = refit_growth
        self.min_rows = min_rows
        self.seed = seed
        self.booster = booster
        self.names: dict[Hashable, int] = {}
        self.rows: deque[tuple[dict[Hashable, float], float]] = deque(maxlen=max_rows)
        self.n_learned = 0
        self.n_at_fit = 0
        self.model: GradientBoostedTrees | LightGBMTrees | None = None
        self.fit_names: dict[Hashable, int] = {}

    @property
    def _is_stochastic(self) -> bool:
        return True

    @classmethod
    def _unit_test_params(cls) -> Any:
        yield {"n_trees": 20, "min_leaf": 5, "min_rows": 40, "refit_growth": 0.5}

    def _vector(self, x: dict[Hashable, Any], names: dict[Hashable, int]) -> np.ndarray:
        row = np.zeros(len(names))
        for k, v in x.items():
            j = names.get(k)
            if j is not None:
                row[j] = float(v)
        return row

    def learn_one(self, x: dict[Hashable, Any], y: base.typing.RegTarget) -> None:
        """Keep the row; refit once the rows learnt have grown by ``refit_growth``."""
        for k in x:
            self.names.setdefault(k, len(self.names))
        self.rows.append(({k: float(v) for k, v in x.items()}, float(y)))
        self.n_learned += 1
        grown = self.n_learned - self.n_at_fit >= max(1.0, self.refit_growth * self.n_at_fit)
        if len(self.rows) >= max(self.min_rows, 2 * self.min_leaf) and grown:
            self._refit()

    def _refit(self) -> None:
        names = {k: j for j, k in enumerate(sorted(self.names, key=repr))}
        xs = np.vstack([self._vector(r, names) for r, _ in self.rows])
        ys = np.array([t for _, t in self.rows])
        cls = LightGBMTrees if self.booster == "lightgbm" else GradientBoostedTrees
        model = cls(n_trees=self.n_trees, max_depth=self.max_depth, min_leaf=self.min_leaf,
                    seed=self.seed + self.n_learned)
        self.model = model.fit(xs, ys)
        self.fit_names = names
        self.n_at_fit = self.n_learned

    def predict_one(self, x: dict[Hashable, Any]) -> base.typing.RegTarget:
        """The last fit's prediction of ``x`` (0.0 before any fit); never changes state."""
        if self.model is None:
            return 0.0
        return float(self.model.predict(self._vector(x, self.fit_names)[None, :])[0])
