"""The envelope band scan of many frames at once, screened: a cheap SK estimate ranks every
candidate band, the exact SK decides among each frame's :data:`CONFIRM_TOP` best.

Why: the exhaustive scan (:func:`~twin_models.features.envelope.select_band_from_rfft`) computes
the exact SK of ~30 candidate bands per frame, each from an inverse FFT of about twice the band's
bins (any size >= 2W-1 gives the exact fourth moment of a W-bin complex envelope): ~20,000
complex points per 4096-sample frame, ten times the frame's own rfft, and 40 % of the waveform
path's CPU (``benchmarks/RESULTS.md``, issue 10). The screen samples each band's complex envelope
critically (an inverse FFT of about W points: half the work): the same statistic, but its
fourth moment misses the envelope's peaks between the critical samples, so it is a noisier,
correlated estimate. It is used only to rank; the exact SK (the same ``sk_rows`` arithmetic as
the exhaustive scan) of the :data:`CONFIRM_TOP` best-ranked bands picks the band, applies
:data:`~twin_models.features.envelope.MIN_SK_Z` and gives ``env_kurtosis``.

So a frame gets the exhaustive scan's band (and then exactly its features) unless the exhaustive
winner is ranked below :data:`CONFIRM_TOP` by the screen: on the demo's simulated streams that
happened to 3 of 11,392 frames (seed 7; threshold cases, z just above ``MIN_SK_Z``) and 0 of
11,392 (seed 3) with 3, to 70 and 96 with 1; the CWRU, IMS, FEMTO and demo quality results are
unchanged (``benchmarks/RESULTS.md``, "Waveform path, round 2"). Each frame's result depends on
that frame only. Round 3: a frame whose best screening z is below :data:`CONFIRM_MIN_SCREEN_Z`
gets the fallback band unconfirmed, and the batch passes single-precision spectra
(``batch._single_raw``), whose SKs are then single-precision transforms with float64 sums.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from twin_models.features import _fft
from twin_models.features._rows import sk_rows
from twin_models.features._spectral import FloatArray
from twin_models.features.envelope import (
    MIN_BAND_BINS,
    MIN_SK_Z,
    _clipped_bins,
    _taper,
    band_bins,
    candidate_bands,
    fallback_band,
)

__all__ = ["CONFIRM_TOP", "scan_bands"]

Band = tuple[float, float]
IntArray = npt.NDArray[np.int64]
AnyComplexArray = npt.NDArray[np.complexfloating[Any, Any]]  # complex64 (the screen) or complex128

CONFIRM_TOP = 3
"""Best-screened candidate bands per frame whose exact SK is computed (see module doc)."""

CONFIRM_MIN_SCREEN_Z = 2.0
"""A frame whose best screening significance stays below this keeps the fallback band without
confirmation: no exact SK of its top bands. On the demo's streams (seeds 7 and 3, 22,848
frames) every band the exhaustive scan chose (z >= :data:`~twin_models.features.envelope.MIN_SK_Z`
= 5) screened at z >= 2.8, while 41 % of all frames screen below 2.0 (``benchmarks/RESULTS.md``,
"Waveform path, round 3"): their confirmation, ~10 % of the featurization, only ever confirmed
the fallback."""


def scan_bands(
    raw: AnyComplexArray, n: int, fs: float, min_width: FloatArray, *, fallback_sk: bool = True
) -> tuple[list[Band], FloatArray]:
    """Each row's envelope band and the exact SK of its complex envelope there.

    ``raw``: unwindowed one-sided DFTs of ``n``-sample frames (one per row); row ``i`` chooses
    among candidate bands at least ``min_width[i]`` Hz wide, else gets the fallback band.
    ``fallback_sk=False``: the SK of a row that gets the fallback band is NaN, for a caller that
    transforms that band anyway (the batch's envelope spectra give it: ``_rows.envelope_rows``).
    """
    rows = raw.shape[0]
    cands, bins = _candidates(n, fs, float(min_width.min()) if rows else 0.0)
    screen = _screen(raw, cands, bins, min_width)
    screen[screen.max(axis=1, initial=-math.inf) < CONFIRM_MIN_SCREEN_Z] = -math.inf
    top = np.argsort(-screen, axis=1, kind="stable")[:, :CONFIRM_TOP]
    z, sk = _confirm(raw, top, screen, bins)
    best = np.argmax(z, axis=1) if top.shape[1] else np.zeros(rows, dtype=np.int64)
    r = np.arange(rows)
    best_z = z[r, best] if top.shape[1] else np.full(rows, -math.inf)
    weak = best_z < MIN_SK_Z
    out_sk = np.where(weak, 0.0, sk[r, best] if top.shape[1] else 0.0)
    fb = fallback_band(fs)
    if not fallback_sk:
        out_sk[weak] = math.nan
    elif weak.any():
        k_lo, k_hi = band_bins(n, fs, fb)
        out_sk[weak] = sk_rows(raw[weak, k_lo:k_hi])
    chosen = [fb if weak[i] else cands[int(top[i, best[i]])] for i in range(rows)]
    return chosen, out_sk


def _candidates(n: int, fs: float, min_width: float) -> tuple[list[Band], list[tuple[int, int]]]:
    """Candidate bands at least ``min_width`` wide holding enough bins, and their bin ranges."""
    cands: list[Band] = []
    bins: list[tuple[int, int]] = []
    for band in candidate_bands(fs):
        k_lo, k_hi = _clipped_bins(n, fs, band)
        if band[1] - band[0] >= min_width and k_hi - k_lo >= MIN_BAND_BINS:
            cands.append(band)
            bins.append((k_lo, k_hi))
    return cands, bins


def _screen(raw: AnyComplexArray, cands: list[Band], bins: list[tuple[int, int]],
            min_width: FloatArray) -> FloatArray:
    """Screening significance of every (row, candidate); -inf where the band is too narrow.

    Round 46 (PERF46): a band is transformed for the rows it is eligible for only (all rows: the
    spectra's own slice; some: those rows gathered), not for every row of the batch: a batch that
    mixes assets whose defect lines ask for different minimum widths (or a band just narrower than
    most frames' minimum) screened every narrow band for every frame and threw most away. Each
    row's value is unchanged (each row is its own transform and sums)."""
    z = np.full((raw.shape[0], len(cands)), -math.inf)
    single = _unit_rms_single(raw)
    for j, (band, (k_lo, k_hi)) in enumerate(zip(cands, bins, strict=True)):
        eligible = band[1] - band[0] >= min_width
        if eligible.all():
            z[:, j] = critical_sk_rows(single[:, k_lo:k_hi]) * math.sqrt(k_hi - k_lo) / 2.0
        elif eligible.any():
            rows = np.flatnonzero(eligible)
            z[rows, j] = critical_sk_rows(single[rows, k_lo:k_hi]) * math.sqrt(k_hi - k_lo) / 2.0
    return z


def _confirm(raw: AnyComplexArray, top: IntArray, screen: FloatArray,
             bins: list[tuple[int, int]]) -> tuple[FloatArray, FloatArray]:
    """Exact significance and SK of each row's top-ranked candidates (-inf: not eligible)."""
    z = np.full(top.shape, -math.inf)
    sk = np.zeros(top.shape)
    ranked = np.isfinite(np.take_along_axis(screen, top, axis=1))
    for j in np.unique(top[ranked]):
        r, c = np.nonzero((top == j) & ranked)
        k_lo, k_hi = bins[int(j)]
        sk[r, c] = sk_rows(raw[r, k_lo:k_hi])
        z[r, c] = sk[r, c] * math.sqrt(k_hi - k_lo) / 2.0
    return z, sk


def critical_sk_rows(bins: AnyComplexArray) -> FloatArray:
    """SK of the complex envelope held by each row of ``bins``, from its critically sampled
    values (an inverse FFT of ``next_fast_len(W)`` points): the screening estimate.

    ``bins`` may be single precision (the screen's ``complex64`` copy of the spectra, scaled to
    unit RMS per row: a ranking needs no more and its FFTs are ~25 % cheaper).

    Round 46 (PERF46), the same statistic with fewer passes over each band's ``rows x m`` array
    (the screen is ~30 of these per batch, a third of the featurization): the taper multiplies
    the real view of the bins by the taper interleaved (``_real_taper``; the complex-by-real
    product gave the same values through a cast of the taper to complex), only the padding
    columns are zeroed, the powers are ``|c|**2`` from numpy's vectorised complex ``abs`` squared
    in place (was: both parts squared in place, then added into a new array) and ``sum |c|**4``
    is one ``einsum`` of the powers with themselves (was: squared in place, then summed). The
    sums and the transform are in the precision of ``bins`` as before, so the values move in
    the last bits of single precision: a screened z within ~3e-5 of the same statistic computed
    in float64, as close as before (``tests/unit/features/test_screen_round46.py``)."""
    rows, width = bins.shape
    m = _fft.next_fast_len(width)
    padded = np.empty((rows, m), dtype=bins.dtype)
    padded[:, width:] = 0.0
    real = padded.view(padded.real.dtype)[:, : 2 * width]
    if bins.flags.c_contiguous or bins.strides[1] == bins.itemsize:
        np.multiply(bins.view(bins.real.dtype), _real_taper(width, real.dtype), out=real)
    else:  # bins a step apart (a caller's ``[:, ::k]``): not viewable as reals; the screen's never are
        np.multiply(bins, _taper(width).astype(bins.real.dtype), out=padded[:, :width])
    p = np.abs(_fft.ifft(padded, axis=1, overwrite_x=True))
    np.multiply(p, p, out=p)
    m2 = p.sum(axis=1).astype(np.float64) / m  # row sums in float64 from here: no underflow
    m4 = np.einsum("ij,ij->i", p, p).astype(np.float64) / m
    ok = m2 > 0.0
    safe = np.where(ok, m2, 1.0)
    return np.where(ok, m4 / (safe * safe) - 2.0, 0.0)


@lru_cache(maxsize=256)
def _real_taper(width: int, dtype: np.dtype[Any]) -> FloatArray:
    """:func:`~twin_models.features.envelope._taper` of ``width`` bins in ``dtype``, each weight
    twice (real, imaginary): multiplies a row of complex bins viewed as reals."""
    out: FloatArray = np.repeat(_taper(width).astype(dtype), 2)
    out.setflags(write=False)
    return out


def _unit_rms_single(raw: AnyComplexArray) -> npt.NDArray[np.complex64]:
    """``raw`` scaled to unit RMS per row (SK is scale-free) in single precision, so that the
    screen's fourth powers neither overflow nor underflow whatever the frame's units.
    Single-precision ``raw`` is taken as it is: its producer already scaled it into range
    (``batch._single_raw``: frames divided by their peak)."""
    if raw.dtype == np.complex64:
        return raw
    v = raw.view(raw.real.dtype)
    with np.errstate(over="ignore"):  # a frame beyond ~1e150 units: power inf, scale 0, SK 0
        power = np.einsum("ij,ij->i", v, v, dtype=np.float64) / raw.shape[1]
    scale = 1.0 / np.sqrt(np.where(power > 0.0, power, 1.0))
    return (raw * scale[:, None]).astype(np.complex64)
