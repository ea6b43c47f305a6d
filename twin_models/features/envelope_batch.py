"""Envelope spectra of many equal-length frames at once, each in the band the exhaustive scan
chooses for it: ``select_envelope_band`` + ``envelope_spectrum`` per row, as 2-D transforms.

Why: a plot that draws one envelope spectrum per frame (the backtest report's waterfalls) paid
~2 ms a 2,048-sample frame, ~90 % of it the band scan's ~37 small inverse FFTs and reductions per
frame: numpy call overhead, not arithmetic. Here each candidate band is one inverse FFT over all
rows (:func:`~twin_models.features._rows.sk_rows`) and each chosen band one envelope transform
over its rows (:func:`~twin_models.features._rows.envelope_rows`).

Unlike :func:`~twin_models.features.band_scan.scan_bands` (the feature path's screened scan in
single precision), this is the exhaustive float64 scan of
:func:`~twin_models.features.envelope.select_band_from_rfft`, row by row the same arithmetic in the
same order (the same candidate order, strict ``>`` so the first best band wins, the same
``MIN_SK_Z`` test), so the bands are the same and the spectra agree with the one-frame functions
to float rounding (bit for bit on this machine's scipy: the tests compare them exactly).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from twin_models.features import _fft
from twin_models.features._rows import as_frames, envelope_rows, sk_rows
from twin_models.features._spectral import MIN_SPECTRUM_SAMPLES, ComplexArray, FloatArray, check_fs
from twin_models.features.envelope import (
    MIN_BAND_BINS,
    MIN_SK_Z,
    _clipped_bins,
    band_bins,
    candidate_bands,
    check_scale,
    deviation,
    fallback_band,
    scale_ok,
)

__all__ = ["envelope_spectra_batch", "select_bands_rows", "usable_rows"]

Band = tuple[float, float]


def envelope_spectra_batch(
    frames: npt.ArrayLike, fs: float, *, max_hz: float | None = None
) -> tuple[FloatArray, FloatArray, list[Band]]:
    """``(freqs, amps, bands)`` of the 2-D array ``frames`` (one frame per row): row ``i`` of
    ``amps`` is ``envelope_spectrum(frames[i], fs, bands[i])[1]`` with
    ``bands[i] = select_envelope_band(frames[i], fs)``; with ``max_hz``, only the bins at
    frequencies ``<= max_hz`` (the others are not computed). Invalid input raises ``ValueError``
    naming the offending row or value (as one frame would; :func:`usable_rows` tells them beforehand)."""
    x = as_frames(frames, min_len=MIN_SPECTRUM_SAMPLES)
    fs = check_fs(fs)
    rows, n = x.shape
    dev = deviation(x)
    bad = ~scale_ok(dev)
    if bad.any():
        row = int(np.argmax(bad))
        check_scale(float(dev[row]), f"frame {row}")
    raw: ComplexArray = _fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)
    bands = select_bands_rows(raw, n, fs)
    freqs = np.arange(n // 2 + 1, dtype=np.float64) * (fs / n)
    keep = freqs.size if max_hz is None else int(np.count_nonzero(freqs <= max_hz))
    amps = np.empty((rows, keep))
    by_bins: dict[tuple[int, int], list[int]] = {}
    for i, band in enumerate(bands):
        by_bins.setdefault(band_bins(n, fs, band), []).append(i)
    for (k_lo, k_hi), idx in by_bins.items():
        amps[idx] = envelope_rows(raw[idx, k_lo:k_hi], k_lo, n, keep)
    return freqs[:keep], amps, bands


def usable_rows(frames: FloatArray) -> npt.NDArray[np.bool_]:
    """Which rows of the 2-D float array ``frames`` :func:`envelope_spectra_batch` takes (finite,
    their scale in :data:`~twin_models.features.envelope.ENVELOPE_SCALE`): a caller batches those and
    leaves the others out, rather than the whole batch raising for one (round 41, HOSTILE41)."""
    finite = np.asarray(np.isfinite(frames).all(axis=1), dtype=np.bool_)
    return finite & scale_ok(np.where(finite, deviation(np.where(finite[:, None], frames, 0.0)), np.inf))


def select_bands_rows(raw: ComplexArray, n: int, fs: float, *, min_width_hz: float = 0.0) -> list[Band]:
    """Each row's ``select_band_from_rfft(raw[i], n, fs, min_width_hz=...)[0]``: ``raw`` holds
    the unwindowed one-sided DFTs of ``n``-sample mean-removed frames (complex128, one per row)."""
    rows = raw.shape[0]
    cands = candidate_bands(fs)
    best = np.full(rows, -1, dtype=np.int64)
    best_z = np.full(rows, -math.inf)
    for j, band in enumerate(cands):
        if band[1] - band[0] < min_width_hz:
            continue
        k_lo, k_hi = _clipped_bins(n, fs, band)
        if k_hi - k_lo < MIN_BAND_BINS:
            continue
        z = sk_rows(raw[:, k_lo:k_hi]) * math.sqrt(k_hi - k_lo) / 2.0
        better = z > best_z  # strict, NaN never: the first best candidate wins, as frame by frame
        best[better] = j
        best_z[better] = z[better]
    fallback = fallback_band(fs)
    return [cands[j] if z >= MIN_SK_Z else fallback
            for j, z in zip(best.tolist(), best_z.tolist(), strict=True)]
