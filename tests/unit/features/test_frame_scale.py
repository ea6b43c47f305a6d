"""A frame out of scale is refused alike by ``frame_features`` and ``frame_features_batch`` (round 41,
TIDY41b; HOSTILE41 noticed it). Main (0d737e9): a frame scaled to 1e-160 made ``frame_features`` raise
ZeroDivisionError (its kurtosis' fourth moment underflowed) and 1e200 OverflowError, while the batch
gave that row NaN or infinite features (kurtosis, rms, band energies) and went on."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from twin_models.features import frame_features, frame_features_batch
from twin_models.features.batch import FrameSpec, OutOfScale
from twin_models.records import BearingGeometry

FS = 25_600.0
GEOMETRY = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
SPECS = [FrameSpec(), FrameSpec(25.0, GEOMETRY), FrameSpec(30.0), FrameSpec(envelope_band=(2000.0, 6000.0))]
WORDS = "outside the range its features can be computed in (0, or 1e-60 to 1e+60)"


def frames() -> np.ndarray:
    return np.random.default_rng(3).normal(0.5, 0.3, (4, 4096))


@pytest.mark.parametrize("scale", [1e-160, 1e-75, 1e75, 1e200])
def test_a_frame_out_of_scale_is_refused_alike_by_both_paths(scale: float) -> None:
    x = frames()
    x[2] = (x[2] - x[2].mean()) * scale
    peak = float(np.abs(x[2] - x[2].mean()).max())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # main: RuntimeWarnings (overflow, invalid value) from the batch
        with pytest.raises(ValueError) as one:
            frame_features(x[2], FS, shaft_hz=30.0)
        with pytest.raises(OutOfScale) as batch:
            frame_features_batch(x, FS, SPECS)
    assert str(one.value) == f"the frame deviates from its mean by up to {peak:.3g}: {WORDS}"
    assert str(batch.value) == f"frame 2 deviates from its mean by up to {peak:.3g}: {WORDS}"
    assert (batch.value.rows, batch.value.deviations) == ([2], [pytest.approx(peak, rel=1e-12)])


def test_every_frame_out_of_scale_is_named_and_the_others_are_as_without_them() -> None:
    x = frames()
    x[0] *= 1e-70
    x[3] = 1e307  # constant, but its sum overflows: the mean, hence the deviation, is infinite
    with pytest.raises(OutOfScale) as err:
        frame_features_batch(x, FS, SPECS)
    assert err.value.rows == [0, 3] and err.value.deviations[1] == np.inf
    assert str(err.value).endswith(f"{WORDS} (and 1 more frame)")
    rest = frame_features_batch(x[1:3], FS, SPECS[1:3])
    alone = [frame_features_batch(x[i : i + 1], FS, [SPECS[i]])[0] for i in (1, 2)]
    assert repr(rest) == repr(alone)  # a frame's features do not depend on its batch-mates


@pytest.mark.parametrize("scale", [1e-60, 1e60, 0.0])
def test_frames_at_the_edges_of_the_range_and_a_constant_frame_have_finite_features(scale: float) -> None:
    x = frames()
    x[1] = (x[1] - x[1].mean()) / np.abs(x[1] - x[1].mean()).max() * scale + 7.0 * (scale == 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = frame_features_batch(x, FS, SPECS)
        one = frame_features(x[1], FS, shaft_hz=25.0, geometry=GEOMETRY)
    assert all(np.isfinite(v) for v in one.values()) and all(np.isfinite(v) for v in batch[1].values())
    assert batch[1]["rms"] == pytest.approx(one["rms"], rel=1e-9)
    assert batch[1]["kurtosis"] == pytest.approx(one["kurtosis"], rel=1e-9)


def test_float32_frames_never_are_out_of_scale() -> None:
    """What every source of the dataflow gives (the codecs and file readers cast samples to float32):
    its largest and smallest deviations lie inside the range, so their features are finite."""
    x = frames()
    for scale in (3e38 / np.abs(x).max() / 2, 1e-44):
        y = (x * scale).astype(np.float32)
        assert all(np.isfinite(v) for row in frame_features_batch(y, FS, SPECS) for v in row.values())
