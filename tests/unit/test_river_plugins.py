"""River's detectors and regressors plug into the twin by configuration; the defaults are unchanged."""

from __future__ import annotations

import pickle
import statistics
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from river import anomaly, linear_model, tree

from flows.config.pipeline import ConfigError, load_config
from tests.contract.streams import twin_windows
from tests.factories import T0, metadata
from tests.unit.test_rul_regression import H, _life, _run_life, _snap
from twin_models.anomaly.baseline import BaselineDetector
from twin_models.anomaly.river_detector import RiverDetector
from twin_models.records import AssetEvent
from twin_models.rul.fleet import ConditionInputs, FleetRulConfig, FleetTwin
from twin_models.rul.regression import RegressionRul
from twin_models.rul.regressors import RiverRegressor
from twin_models.rul.trees import GradientBoostedTrees
from twin_models.twin import AssetTwin


def _twin_config(tmp_path: Path, detector: str):  # type: ignore[no-untyped-def]
    f = tmp_path / "c.toml"
    f.write_text(f'[pipeline.twin]\ndetector = "{detector}"\nwarmup_windows = 24\n')
    return load_config(f, env={}).twin


def test_default_twin_detector_is_still_the_baseline() -> None:
    assert isinstance(AssetTwin(metadata()).detector, BaselineDetector)


def test_a_twin_runs_a_river_detector_chosen_by_config(tmp_path: Path) -> None:
    cfg = _twin_config(tmp_path, "river.anomaly.HalfSpaceTrees")
    twin = AssetTwin(metadata(), cfg)
    assert isinstance(twin.detector, RiverDetector)
    assert isinstance(twin.detector.model, anomaly.HalfSpaceTrees)
    stream = twin_windows(520)
    snaps = [twin.update(fv) for fv in stream[:260]]
    restored = pickle.loads(pickle.dumps(twin))  # recovery snapshots pickle the twin
    for fv in stream[260:]:
        a, b = twin.update(fv), restored.update(fv)
        assert a == b
        snaps.append(a)
    assert all(0.0 <= s.anomaly_score <= 1.0 for s in snaps)
    assert {s.life_id for s in snaps} == {0, 1, 2}  # events start new lives with new detectors
    explained = [s for s in snaps if s.top_features]  # the adapter explains once warmed up
    assert len(explained) > 400 and all(s.condition != "learning" for s in explained)
    assert any(s.defect == "bpfo" for s in snaps[200:300])


def test_a_river_detector_scores_a_growing_fault_above_healthy_windows(tmp_path: Path) -> None:
    twin = AssetTwin(metadata(), _twin_config(tmp_path, "river.anomaly.LODA"))
    snaps = [twin.update(fv) for fv in twin_windows(300)]
    healthy = [s.anomaly_score for s in snaps[130:200]]  # after the maintenance's warm-up
    faulty = [s.anomaly_score for s in snaps[240:300]]
    assert statistics.mean(faulty) > statistics.mean(healthy) + 0.05


@pytest.mark.parametrize("name", ["river.anomaly.GaussianScorer", "river.linear_model.LinearRegression",
                                  "river.anomaly.Nope", "sklearn.IsolationForest"])
def test_only_rivers_unsupervised_detectors_can_be_chosen(name: str) -> None:
    with pytest.raises(ConfigError, match="config twin.detector"):
        load_config(env={}, overrides={"twin.detector": name})


def test_default_fleet_regressor_is_lightgbm_and_the_trees_stay_selectable() -> None:
    """Round 19: the fleet's boosting by LightGBM by default (same settings, less CPU); the numpy
    trees stay the RegressionRul class default and the choice of configs pickled before."""
    assert FleetRulConfig().regressor == "lightgbm"
    assert load_config(env={}, overrides={"twin.fleet.regressor": "trees"}).twin.fleet.regressor == "trees"
    old = FleetRulConfig()
    state = {k: v for k, v in old.__dict__.items() if k != "regressor"}
    migrated = FleetRulConfig.__new__(FleetRulConfig)
    migrated.__setstate__(state)
    assert migrated.regressor == "trees"
    reg = RegressionRul(3, min_lives=2)
    rng = np.random.default_rng(1)
    for k in range(2):
        _run_life(reg, _life(rng, 120), k * 1e6, fail=True)
    assert isinstance(reg.model, GradientBoostedTrees)


@pytest.mark.parametrize(("name", "cls"), [
    ("river.linear_model.LinearRegression", linear_model.LinearRegression),
    ("river.tree.HoeffdingTreeRegressor", tree.HoeffdingTreeRegressor),
])
def test_a_fleet_learns_its_rul_regression_with_a_river_regressor_chosen_by_config(name: str,
                                                                                   cls: type) -> None:
    rng = np.random.default_rng(5)
    overrides = {"twin.fleet.regressor": name, "twin.fleet.rul_features": "s*.mean",
                 "twin.fleet.rul_cap_s": 100 * H, "twin.fleet.min_lives": 3}
    cfg = load_config(env={}, overrides=overrides).twin.fleet
    fleet = FleetTwin("engine", config=cfg)
    start, errs = T0, []
    for k in range(6):
        sensors = _life(rng, 120)
        for i, row in enumerate(sensors):
            ts = start + timedelta(hours=i + 1)
            fleet.hold_inputs(ConditionInputs(f"e{k}", ts, {f"s{j}.mean": v for j, v in enumerate(row)}))
            snap = fleet.update(_snap(f"e{k}", ts))
            if k >= 3 and snap.rul_s is not None:
                errs.append(abs(snap.rul_s - min(120 - i, 100) * H) / H)
        fleet.apply_event(AssetEvent(f"e{k}", start + timedelta(hours=121), "failure"))
        start += timedelta(days=10)
    assert fleet.regression is not None
    model = fleet.regression.model
    assert isinstance(model, RiverRegressor)
    inner = model.model
    inner = getattr(inner, "regressor", inner)  # the linear model's target scaler
    inner = inner if isinstance(inner, cls) else list(inner.steps.values())[-1]
    assert isinstance(inner, cls)
    assert snap.rul_source == "fleet_regression" and len(errs) > 300
    assert statistics.mean(errs) < 50.0  # hours: it learnt something (a constant 50 h guess would not)


def test_an_unknown_regressor_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="config twin.fleet.regressor"):
        load_config(env={}, overrides={"twin.fleet.regressor": "river.linear_model.Nope"})


@pytest.mark.parametrize(("table", "key", "value", "needle"), [
    ("pipeline.twin", "detector", "river.anomaly.Nope", "is not one of River's detectors"),
    ("pipeline.twin.fleet", "regressor", "river.forest.Nope", "must be one of trees"),
])
def test_a_bad_model_name_in_a_config_file_is_one_line_and_exit_2(tmp_path: Path, table: str, key: str,
                                                                 value: str, needle: str) -> None:
    from tests.flows.test_cli_errors import fails

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[{table}]\n{key} = "{value}"\n')
    data = tmp_path / "x.csv"
    data.write_text("timestamp,value\n2026-01-01T00:00:00,1\n")
    line = fails("backtest", "--out", str(tmp_path / "o"), "--config", str(cfg), str(data))
    assert line.startswith(f"twin: error: config {table.removeprefix('pipeline.')}.{key} = '{value}'")
    assert needle in line
