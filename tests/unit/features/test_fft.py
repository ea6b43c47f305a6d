"""Spectra, band energies, centroid and line features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin_models.features.fft import (
    amplitude_spectrum,
    band_rms,
    default_bands,
    defect_line_features,
    line_amplitude,
    spectral_centroid,
    spectral_line_features,
)

FS = 25_600.0
N = 4096
DF = FS / N  # 6.25 Hz


def _tone(amplitude: float, freq: float, n: int = N, fs: float = FS) -> np.ndarray:
    return amplitude * np.sin(2.0 * np.pi * freq * np.arange(n) / fs + 0.7)


@pytest.mark.parametrize(("amplitude", "freq"), [(1.0, 100 * DF), (3.5, 517 * DF), (0.2, 7 * DF)])
def test_sine_on_a_bin_peaks_at_f_with_amplitude_a(amplitude: float, freq: float) -> None:
    freqs, amps = amplitude_spectrum(_tone(amplitude, freq), FS)
    k = int(np.argmax(amps))
    assert freqs[k] == pytest.approx(freq)
    assert amps[k] == pytest.approx(amplitude, rel=1e-9)


def test_off_bin_sine_loses_at_most_the_hann_scalloping() -> None:
    _, amps = amplitude_spectrum(_tone(1.0, 100.5 * DF), FS)
    assert 0.84 < amps.max() < 0.86  # Hann scalloping loss at half a bin is 1.42 dB


def test_spectrum_shape_and_mean_removed() -> None:
    freqs, amps = amplitude_spectrum(_tone(1.0, 50 * DF) + 5.0, FS)
    assert freqs.shape == amps.shape == (N // 2 + 1,)
    assert freqs[-1] == pytest.approx(FS / 2)
    assert amps[0] < 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_band_rms_is_parseval_consistent_for_noise(seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(N) * 0.7
    bands = band_rms(x, FS, default_bands(FS))
    total = math.sqrt(sum(v * v for v in bands.values()))
    assert total == pytest.approx(float(np.std(x)), rel=0.03)


def test_band_rms_puts_each_tone_in_its_band() -> None:
    x = _tone(1.0, 120 * DF) + _tone(2.0, 480 * DF) + _tone(0.5, 1500 * DF)  # 750, 3000, 9375 Hz
    bands = band_rms(x, FS, default_bands(FS))
    assert bands["band_500_1000hz_rms"] == pytest.approx(1.0 / math.sqrt(2), rel=0.01)
    assert bands["band_2000_4000hz_rms"] == pytest.approx(2.0 / math.sqrt(2), rel=0.01)
    assert bands["band_8000_12800hz_rms"] == pytest.approx(0.5 / math.sqrt(2), rel=0.01)
    assert bands["band_0_500hz_rms"] < 1e-3
    total = math.sqrt(sum(v * v for v in bands.values()))
    assert total == pytest.approx(float(np.std(x)), rel=0.01)


def test_default_bands_for_common_sample_rates() -> None:
    assert default_bands(25_600.0) == [
        (0.0, 500.0),
        (500.0, 1000.0),
        (1000.0, 2000.0),
        (2000.0, 4000.0),
        (4000.0, 8000.0),
        (8000.0, 12_800.0),
    ]
    assert default_bands(12_000.0)[-1] == (4000.0, 6000.0)
    assert default_bands(48_000.0)[-1] == (8000.0, 24_000.0)
    assert default_bands(16_400.0)[-1] == (4000.0, 8200.0)  # 8000-8200 sliver merged
    assert default_bands(20_000.0) == default_bands(20_000.0)


@pytest.mark.parametrize("fs", [2000.0, 12_000.0, 20_000.0, 25_600.0, 51_200.0])
def test_default_bands_tile_zero_to_nyquist(fs: float) -> None:
    bands = default_bands(fs)
    assert bands[0][0] == 0.0 and bands[-1][1] == fs / 2
    assert all(a[1] == b[0] for a, b in zip(bands, bands[1:], strict=False))


def test_band_names_use_integer_hz() -> None:
    x = np.random.default_rng(0).standard_normal(N)
    assert list(band_rms(x, FS, [(0.0, 1234.4), (1234.4, 12_800.0)])) == [
        "band_0_1234hz_rms",
        "band_1234_12800hz_rms",
    ]


def test_spectral_centroid() -> None:
    freqs, amps = amplitude_spectrum(_tone(1.0, 200 * DF), FS)
    assert spectral_centroid(freqs, amps) == pytest.approx(200 * DF, rel=1e-3)
    freqs, amps = amplitude_spectrum(_tone(1.0, 200 * DF) + _tone(1.0, 600 * DF), FS)
    assert spectral_centroid(freqs, amps) == pytest.approx(400 * DF, rel=1e-3)
    assert spectral_centroid(freqs, np.zeros_like(freqs)) == 0.0


def test_line_amplitude_window() -> None:
    freqs = np.arange(0.0, 1001.0)
    amps = np.zeros_like(freqs)
    amps[102] = 2.0
    assert line_amplitude(freqs, amps, 100.0) == pytest.approx(2.0)  # 100 Hz +- 2 %
    assert line_amplitude(freqs, amps, 100.0, rel_tol=0.01) == 0.0
    assert line_amplitude(freqs, amps, 101.2, rel_tol=0.0) == pytest.approx(2.0)  # +- 1 bin
    assert line_amplitude(freqs, amps, 100.5, rel_tol=0.0) == 0.0
    assert line_amplitude(freqs, amps, 5000.0) == 0.0
    with pytest.raises(ValueError, match="f0"):
        line_amplitude(freqs, amps, 0.0)


def test_shaft_lines_from_raw_spectrum() -> None:
    shaft = 40 * DF
    x = _tone(0.8, shaft) + _tone(0.3, 2 * shaft)
    x += 0.01 * np.random.default_rng(0).standard_normal(N)
    freqs, amps = amplitude_spectrum(x, FS)
    lines = spectral_line_features(freqs, amps, shaft)
    assert lines["shaft_1x_amp"] == pytest.approx(0.8, rel=0.02)
    assert lines["shaft_2x_amp"] == pytest.approx(0.3, rel=0.05)


def test_defect_line_features_definitions_on_a_flat_background() -> None:
    freqs = np.arange(0.0, 2000.0, 0.5)
    amps = np.ones_like(freqs)
    for f0, a in [(100.0, 6.0), (200.0, 5.0), (300.0, 4.0), (2 * 70.0, 9.0), (30.0, 7.0)]:
        amps[int(f0 / 0.5)] = a
    feats = defect_line_features(freqs, amps, {"bpfo": 100.0, "bsf": 70.0, "bpfi": 163.0}, 30.0)
    assert feats["env_bpfo_amp"] == pytest.approx(15.0)
    assert feats["env_bpfo_snr"] == pytest.approx(15.0 / 3.0)
    assert feats["env_bsf_amp"] == pytest.approx(9.0 + 1.0 + 1.0)  # lines at 2*BSF = 140, 280, 420
    assert feats["env_bpfi_snr"] == pytest.approx(1.0)
    assert feats["env_1x_amp"] == pytest.approx(7.0)
    assert set(feats) == {"env_1x_amp"} | {
        f"env_{d}_{k}" for d in ("bpfo", "bsf", "bpfi") for k in ("amp", "snr")
    }


def test_defect_snr_uses_local_background_per_harmonic() -> None:
    freqs = np.arange(0.0, 2000.0, 1.0)
    amps = np.where(freqs < 250.0, 1.0, 0.01)  # envelope spectrum fading above the band width
    amps[100] = 4.0
    feats = defect_line_features(freqs, amps, {"bpfo": 100.0}, 30.0)
    # harmonics 2 and 3 sit in the faded region: lines 1 + 0.01 + 0.01, background 1 + 1 + 0.01
    assert feats["env_bpfo_snr"] == pytest.approx((4.0 + 1.0 + 0.01) / (1.0 + 1.0 + 0.01), rel=1e-6)
