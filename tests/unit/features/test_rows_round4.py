"""The row-wise building blocks changed in issue 10 round 4, against their references.

- ``time_rows`` (moments by ``einsum``, peak from each row's max and min) equals
  ``time_domain.time_features`` row by row to the last bit or two (the 1-D function sums the
  same way);
- ``envelope_rows(..., sk=...)``: the spectral kurtosis from the envelope spectrum's own
  ``n``-point transform equals ``sk_rows`` (a ``next_fast_len(2W + 1)``-point transform of the
  same bins) to float rounding, in double and single precision, on noise and on impulsive frames;
- ``scan_bands(..., fallback_sk=False)``: the same bands, and the same SK except NaN exactly for
  the frames that get the fallback band.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft

from tests.unit.features.synth import bearing_signal
from twin_models.features._rows import envelope_rows, sk_rows, time_rows
from twin_models.features.band_scan import scan_bands
from twin_models.features.envelope import band_bins, fallback_band
from twin_models.features.time_domain import time_features

FS = 25_600.0
N = 4096


def frames() -> np.ndarray:
    """Noise, impacts ringing a resonance (weak and strong), a sine, a constant and a tiny frame."""
    rng = np.random.default_rng(5)
    rows = [rng.normal(0.0, 1.0, N), rng.standard_t(3, N) + 4.0]
    rows += [bearing_signal(fs=FS, n=N, defect_hz=107.0, shaft_hz=29.95, noise_rms=noise,
                            resonance_hz=r, seed=k) for k, (noise, r) in enumerate(
                 [(0.2, 3500.0), (1.5, 6000.0), (0.3, 9000.0)])]
    rows += [np.sin(2 * np.pi * 50.0 * np.arange(N) / FS), np.full(N, 3.0), 1e-9 * rng.normal(0, 1, N)]
    return np.stack(rows)


def test_time_rows_equal_the_per_frame_time_features() -> None:
    """Same sums; only ``var ** 1.5`` (numpy's power vs Python's) may round differently."""
    x = frames()
    mean = x.mean(axis=1)
    got = time_rows(x - mean[:, None], mean, x.max(axis=1), x.min(axis=1))
    for i, row in enumerate(x):
        want = time_features(row)
        assert list(got) == list(want)
        for key, value in want.items():
            assert float(got[key][i]) == pytest.approx(value, rel=1e-15, abs=0.0), (i, key)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("band", [fallback_band(FS), (1000.0, 2000.0), (6000.0, 12_000.0)])
def test_sk_from_the_envelope_transform_equals_sk_rows(dtype: type, band: tuple[float, float]) -> None:
    x = frames()[:-2]  # the constant row is all zeros once centred: sk_rows gives 0, tested below
    x = x / np.abs(x).max(axis=1, keepdims=True)  # peak-scaled, as batch._single_raw
    raw = scipy.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)
    k_lo, k_hi = band_bins(N, FS, band)
    bins = raw[:, k_lo:k_hi].astype(dtype)
    sk = np.full(len(bins), math.nan)
    spectra = envelope_rows(bins, k_lo, N, 90, sk)
    want = sk_rows(bins)
    tol = 1e-6 if dtype is np.complex64 else 1e-12
    np.testing.assert_allclose(sk, want, rtol=tol, atol=tol)
    assert np.array_equal(spectra, envelope_rows(bins, k_lo, N, 90))  # spectra unchanged by sk
    assert np.ptp(want) > 0.5  # impulsive and tonal frames among them: not only SK ~ 0


def test_sk_from_the_envelope_transform_of_a_zero_row_is_zero() -> None:
    sk = np.full(1, math.nan)
    envelope_rows(np.zeros((1, 100), dtype=np.complex64), 300, N, 90, sk)
    assert sk[0] == 0.0


def test_scan_without_the_fallback_sk_leaves_nan_exactly_where_the_fallback_band_is_chosen() -> None:
    x = frames()
    raw = scipy.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)
    widths = np.zeros(len(x))
    bands, sk = scan_bands(raw, N, FS, widths)
    bands_nan, sk_nan = scan_bands(raw, N, FS, widths, fallback_sk=False)
    assert bands_nan == bands
    fallback = np.array([b == fallback_band(FS) for b in bands])
    assert fallback.any() and not fallback.all()  # both kinds of frames are exercised
    assert np.isnan(sk_nan[fallback]).all()
    assert np.array_equal(sk_nan[~fallback], sk[~fallback])
