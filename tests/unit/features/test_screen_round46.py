"""The band scan's screen, round 46 (PERF46): each band transformed for its eligible rows only,
and ``critical_sk_rows`` with fewer passes (real-view taper, ``|c|**2`` from ``abs``, an ``einsum``
for the fourth moment), held to a straightforward float64 reference and to the exhaustive scan."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft

from tests.unit.features.test_band_scan import FS, N, defect_frames, exhaustive, spectra
from twin_models.features import band_scan
from twin_models.features.band_scan import critical_sk_rows, scan_bands
from twin_models.features.envelope import _taper

SCREEN_Z_TOL = 5e-5
"""Largest screened-z difference allowed from the float64 reference: the single-precision
transform alone puts the base code's screen ~3e-5 from it on these frames."""


def reference_critical_sk(bins: np.ndarray) -> np.ndarray:
    """The screen's statistic in float64, written out: taper, zero-pad to ``next_fast_len(W)``,
    inverse FFT, ``mean |c|^4 / mean(|c|^2)^2 - 2`` (0 for a zero row)."""
    rows, width = bins.shape
    m = scipy.fft.next_fast_len(width)
    padded = np.zeros((rows, m), dtype=np.complex128)
    padded[:, :width] = bins.astype(np.complex128) * _taper(width)
    c = scipy.fft.ifft(padded, axis=1)
    p = c.real**2 + c.imag**2
    m2 = p.mean(axis=1)
    out = np.zeros(rows)
    ok = m2 > 0.0
    out[ok] = (p[ok] ** 2).mean(axis=1) / m2[ok] ** 2 - 2.0
    return out


def unit_single(raw: np.ndarray) -> np.ndarray:
    return band_scan._unit_rms_single(raw)


@pytest.mark.parametrize("band", [(1000.0, 2000.0), (2000.0, 5000.0), (5760.0, 11520.0), (9143.4, 11520.0)])
def test_critical_sk_is_the_float64_statistic_within_single_precision(band: tuple[float, float]) -> None:
    rng = np.random.default_rng(46)
    frames = np.vstack([defect_frames(), rng.normal(0.0, 1.0, (8, N)), np.zeros((1, N))])
    single = unit_single(spectra(frames))
    lo, hi = band_scan._clipped_bins(N, FS, band)
    got = critical_sk_rows(single[:, lo:hi])
    want = reference_critical_sk(single[:, lo:hi])
    assert got.dtype == np.float64
    assert got[-1] == 0.0  # the zero row
    np.testing.assert_allclose(got * math.sqrt(hi - lo) / 2.0, want * math.sqrt(hi - lo) / 2.0,
                               rtol=0.0, atol=SCREEN_Z_TOL)
    # in double precision it is the reference to float64 rounding
    double = spectra(frames)[:, lo:hi]
    np.testing.assert_allclose(critical_sk_rows(double), reference_critical_sk(double), rtol=0.0, atol=1e-11)


def test_critical_sk_of_bins_not_viewable_as_reals_is_that_of_their_copy() -> None:
    """A view whose rows step over bins cannot be read as interleaved reals: the complex product
    is taken instead, the same values."""
    single = unit_single(spectra(defect_frames()))
    lo, hi = band_scan._clipped_bins(N, FS, (2000.0, 8000.0))
    strided = single[:, lo:hi:2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(critical_sk_rows(strided), critical_sk_rows(strided.copy()))


def test_a_band_is_transformed_only_for_the_rows_it_is_eligible_for(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = spectra(defect_frames())
    widths = np.where(np.arange(raw.shape[0]) % 3 == 0, 0.0, 1500.0)
    cands, bins = band_scan._candidates(N, FS, float(widths.min()))
    full = band_scan._screen(raw, cands, bins, np.zeros(raw.shape[0]))  # every row, every band
    calls: list[tuple[int, int]] = []
    real = band_scan.critical_sk_rows

    def counting(b: np.ndarray) -> np.ndarray:
        calls.append((b.shape[1], b.shape[0]))
        return real(b)

    monkeypatch.setattr(band_scan, "critical_sk_rows", counting)
    screen = band_scan._screen(raw, cands, bins, widths)
    want_calls = []
    for band, (lo, hi) in zip(cands, bins, strict=True):
        eligible = band[1] - band[0] >= widths
        if eligible.any():
            want_calls.append((hi - lo, int(eligible.sum())))
    assert calls == want_calls
    assert any(rows < raw.shape[0] for _, rows in calls)  # some bands were narrower than 1500 Hz
    eligible_all = np.array([[b[1] - b[0] >= w for b in cands] for w in widths])
    np.testing.assert_array_equal(screen[eligible_all], full[eligible_all])  # a row's value: its own
    assert np.all(np.isneginf(screen[~eligible_all]))


def test_mixed_minimum_widths_choose_the_exhaustive_scans_bands() -> None:
    raw = spectra(defect_frames())
    widths = np.tile([0.0, 700.0, 1500.0, 3000.0], raw.shape[0] // 4 + 1)[: raw.shape[0]]
    got_bands, got_sk = scan_bands(raw, N, FS, widths)
    want_bands, want_sk = exhaustive(raw, widths)
    assert got_bands == want_bands
    np.testing.assert_allclose(got_sk, want_sk, rtol=1e-12, atol=1e-15)
    single_bands, _ = scan_bands(raw.astype(np.complex64), N, FS, widths)
    assert single_bands == want_bands
