"""ChangeNovelty / ChangeSeries: what each channel finds, its calibration, River's verbs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.factories import prequential_scores
from twin_models.anomaly.change import ChangeNovelty, ChangeSeries
from twin_models.checks import ALL_CHECKS

SCALES = ((8, 128), (32, 512))
WARMUP = 700  # both windows of the longest scale full, and 150 statistics learnt


def _run(values: np.ndarray) -> np.ndarray:
    return prequential_scores(ChangeNovelty(warmup=WARMUP, scales=SCALES, history=5000), values, "v.mean")


def _channels(values: np.ndarray, at: int) -> dict[str, float]:
    """The smallest p-value of each kind of channel at row ``at`` (learnt up to ``at - 1``)."""
    ch = ChangeSeries(SCALES, history=5000)
    for v in values[:at]:
        ch.learn(float(v))
    ps = ch.p_values(float(values[at]))
    level = [ps[2 + 4 * j + k] for j in range(len(SCALES)) for k in (0, 1)]
    spread = [ps[2 + 4 * j + k] for j in range(len(SCALES)) for k in (2, 3)]
    return {"step": min(ps[:2]), "level": min(level), "spread": min(spread)}


def _noise(n: int = 3000, seed: int = 0) -> np.ndarray:
    return 10 + np.random.default_rng(seed).normal(0, 1, n)


# "quiet" is < 0.9999: calibrated scores pass 0.999 about once per thousand ordinary rows
def test_a_spike_is_a_step() -> None:
    values = _noise()
    values[2000] += 6
    p = _channels(values, 2000)
    assert p["step"] < 1e-4  # (the short window's spread jumps too)
    s = _run(values)
    assert s[WARMUP:2000].max() < 0.9999 < s[2000]


def test_a_level_shift_inside_the_range_of_values_seen() -> None:
    values = _noise(seed=1)
    values[2000:] += 2.5  # +2.5 sd: the new values are ordinary ones of the old range
    s = _run(values)
    assert s[WARMUP:2000].max() < 0.9999
    assert s[2000:2040].max() > 0.9999  # found within the short window
    at = 2000 + int(np.argmax(s[2000:2040]))
    assert _channels(values, at)["level"] < 1e-3


def test_a_variance_drop_is_a_spread_change() -> None:
    values = _noise(seed=2)
    values[2000:] = 10 + (values[2000:] - 10) * 0.05  # the same mean, values inside the range
    s = _run(values)
    assert s[WARMUP:2000].max() < 0.9999 < s[2000:2040].max()
    at = 2000 + int(np.argmax(s[2000:2040]))
    p = _channels(values, at)
    assert p["spread"] < 1e-4 and p["spread"] < p["level"]


def test_a_seasonal_pattern_that_stops() -> None:
    t = np.arange(3000)
    rng = np.random.default_rng(3)
    values = 10 + 3 * np.sin(2 * np.pi * t / 100) + rng.normal(0, 0.2, 3000)
    values[2000:2300] = 10 + rng.normal(0, 0.2, 300)  # mid-range values, no daily swing
    s = _run(values)
    assert s[WARMUP:2000].max() < 0.9999 < s[2000:2050].max()


def test_calibration_rank_p_values_on_stationary_noise() -> None:
    """Every channel is a rank p-value of its own history: on stationary noise, a row is flagged at
    the 1 % level (Bonferroni over the 10 channels) about 1 % of the time at most."""
    s = _run(_noise(6000, seed=4))[WARMUP:]
    assert (s > 0.99).mean() < 0.015
    assert (s > 0.999).mean() < 0.003


def test_flat_and_noise_free_square_wave_stay_silent() -> None:
    square = np.where((np.arange(3000) // 50) % 2 == 0, 20.0, 80.0)
    for values in (np.full(3000, 45.0), square):
        assert _run(values).max() < 0.99


def test_score_is_pure_and_pickles() -> None:
    det = ChangeNovelty(warmup=50, scales=((4, 32),), history=500)
    for v in _noise(300, seed=5):
        x = {"a.mean": float(v), "a.std": 1.0, "b.mean": 2.0}
        before = pickle.dumps(det)
        det.score_one(x)
        assert pickle.dumps(det) == before
        det.learn_one(x)
    assert set(det.state) == {"a.mean", "b.mean"} and det.n_learned == 300
    clone = pickle.loads(pickle.dumps(det))
    assert clone.score_one({"a.mean": 30.0}) == det.score_one({"a.mean": 30.0}) > 0.999


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_contract(check) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(6)
    stream = [{"x.mean": float(v)} for v in np.cumsum(rng.normal(size=400)) * 0.1]
    check(lambda: ChangeNovelty(warmup=20, scales=((4, 16),), history=100), stream)
