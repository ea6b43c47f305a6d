"""Anomaly detectors, calibration, health index, RUL and the asset twin."""

from __future__ import annotations

import copy
import math
from datetime import timedelta

import numpy as np
import pytest

from tests.factories import feature_stream, metadata, windows
from twin_models.anomaly.baseline import BaselineDetector
from twin_models.anomaly.calibration import TailCalibrator
from twin_models.records import AssetEvent
from twin_models.rul.fleet import FleetTwin
from twin_models.rul.trend import CompletedLife, FleetRul, RulEstimate, TrendRul, fuse
from twin_models.twin import AssetTwin, TwinConfig


def test_tail_calibrator_matches_gaussian_tail() -> None:
    rng = np.random.default_rng(0)
    cal = TailCalibrator(window=5000, tail_fraction=0.1)
    for v in np.abs(rng.normal(size=5000)):
        cal.learn_one(float(v))
    # P(|Z| > 1.645) = 0.10, P(|Z| > 2.576) = 0.01 for a standard normal
    assert cal.score_one(1.645) == pytest.approx(0.90, abs=0.01)
    assert cal.score_one(2.576) == pytest.approx(0.99, abs=0.004)
    assert cal.score_one(10.0) > 0.9999


def test_tail_calibrator_forgets_beyond_its_window() -> None:
    cal = TailCalibrator(window=100, min_samples=10)
    for _ in range(100):
        cal.learn_one(100.0)
    for i in range(100):
        cal.learn_one(float(i % 10))
    assert cal.n == 100
    assert cal.quantile(0.99) < 10.0


def test_baseline_detector_flags_growing_defect_and_names_it() -> None:
    det = BaselineDetector(warmup=20)
    scores = []
    for x in feature_stream(300, seed=1, fault_from=200):
        scores.append(det.score_one(x))
        det.learn_one(x)
    healthy, faulty = scores[60:200], scores[230:]
    assert max(healthy) < 0.999
    assert min(faulty) > 0.999
    devs = det.deviations(feature_stream(300, seed=1, fault_from=200)[-1])
    assert max(devs, key=lambda k: abs(devs[k])) == "vib.env_bpfo_amp"


def test_baseline_detector_does_not_absorb_the_fault() -> None:
    det = BaselineDetector(warmup=20)
    stream = feature_stream(400, seed=2, fault_from=150)
    for x in stream:
        det.learn_one(x)
    # the baseline of the defect line stayed at its healthy level (0.01 g), not the fault's level
    assert det.ratio("vib.env_bpfo_amp", 0.01) == pytest.approx(1.0, rel=0.1)


def test_trend_rul_extrapolates_an_exponential_to_the_threshold() -> None:
    trend = TrendRul(fit_points=12, min_points=6)
    rate = 1.0 / 86400.0  # excess grows e-fold per day
    for h in range(0, 48, 2):
        t = h * 3600.0
        trend.update(t, 0.01 * math.exp(rate * t), noise=0.001)
    now = 46 * 3600.0
    est = trend.predict_rul(now, threshold_excess=1.0)
    assert est is not None
    true_cross = math.log(100.0) / rate
    assert est.rul_s == pytest.approx(true_cross - now, rel=0.01)
    assert est.lower_s <= est.rul_s <= est.upper_s


def test_trend_rul_is_silent_without_degradation() -> None:
    trend = TrendRul()
    for h in range(48):
        trend.update(h * 3600.0, 0.0005, noise=0.001)
    assert trend.predict_rul(48 * 3600.0, 1.0) is None


def _life(asset: str, failure_s: float, duration_s: float, step_s: float) -> CompletedLife:
    times = np.arange(failure_s - duration_s, failure_s, step_s)
    ttf = failure_s - times
    ind = np.where(ttf < 5 * 86400, (5 * 86400 - ttf) / 86400.0, 0.0)  # ramps up over 5 days
    return CompletedLife(asset, "pump", failure_s, tuple(times), tuple(ind), tuple([math.nan] * len(times)))


