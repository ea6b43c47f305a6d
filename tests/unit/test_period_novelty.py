"""The online period estimate and the novelty scaled to it (issue 13, part NAB8), on synthetic series."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from twin_models.anomaly.period import PeriodTracker, dominant_period
from twin_models.anomaly.seasonal import PeriodNoveltyDetector, SeasonalResidual, period_scales


def daily(n: int, period: int, *, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """A two-humped daily pattern (a morning and an evening peak) with noise and a slow trend."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    phase = 2 * math.pi * t / period
    return 10.0 + 3.0 * np.sin(phase) + 1.5 * np.sin(2 * phase + 1.0) + 0.001 * t + rng.normal(0, noise, n)


@pytest.mark.parametrize("period", [12, 48, 100, 288])
def test_the_period_of_a_periodic_series_is_found(period: int) -> None:
    found = dominant_period(daily(4 * period, period))
    assert found is not None and abs(found - period) <= period // 100  # noise moves a flat peak a row


def test_a_square_wave_period_is_found() -> None:
    x = np.where((np.arange(600) // 25) % 2 == 0, 1.0, 0.0)
    assert dominant_period(x) == 50


@pytest.mark.parametrize("kind", ["white noise", "random walk", "level shift", "flat"])
def test_no_period_in_series_without_a_cycle(kind: str) -> None:
    rng = np.random.default_rng(3)
    x = {"white noise": rng.normal(0, 1, 3000),
         "random walk": np.cumsum(rng.normal(0, 1, 3000)),
         "level shift": np.r_[np.zeros(1500), np.ones(1500)] + rng.normal(0, 0.1, 3000),
         "flat": np.full(3000, 4.0)}[kind]
    assert dominant_period(x) is None


def test_three_cycles_are_needed() -> None:
    x = daily(1000, 400)
    assert dominant_period(x[:1000]) is None  # 2.5 cycles
    assert dominant_period(daily(1200, 400)) in (399, 400)


def test_the_tracker_estimates_only_at_its_checkpoints() -> None:
    t = PeriodTracker(first=50, memory=500)
    changes = []
    for i, v in enumerate(daily(900, 40)):
        t.learn_one(float(v))
        if t.changed:
            changes.append(i + 1)
    assert changes == [200]  # 50 and 100 rows hold < 3 cycles; found at 200, the same at 400, 800
    assert t.period == 40
    assert len(t.values) == 500


def test_period_scales_rule() -> None:
    assert period_scales(288, (1 / 36, 1 / 9, 1.0, 2.0)) == ((8, 8), (32, 8), (289, 17), (576, 24))
    for m, d in period_scales(37, (1 / 36, 1 / 9, 1.0, 2.0)):
        assert m >= 4 and m % d == 0


def _run(det: PeriodNoveltyDetector, xs: np.ndarray) -> list[float]:
    scores = []
    for v in xs:
        x = {"temp.mean": float(v)}
        scores.append(det.score_one(x))
        det.learn_one(x)
    return scores


def test_the_scales_follow_the_period_and_an_anomaly_at_its_phase_is_scored() -> None:
    period = 48
    xs = daily(40 * period, period, noise=0.05, seed=1)
    # the evening peak of day 35 is missing: every value stays inside the range seen
    day = 35 * period
    hump = slice(day + 5, day + 19)
    base = daily(40 * period, period, noise=0.0)
    xs[hump] = base[day + 24 : day + 38] + (xs[hump] - base[hump])  # that stretch shows the trough
    det = PeriodNoveltyDetector(warmup=100, history=2000, value_history=5000, default_period=288)
    assert det.scales == period_scales(288, det.fractions)
    scores = _run(det, xs)
    assert det.period == period
    assert det.scales == period_scales(period, det.fractions)
    assert min(xs[hump]) > min(xs[: day]) and max(xs[hump]) < max(xs[: day])
    assert max(scores[day : day + 48]) >= 0.999
    assert max(scores[20 * period : day]) < 0.999  # the same days without the anomaly


def test_a_rebuild_keeps_the_detector_picklable_and_pure() -> None:
    det = PeriodNoveltyDetector(warmup=50, history=600, value_history=600, refractory=10, echo=True)
    _run(det, daily(500, 30))
    assert det.period == 30
    x = {"temp.mean": 25.0}
    before = pickle.dumps(det)
    first = det.score_one(x)
    assert pickle.dumps(det) == before
    twin = pickle.loads(before)
    assert twin.score_one(x) == first
    assert det.recent.maxlen == 10 + max(m for m, _ in det.scales)


def test_the_seasonal_residual_flags_a_value_normal_overall_but_not_at_its_phase() -> None:
    period = 24
    xs = daily(30 * period, period, noise=0.05, seed=2)
    res = SeasonalResidual()
    for v in xs:
        res.learn(float(v), period)
    n = len(xs)
    normal = float(daily(n + 1, period, noise=0.0)[n])
    wrong = normal - 1.0  # 20 noise sd below its phase's level, well inside the day's range
    assert min(xs) + 1.0 < wrong < max(xs)
    assert min(res.p_values(normal, period)) > 0.05
    assert min(res.p_values(wrong, period)) < 1e-3
    assert res.p_values(wrong, None) == (1.0, 1.0)


def test_period_fractions_select_the_period_detector_and_empty_keeps_the_fixed_scales() -> None:
    from twin_models.anomaly.novelty import NoveltyDetector
    from twin_models.anomaly.selection import NoveltyConfig, build_detector

    def build(cfg: NoveltyConfig) -> NoveltyDetector:
        det = build_detector("novelty", warmup=20, top_k=3, learn_gate=0.9, calibrator_window=100,
                             novelty=cfg)
        assert isinstance(det, NoveltyDetector)
        return det

    fixed = build(NoveltyConfig(scales=((4, 4), (16, 4))))
    assert type(fixed) is NoveltyDetector and fixed.scales == ((4, 4), (16, 4))
    det = build(NoveltyConfig(period_fractions=(0.25, 1.0), default_period=40, refractory=5, hold=2))
    assert isinstance(det, PeriodNoveltyDetector)
    assert det.scales == period_scales(40, (0.25, 1.0)) and (det.refractory, det.hold) == (5, 2)
