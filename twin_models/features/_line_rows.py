"""Spectral-line features of many spectra at once: ``lines.line_amplitude`` and
``lines.defect_line_features`` over the rows of a 2-D array of spectra, each row with its own line
frequencies.

Private module behind :mod:`~twin_models.features.batch`. Per frame, the line features are some
sixty tiny numpy calls (a max over three bins, a median over twenty) whose overhead was half of
the batched featurization; here every window of every row is gathered into one 2-D array and
reduced in one call. The bin ranges use the same float expressions as ``lines._window`` and the
medians are exact order statistics (the mean of the two middle values for an even count, as
``np.median``), so values equal the per-frame ones bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from twin_models.features._spectral import FloatArray
from twin_models.features.lines import DEFECT_LINE_REL_TOL, line_base_frequency

__all__ = ["defect_lines_rows", "line_amplitude_rows"]

IntArray = npt.NDArray[np.int64]
HARMONICS = 3


def _windows(f0: FloatArray, df: float, size: int, min_bins: int,
             rel_tol: FloatArray | float = DEFECT_LINE_REL_TOL) -> tuple[IntArray, IntArray]:
    """``lines._window`` for every frequency in ``f0``: half-open bin ranges ``[lo, hi)``."""
    if not (np.all(f0 > 0.0) and np.all(np.isfinite(f0))):
        msg = f"line frequencies must be positive and finite, got {f0[~((f0 > 0.0) & np.isfinite(f0))][:3]}"
        raise ValueError(msg)
    half = np.maximum(f0 * rel_tol, min_bins * df)
    lo = np.maximum(0, np.ceil((f0 - half) / df - 1e-9)).astype(np.int64)
    hi = np.minimum(size, np.floor((f0 + half) / df + 1e-9) + 1).astype(np.int64)
    return lo, hi


Mask = npt.NDArray[np.bool_]


def _gather(amps: FloatArray, rows: IntArray, lo: IntArray, hi: IntArray) -> tuple[FloatArray, Mask]:
    """``amps[rows[i], lo[i]:hi[i]]`` padded to one width, and the mask of real entries."""
    width = max(int((hi - lo).max(initial=0)), 1)
    idx = lo[:, None] + np.arange(width)
    valid = idx < hi[:, None]
    return amps[rows[:, None], np.minimum(idx, amps.shape[1] - 1)], valid


def line_amplitude_rows(amps: FloatArray, rows: IntArray, f0: FloatArray, df: float,
                        rel_tol: FloatArray | float = DEFECT_LINE_REL_TOL) -> FloatArray:
    """``line_amplitude(freqs, amps[rows[i]], f0[i], rel_tol[i])`` for every ``i`` (0.0 above the
    last bin); ``rel_tol`` one value or one per entry."""
    lo, hi = _windows(f0, df, amps.shape[1], 1, rel_tol)
    vals, valid = _gather(amps, rows, lo, hi)
    peak = np.where(valid, vals, -np.inf).max(axis=1)
    return np.where(hi > lo, peak, 0.0)


def _median_rows(vals: FloatArray, valid: Mask) -> FloatArray:
    """Median of the valid entries of each row (as ``np.median``); 0.0 for a row with none."""
    ordered = np.sort(np.where(valid, vals, np.nan), axis=1)  # NaN sorts last
    count = valid.sum(axis=1)
    r = np.arange(vals.shape[0])
    upper = ordered[r, np.minimum(count // 2, vals.shape[1] - 1)]
    lower = ordered[r, np.maximum(count // 2 - 1, 0)]
    med = np.where(count % 2 == 1, upper, (lower + upper) / 2.0)
    return np.where(count > 0, med, 0.0)


def _background_rows(amps: FloatArray, rows: IntArray, base: FloatArray, df: float,
                     rel_tol: FloatArray | float) -> FloatArray:
    """``sum(lines._background(...))`` for every (row, base): the per-harmonic medians outside
    every line window, summed over the harmonics in order."""
    size = amps.shape[1]
    windows = (_windows(h * base, df, size, 2, rel_tol) for h in range(1, HARMONICS + 1))
    line_lo, line_hi = zip(*windows, strict=True)
    total = np.zeros(base.size)
    for h in range(1, HARMONICS + 1):
        lo = np.ceil((h - 0.5) * base / df - 1e-9).astype(np.int64)
        hi = np.minimum(size, np.floor((h + 0.5) * base / df + 1e-9) + 1).astype(np.int64)
        vals, valid = _gather(amps, rows, lo, hi)
        idx = lo[:, None] + np.arange(vals.shape[1])
        for w_lo, w_hi in zip(line_lo, line_hi, strict=True):
            valid &= ~((idx >= w_lo[:, None]) & (idx < w_hi[:, None]))
        total = total + _median_rows(vals, valid)
    return total


def defect_lines_rows(amps: FloatArray, df: float, shaft: FloatArray,
                      defects: Sequence[dict[str, float]],
                      rel_tol: FloatArray | None = None) -> list[dict[str, float]]:
    """``defect_line_features(freqs, amps[i], defects[i], shaft[i], rel_tol=rel_tol[i])`` for
    every row ``i`` (every row's defects have the same names, in the same order; ``rel_tol``
    None: the default tolerance). All defects of all rows are reduced together: one (row, defect)
    pair per entry."""
    n_rows = amps.shape[0]
    names = list(defects[0]) if defects else []
    rows = np.repeat(np.arange(n_rows), len(names))
    base = np.array([line_base_frequency(name, d[name]) for d in defects for name in names])
    tol = DEFECT_LINE_REL_TOL if rel_tol is None else np.repeat(np.asarray(rel_tol, np.float64), len(names))
    amp = line_amplitude_rows(amps, rows, base, df, tol)
    for h in range(2, HARMONICS + 1):
        amp = amp + line_amplitude_rows(amps, rows, h * base, df, tol)
    background = _background_rows(amps, rows, base, df, tol)
    snr = np.divide(amp, background, out=np.zeros_like(amp), where=background > 0.0)
    one = line_amplitude_rows(amps, np.arange(n_rows), shaft, df)
    table = np.column_stack([one, np.stack([amp, snr], axis=1).reshape(n_rows, 2 * len(names))])
    keys = ["env_1x_amp", *(f"env_{name}_{what}" for name in names for what in ("amp", "snr"))]
    return [dict(zip(keys, values, strict=True)) for values in table.tolist()] if n_rows else []
