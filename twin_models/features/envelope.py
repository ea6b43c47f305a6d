"""Envelope analysis: FFT-domain band-pass + analytic signal, and a fast kurtogram-like band scan.

The band-pass and the Hilbert transform are done in one step in the frequency domain: the
one-sided DFT of the signal is kept only inside the band (with short cosine tapers at the band
edges to limit ringing), doubled, and inverse-transformed as a complex signal. That is exactly the
analytic signal ``scipy.signal.hilbert`` returns for the band-passed signal, at the cost of one
forward and one inverse FFT — several times cheaper than a Butterworth ``sosfiltfilt`` followed by
``hilbert`` for 4096–20480 samples, and zero-phase by construction.

Band selection (:func:`select_envelope_band`) scores candidate bands by the spectral kurtosis of
their complex envelope ``c``, ``SK = mean|c|^4 / mean(|c|^2)^2 - 2`` (0 for Gaussian noise, -1 for
a pure tone, large for repetitive impulses; Antoni's kurtogram statistic). Because the envelope
of a band of width ``B`` over ``T`` seconds holds only ``B*T`` independent samples, each band's SK
is computed on a decimated complex envelope (just that band's DFT bins, inverse-transformed at
baseband, which keeps every moment exact) and judged by its significance
``z = SK / (2 / sqrt(B*T))`` — the standard error of SK for Gaussian noise is ``2/sqrt(B*T)``.
The most significant band wins; if no band reaches :data:`MIN_SK_Z` the fallback band is used.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from twin_models.features import _fft
from twin_models.features._spectral import (
    MIN_SPECTRUM_SAMPLES,
    ComplexArray,
    FloatArray,
    as_signal,
    check_fs,
    hann_spectrum,
    raw_rfft,
)

__all__ = [
    "MIN_SK_Z",
    "envelope_spectrum",
    "fallback_band",
    "select_envelope_band",
    "spectral_kurtosis",
]

MIN_SK_Z = 5.0
"""Significance (Gaussian standard errors) a band's SK needs to be preferred to the fallback band.

Over the few dozen overlapping candidates, Gaussian noise gives a best z of about 2 (median) and
above 5 in well under 1 % of frames (SK estimates of short frames are heavy-tailed)."""

SCAN_LOW_HZ = 1000.0
SCAN_HIGH_FRACTION = 0.45
SCAN_WIDTHS_OCT: tuple[float, ...] = (1.0, 2.0 / 3.0, 1.0 / 3.0)
MIN_BAND_BINS = 16
_TAPER_FRACTION = 0.1


ENVELOPE_SCALE = (1e-60, 1e60)
"""The largest deviation of a frame from its mean must be 0 or within this range (round 41, HOSTILE41):
the band scan's kurtosis sums fourth powers of DFT bins (~``n * deviation``), which underflowed below
~1e-75 (one frame: ZeroDivisionError; :mod:`~twin_models.features.envelope_batch`: an infinite score,
another band) and overflowed above ~1e73 (infinite and NaN amplitudes). Physical vibration in g or
m/s^2 lies far inside it. The frame features use it too (round 41, TIDY41b): a frame's time-domain
kurtosis (fourth powers of its deviations) underflowed to 0/0 at 1e-160 (``frame_features``:
ZeroDivisionError; the batch: NaN) and its band energies overflowed at 1e200 (OverflowError; the
batch: inf); both refuse such a frame (:data:`~twin_models.features.frame.FEATURES_IN`)."""


def scale_ok(deviation: FloatArray) -> npt.NDArray[np.bool_]:
    """Which largest deviations from the mean (one per frame) :data:`ENVELOPE_SCALE` allows."""
    lo, hi = ENVELOPE_SCALE
    ok: npt.NDArray[np.bool_] = (deviation == 0.0) | ((deviation >= lo) & (deviation <= hi))
    return ok


def deviation(x: FloatArray) -> FloatArray:
    """The largest ``|x - mean(x)|`` along the last axis (a frame's, or each row's); inf where the
    mean or the deviation overflowed (finite samples near the float64 limit)."""
    with np.errstate(over="ignore", invalid="ignore"):
        dev = np.abs(x - x.mean(axis=-1, keepdims=True)).max(axis=-1)
    return np.where(np.isnan(dev), np.inf, dev)


def check_scale(deviation: float, what: str, purpose: str = "the envelope spectrum can be taken in") -> None:
    """``ValueError`` naming ``what`` when its largest deviation from its mean is out of range
    (:func:`scale_problem`; ``purpose``: what the range is for)."""
    if not bool(scale_ok(np.array([deviation]))[0]):
        raise ValueError(scale_problem(deviation, what, purpose))


def scale_problem(deviation: float, what: str, purpose: str) -> str:
    """The words refusing ``what`` whose largest deviation from its mean :data:`ENVELOPE_SCALE` does
    not allow: both feature paths and the dataflow's dead letter say them alike."""
    return (f"{what} deviates from its mean by up to {deviation:.3g}: outside the range {purpose} "
            f"(0, or {ENVELOPE_SCALE[0]:g} to {ENVELOPE_SCALE[1]:g})")


