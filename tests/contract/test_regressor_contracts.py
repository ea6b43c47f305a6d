"""Every regressor a fleet may select (``[twin.fleet] regressor``) is a River regressor and passes
the same checks: River's general estimator checks, then River's dataset checks run on a stream of
degrading lives (condition features in, remaining life in seconds out), ours and River's alike.

The trees (twinflow's default) take River's verbs through
:class:`~twin_models.rul.online_trees.OnlineTrees`; River's models are built as the fleet builds
them (:func:`~twin_models.rul.regressors.river_model`: scalers included).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from river import base

from tests.contract.test_river_checks import (  # River's checks, as the detectors'
    DATASET_CHECKS,
    general_checks,
)
from twin_models.rul.online_trees import OnlineTrees
from twin_models.rul.regressors import REGRESSORS, RiverRegressor, river_model

H = 3600.0


def lives(n_lives: int = 3, length: int = 90, *, seed: int = 4) -> list[tuple[dict[str, float], float]]:
    """Rows of ``n_lives`` run-to-failure lives: five sensors drift with wear, the target is the
    remaining life in seconds (up to ~3 * 10^5: the scale a fleet's regressor sees)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_lives):
        n = length + int(rng.integers(-20, 20))
        for i in range(n):
            wear = (i / n) ** 2
            x = {f"s{j}.level": float(10 * j + (j - 2) * 3 * wear + rng.normal(0, 0.3)) for j in range(5)}
            x["age_s"] = i * H
            rows.append((x, (n - i) * H))
    return rows


@pytest.mark.parametrize("name", REGRESSORS)
def test_every_selectable_regressor_passes_rivers_general_checks(name: str) -> None:
    model = river_model(name, seed=3)
    assert isinstance(model, base.Regressor)
    checks = list(general_checks(model))
    assert len(checks) >= 14, [c.__name__ for c in checks]
    for check in checks:
        check(model)


@pytest.mark.parametrize("check", DATASET_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", REGRESSORS)
def test_every_selectable_regressor_passes_rivers_dataset_checks(name: str,
                                                                 check: Callable[..., None]) -> None:
    check(river_model(name, seed=3), lives())


def test_the_linear_model_learns_a_standardised_target() -> None:
    """River's LinearRegression on a target of ~10^5 s and a discrete sensor (constant, then a
    rare step: C-MAPSS's quantised sensors): online scalers see a variance near 0, the scaled value
    explodes and SGD diverges; the fleet's refit standardises features and target with the batch's
    statistics and fits the lives, its model learning the target in standard units."""
    from river import compose, linear_model, preprocessing

    rows = lives(30, seed=11)
    x = np.array([[*r.values(), 1.0 if k % 97 == 96 else 0.0] for k, (r, _) in enumerate(rows)])
    y = np.array([t for _, t in rows])
    fleet = RiverRegressor("river.linear_model.LinearRegression", seed=0).fit(x, y)
    inner = fleet.model
    assert isinstance(inner, linear_model.LinearRegression)
    assert abs(inner.intercept) < 1.0 and max(abs(w) for w in inner.weights.values()) < 5.0
    online = compose.Pipeline(preprocessing.StandardScaler(), linear_model.LinearRegression())
    for i in np.random.default_rng(0).permutation(len(y)):
        online.learn_one(dict(enumerate(x[i])), y[i])
    online_pred = np.array([online.predict_one(dict(enumerate(r))) for r in x])
    rmse_fleet = float(np.sqrt(np.mean((fleet.predict(x) - y) ** 2)))
    rmse_online = float(np.sqrt(np.mean((online_pred - y) ** 2)))
    assert rmse_fleet < 0.4 * float(np.std(y)), (rmse_fleet, rmse_online, float(np.std(y)))
    assert rmse_fleet < 0.5 * rmse_online, (rmse_fleet, rmse_online)
    assert isinstance(river_model("river.linear_model.LinearRegression"), preprocessing.TargetStandardScaler)


def test_online_trees_refit_on_growth_in_a_bounded_window() -> None:
    model = OnlineTrees(n_trees=10, min_leaf=5, max_rows=150, min_rows=40, refit_growth=0.5)
    rows = lives(4, seed=2)
    fits = []
    for x, y in rows:
        model.learn_one(x, y)
        fits.append(model.n_at_fit)
    assert len(model.rows) == 150 < len(rows)  # bounded: the oldest rows went
    starts = sorted(set(fits) - {0})
    assert starts[0] == 40  # first fit at min_rows, then each at +50 % rows learnt
    assert all(b >= 1.5 * a for a, b in zip(starts, starts[1:], strict=False))


def test_an_unknown_regressor_name_is_refused() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        river_model("river.forest.Nope")
