"""Envelope spectrum and envelope band selection."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, hilbert, sosfiltfilt

from tests.unit.features.synth import bearing_signal
from twin_models.features.envelope import fallback_band
from twin_models.features.fft import amplitude_spectrum, envelope_spectrum, select_envelope_band

FS = 25_600.0
N = 4096
DF = FS / N


def _am_tone(amplitude: float, depth: float, carrier: float, mod: float) -> np.ndarray:
    t = np.arange(N) / FS
    return amplitude * (1.0 + depth * np.cos(2 * np.pi * mod * t)) * np.sin(2 * np.pi * carrier * t)


def test_envelope_of_am_tone_shows_modulation_with_its_amplitude() -> None:
    x = _am_tone(2.0, 0.5, carrier=480 * DF, mod=16 * DF)  # 3000 Hz carrier, 100 Hz modulation
    x += 0.5 * np.sin(2 * np.pi * 40 * DF * np.arange(N) / FS)  # out-of-band line is filtered out
    freqs, amps = envelope_spectrum(x, FS, (2000.0, 4000.0))
    k = int(np.argmax(amps))
    assert freqs[k] == pytest.approx(100.0)
    assert amps[k] == pytest.approx(1.0, rel=0.02)  # envelope 2*(1 + 0.5 cos) -> line 1.0
    assert amps[int(round(250.0 / DF))] < 0.01


def test_envelope_matches_butterworth_plus_hilbert_reference() -> None:
    x = bearing_signal(fs=FS, n=4 * N, defect_hz=107.0, shaft_hz=30.0, noise_rms=0.2, seed=4)
    band = (2500.0, 4500.0)
    freqs, amps = envelope_spectrum(x, FS, band)
    sos = butter(4, band, btype="bandpass", fs=FS, output="sos")
    ref_f, ref_a = amplitude_spectrum(np.abs(hilbert(sosfiltfilt(sos, x))), FS)
    for f0 in (107.0, 214.0):
        window = (freqs > 0.97 * f0) & (freqs < 1.03 * f0)
        assert freqs[window][np.argmax(amps[window])] == pytest.approx(
            ref_f[window][np.argmax(ref_a[window])]
        )
        assert amps[window].max() == pytest.approx(ref_a[window].max(), rel=0.2)


@pytest.mark.parametrize("resonance", [2500.0, 3500.0, 8000.0])
@pytest.mark.parametrize("n", [N, 5 * N])
def test_band_selection_finds_the_excited_resonance(resonance: float, n: int) -> None:
    x = bearing_signal(
        fs=FS, n=n, defect_hz=107.0, shaft_hz=30.0, resonance_hz=resonance, noise_rms=0.3, seed=1
    )
    lo, hi = select_envelope_band(x, FS)
    assert lo < resonance < hi
    assert hi - lo < 0.5 * (0.4 - 0.1) * FS  # a real choice, narrower than the fallback band


def test_band_selection_falls_back_on_pure_noise() -> None:
    rng = np.random.default_rng(11)
    chosen = [select_envelope_band(rng.standard_normal(N), FS) for _ in range(40)]
    assert sum(band == fallback_band(FS) for band in chosen) >= 36


def test_band_selection_respects_min_width() -> None:
    x = bearing_signal(fs=FS, n=N, defect_hz=107.0, shaft_hz=30.0, noise_rms=0.3, seed=2)
    lo, hi = select_envelope_band(x, FS, min_width_hz=2000.0)
    assert hi - lo >= 2000.0
    assert lo < 3500.0 < hi


@pytest.mark.parametrize("band", [(4000.0, 3000.0), (-1.0, 100.0), (13_000.0, 14_000.0)])
def test_invalid_envelope_band_raises(band: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="band"):
        envelope_spectrum(np.random.default_rng(0).standard_normal(N), FS, band)
