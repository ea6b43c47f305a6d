"""Time-domain features: known values for sines, noise, impulses and degenerate frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin_models.features.time_domain import (
    crest_factor,
    kurtosis,
    peak,
    rms,
    skewness,
    time_features,
)

FS = 10_000.0


def _sine(amplitude: float = 2.0, freq: float = 50.0, n: int = 10_000) -> np.ndarray:
    return amplitude * np.sin(2.0 * np.pi * freq * np.arange(n) / FS)


def test_sine_rms_peak_and_crest_factor() -> None:
    x = _sine(amplitude=2.0)
    assert rms(x) == pytest.approx(2.0 / math.sqrt(2.0), rel=1e-9)
    assert peak(x) == pytest.approx(2.0, rel=1e-6)
    assert crest_factor(x) == pytest.approx(math.sqrt(2.0), rel=1e-6)
    assert kurtosis(x) == pytest.approx(1.5, rel=1e-6)


def test_gaussian_noise_kurtosis_is_three_and_skewness_zero() -> None:
    x = np.random.default_rng(0).standard_normal(400_000)
    assert kurtosis(x) == pytest.approx(3.0, abs=0.05)
    assert skewness(x) == pytest.approx(0.0, abs=0.02)


def test_impulse_train_kurtosis_far_above_three() -> None:
    x = 0.01 * np.random.default_rng(1).standard_normal(10_000)
    x[::200] += 1.0
    assert kurtosis(x) > 30.0
    assert crest_factor(x) > 5.0


def test_skewness_sign_follows_the_longer_tail() -> None:
    x = np.random.default_rng(2).exponential(size=200_000)
    assert skewness(x) == pytest.approx(2.0, abs=0.1)
    assert skewness(-x) == pytest.approx(-2.0, abs=0.1)


@pytest.mark.parametrize("value", [0.0, 1.5, -3.0])
def test_constant_frames_give_finite_documented_values(value: float) -> None:
    feats = time_features(np.full(256, value))
    assert all(math.isfinite(v) for v in feats.values())
    assert feats["kurtosis"] == 3.0
    assert feats["skewness"] == 0.0
    assert feats["mean"] == pytest.approx(value)
    assert feats["rms"] == pytest.approx(abs(value))
    assert feats["crest_factor"] == (1.0 if value else 0.0)


def test_time_features_keys_and_dc() -> None:
    x = _sine(amplitude=1.0) + 0.25
    feats = time_features(x)
    assert set(feats) == {"rms", "peak", "crest_factor", "kurtosis", "skewness", "mean"}
    assert feats["mean"] == pytest.approx(0.25, abs=1e-9)
    assert feats["rms"] == pytest.approx(math.sqrt(0.5 + 0.25**2), rel=1e-6)
    assert feats["peak"] == pytest.approx(1.25, rel=1e-6)
    assert feats["kurtosis"] == pytest.approx(1.5, rel=1e-6)


def test_float32_input_is_accepted() -> None:
    x = _sine(amplitude=1.0).astype(np.float32)
    assert rms(x) == pytest.approx(1.0 / math.sqrt(2.0), rel=1e-5)


@pytest.mark.parametrize(
    "bad", [np.array([]), np.zeros((4, 4)), np.array([1.0, np.nan, 2.0]), np.array([np.inf])]
)
def test_invalid_input_raises(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="x "):
        time_features(bad)
