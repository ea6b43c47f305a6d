"""Shaft speed from the spectrum: the 1x line found near the nominal speed, to sub-bin precision.

Why: defect lines are searched at multiples of the shaft speed with a ±2 % window
(:data:`~twin_models.features.lines.DEFECT_LINE_REL_TOL`, which covers the rolling elements' slip).
A nominal speed off by more than that (a tachometer missing, a speed from the nameplate, a load
that slows an induction motor by 3-4 %: CWRU's 1797 -> 1730 rpm) moves every defect line out of
its window: the line is missed, or another defect's window catches it.

How: in the Hann amplitude spectrum of the frame (the one the band energies use), the largest bin
within ``nominal x (1 ± SPEED_SEARCH_REL)`` is the 1x line if it is a local maximum inside the
window and stands :data:`SPEED_MIN_SNR` times above the median amplitude over
``[0.5, 1.5] x nominal``; its frequency is refined between bins by Gaussian interpolation (exact
for a Gaussian-shaped main lobe, within ~2 % of a bin for Hann). Otherwise the nominal speed
stands. A frame whose bins are wider than the search half-width (short frames: the demo's 4096
samples at 25.6 kHz, 6.25 Hz bins) cannot resolve a speed error and keeps the nominal speed.
Vectorised over rows: one gather and a few array operations per batch.
"""

from __future__ import annotations

import numpy as np

from twin_models.features._line_rows import _median_rows
from twin_models.features._spectral import FloatArray
from twin_models.features.lines import DEFECT_LINE_REL_TOL

__all__ = ["REFINED_LINE_REL_TOL", "SPEED_MIN_SNR", "SPEED_SEARCH_REL", "line_tolerance", "refine_shaft_rows"]

SPEED_SEARCH_REL = 0.05
"""Half-width of the 1x search around the nominal speed: an induction motor's slip from no load
to full load (CWRU: 1797 -> 1730 rpm at 3 hp is 3.7 %), with margin."""

SPEED_MIN_SNR = 5.0
"""A 1x line must stand this many times above the median spectrum around it. On Gaussian noise
the largest of the ~3-8 bins searched is 1-2.5x their median; CWRU's 1x lines stand 14-250x."""


REFINED_LINE_REL_TOL = 0.01
"""Defect-line search half-width once the speed comes from the frame's own 1x line: what is left
is the rolling elements' slip against the kinematic orders (CWRU's lines sit within 0.5 % of them
at the refined speed). The narrower window keeps shaft harmonics out of the defect windows where
a bearing's orders lie 1-2 % from an integer (SKF 6203: BPFO 3.053x next to 3x, BPFI 4.947x
next to 5x; SKF 6205: 2xBPFI 10.83x next to 11x); the nominal-speed window stays
:data:`~twin_models.features.lines.DEFECT_LINE_REL_TOL` (2 %)."""


def line_tolerance(refined: bool) -> float:
    """The defect-line tolerance of a frame: :data:`REFINED_LINE_REL_TOL` if its speed was refined
    from its spectrum, else the nominal-speed tolerance (2 %)."""
    return REFINED_LINE_REL_TOL if refined else DEFECT_LINE_REL_TOL


def refine_shaft_rows(amps: FloatArray, df: float, nominal: FloatArray) -> FloatArray:
    """Each row's shaft speed (Hz) from its Hann amplitude spectrum ``amps`` (bins of ``df`` Hz
    from 0 Hz), searched around ``nominal`` (one positive speed per row); the nominal speed where
    no clear 1x line is found or the bins cannot resolve the search window (see module doc)."""
    nominal = np.asarray(nominal, dtype=np.float64)
    out = nominal.copy()
    rows, size = amps.shape
    ok = (nominal * SPEED_SEARCH_REL >= df) & (1.5 * nominal / df + 2 < size)
    if rows == 0 or not ok.any():
        return out
    idx = np.flatnonzero(ok)
    k0 = nominal[idx] / df
    lo = np.floor(k0 * (1.0 - SPEED_SEARCH_REL)).astype(np.int64)
    hi = np.ceil(k0 * (1.0 + SPEED_SEARCH_REL)).astype(np.int64)
    width = int((hi - lo).max()) + 1
    cols = np.minimum(lo[:, None] + np.arange(width), (hi)[:, None])
    window = amps[idx[:, None], cols]
    k = lo + np.argmax(window, axis=1)
    ctx_lo = np.floor(0.5 * k0).astype(np.int64)
    ctx_w = int((np.ceil(1.5 * k0).astype(np.int64) - ctx_lo).max()) + 1
    ctx_cols = ctx_lo[:, None] + np.arange(ctx_w)
    ctx_valid = ctx_cols <= np.ceil(1.5 * k0)[:, None]
    background = _median_rows(amps[idx[:, None], np.minimum(ctx_cols, size - 1)], ctx_valid)
    left, centre, right = (amps[idx, k - 1], amps[idx, k], amps[idx, k + 1])
    found = (k > lo) & (k < hi) & (centre >= left) & (centre >= right)
    found &= centre >= SPEED_MIN_SNR * background
    tiny = np.finfo(np.float64).tiny
    la, lc, lr = (np.log(np.maximum(v, tiny)) for v in (left, centre, right))
    curvature = la - 2.0 * lc + lr
    delta = np.divide(0.5 * (la - lr), curvature, out=np.zeros_like(la), where=curvature < 0.0)
    est = (k + np.clip(delta, -0.5, 0.5)) * df
    found &= np.abs(est / nominal[idx] - 1.0) <= SPEED_SEARCH_REL
    out[idx[found]] = est[found]
    return out
