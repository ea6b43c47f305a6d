"""The life model's priors (issue 12, FEMTO2): the ISO 281 usage clock and the kernel prior."""

from __future__ import annotations

import math
import pickle
from datetime import timedelta

import numpy as np
import pytest

from flows.codec import metadata_from_dict
from flows.dataflow.fleet_steps import apply_fleet
from tests.unit.test_life_model import T0, _snap
from twin_models.records import AssetEvent, AssetMetadata
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView
from twin_models.rul.life_model import GRID, LifeModel, LifeRecord
from twin_models.rul.life_prior import kernel_quantiles, lognormal_quantiles, usage_rates
from twin_models.twin import AssetTwin

FLAT = tuple(0.0 for _ in GRID)  # an indicator that never moves: the prior and the age decide


def _iso_lives(revs: float, speeds_loads: list[tuple[float, float]], ref: float = 4000.0) -> list[LifeRecord]:
    """Lives that used exactly ``revs`` load-weighted revolutions (ISO 281, p = 3) each."""
    return [LifeRecord(revs / (s * (p / ref) ** 3), s, FLAT, p) for s, p in speeds_loads]


def _median_life(model: LifeModel, speed: float, load: float | None) -> float:
    return float(np.median(model.lives_s(speed, load)))


def test_lives_on_the_iso_281_clock_scale_by_the_cube_of_the_load() -> None:
    lives = _iso_lives(2.5e5, [(30.0, 4000.0), (27.5, 4200.0), (25.0, 5000.0), (30.0, 4500.0)])
    iso = LifeModel(lives, bandwidth=0.05, load_exponent=3.0)
    # the four lives are one life on the ISO clock: the prior is tight around it ...
    for speed, load in ((30.0, 4000.0), (25.0, 5000.0), (20.0, 6000.0)):
        truth = 2.5e5 / (speed * (load / 4000.0) ** 3)
        assert _median_life(iso, speed, load) == pytest.approx(truth, rel=0.02)
    # ... and a bearing at twice the load lives 2^3 = 8 times shorter
    assert _median_life(iso, 30.0, 4000.0) / _median_life(iso, 30.0, 8000.0) == pytest.approx(8.0, rel=0.02)
    # without the load (exponent 0, or a life without one) the same lives spread by ~2x
    revs = LifeModel(lives, bandwidth=0.05)
    assert not revs.loaded and _median_life(revs, 30.0, 8000.0) == _median_life(revs, 30.0, 4000.0)
    mixed = LifeModel([*lives[:3], LifeRecord(lives[3].life_s, 30.0, FLAT, None)], load_exponent=3.0)
    assert not mixed.loaded
    # an asset of unknown load gets the fleet's mean usage rate (finite, between the extremes)
    unknown = _median_life(iso, 30.0, None)
    assert _median_life(iso, 30.0, 5000.0) < unknown < _median_life(iso, 30.0, 3000.0)


def test_usage_rates_need_every_value() -> None:
    assert usage_rates([30.0, 25.0], [4000.0, 5000.0], 3.0) == (True, True, pytest.approx(math.sqrt(2e7)))
    assert usage_rates([30.0, None], [4000.0, 5000.0], 0.0) == (False, False, 1.0)


def test_kernel_prior_keeps_groups_of_lives_apart() -> None:
    logs = np.log([100.0, 104.0, 96.0, 300.0, 310.0])
    q = np.exp(kernel_quantiles(logs, 0.05, 2000))
    between = np.mean((q > 140.0) & (q < 220.0))
    assert between < 0.01 and np.mean(q < 140.0) == pytest.approx(0.6, abs=0.02)
    # the log-normal prior over the same lives puts a large share of its mass in the gap
    assert np.mean((np.exp(lognormal_quantiles(logs, 2000)) > 140.0) &
                   (np.exp(lognormal_quantiles(logs, 2000)) < 220.0)) > 0.15


def test_kernel_prior_moves_to_the_next_group_once_the_first_has_passed() -> None:
    lives = [LifeRecord(s, 30.0, FLAT) for s in (3000.0, 3100.0, 2900.0, 9000.0, 9300.0)]
    model = LifeModel(lives, bandwidth=0.05)
    young = model.predict(600.0, 0.0, 30.0)
    assert 1800.0 < young.rul_s < 2500.0  # expects the short group (more lives, length bias)
    old = model.predict(4000.0, 0.0, 30.0)  # outlived it: only the long group is left
    assert 4200.0 < old.rul_s < 5300.0 and old.lower_s > 3500.0
    wide = LifeModel(lives)  # the log-normal prior cannot commit to either group
    assert abs(wide.predict(600.0, 0.0, 30.0).rul_s - 2400.0) > abs(young.rul_s - 2400.0)


def test_load_flows_from_metadata_v2_to_the_life_records() -> None:
    doc = {"asset_id": "b1", "kind": "femto", "nominal_speed_hz": 30.0, "nominal_load_n": 4200.0}
    meta = metadata_from_dict(doc)
    assert meta.nominal_load_n == 4200.0 and metadata_from_dict({"asset_id": "b0"}).nominal_load_n is None
    with pytest.raises(ValueError, match="nominal_load_n"):
        metadata_from_dict({**doc, "nominal_load_n": -1.0})
    cfg = FleetRulConfig(life_model=True, life_baseline_windows=2, life_load_exponent=3.0,
                         life_bandwidth=0.1, model_delay_s=0.0)
    view = FleetView("femto", cfg, speed_hz=meta.nominal_speed_hz, load_n=meta.nominal_load_n)
    for i in range(5):
        view.update(_snap("b1", T0 + timedelta(minutes=i + 1)), {"a.rms": 1.0}, None)
    chunks = view.close(AssetEvent("b1", T0 + timedelta(minutes=6), "failure"), cfg.life_chunk_rows)
    summary = chunks[-1].summary
    assert summary is not None and summary.life is not None and summary.life.load_n == 4200.0
    learner = FleetLearner("femto", cfg)
    models = [m for c in chunks for m in learner.learn(c)]
    assert isinstance(models[-1], FleetModel) and models[-1].life_load_exponent == 3.0
    assert models[-1].life_bandwidth == 0.1
    twin = AssetTwin(meta)  # the flow's fleet step builds the twin's view from its metadata
    assert apply_fleet(twin, None, {}, [], cfg, None) == []
    assert twin.fleet_view is not None and twin.fleet_view.load_n == 4200.0
    assert twin.fleet_view.speed_hz == 30.0


def test_records_and_models_pickled_before_the_load_read_as_unknown() -> None:
    rec = LifeRecord(100.0, 30.0, FLAT, 4000.0)
    state = {k: v for k, v in rec.__dict__.items() if k != "load_n"}
    old = LifeRecord.__new__(LifeRecord)
    old.__dict__.update(state)
    assert pickle.loads(pickle.dumps(old)).load_n is None
    assert LifeModel([old, LifeRecord(90.0, 30.0, FLAT, None)], load_exponent=3.0).loaded is False


def test_metadata_pickled_before_the_load_reads_as_unknown() -> None:
    new = AssetMetadata("b1", nominal_speed_hz=30.0, nominal_load_n=4000.0)
    assert pickle.loads(pickle.dumps(new)) == new
    old = AssetMetadata.__new__(AssetMetadata)
    old.__setstate__(["b1", "femto", None, 30.0, (), None, None])  # the 7 slots of v1 metadata
    assert old == AssetMetadata("b1", "femto", nominal_speed_hz=30.0) and old.nominal_load_n is None
