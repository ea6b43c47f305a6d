"""Row-wise (2-D) versions of the feature library's building blocks: one numpy/scipy call for a
whole batch of equal-length frames instead of one per frame.

Private module behind :mod:`~twin_models.features.batch`. Every function here computes, for each
row, exactly the arithmetic its 1-D counterpart does (same operations in the same order, reductions
along contiguous rows), so the values agree with the per-frame functions to float rounding (in
practice bit for bit): ``time_rows`` ~ ``time_domain._moments``, ``sk_rows`` ~ ``envelope._sk_bins``,
``envelope_rows`` ~ ``envelope.envelope_spectrum_from_rfft``. One exception: ``hann_rows`` ~
``_spectral.hann_spectrum`` windows in frequency, from the rows' unwindowed transform (round 45,
PERF45), so its values differ from the per-frame ones in the last bits (~1e-13 of a row's largest
bin; ``tests/unit/features/test_one_transform.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twin_models.features import _fft
from twin_models.features._spectral import ComplexArray, FloatArray, hann
from twin_models.features.envelope import _taper
from twin_models.features.time_domain import _REL_EPS, GAUSSIAN_KURTOSIS

__all__ = ["as_frames", "envelope_rows", "hann_rows", "refuse_non_finite", "sk_rows", "time_rows"]

AnyComplex = npt.NDArray[np.complex64] | ComplexArray
AnyFloat = npt.NDArray[np.float32] | FloatArray


def as_frames(x: npt.ArrayLike, *, min_len: int, finite: bool = True) -> FloatArray:
    """``x`` as a C-contiguous finite 2-D float64 array (frames in rows), else ``ValueError``
    naming the first offending row. ``finite=False``: the samples are not checked (a caller
    that finds each row's max and min anyway checks those: :func:`refuse_non_finite`)."""
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim != 2:
        msg = f"frames must be a 2-D array (one frame per row), got shape {arr.shape}"
        raise ValueError(msg)
    if arr.shape[1] < min_len:
        msg = f"frames need at least {min_len} samples, got {arr.shape[1]}"
        raise ValueError(msg)
    if finite:
        refuse_non_finite(arr, np.asarray(np.isfinite(arr).all(axis=1)))
    return arr


def refuse_non_finite(arr: FloatArray, finite_rows: npt.NDArray[np.bool_]) -> None:
    """``ValueError`` naming the first row of ``arr`` that ``finite_rows`` marks False and its
    non-finite samples. Each row's ``max`` and ``min`` tell it as well as a pass over every
    sample (round 44, PERF44): both are finite exactly when all the row's samples are (a NaN
    propagates into both, an infinity into one)."""
    if not finite_rows.all():
        row = int(np.argmin(finite_rows))
        msg = f"frame {row} contains {int(np.sum(~np.isfinite(arr[row])))} non-finite samples"
        raise ValueError(msg)


def time_rows(centred: FloatArray, mean: FloatArray, hi: FloatArray, lo: FloatArray,
              moments: dict[str, FloatArray] | None = None) -> dict[str, FloatArray]:
    """Time-domain features of every row (``time_domain.time_features`` per row), from the
    mean-removed rows and each row's mean, largest and smallest sample; with ``moments``, each
    row's standard deviation added to it as ``std`` (``np.std``'s arithmetic: the square root of
    the mean of the squared deviations, the same sums).

    Why this shape: over a 2-D batch each temporary is a 2 MB array that costs a pass and fresh
    pages; the third and fourth moments are products summed in one ``einsum`` pass each (no
    temporaries; ``time_domain._moments`` sums them the same way) and the peak is
    ``max(hi, -lo)`` (no ``abs`` copy; exact)."""
    n = centred.shape[1]
    c2 = centred * centred
    var = c2.sum(axis=1) / n
    if moments is not None:
        moments["std"] = np.sqrt(var)
    rms = np.sqrt(var + mean * mean)
    peak = np.maximum(hi, -lo)
    constant = (var <= (_REL_EPS * np.maximum(np.abs(mean), peak)) ** 2) | (var == 0.0)
    safe = np.where(constant, 1.0, var)
    skew = np.where(constant, 0.0, np.einsum("ij,ij->i", c2, centred) / n / safe**1.5)
    kurt = np.where(constant, GAUSSIAN_KURTOSIS, np.einsum("ij,ij->i", c2, c2) / n / (safe * safe))
    crest = np.divide(peak, rms, out=np.zeros_like(peak), where=rms > 0.0)
    return {"rms": rms, "peak": peak, "crest_factor": crest, "kurtosis": kurt, "skewness": skew,
            "mean": mean}


def _mag2(spec: AnyComplex) -> AnyFloat:
    """``spec.real**2 + spec.imag**2`` (same arithmetic, same precision), squaring ``spec`` in place."""
    v = spec.view(spec.real.dtype)
    np.multiply(v, v, out=v)
    out: AnyFloat = v[:, 0::2] + v[:, 1::2]
    return out


def hann_rows(spectrum: ComplexArray, n: int) -> tuple[FloatArray, FloatArray]:
    """``(amps, power)`` of the Hann spectrum of every (already mean-removed) row of ``n``
    samples, from the row's unwindowed DFT ``spectrum`` (``rfft`` along rows, float64; not
    changed).

    Round 45 (PERF45): the window is the periodic Hann, ``w[j] = 0.5 - 0.5 cos(2 pi j / n)``
    (:func:`~twin_models.features._spectral.hann`), which is three taps in frequency:
    ``X_w[k] = 0.5 X[k] - 0.25 (X[k-1] + X[k+1])``, ``X[-k] = conj(X[k])`` past either end
    (:func:`_hann_taps`). So one unwindowed transform gives this spectrum and the envelope's
    input (``batch._single_raw``), where two transforms and a windowed copy of the batch were
    made. The values differ from the windowed transform's in the last bits (each bin's
    rounding is another sum of the same terms): ``tests/unit/features/test_one_transform.py``.
    The normalisations are the window's own sums, as :func:`_hann_amps` uses them."""
    w = hann(n)
    mag2 = _mag2(_hann_taps(spectrum, n))  # |2 X_w|^2: the taps' 0.5 is left to the scalings
    amps, one_sided = _one_sided_amps(mag2, n, 2.0 * float(w.sum()))
    mag2 *= one_sided  # in place: the same arithmetic as ``mag2 * one_sided / ...``, no copies
    mag2 /= 4.0 * n * float(np.sum(w * w))
    return amps, mag2


def _hann_taps(spectrum: ComplexArray, n: int) -> ComplexArray:
    """``2 X_w``, twice the periodic-Hann-windowed DFT of each row, from its unwindowed one-sided
    DFT ``X`` (``spectrum``): ``X[k] - 0.5 (X[k-1] + X[k+1])``, the DFT's mirror
    ``X[m] = conj(X[n - m])`` giving the neighbours past both ends (exact: a factor of 2 is no
    rounding). ``n`` odd or even, at least 4."""
    out = np.empty_like(spectrum)  # n >= MIN_SPECTRUM_SAMPLES (8): at least 5 bins
    v, inner = spectrum.view(np.float64), out.view(np.float64)[:, 2:-2]  # real views: real arithmetic
    np.add(v[:, :-4], v[:, 4:], out=inner)
    inner *= -0.5
    inner += v[:, 2:-2]
    out[:, 0] = spectrum[:, 0] - spectrum[:, 1].real  # X[-1] = conj(X[1])
    past = spectrum[:, -1].conj() if n % 2 else spectrum[:, -2].conj()  # X[size] = conj(X[n - size])
    out[:, -1] = spectrum[:, -1] - 0.5 * (spectrum[:, -2] + past)
    return out


def _one_sided_amps(mag2: AnyFloat, n: int, w_sum: float) -> tuple[FloatArray, FloatArray]:
    """Amplitudes ``sqrt(mag2) * one_sided / w_sum`` (float64; float32 ``mag2``: the square root
    in float32, as before) and the one-sided factors of the first ``mag2.shape[1]`` bins."""
    one_sided = np.full(n // 2 + 1, 2.0)
    one_sided[0] = 1.0
    if n % 2 == 0:
        one_sided[-1] = 1.0
    one_sided = one_sided[: mag2.shape[1]]
    amps = np.sqrt(mag2).astype(np.float64, copy=False)
    amps *= one_sided  # in place: ``sqrt(mag2) * one_sided / w.sum()`` without two copies
    amps /= w_sum
    return amps, one_sided


def _hann_amps(centred: AnyFloat, keep: int | None = None) -> tuple[FloatArray, AnyFloat, FloatArray]:
    """Hann amplitudes, squared magnitudes and one-sided factors of every row (``hann_spectrum``);
    with ``keep``, of the first ``keep`` bins only (the same values: each bin is elementwise).
    The transform runs in ``centred``'s precision (float32 rows: single precision, see
    :func:`envelope_rows`); the amplitudes are float64."""
    n = centred.shape[1]
    w = hann(n)
    spec = _fft.rfft(centred * w.astype(centred.dtype, copy=False), axis=1)
    size = spec.shape[1]
    mag2 = _mag2(spec if keep is None or keep >= size else spec[:, :keep])
    amps, one_sided = _one_sided_amps(mag2, n, w.sum())
    return amps, mag2, one_sided


def sk_rows(bins: AnyComplex) -> FloatArray:
    """Spectral kurtosis of the complex envelope held by each row of DFT ``bins``, in the
    precision of ``bins`` (complex64: single-precision transform, float64 sums)."""
    rows, width = bins.shape
    m = _fft.next_fast_len(2 * width + 1)
    padded = np.zeros((rows, m), dtype=bins.dtype)
    np.multiply(bins, _taper(width).astype(bins.real.dtype, copy=False), out=padded[:, :width])
    return _kurtosis_of_power(_mag2(_fft.ifft(padded, axis=1, overwrite_x=True)))


ENVELOPE_CHUNK_ROWS = 16
"""Rows transformed together by :func:`envelope_rows`: its full-length complex arrays of 64
frames (4 MB each) overflow the L2 cache; chunks of 16 stay in it (measured ~1.5x faster)."""


def envelope_rows(bins: AnyComplex, k_lo: int, n: int, keep: int | None = None,
                  sk: FloatArray | None = None) -> FloatArray:
    """Hann amplitude spectra of the envelopes of rows whose band holds the DFT ``bins`` starting
    at bin ``k_lo`` (``envelope_spectrum_from_rfft`` per row), in chunks of rows; with ``keep``,
    only the first ``keep`` bins (the line features read a few hundred Hz of a 12.8 kHz
    spectrum: the square roots and scalings of the rest are skipped, the kept bins unchanged).

    With ``sk`` (one float64 per row), also each row's spectral kurtosis there, written into
    ``sk``: the :func:`sk_rows` statistic from this ``n``-point complex envelope instead of its
    own ``next_fast_len(2W + 1)``-point one. Both sample the same degree-``W`` trigonometric
    polynomial at >= 2W - 1 points, so both fourth moments are exact: the two differ by float
    rounding only (~1e-7 relative in single precision), and the band's second transform is saved."""
    rows, width = bins.shape
    size = n // 2 + 1 if keep is None else min(keep, n // 2 + 1)
    out = np.empty((rows, size))
    taper = (2.0 * _taper(width)).astype(bins.real.dtype, copy=False)
    for start in range(0, rows, ENVELOPE_CHUNK_ROWS):
        chunk = bins[start : start + ENVELOPE_CHUNK_ROWS]
        full = np.zeros((chunk.shape[0], n), dtype=bins.dtype)
        np.multiply(chunk, taper, out=full[:, k_lo : k_lo + width])
        env = np.abs(_fft.ifft(full, axis=1, overwrite_x=True))
        if sk is not None:
            sk[start : start + chunk.shape[0]] = _kurtosis_of_power(env * env)
        env -= env.mean(axis=1, keepdims=True)
        out[start : start + chunk.shape[0]] = _hann_amps(env, size)[0]
    return out


def _kurtosis_of_power(p: AnyFloat) -> FloatArray:
    """``mean(|c|^4) / mean(|c|^2)^2 - 2`` of each row of powers ``p = |c|^2`` (0 for a zero
    row), with float64 sums (the means as ``p.mean(axis=1)``, as envelope._sk_bins); ``p`` is
    overwritten."""
    m = p.shape[1]
    m2 = p.sum(axis=1, dtype=np.float64) / m
    ok = m2 > 0.0
    safe = np.where(ok, m2, 1.0)
    np.multiply(p, p, out=p)
    return np.where(ok, p.sum(axis=1, dtype=np.float64) / m / (safe * safe) - 2.0, 0.0)
