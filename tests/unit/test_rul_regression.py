"""Fleet RUL regression: gradient-boosted trees, operating regimes, causal features, the fleet step."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.fleet import ConditionInputs, FleetRulConfig, FleetTwin, select_inputs
from twin_models.rul.regimes import OperatingRegimes
from twin_models.rul.regression import ConditionTrack, RegressionRul, condition_rows, local_trend
from twin_models.rul.trees import GradientBoostedTrees

T0 = datetime(2000, 1, 1, tzinfo=UTC)
H = 3600.0
# six operating points (altitude kft, Mach, throttle angle), like C-MAPSS FD002/FD004
SETPOINTS = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100],
                      [42, 0.84, 100]], dtype=float)


def test_gbm_fits_a_nonlinear_function_and_pickles() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(4000, 3))
    y = np.sin(2 * x[:, 0]) * 5 + np.where(x[:, 1] > 0.5, 3.0, 0.0) + rng.normal(0, 0.1, 4000)
    model = GradientBoostedTrees(n_trees=150, seed=0).fit(x, y)
    xt = rng.uniform(-2, 2, size=(500, 3))
    yt = np.sin(2 * xt[:, 0]) * 5 + np.where(xt[:, 1] > 0.5, 3.0, 0.0)
    assert np.sqrt(np.mean((model.predict(xt) - yt) ** 2)) < 0.6
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict(xt), model.predict(xt))
    assert np.array_equal(GradientBoostedTrees(n_trees=150, seed=0).fit(x, y).predict(xt), model.predict(xt))


def test_regimes_found_online_and_normalised() -> None:
    rng = np.random.default_rng(2)
    reg = OperatingRegimes(n_features=2)
    offsets = rng.normal(0, 50, size=(6, 2))
    for _ in range(3000):
        k = int(rng.integers(6))
        s = SETPOINTS[k] + rng.normal(0, [0.003, 0.0003, 0.0], 3)
        reg.learn_one(s, offsets[k] + rng.normal(0, 1.0, 2))
    assert reg.n_regimes == 6
    k = reg.assign(SETPOINTS[3] + 0.002)
    z = reg.normalise(k, np.array([offsets[3] + [3.0, 0.0]]))[0]
    assert z[0] == pytest.approx(3.0, abs=0.3) and abs(z[1]) < 0.3


def test_single_regime_noise_stays_one_regime() -> None:
    rng = np.random.default_rng(3)
    reg = OperatingRegimes(n_features=1)
    for _ in range(2000):  # FD001-like settings: noise around one operating point
        reg.learn_one([rng.normal(0, 0.0022), rng.normal(0, 0.0003), 100.0], [1.0])
    assert reg.n_regimes == 1


def test_local_trend_is_causal_and_exact_on_a_line() -> None:
    z = (2.0 + 0.5 * np.arange(50.0))[:, None]
    level, slope = local_trend(z, 10)
    assert np.allclose(level[5:, 0], z[5:, 0]) and np.allclose(slope[5:, 0], 0.5)
    rows = condition_rows(z, np.arange(50.0) * H, None, 0.0, 10, 5)
    prefix = condition_rows(z[:30], np.arange(30.0) * H, None, 0.0, 10, 5)
    assert np.allclose(rows[:30], prefix)  # the future never changes a row


def _life(rng: np.random.Generator, length: int) -> np.ndarray:
    """Sensors that drift exponentially towards failure, plus noise and a unit offset."""
    t = np.arange(length)
    wear = np.exp((t - length) / 40.0)
    return rng.normal(0, 0.3, size=(length, 3)) + rng.normal(0, 0.3, 3) + wear[:, None] * [5.0, -3.0, 0.0]


def _run_life(reg: RegressionRul, sensors: np.ndarray, start: float, fail: bool) -> ConditionTrack:
    track = ConditionTrack(0, 1024)
    for i, row in enumerate(sensors):
        reg.update(track, start + (i + 1) * H, np.array([0.0, 0.0, 100.0]), row)
    if fail:
        reg.learn_life(track, start + (len(sensors) + 1) * H)
    return track


def test_regression_learns_lives_and_covers_with_its_interval() -> None:
    rng = np.random.default_rng(4)
    reg = RegressionRul(3, cap_s=100 * H, min_lives=10, coverage=0.8)
    for k in range(60):
        _run_life(reg, _life(rng, int(rng.integers(150, 300))), k * 1e6, fail=True)
    assert reg.model is not None and reg.residuals.shape[0] > 100
    errs, inside = [], []
    for k in range(60):
        length = int(rng.integers(150, 300))
        cut = int(rng.integers(30, length))
        track = _run_life(reg, _life(rng, length)[:cut], 1e8 + k * 1e6, fail=False)
        est = reg.predict_rul(track)
        assert est is not None and est.lower_s <= est.rul_s <= est.upper_s
        true = min(length - cut, 100) * H
        errs.append((est.rul_s - true) / H)
        inside.append(est.lower_s <= true <= est.upper_s)
    assert np.sqrt(np.mean(np.square(errs))) < 15.0
    assert 0.6 <= np.mean(inside) <= 1.0


def _snap(asset: str, ts: datetime, life: int = 0) -> TwinSnapshot:
    return TwinSnapshot(asset, ts, ts - timedelta(hours=1), "healthy", 0.0, 1.0, None, None, None,
                        False, 0, life)


def test_fleet_twin_uses_inputs_only_when_configured_and_learns_at_failure() -> None:
    rng = np.random.default_rng(5)
    cfg = FleetRulConfig(rul_features=("s*.mean",), regime_features=("setting_*.mean",), rul_cap_s=100 * H,
                      min_lives=3)
    fleet = FleetTwin("engine", config=cfg)
    assert select_inputs(cfg, {"s1.mean": 1.0, "s1.std": 2.0, "setting_1.mean": 0.0, "x": 3.0}) == {
        "s1.mean": 1.0, "setting_1.mean": 0.0}
    start = T0
    for k in range(5):
        sensors = _life(rng, 120)
        for i, row in enumerate(sensors):
            ts = start + timedelta(hours=i + 1)
            fleet.hold_inputs(ConditionInputs(f"e{k}", ts, {**{f"s{j}.mean": v for j, v in enumerate(row)},
                                                        "setting_1.mean": 0.0}))
            snap = fleet.update(_snap(f"e{k}", ts))
        assert (snap.rul_s is not None) == (k >= 3)  # estimates once 3 lives were learnt
        fleet.apply_event(AssetEvent(f"e{k}", start + timedelta(hours=121), "failure"))
        start += timedelta(days=10)
    assert fleet.regression is not None and fleet.regression.lives_learnt == 5
    assert snap.rul_source == "fleet_regression"
    plain = FleetTwin("engine")
    plain.hold_inputs(ConditionInputs("x", T0, {"s1.mean": 1.0}))
    assert plain.update(_snap("x", T0)).rul_s is None and plain.regression is None
