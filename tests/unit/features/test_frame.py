"""Frame features and the rule-based bearing diagnosis on synthetic bearing signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.unit.features.synth import bearing_signal, noise
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features.fft import envelope_spectrum, select_envelope_band
from twin_models.features.frame import DIAGNOSIS_MIN_SNR, diagnose_bearing, frame_features
from twin_models.records import BearingGeometry

FS = 25_600.0
SHAFT_HZ = 29.95
GEOMETRY = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
DEFECTS = defect_frequencies(GEOMETRY, SHAFT_HZ)
DEFECT_NAMES = ("bpfo", "bpfi", "bsf", "ftf")
TIME_KEYS = {"rms", "peak", "crest_factor", "kurtosis", "skewness", "mean"}
# (frame length, noise rms): 0.8 s frames at -10 dB impacts, 0.16 s frames at -6 dB
FRAMES = [(20_480, 0.5), (4096, 0.3)]


def _defect_frame(kind: str, n: int, noise_rms: float, seed: int) -> np.ndarray:
    if kind == "bpfo":
        return bearing_signal(
            fs=FS, n=n, defect_hz=DEFECTS.bpfo, shaft_hz=SHAFT_HZ, noise_rms=noise_rms, seed=seed
        )
    if kind == "bpfi":  # the defect turns with the shaft through the load zone: modulated at 1x
        return bearing_signal(
            fs=FS,
            n=n,
            defect_hz=DEFECTS.bpfi,
            shaft_hz=SHAFT_HZ,
            modulation=0.8,
            noise_rms=noise_rms,
            seed=seed,
        )
    # ball: strikes both races (2*BSF), carried round by the cage (modulated at FTF)
    return bearing_signal(
        fs=FS,
        n=n,
        defect_hz=2 * DEFECTS.bsf,
        shaft_hz=DEFECTS.ftf,
        modulation=0.5,
        noise_rms=noise_rms,
        shaft_amp=0.0,
        seed=seed,
    )


def test_key_set_depends_only_on_arguments() -> None:
    band_keys = {
        f"band_{lo}_{hi}hz_rms"
        for lo, hi in [
            (0, 500),
            (500, 1000),
            (1000, 2000),
            (2000, 4000),
            (4000, 8000),
            (8000, 12800),
        ]
    }
    base = TIME_KEYS | band_keys | {"spectral_centroid_hz", "env_kurtosis"}
    x_noise = noise(4096, seed=0)
    x_fault = _defect_frame("bpfo", 4096, 0.3, seed=0)
    for x in (x_noise, x_fault):
        assert set(frame_features(x, FS)) == base
        assert set(frame_features(x, FS, shaft_hz=SHAFT_HZ)) == base | {
            "shaft_1x_amp",
            "shaft_2x_amp",
            "env_1x_amp",
        }
        full = frame_features(x, FS, shaft_hz=SHAFT_HZ, geometry=GEOMETRY)
        defect_keys = {f"env_{d}_{k}" for d in DEFECT_NAMES for k in ("amp", "snr")}
        assert set(full) == base | {"shaft_1x_amp", "shaft_2x_amp", "env_1x_amp"} | defect_keys
        assert all(math.isfinite(v) for v in full.values())


def test_degenerate_frames_stay_finite() -> None:
    for x in (np.zeros(4096), np.full(4096, 0.3), np.round(noise(4096, seed=1) * 0.2) * 0.002):
        feats = frame_features(x, FS, shaft_hz=SHAFT_HZ, geometry=GEOMETRY)
        assert all(math.isfinite(v) for v in feats.values())
    for n in (8, 9, 31, 100):  # shorter than any candidate band: the fallback band is used
        feats = frame_features(noise(n, seed=n), FS, shaft_hz=SHAFT_HZ, geometry=GEOMETRY)
        assert all(math.isfinite(v) for v in feats.values())
    zeros = frame_features(np.zeros(4096), FS, shaft_hz=30.0, geometry=GEOMETRY)
    assert diagnose_bearing(zeros) is None


def test_envelope_spectrum_shows_bpfo() -> None:
    x = _defect_frame("bpfo", 20_480, 0.5, seed=3)
    freqs, amps = envelope_spectrum(x, FS, select_envelope_band(x, FS))
    window = (freqs > 50.0) & (freqs < 400.0)
    assert freqs[window][np.argmax(amps[window])] == pytest.approx(DEFECTS.bpfo, rel=0.02)


# a ball defect is tested on long frames only: its FTF modulation needs several cage revolutions
DEFECT_CASES = [(k, n, r) for k in ("bpfo", "bpfi") for n, r in FRAMES] + [("bsf", *FRAMES[0])]


@pytest.mark.parametrize(("kind", "n", "noise_rms"), DEFECT_CASES)
@pytest.mark.parametrize("seed", range(4))
def test_synthetic_defect_is_diagnosed(kind: str, n: int, noise_rms: float, seed: int) -> None:
    feats = frame_features(_defect_frame(kind, n, noise_rms, seed), FS, shaft_hz=SHAFT_HZ, geometry=GEOMETRY)
    assert diagnose_bearing(feats) == kind
    assert feats[f"env_{kind}_snr"] > 1.5 * DIAGNOSIS_MIN_SNR


def test_defect_raises_impulsiveness_features() -> None:
    healthy = frame_features(0.1 * noise(20_480, seed=5), FS)
    faulty = frame_features(_defect_frame("bpfo", 20_480, 0.1, seed=5), FS)
    assert healthy["env_kurtosis"] == pytest.approx(2.0, abs=0.3)  # Gaussian complex envelope
    assert faulty["env_kurtosis"] > healthy["env_kurtosis"] + 1.0
    assert faulty["kurtosis"] > healthy["kurtosis"] + 0.4
    assert faulty["band_2000_4000hz_rms"] > 1.5 * healthy["band_2000_4000hz_rms"]


@pytest.mark.parametrize("n", [4096, 20_480])
def test_pure_noise_gives_no_diagnosis_and_snr_statistics_justify_the_threshold(n: int) -> None:
    snrs = []
    for seed in range(60):
        feats = frame_features(
            noise(n, seed=seed, shaft_hz=SHAFT_HZ, fs=FS), FS, shaft_hz=SHAFT_HZ, geometry=GEOMETRY
        )
        assert diagnose_bearing(feats) is None
        snrs.extend(feats[f"env_{d}_snr"] for d in ("bpfo", "bpfi", "bsf"))
    assert 1.2 < float(np.mean(snrs)) < 2.3  # "max of a few noise bins / median"
    assert float(np.quantile(snrs, 0.99)) < DIAGNOSIS_MIN_SNR - 0.3


def test_diagnose_bearing_rules() -> None:
    feats = {"env_bpfo_snr": 4.0, "env_bpfi_snr": 6.0, "env_bsf_snr": 1.0, "env_ftf_snr": 9.0}
    assert diagnose_bearing(feats) == "bpfi"
    assert diagnose_bearing(feats, min_snr=7.0) is None  # a cage line alone is not a diagnosis
    assert diagnose_bearing({f"vib.{k}": v for k, v in feats.items()}, prefix="vib.") == "bpfi"
    assert diagnose_bearing({}) is None


def test_explicit_envelope_band_is_used_and_validated() -> None:
    x = _defect_frame("bpfo", 4096, 0.3, seed=0)
    good = frame_features(x, FS, shaft_hz=SHAFT_HZ, geometry=GEOMETRY, envelope_band=(2500, 4500))
    off = frame_features(x, FS, shaft_hz=SHAFT_HZ, geometry=GEOMETRY, envelope_band=(9000, 12_000))
    assert good["env_bpfo_snr"] > off["env_bpfo_snr"] + 2.0
    frame_features(x, FS, envelope_band=(9000.0, 20_000.0))  # clipped at Nyquist
    with pytest.raises(ValueError, match="band"):
        frame_features(x, FS, envelope_band=(14_000.0, 15_000.0))
    with pytest.raises(ValueError, match="shaft_hz"):
        frame_features(x, FS, shaft_hz=0.0)
