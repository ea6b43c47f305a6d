"""The fleet RUL's three pure parts: FleetView (per asset), FleetModel (versioned), FleetLearner.

What is under test: the new path predicts what the old single fleet step predicted on the same
lives (one asset after the other, so the orders agree), learning is spread over bounded calls,
and the learner's state stays bounded however many lives it sees.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np

from twin_models.records import AssetEvent, AssetMetadata, TwinSnapshot
from twin_models.rul.fleet import ConditionInputs, FleetRulConfig, FleetTwin
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView
from twin_models.rul.regression_learner import POINT_MODEL_STAGES
from twin_models.rul.trees import TREES_PER_STEP, GradientBoostedTrees
from twin_models.rul.trend import CompletedLife, FleetRul
from twin_models.twin import AssetTwin

T0 = datetime(2000, 1, 1, tzinfo=UTC)
H = 3600.0
CFG = FleetRulConfig(rul_features=("s*.mean",), regime_features=("setting_*.mean",), rul_cap_s=100 * H,
                     min_lives=3, model_delay_s=0.0)


def _life(rng: np.random.Generator, length: int) -> np.ndarray:
    """Sensors that drift exponentially towards failure, plus noise and a unit offset."""
    t = np.arange(length)
    wear = np.exp((t - length) / 40.0)
    return rng.normal(0, 0.3, size=(length, 3)) + rng.normal(0, 0.3, 3) + wear[:, None] * [5.0, -3.0, 0.0]


def _snap(asset: str, ts: datetime, life: int = 0) -> TwinSnapshot:
    return TwinSnapshot(asset, ts, ts - timedelta(hours=1), "healthy", 0.0, 1.0, None, None, None,
                        False, 0, life)


def _features(row: np.ndarray) -> dict[str, float]:
    return {**{f"s{j}.mean": float(v) for j, v in enumerate(row)}, "setting_1.mean": 0.0}


def test_view_and_learner_predict_what_the_old_fleet_step_predicted() -> None:
    rng = np.random.default_rng(5)
    old, learner = FleetTwin("engine", config=CFG), FleetLearner("engine", CFG)
    model: FleetModel | None = None
    start, got, want = T0, [], []
    for k in range(6):
        view = FleetView("engine", CFG)
        for i, row in enumerate(_life(rng, 120)):
            ts = start + timedelta(hours=i + 1)
            old.hold_inputs(ConditionInputs(f"e{k}", ts, _features(row)))
            want.append(old.update(_snap(f"e{k}", ts)).rul_s)
            got.append(view.update(_snap(f"e{k}", ts), _features(row), model).rul_s)
        failure = AssetEvent(f"e{k}", start + timedelta(hours=121), "failure")
        old.apply_event(failure)
        for chunk in view.close(failure, CFG.life_chunk_rows):
            model = ([model, *learner.learn(chunk)])[-1]
        model = learner.drain(failure.timestamp.timestamp()) or model  # the refit, finished now
        start += timedelta(days=10)
    assert [w is None for w in want] == [g is None for g in got]  # both answer from the 4th life on
    pairs = np.array([(w, g) for w, g in zip(want, got, strict=True) if w is not None])
    assert len(pairs) == 3 * 120
    # condition rows are stored as float32 now: the trees may split a hair differently
    assert np.mean(np.abs(pairs[:, 0] - pairs[:, 1])) < 0.02 * CFG.rul_cap_s


def test_a_refit_is_spread_over_many_calls_of_bounded_work() -> None:
    """With one unit of work per call, no call fits a whole model: the version with a fitted
    regression comes only after at least one call per slice of trees (two trees a slice)."""
    rng = np.random.default_rng(1)
    cfg = FleetRulConfig(rul_features=("s*.mean",), min_lives=3, life_chunk_rows=2, fit_steps_per_call=1)
    learner, calls, first_fit = FleetLearner("engine", cfg), 0, None
    start = T0
    for k in range(12):
        view = FleetView("engine", cfg)
        for i, row in enumerate(_life(rng, 150)):
            view.update(_snap(f"e{k}", start + timedelta(hours=i + 1)), _features(row), None)
        for chunk in view.close(AssetEvent(f"e{k}", start + timedelta(hours=151), "failure"), 2):
            calls += 1
            if learner.learn(chunk) and learner.fitted is not None and first_fit is None:
                first_fit = calls
        if k == 2:
            started = calls  # the third life completed: the first refit is due from the next call
        start += timedelta(days=10)
    full = round(GradientBoostedTrees().n_trees * POINT_MODEL_STAGES)
    assert first_fit is not None and first_fit - started >= full // TREES_PER_STEP


def test_learner_state_is_bounded_by_max_lives() -> None:
    rng = np.random.default_rng(2)
    cfg = FleetRulConfig(rul_features=("s*.mean",), min_lives=100, max_lives=5)

    def learnt(n: int) -> FleetLearner:
        learner = FleetLearner("engine", cfg)
        for k in range(n):
            view = FleetView("engine", cfg)
            for i, row in enumerate(_life(rng, 100)):
                view.update(_snap(f"e{k}", T0 + timedelta(hours=i + 1)), _features(row), None)
            for chunk in view.close(AssetEvent(f"e{k}", T0 + timedelta(hours=101), "failure"), 8):
                learner.learn(chunk)
        return learner

    five, forty = learnt(5), learnt(40)
    assert forty.regression is not None and len(forty.regression.lives) == 5
    assert len(forty.life_lengths) == 5 and not forty.pending
    assert len(pickle.dumps(forty)) < 1.3 * len(pickle.dumps(five))


def test_twins_pickled_before_the_view_resume_without_one() -> None:
    twin = AssetTwin(AssetMetadata("a"))
    state = twin.__dict__.copy()
    del state["fleet_view"]
    old = AssetTwin.__new__(AssetTwin)
    old.__setstate__(state)
    assert old.fleet_view is None


def _completed(asset: str, failure_s: float, n: int = 60, rate: float = 1.0) -> CompletedLife:
    times = failure_s - 3600.0 * np.arange(n, 0, -1)
    indicator = np.exp(rate * np.linspace(-3.0, 0.0, n))
    return CompletedLife(asset, "pump", failure_s, tuple(times.tolist()), tuple(indicator.tolist()),
                         tuple([7200.0] * n))


def test_a_similarity_prediction_as_of_a_time_ignores_lives_that_failed_later() -> None:
    # lives reach the learner in arrival order, which depends on partitioning; a prediction as of
    # an event time must be the one made from the lives failed by then, whatever else it holds
    early = [_completed(f"a{i}", 1e6 + 1e5 * i, rate=1.0 + 0.1 * i) for i in range(3)]
    later = _completed("z", 5e6, rate=3.0)
    only_early, with_later = FleetRul(), FleetRul()
    for life in early:
        only_early.learn_life(life)
    for life in [later, *early]:  # the later life arrived first
        with_later.learn_life(life)
    times = 2e6 + 3600.0 * np.arange(12)
    ind = np.exp(np.linspace(-1.5, -0.5, 12))
    as_of = 2e6
    assert with_later.n_lives_as_of(as_of) == only_early.n_lives == 3
    assert with_later.predict_rul(times, ind, as_of) == only_early.predict_rul(times, ind)
    assert with_later.n_lives == 4 and with_later.n_lives_as_of(5e6) == 4


def test_similarity_models_pickled_before_failure_times_keep_every_life() -> None:
    model = FleetRul()
    for i in range(3):
        model.learn_life(_completed(f"a{i}", 1e6 + 1e5 * i))
    state = dict(model.__dict__)
    del state["life_failures"], state["residual_failures"]
    old = FleetRul.__new__(FleetRul)
    old.__setstate__(state)
    assert old.n_lives_as_of(0.0) == 3 and len(old.residual_failures) == len(old.residuals)
