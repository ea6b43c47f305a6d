"""The emitted RUL interval is calibrated on completed lives' errors, without touching rul_s (RULCAL50).

A synthetic fleet whose estimator is biased and noisy in log space (true RUL known): its own
interval is narrow (+-5 %), so it holds the truth in almost no window. Once lives complete, the
conformal bounds must hold the truth in about 80 % of the later lives' windows; rul_s must be what
the estimator said; a window only uses lives that had failed before it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.calibration import RulErrors, calibrated_bounds, life_errors, min_errors
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView

T0 = datetime(2000, 1, 1, tzinfo=UTC)
H = 3600.0
CFG = FleetRulConfig(model_delay_s=0.0, coverage=0.8)


def _snap(asset: str, ts: datetime, rul_s: float, source: str = "trend") -> TwinSnapshot:
    return replace(TwinSnapshot(asset, ts, ts - timedelta(hours=1), "healthy", 0.0, 1.0, rul_s,
                                0.95 * rul_s, 1.05 * rul_s, False, 0, 0), rul_source=source)


Row = tuple[int, float, float, float, float, float]


def _run_fleet(lives: int, length: int = 60, seed: int = 3) -> list[Row]:
    """(life, true, estimate, rul_s, lower, upper) of every window of ``lives`` lives, one after
    the other; the estimate is the truth times exp(0.4 + N(0, 0.5)) (late and noisy)."""
    rng = np.random.default_rng(seed)
    learner, model = FleetLearner("pump", CFG), None
    out, start = [], T0
    for k in range(lives):
        view = FleetView("pump", CFG)
        failure_at = start + timedelta(hours=length)
        for i in range(length):
            ts = start + timedelta(hours=i)
            true = (failure_at - ts).total_seconds()
            est = true * math.exp(0.4 + rng.normal(0.0, 0.5))
            got = view.update(_snap(f"p{k}", ts, est), {}, model)
            assert got.rul_lower_s is not None and got.rul_upper_s is not None
            out.append((k, true, est, got.rul_s or math.nan, got.rul_lower_s, got.rul_upper_s))
        event = AssetEvent(f"p{k}", failure_at, "failure")
        for chunk in view.close(event, CFG.life_chunk_rows):
            published: list[FleetModel] = learner.learn(chunk)
            model = published[-1] if published else model
        start = failure_at + timedelta(hours=1)
    return out


def test_the_interval_holds_the_truth_about_80_percent_of_later_windows_and_rul_s_is_unchanged() -> None:
    rows = _run_fleet(30)
    later = [r for r in rows if r[0] >= 5]
    held = np.mean([lo <= true <= hi for _, true, _, _, lo, hi in later])
    assert 0.72 <= held <= 0.88, held
    assert all(rul == est for _, _, est, rul, _, _ in rows)  # the point estimate untouched
    # the bounds follow the errors' spread (log width ~ 2 * 1.28 * 0.5), not the estimator's +-5 %
    widths = [math.log(hi / lo) for *_, lo, hi in later]
    assert 0.9 < float(np.median(widths)) < 1.8


def test_the_first_life_has_no_completed_life_to_learn_from_and_gets_the_factor_2_fallback() -> None:
    rows = _run_fleet(2)
    first = [r for r in rows if r[0] == 0]
    assert all(math.isclose(lo, 0.5 * est) and math.isclose(hi, 2.0 * est) for _, _, est, _, lo, hi in first)
    second = [r for r in rows if r[0] == 1]
    assert not all(math.isclose(hi, 2.0 * est) for _, _, est, _, _, hi in second)  # calibrated


def test_a_window_uses_only_the_lives_failed_before_it_and_its_own_sources_errors() -> None:
    early = life_errors(10 * H, [0.0, H, 2 * H, 3 * H, 4 * H, 5 * H, 6 * H, 7 * H, 8 * H, 9 * H],
                        [10 * H * 4] * 10, ["trend"] * 10)  # 4x too long: log errors < -1
    late = life_errors(100 * H, [50 * H + i * H for i in range(10)], [1.0] * 10, ["trend"] * 10)
    errors = RulErrors().learn(late).learn(early)  # learnt out of failure order
    assert [e[0] for e in errors.errors] == sorted(e[0] for e in errors.errors)
    lo, hi = calibrated_bounds(3600.0, 3500.0, 3700.0, "trend", errors, 50 * H, 0.8)
    assert hi == 3600.0 and lo < 3600.0 * math.exp(-1.0)  # the late life (huge errors) not yet failed
    # another source's errors are not its own: too few of them, the fallback
    assert calibrated_bounds(3600.0, 3500.0, 3700.0, "fleet", errors, 50 * H, 0.8) == (1800.0, 7200.0)
    # with nothing failed yet: the estimator's own bounds widened to a factor 2
    assert calibrated_bounds(3600.0, 100.0, 3700.0, "trend", errors, 5 * H, 0.8) == (100.0, 7200.0)
    # the fleet regression's interval is conformal on held-out lives already: kept as it is
    regression = errors.learn(life_errors(20 * H, [10 * H + i * H for i in range(10)], [H] * 10,
                                          ["fleet_regression"] * 10))
    kept = calibrated_bounds(3600.0, 3500.0, 3700.0, "fleet_regression", regression, 50 * H, 0.8)
    assert kept == (3500.0, 3700.0)


def test_the_conformal_minimum_is_the_fewest_errors_with_both_finite_sample_quantiles() -> None:
    assert min_errors(0.8) == 9  # ceil((n + 1) * 0.9) <= n from n = 9 on
    assert min_errors(0.9) == 19