def test_fleet_rul_learns_from_completed_lives() -> None:
    fleet = FleetRul()
    for i in range(5):
        fleet.learn_life(_life(f"a{i}", 1e7 + i * 1e6, 20 * 86400, 3600.0))
    # a new asset 2 days before failure, in the same ramp
    t = np.arange(0, 12) * 3600.0
    ttf_now = 2 * 86400.0
    ttf = ttf_now + (t[-1] - t)
    ind = (5 * 86400 - ttf) / 86400.0
    est = fleet.predict_rul(t, ind)
    assert est is not None
    assert est.rul_s == pytest.approx(ttf_now, rel=0.1)


def test_fleet_conformal_interval_covers_after_learning_errors() -> None:
    fleet = FleetRul(coverage=0.8)
    rng = np.random.default_rng(0)
    for i in range(30):
        life = _life(f"a{i}", 1e7, 10 * 86400, 3600.0)
        ttf = life.failure_s - np.asarray(life.times_s)
        est = ttf * np.exp(rng.normal(0, 0.3, size=ttf.size))  # estimates off by ~30 %
        fleet.learn_life(CompletedLife(life.asset_id, "pump", life.failure_s, life.times_s,
                                       life.indicator, tuple(est)))
    hits = 0
    for _ in range(500):
        true = 86400.0
        pred = true * math.exp(rng.normal(0, 0.3))
        iv = fleet.interval(pred)
        hits += iv.lower_s <= true <= iv.upper_s
    assert 0.72 <= hits / 500 <= 0.88


def test_fuse_prefers_the_narrower_estimate() -> None:
    narrow = RulEstimate(100.0, 90.0, 110.0, "a")
    wide = RulEstimate(1000.0, 10.0, 100000.0, "b")
    fused = fuse(narrow, wide)
    assert fused is not None and 95.0 < fused.rul_s < 130.0
    assert fuse(None, None) is None


def test_twin_is_prequential() -> None:
    """The snapshot of window k equals what a copy of the twin as it was before k says."""
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10))
    for fv in windows(feature_stream(120, seed=5, fault_from=90)):
        before = copy.deepcopy(twin)
        expected = before.detector.score_one(before.model_features(fv))
        snap = twin.update(fv)
        assert snap.anomaly_score == expected
        assert snap.n_windows == before.n_windows


def test_twin_explains_a_bpfo_fault_and_resets_after_failure() -> None:
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=20))
    fvs = windows(feature_stream(200, seed=6, fault_from=120), events={199: "failure"})
    snaps = [twin.update(fv) for fv in fvs]
    late = snaps[180]
    assert late.condition in ("degrading", "critical")
    assert late.defect == "bpfo"
    assert "outer race: BPFO" in late.evidence and "x above baseline" in late.evidence
    assert "88.2 Hz" in late.evidence  # 3.5848 x 24.6 Hz nominal speed
    assert twin.life_id == 1 and twin.detector.n_learned == 0


def test_fleet_twin_learns_a_life_at_failure_and_fuses_afterwards() -> None:
    fleet = FleetTwin("pump")
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=20))
    fvs = windows(feature_stream(200, seed=7, fault_from=100))
    for fv in fvs:
        fleet.update(twin.update(fv))
    assert fleet.model.n_lives == 0
    life = fleet.apply_event(AssetEvent("pump-001", fvs[-1].window_end + timedelta(hours=1), "failure"))
    assert life is not None and fleet.model.n_lives == 1
    assert len(life.times_s) == 200 and life.failure_s > life.times_s[-1]


def test_twin_rejects_another_assets_window() -> None:
    """A foreign window (here carrying an install event) is refused before it touches the twin."""
    twin = AssetTwin(metadata("pump-001"))
    own = windows(feature_stream(1), asset_id="pump-001")[0]
    twin.update(own)
    before = (twin.n_windows, twin.windows_in_life, twin.life_id, twin.detector.n_learned)
    assert before == (1, 1, 0, 1)
    foreign = windows(feature_stream(2), asset_id="pump-002", events={1: "install"})[1]
    assert foreign.window_start > own.window_start and foreign.events
    with pytest.raises(ValueError, match="twin of 'pump-001' got a window of 'pump-002'"):
        twin.update(foreign)
    assert (twin.n_windows, twin.windows_in_life, twin.life_id, twin.detector.n_learned) == before
