"""A fleet model's prediction per window, made cheaper: the same estimates as computed afresh.

Every window of every asset is predicted by the fleet model (C-MAPSS: ~34k windows), so the
conformal quantiles are computed once per model (:class:`ConformalTable`) and the life's
baseline once per model and life (:meth:`LifeTrack.baseline`).
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np

from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.conformal import ConformalTable, conformal_interval
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView

T0 = datetime(2000, 1, 1, tzinfo=UTC)
H = 3600.0
CFG = FleetRulConfig(rul_features=("s*.mean",), regime_features=("setting_*.mean",), rul_cap_s=100 * H,
                     min_lives=3, refit_growth=0.0, model_delay_s=0.0, baseline_windows=10)


def _snap(asset: str, ts: datetime) -> TwinSnapshot:
    return TwinSnapshot(asset, ts, ts - timedelta(hours=1), "healthy", 0.0, 1.0, None, None, None,
                        False, 0, 0)


def _features(row: np.ndarray, setting: float) -> dict[str, float]:
    return {**{f"s{j}.mean": float(v) for j, v in enumerate(row)}, "setting_1.mean": setting}


def _models(rng: np.random.Generator) -> list[FleetModel]:
    """Fleet models refitted after each of 5 lives (two operating settings)."""
    learner, models = FleetLearner("engine", CFG), []
    for k in range(5):
        view, n = FleetView("engine", CFG), 80 + 10 * k
        wear = np.exp((np.arange(n) - n) / 25.0)
        for i in range(n):
            setting = float(i % 2) * 10.0
            row = rng.normal(0, 0.3, 2) + wear[i] * np.array([4.0, -2.0]) + setting
            ts = T0 + timedelta(days=20 * k, hours=i + 1)
            view.update(_snap(f"e{k}", ts), _features(row, setting), None)
        failure = AssetEvent(f"e{k}", T0 + timedelta(days=20 * k, hours=n + 1), "failure")
        for part in view.close(failure, CFG.life_chunk_rows):
            learner.learn(part)
        model = learner.drain(failure.timestamp.timestamp())
        if model is not None:
            models.append(model)
    return models


def test_a_view_predicts_what_the_model_computes_afresh_across_versions_and_a_resume() -> None:
    rng = np.random.default_rng(8)
    models = _models(rng)
    assert len(models) >= 2
    view, got, want = FleetView("engine", CFG), [], []
    for i in range(60):
        model = models[0] if i < 30 else models[-1]  # a new version mid-life
        if i == 40:
            view = pickle.loads(pickle.dumps(view))  # a resume: the cache is not in the state
        setting = float(i % 2) * 10.0
        row = rng.normal(0, 0.3, 2) + setting
        got.append(view.update(_snap("x", T0 + timedelta(days=500, hours=i + 1)), _features(row, setting),
                               model).rul_lower_s)
        track, reg = view.track, model.regression
        assert track is not None and reg is not None
        times, settings, rows = track.arrays(reg.window)
        head_s, head_r = track.head_arrays()
        est = reg.predict_rul(times, settings, rows, track.t0_s, head_s, head_r)
        want.append(None if est is None else est.lower_s)
    assert got == want and all(g is not None for g in got)
    assert "_baseline" not in pickle.loads(pickle.dumps(view.track)).__dict__


def test_the_conformal_table_gives_the_bounds_computed_afresh_for_every_prediction() -> None:
    rng = np.random.default_rng(7)
    cap = 100 * H
    pred = rng.uniform(0, cap, 3000)
    res = np.column_stack([pred, rng.normal(0, 5 * H, 3000) * (1 + pred / cap)])
    table = ConformalTable.of(res, cap, 0.8)
    assert table is not None
    for rul in [*rng.uniform(0, cap, 200), 0.0, 0.25 * cap, 0.5 * cap, cap]:
        bins = np.searchsorted(cap * np.array([0.25, 0.5, 0.75]), res[:, 0])
        mine = res[bins == int(np.searchsorted(cap * np.array([0.25, 0.5, 0.75]), rul)), 1]
        alpha = (1.0 - 0.8) / 2.0  # as the interval computes it (not exactly 0.1)
        q_lo, q_hi = np.quantile(mine, [alpha, 1.0 - alpha])
        want = (min(max(rul + q_lo, 0.0), rul), max(rul + q_hi, rul))
        assert table.interval(float(rul)) == want == conformal_interval(float(rul), res, cap, 0.8)
