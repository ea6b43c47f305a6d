"""Round 45 (PERF45): the batch transforms its rows once, and a band's power is the sum of its bins.

- ``frame_features_batch`` makes ONE float64 ``rfft`` of the mean-removed rows: the Hann spectrum
  is three taps of it in frequency (the periodic Hann window, ``_rows.hann_rows``) and the
  envelope's single-precision input is it divided by each row's peak (``batch._single_raw``).
  Before, a windowed float64 transform and a single-precision one of its own.
- A band's RMS is the square root of the pairwise sum of its bins (``fft.band_rms_from_spectrum``
  and the batch alike), not the difference of two prefix sums of the whole spectrum: a weak band
  above a strong one keeps its precision.

Both change the values' last bits only; the batch still equals ``frame_features`` frame by frame
within ``test_batch``'s bounds (1e-12 relative; ``env_*`` 2e-5), checked there on random and
simulated frames.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft

from twin_models.features import _fft
from twin_models.features._rows import hann_rows
from twin_models.features._spectral import hann, hann_spectrum
from twin_models.features.batch import frame_features_batch
from twin_models.features.fft import band_name, band_rms

FS = 25_600.0


def windowed(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Hann spectrum as the window in time gives it (the reference the taps must match)."""
    n = centred.shape[1]
    w = hann(n)
    spec = scipy.fft.rfft(centred * w, axis=1)
    mag2 = spec.real**2 + spec.imag**2
    one_sided = np.full(mag2.shape[1], 2.0)
    one_sided[0] = 1.0
    if n % 2 == 0:
        one_sided[-1] = 1.0
    return np.sqrt(mag2) * one_sided / w.sum(), mag2 * one_sided / (n * np.sum(w * w))


@pytest.mark.parametrize("n", [8, 9, 64, 4095, 4096])
def test_the_hann_taps_of_the_unwindowed_spectrum_are_the_windowed_spectrum(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(0.0, 1.0, (6, n)) * np.array([1e-9, 1e-3, 1.0, 1e3, 1e9, 1.0])[:, None]
    x[5] = np.sin(2.0 * np.pi * 3.0 * np.arange(n) / n)  # a line on a bin: the taps' own pattern
    x -= x.mean(axis=1, keepdims=True)
    spectrum = scipy.fft.rfft(x, axis=1)
    before = spectrum.copy()
    amps, power = hann_rows(spectrum, n)
    want_amps, want_power = windowed(x)
    np.testing.assert_array_equal(spectrum, before)  # the input is not changed
    for got, want in ((amps, want_amps), (power, want_power)):  # every bin of every row
        scale = want.max(axis=1, keepdims=True)
        assert np.all(np.abs(got - want) <= 1e-13 * scale), np.abs(got - want).max()
    assert amps[5, 3] == pytest.approx(1.0, rel=1e-12)  # a unit sine on bin 3 reads 1 (amplitude-corrected)
    assert amps[5, 2] == pytest.approx(0.5, rel=1e-12)  # half of it on each neighbour


def test_the_batch_transforms_its_rows_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[int, ...], np.dtype]] = []
    real = _fft.rfft

    def counted(x: np.ndarray, **kw: object) -> object:
        calls.append((x.shape, x.dtype))
        return real(x, **kw)

    monkeypatch.setattr(_fft, "rfft", counted)
    x = np.random.default_rng(1).normal(0.0, 1.0, (16, 4096))
    feats = frame_features_batch(x, FS)  # no shaft speed: no envelope spectra, only the rows' transform
    assert calls == [((16, 4096), np.dtype(np.float64))]
    assert len(feats) == 16


def strong_low_weak_high(n: int = 4096) -> np.ndarray:
    """A 1e4-amplitude 100 Hz line over 1e-5 white noise: the bands above it hold ~1e-18 of the
    power below them, what a prefix-sum difference cannot resolve (its rounding is ~1e-16 of the
    running total)."""
    t = np.arange(n) / FS
    noise = np.random.default_rng(2).normal(0.0, 1e-5, n)
    return 1e4 * np.sin(2.0 * np.pi * 100.0 * t) + noise


def exact_band_rms(x: np.ndarray, band: tuple[float, float]) -> float:
    spec = hann_spectrum(x, FS)
    k = (spec.freqs >= band[0]) & ((spec.freqs < band[1]) | (band[1] >= FS / 2.0))
    return math.sqrt(math.fsum(spec.power[k]))


@pytest.mark.parametrize("band", [(4000.0, 8000.0), (8000.0, 12_800.0)])
def test_a_weak_band_above_a_strong_one_keeps_its_precision(band: tuple[float, float]) -> None:
    x = strong_low_weak_high()
    want = exact_band_rms(x, band)
    assert 1e-6 < want < 1e-4  # the noise's share of the band, not rounding
    one = band_rms(x, FS, [(0.0, 500.0), band])[band_name(band)]
    assert one == pytest.approx(want, rel=1e-9)
    rows = frame_features_batch(np.stack([x, 0.5 * x]), FS, bands=[(0.0, 500.0), band])
    assert rows[0][band_name(band)] == pytest.approx(want, rel=1e-9)
    assert rows[1][band_name(band)] == pytest.approx(0.5 * want, rel=1e-9)
