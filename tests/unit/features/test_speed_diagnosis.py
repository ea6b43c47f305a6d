"""Diagnosis on synthetic bearings at other geometries and speeds, with the nominal speed off.

The signals are the standard defect model (:func:`tests.unit.features.synth.bearing_signal`):
impacts at the defect frequency ringing a resonance, plus a 1x shaft line and noise. The shaft
really turns at ``true_rpm`` while the frames are featurised at the nominal 1797 rpm (as a frame
without a tachometer would be): the speed must come from the spectrum's 1x line
(:mod:`twin_models.features.speed`), and the defect lines carry slip (0.6 % above their kinematic
order). Each case checks the majority verdict of 1 s frames (12 kHz, as CWRU) and that the
named line is specific (:func:`twin_models.diagnosis.defects.confidence`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.unit.features.synth import bearing_signal
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.diagnosis.defects import NOISE_SNR, confidence
from twin_models.features.batch import FrameSpec, frame_features_batch
from twin_models.features.frame import diagnose_bearing, frame_features
from twin_models.features.speed import SPEED_SEARCH_REL, refine_shaft_rows
from twin_models.records import BearingGeometry

FS = 12_000.0
NOMINAL_HZ = 1797.0 / 60.0
SLIP = 1.006
SKF_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
SKF_6203 = BearingGeometry(n_elements=8, ball_diameter_mm=6.746, pitch_diameter_mm=28.499)


def _frames(x: np.ndarray) -> np.ndarray:
    n = int(FS)
    return np.stack([x[i : i + n] for i in range(0, x.size - n + 1, n)])


def _signal(geometry: BearingGeometry, true_rpm: float, defect: str | None, seed: int) -> np.ndarray:
    """6 s of a bearing at ``true_rpm``: IR with 1x amplitude modulation (shaft sidebands), OR
    impacts (harmonics), a ball with cage (FTF) modulation, or healthy (1x line + noise)."""
    shaft = true_rpm / 60.0
    lines = defect_frequencies(geometry, shaft)
    n = int(6 * FS)
    t = np.arange(n) / FS
    rng = np.random.default_rng(seed)
    one_x = 0.3 * np.sin(2 * np.pi * shaft * t + 0.4)
    if defect is None:
        return one_x + 0.5 * rng.standard_normal(n)
    if defect == "bsf":  # a ball strikes both races once per spin: 2 x BSF, modulated at the cage
        impacts = bearing_signal(fs=FS, n=n, defect_hz=2 * lines.bsf * SLIP, shaft_hz=lines.ftf,
                                 noise_rms=0.0, modulation=0.6, shaft_amp=0.0, seed=seed)
        return impacts + one_x + 0.4 * rng.standard_normal(n)
    hz = {"bpfi": lines.bpfi, "bpfo": lines.bpfo}[defect] * SLIP
    return bearing_signal(fs=FS, n=n, defect_hz=hz, shaft_hz=shaft, noise_rms=0.4,
                          modulation=0.6 if defect == "bpfi" else 0.0, seed=seed)


def _verdicts(x: np.ndarray, geometry: BearingGeometry) -> tuple[Counter[str | None], list[dict[str, float]]]:
    feats = frame_features_batch(_frames(x), FS, [FrameSpec(NOMINAL_HZ, geometry)] * 6)
    return Counter(diagnose_bearing(f) for f in feats), feats


@pytest.mark.parametrize("geometry", [SKF_6203, SKF_6205], ids=["6203", "6205"])
@pytest.mark.parametrize("true_rpm", [1730.0, 1797.0])
@pytest.mark.parametrize("defect", ["bpfi", "bpfo", "bsf"])
def test_defect_localised_at_other_geometries_and_speeds(geometry: BearingGeometry, true_rpm: float,
                                                         defect: str) -> None:
    votes, feats = _verdicts(_signal(geometry, true_rpm, defect, seed=11), geometry)
    assert votes.most_common(1)[0][0] == defect, votes
    snrs = {("vib", d): float(np.median([f[f"env_{d}_snr"] for f in feats])) for d in ("bpfo", "bpfi", "bsf")}
    assert confidence(snrs, ("vib", defect)) > 0.3, snrs


@pytest.mark.parametrize("geometry", [SKF_6203, SKF_6205], ids=["6203", "6205"])
@pytest.mark.parametrize("true_rpm", [1730.0, 1797.0])
def test_healthy_synthetic_bearing_not_flagged(geometry: BearingGeometry, true_rpm: float) -> None:
    votes, feats = _verdicts(_signal(geometry, true_rpm, None, seed=5), geometry)
    assert votes[None] == 6, votes
    assert max(f[f"env_{d}_snr"] for f in feats for d in ("bpfo", "bpfi", "bsf")) < 4.0


def test_wrong_nominal_speed_missed_without_refinement_found_with_it() -> None:
    """The 3.7 % speed error (1730 vs 1797 rpm) is what the refinement is for: without the 1x
    line (the speed cannot be read off the spectrum) the inner-race line falls outside its
    window; with it the line is found."""
    x = _signal(SKF_6203, 1730.0, "bpfi", seed=3)
    shaft = 1730.0 / 60.0
    no_line = x - 0.3 * np.sin(2 * np.pi * shaft * np.arange(x.size) / FS + 0.3)  # bearing_signal's 1x
    assert _verdicts(no_line, SKF_6203)[0].most_common(1)[0][0] != "bpfi"
    assert _verdicts(x, SKF_6203)[0].most_common(1)[0][0] == "bpfi"


def test_refined_speed_from_the_1x_line_to_a_fraction_of_a_bin() -> None:
    n = int(FS)
    t = np.arange(n) / FS
    rng = np.random.default_rng(1)
    true_hz = np.array([1730.0, 1772.3, 1850.0, 1900.0]) / 60.0
    rows = np.stack([0.3 * np.sin(2 * np.pi * f * t) + 0.5 * rng.standard_normal(n) for f in true_hz])
    rows -= rows.mean(axis=1, keepdims=True)
    w = np.hanning(n)
    amps = np.abs(np.fft.rfft(rows * w, axis=1)) * 2 / w.sum()
    est = refine_shaft_rows(amps, FS / n, np.full(4, NOMINAL_HZ))
    assert est[:3] == pytest.approx(true_hz[:3], rel=2e-3)
    assert est[3] == NOMINAL_HZ  # 1900 rpm is 5.7 % off: outside the search, the nominal stands
    assert abs(1900.0 / 1797.0 - 1) > SPEED_SEARCH_REL


def test_speed_kept_when_noise_only_or_bins_too_coarse() -> None:
    rng = np.random.default_rng(2)
    noise = np.abs(np.fft.rfft(rng.standard_normal((3, 12_000)), axis=1))
    assert np.array_equal(refine_shaft_rows(noise, 1.0, np.full(3, NOMINAL_HZ)), np.full(3, NOMINAL_HZ))
    coarse = np.zeros((1, 100))
    coarse[0, 5] = 10.0  # a clear line, but 6.25 Hz bins cannot resolve a 5 % search at 30 Hz
    assert refine_shaft_rows(coarse, 6.25, np.array([NOMINAL_HZ]))[0] == NOMINAL_HZ


def test_frame_and_batch_refine_alike() -> None:
    x = _frames(_signal(SKF_6205, 1750.0, "bpfo", seed=4))[:2]
    one = [frame_features(row, FS, shaft_hz=NOMINAL_HZ, geometry=SKF_6205) for row in x]
    many = frame_features_batch(x, FS, [FrameSpec(NOMINAL_HZ, SKF_6205)] * 2)
    for a, b in zip(one, many, strict=True):
        assert a["env_bpfo_snr"] == pytest.approx(b["env_bpfo_snr"], rel=1e-3)
        assert a["shaft_1x_amp"] == pytest.approx(b["shaft_1x_amp"], rel=1e-6)


def test_confidence_is_the_named_lines_margin_over_the_runner_up() -> None:
    seen = {("vib", "bpfi"): 20.0, ("vib", "bpfo"): 4.0, ("vib", "bsf"): 1.5, ("other", "bpfo"): 19.0}
    assert confidence(seen, ("vib", "bpfi")) == pytest.approx(0.8)  # the other channel is not a rival
    assert confidence(seen, ("vib", "bpfo")) == 0.0  # the inner-race line is stronger
    assert confidence({("vib", "bpfo"): 8.0}, ("vib", "bpfo")) == pytest.approx(1 - NOISE_SNR / 8.0)
