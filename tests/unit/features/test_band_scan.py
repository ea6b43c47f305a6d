"""The screened band scan (issue 10 round 2) against the exhaustive one it replaces.

``scan_bands`` ranks candidate bands by a critically sampled SK and decides among the top three
by the exact SK; these tests hold it to the exhaustive scan (``select_band_from_rfft``, which
computes the exact SK of every candidate): the same band and the same SK on defect signals whose
resonance the scan must find, on noise, with geometry-driven minimum widths, and in any units.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft

from tests.unit.features.synth import bearing_signal
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features.band_scan import critical_sk_rows, scan_bands
from twin_models.features.envelope import _sk_bins, band_bins, fallback_band, select_band_from_rfft
from twin_models.records import BearingGeometry

FS = 25_600.0
N = 4096
GEOMETRY = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)


def spectra(frames: np.ndarray) -> np.ndarray:
    return np.asarray(scipy.fft.rfft(frames - frames.mean(axis=1, keepdims=True), axis=1))


def exhaustive(raw: np.ndarray, min_width: np.ndarray) -> tuple[list[tuple[float, float]], list[float]]:
    bands = [select_band_from_rfft(row, N, FS, min_width_hz=float(w))[0]
             for row, w in zip(raw, min_width, strict=True)]
    sks = [_sk_bins(row[slice(*band_bins(N, FS, b))]) for row, b in zip(raw, bands, strict=True)]
    return bands, sks


def defect_frames() -> np.ndarray:
    """Outer/inner-race impacts ringing resonances across the scan range, weak and strong, and noise."""
    shaft = 29.95
    freq = defect_frequencies(GEOMETRY, shaft)
    rows = [bearing_signal(fs=FS, n=N, defect_hz=d, shaft_hz=shaft, noise_rms=noise, resonance_hz=r, seed=s)
            for s, (d, r, noise) in enumerate(
                (d, r, noise) for d in (freq.bpfo, freq.bpfi) for r in (1800.0, 3500.0, 6000.0, 9000.0)
                for noise in (0.3, 1.5))]
    rng = np.random.default_rng(11)
    return np.stack(rows + [rng.normal(0.0, 0.5, N) for _ in range(8)])


@pytest.mark.parametrize("min_width", [0.0, 700.0, 3000.0])
def test_same_band_and_sk_as_the_exhaustive_scan(min_width: float) -> None:
    raw = spectra(defect_frames())
    widths = np.full(raw.shape[0], min_width)
    got_bands, got_sk = scan_bands(raw, N, FS, widths)
    want_bands, want_sk = exhaustive(raw, widths)
    assert got_bands == want_bands
    np.testing.assert_allclose(got_sk, want_sk, rtol=1e-12, atol=1e-15)
    found = [b for b in got_bands[:16] if b != fallback_band(FS)]
    assert len(found) >= 4  # the defect frames do show their resonance: the scan is exercised


def test_each_row_has_its_own_minimum_width() -> None:
    raw = spectra(defect_frames()[:10])
    widths = np.array([0.0, 5000.0] * 5)
    got_bands, got_sk = scan_bands(raw, N, FS, widths)
    assert got_bands == exhaustive(raw, widths)[0]
    for band, w in zip(got_bands, widths, strict=True):
        assert band == fallback_band(FS) or band[1] - band[0] >= w


def test_no_eligible_candidate_gives_the_fallback_band_and_its_exact_sk() -> None:
    raw = spectra(defect_frames()[:4])
    bands, sk = scan_bands(raw, N, FS, np.full(4, 1e9))
    assert bands == [fallback_band(FS)] * 4
    lo, hi = band_bins(N, FS, fallback_band(FS))
    assert list(sk) == pytest.approx([_sk_bins(row[lo:hi]) for row in raw], rel=1e-12)


@pytest.mark.parametrize("scale", [1e-12, 1e12])
def test_any_units(scale: float) -> None:
    """The single-precision screen is scaled per row: volts, g or raw ADC counts rank alike."""
    frames = defect_frames()
    base = scan_bands(spectra(frames), N, FS, np.zeros(len(frames)))
    scaled = scan_bands(spectra(frames * scale), N, FS, np.zeros(len(frames)))
    assert scaled[0] == base[0]
    np.testing.assert_allclose(scaled[1], base[1], rtol=1e-9)


def test_critical_sk_is_near_zero_for_noise_and_large_for_impacts() -> None:
    rng = np.random.default_rng(3)
    lo, hi = band_bins(N, FS, (2000.0, 5000.0))
    noise = critical_sk_rows(spectra(rng.normal(0.0, 1.0, (64, N)))[:, lo:hi])
    assert abs(float(noise.mean())) < 4.0 / math.sqrt(hi - lo)
    impacts = bearing_signal(fs=FS, n=N, defect_hz=107.0, shaft_hz=30.0, noise_rms=0.05, resonance_hz=3500.0)
    assert critical_sk_rows(spectra(impacts[None, :])[:, lo:hi])[0] > 1.0


def test_single_precision_spectra_rank_like_double() -> None:
    """Spectra of float32 samples (as decoded from TWF) give the bands of their float64 copy."""
    raw = spectra(defect_frames())
    widths = np.zeros(raw.shape[0])
    assert scan_bands(raw.astype(np.complex64), N, FS, widths)[0] == scan_bands(raw, N, FS, widths)[0]


def test_frames_that_screen_below_the_confirmation_threshold_get_no_exact_sk_of_their_top_bands(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 3: a frame whose best screening z < CONFIRM_MIN_SCREEN_Z keeps the fallback band and
    only its fallback SK is computed; the defect frames still get the exhaustive band and SK."""
    from twin_models.features import band_scan

    rng = np.random.default_rng(5)
    noise = spectra(rng.normal(0.0, 0.5, (16, N)))
    screen = band_scan._screen(noise, *band_scan._candidates(N, FS, 0.0), np.zeros(16))
    quiet = screen.max(axis=1) < band_scan.CONFIRM_MIN_SCREEN_Z
    assert 0 < quiet.sum() < 16  # both kinds of noise frames
    widths: list[int] = []
    real_sk_rows = band_scan.sk_rows

    def counting(bins: np.ndarray) -> np.ndarray:
        widths.append(bins.shape[0])
        return real_sk_rows(bins)

    monkeypatch.setattr(band_scan, "sk_rows", counting)
    bands, _ = scan_bands(noise[quiet], N, FS, np.zeros(int(quiet.sum())))
    assert bands == [fallback_band(FS)] * int(quiet.sum())
    assert widths == [int(quiet.sum())]  # one call: the fallback band's SK, no confirmation
    frames = defect_frames()
    want = exhaustive(spectra(frames), np.zeros(len(frames)))
    got = scan_bands(spectra(frames), N, FS, np.zeros(len(frames)))
    assert got[0] == want[0]
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
