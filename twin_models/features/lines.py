"""Discrete spectral lines: shaft harmonics in the raw spectrum, bearing defect lines in the
envelope spectrum, and their signal-to-background ratios."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from twin_models.features._spectral import FloatArray

__all__ = [
    "DEFECT_LINE_REL_TOL",
    "defect_line_features",
    "line_amplitude",
    "line_base_frequency",
    "spectral_line_features",
]

DEFECT_LINE_REL_TOL = 0.02
"""Relative search half-width around a line: covers 1-2 % slip and speed error."""


def line_amplitude(
    freqs: npt.ArrayLike, amps: npt.ArrayLike, f0: float, rel_tol: float = DEFECT_LINE_REL_TOL
) -> float:
    """Largest amplitude within ``f0 * (1 ± rel_tol)``, widened to at least ±1 bin.

    ``freqs`` must be the evenly spaced bin frequencies of a one-sided spectrum starting at 0 Hz.
    Returns 0.0 when the window lies entirely above the last bin.
    """
    f = np.asarray(freqs, dtype=np.float64)
    a = np.asarray(amps, dtype=np.float64)
    lo, hi = _window(f, f0, rel_tol)
    return float(a[lo:hi].max()) if hi > lo else 0.0


def line_base_frequency(name: str, freq_hz: float) -> float:
    """Frequency of a defect's first envelope line: 2*BSF for ``bsf`` (ball hits both races)."""
    return 2.0 * freq_hz if name == "bsf" else freq_hz


def defect_line_features(
    env_freqs: npt.ArrayLike,
    env_amps: npt.ArrayLike,
    defects: Mapping[str, float],
    shaft_hz: float,
    harmonics: int = 3,
    rel_tol: float = DEFECT_LINE_REL_TOL,
) -> dict[str, float]:
    """Defect-line amplitudes and SNRs from an envelope spectrum.

    For each ``name -> f`` in ``defects`` (Hz), with base ``b = f`` (``b = 2*f`` for ``bsf``):

    - ``env_<name>_amp`` = sum over h = 1..harmonics of :func:`line_amplitude` at ``h*b``
      (the ±``rel_tol`` window absorbs slip and the error of a nominal shaft speed; the price is
      that a shaft harmonic inside a window counts too — e.g. for the CWRU 6205 the windows of
      2*BPFI (10.83x) and 3*BPFI (16.25x) hold 11x and 16x);
    - ``env_<name>_snr`` = ``env_<name>_amp / sum_h background_h``, where ``background_h`` is the
      median envelope amplitude over ``[(h-0.5)*b, (h+0.5)*b]`` with every line window
      (``h*b*(1 ± rel_tol)``, at least ±2 bins) removed; 0.0 if there is no background. On a
      locally flat background this is ``amp / (harmonics * median)`` over ``[0.5*b,
      (harmonics+0.5)*b]``; the per-harmonic medians keep it honest where the envelope spectrum
      slopes (it fades above the envelope band's width). With no line present the SNR is "typical
      maximum of a few noise bins / their median", about 1.4–2.1 (see
      :data:`twin_models.features.frame.DIAGNOSIS_MIN_SNR`).

    Also ``env_1x_amp`` = :func:`line_amplitude` at ``shaft_hz`` (inner-race and looseness
    modulation). Lines above the last bin count as 0.
    """
    f = np.asarray(env_freqs, dtype=np.float64)
    a = np.asarray(env_amps, dtype=np.float64)
    if f.shape != a.shape or f.ndim != 1 or f.size < 2:
        msg = f"envelope freqs/amps must be equal-length 1-D arrays, got {f.shape} and {a.shape}"
        raise ValueError(msg)
    if harmonics < 1:
        msg = f"harmonics must be >= 1, got {harmonics}"
        raise ValueError(msg)
    out: dict[str, float] = {"env_1x_amp": line_amplitude(f, a, shaft_hz, rel_tol)}
    for name, freq in defects.items():
        base = line_base_frequency(name, freq)
        amp = sum(line_amplitude(f, a, h * base, rel_tol) for h in range(1, harmonics + 1))
        background = sum(_background(f, a, base, harmonics, rel_tol))
        out[f"env_{name}_amp"] = amp
        out[f"env_{name}_snr"] = amp / background if background > 0.0 else 0.0
    return out


def spectral_line_features(freqs: npt.ArrayLike, amps: npt.ArrayLike, shaft_hz: float) -> dict[str, float]:
    """Shaft lines of the raw amplitude spectrum: ``shaft_1x_amp`` (unbalance), ``shaft_2x_amp``
    (misalignment), each :func:`line_amplitude` with the default tolerance."""
    return {
        "shaft_1x_amp": line_amplitude(freqs, amps, shaft_hz),
        "shaft_2x_amp": line_amplitude(freqs, amps, 2.0 * shaft_hz),
    }


def _window(freqs: FloatArray, f0: float, rel_tol: float, min_bins: int = 1) -> tuple[int, int]:
    """Half-open bin range ``[lo, hi)`` of ``f0 * (1 ± rel_tol)``, at least ±``min_bins`` bins."""
    if not (f0 > 0.0 and math.isfinite(f0)):
        msg = f"line frequency f0 must be positive and finite, got {f0!r}"
        raise ValueError(msg)
    if not (0.0 <= rel_tol < 1.0):
        msg = f"rel_tol must be in [0, 1), got {rel_tol!r}"
        raise ValueError(msg)
    df = float(freqs[1] - freqs[0])
    half = max(f0 * rel_tol, min_bins * df)
    lo = max(0, math.ceil((f0 - half) / df - 1e-9))
    hi = min(freqs.size, math.floor((f0 + half) / df + 1e-9) + 1)
    return lo, hi


def _background(
    freqs: FloatArray, amps: FloatArray, base: float, harmonics: int, rel_tol: float
) -> list[float]:
    """Per harmonic h, the median amplitude over ``[(h-0.5)*base, (h+0.5)*base]`` with every line
    window (at least ±2 bins, the Hann main lobe) excluded; 0.0 where no bin is left."""
    df = float(freqs[1] - freqs[0])
    is_line = np.zeros(freqs.size, dtype=bool)
    for h in range(1, harmonics + 1):
        w_lo, w_hi = _window(freqs, h * base, rel_tol, min_bins=2)
        is_line[w_lo:w_hi] = True
    out: list[float] = []
    for h in range(1, harmonics + 1):
        lo = math.ceil((h - 0.5) * base / df - 1e-9)
        hi = min(freqs.size, math.floor((h + 0.5) * base / df + 1e-9) + 1)
        values = amps[lo:hi][~is_line[lo:hi]] if hi > lo else amps[:0]
        out.append(float(np.median(values)) if values.size else 0.0)
    return out