def fallback_band(fs: float) -> tuple[float, float]:
    """Band used when nothing stands out: ``(0.1*fs, 0.4*fs)``."""
    return (0.1 * fs, 0.4 * fs)


def envelope_spectrum(
    x: npt.ArrayLike, fs: float, band: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """Amplitude spectrum (Hann, mean removed) of the envelope of ``x`` band-passed to ``band``.

    The envelope is ``|analytic signal|`` of the band-passed signal (FFT-domain band-pass).
    """
    arr = as_signal(x, min_len=MIN_SPECTRUM_SAMPLES)
    fs = check_fs(fs)
    check_scale(float(deviation(arr)), "x")
    return envelope_spectrum_from_rfft(raw_rfft(arr), arr.size, fs, band)


def envelope_spectrum_from_rfft(
    spec: ComplexArray, n: int, fs: float, band: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """:func:`envelope_spectrum` from the unwindowed one-sided DFT ``spec`` of ``n`` samples."""
    k_lo, k_hi = band_bins(n, fs, band)
    full = np.zeros(n, dtype=np.complex128)
    full[k_lo:k_hi] = 2.0 * spec[k_lo:k_hi] * _taper(k_hi - k_lo)
    env = np.abs(_fft.ifft(full))
    s = hann_spectrum(env, fs)
    return s.freqs, s.amps


def spectral_kurtosis(spec: ComplexArray, n: int, fs: float, band: tuple[float, float]) -> float:
    """SK of the complex envelope of ``band`` (0 for Gaussian noise), from the one-sided DFT."""
    k_lo, k_hi = band_bins(n, fs, band)
    return _sk_bins(spec[k_lo:k_hi])


def select_envelope_band(x: npt.ArrayLike, fs: float, *, min_width_hz: float = 0.0) -> tuple[float, float]:
    """Band of highest significant impulsiveness (see module doc), else :func:`fallback_band`.

    Only candidates at least ``min_width_hz`` wide compete: the envelope of a band of width B
    carries modulation frequencies up to about B, so a band meant to show defect harmonics up to
    ``f`` must be wider than ``f`` (:func:`~twin_models.features.frame.frame_features` asks for
    ``4 x`` the highest defect line).
    """
    arr = as_signal(x, min_len=MIN_SPECTRUM_SAMPLES)
    fs = check_fs(fs)
    check_scale(float(deviation(arr)), "x")
    return select_band_from_rfft(raw_rfft(arr), arr.size, fs, min_width_hz=min_width_hz)[0]


def select_band_from_rfft(
    spec: ComplexArray, n: int, fs: float, *, min_width_hz: float = 0.0
) -> tuple[tuple[float, float], float]:
    """``(band, z)`` of the most significant candidate band; the fallback band with its own z."""
    best_band, best_z = fallback_band(fs), -math.inf
    for band in candidate_bands(fs):
        if band[1] - band[0] < min_width_hz:
            continue
        k_lo, k_hi = _clipped_bins(n, fs, band)
        n_bins = k_hi - k_lo
        if n_bins < MIN_BAND_BINS:
            continue
        z = _sk_bins(spec[k_lo:k_hi]) * math.sqrt(n_bins) / 2.0
        if z > best_z:
            best_band, best_z = band, z
    if best_z >= MIN_SK_Z:
        return best_band, best_z
    band = fallback_band(fs)
    k_lo, k_hi = band_bins(n, fs, band)
    return band, _sk_bins(spec[k_lo:k_hi]) * math.sqrt(max(k_hi - k_lo, 1)) / 2.0


@lru_cache(maxsize=32)
def candidate_bands(fs: float) -> tuple[tuple[float, float], ...]:
    """Candidate bands: 1, 2/3 and 1/3 octave wide, half-width steps, ~1 kHz .. 0.45*fs."""
    f_hi = SCAN_HIGH_FRACTION * fs
    f_lo = min(SCAN_LOW_HZ, f_hi / 4.0)
    span = math.log2(f_hi / f_lo)
    out: list[tuple[float, float]] = []
    for width in SCAN_WIDTHS_OCT:
        if width > span:
            continue
        step = width / 2.0
        starts = [k * step for k in range(int((span - width) / step + 1e-9) + 1)]
        if span - width - starts[-1] > 1e-6:
            starts.append(span - width)
        out.extend((f_lo * 2.0**s, f_lo * 2.0 ** (s + width)) for s in starts)
    return tuple(out)


def band_bins(n: int, fs: float, band: tuple[float, float]) -> tuple[int, int]:
    """Half-open DFT bin range ``[k_lo, k_hi)`` of ``band``, clipped to (0, Nyquist)."""
    lo, hi = float(band[0]), float(band[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi):
        msg = f"envelope band must be finite with 0 <= lo < hi (Hz), got {band!r}"
        raise ValueError(msg)
    k_lo, k_hi = _clipped_bins(n, fs, (lo, hi))
    if k_hi - k_lo < 2:
        msg = f"envelope band {band!r} holds fewer than 2 DFT bins below Nyquist {fs / 2:g} Hz"
        raise ValueError(msg)
    return k_lo, k_hi


def _clipped_bins(n: int, fs: float, band: tuple[float, float]) -> tuple[int, int]:
    """Bins of ``band`` strictly between DC and Nyquist, unchecked (may be empty)."""
    df = fs / n
    k_lo = max(1, math.ceil(band[0] / df))
    k_hi = min((n - 1) // 2, math.floor(band[1] / df)) + 1
    return k_lo, k_hi


def _sk_bins(bins: ComplexArray) -> float:
    """SK of the complex envelope held by ``bins`` (decimated to baseband, moments exact)."""
    m = _fft.next_fast_len(2 * bins.size + 1)
    padded = np.zeros(m, dtype=np.complex128)
    padded[: bins.size] = bins * _taper(bins.size)
    c = np.asarray(_fft.ifft(padded), dtype=np.complex128)
    p = c.real**2 + c.imag**2
    m2 = float(p.mean())
    if m2 <= 0.0:
        return 0.0
    return float(np.sum(p * p)) / p.size / (m2 * m2) - 2.0


@lru_cache(maxsize=256)
def _taper(n_bins: int) -> FloatArray:
    """Flat-top weights with raised-cosine edges over ~10 % of the band at each side."""
    w = np.ones(n_bins)
    k = max(1, int(_TAPER_FRACTION * n_bins))
    if 2 * k < n_bins:
        edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)
        w[:k] = edge
        w[-k:] = edge[::-1]
    w.setflags(write=False)
    return w
