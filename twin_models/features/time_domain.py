"""Time-domain statistics of one vibration frame.

Definitions (``x`` the raw samples, ``m`` their mean, ``s`` the population standard deviation):

- ``rms``  = sqrt(mean(x**2)) — the literal RMS, DC included (accelerometers are AC-coupled, so
  in practice ``rms`` ~ ``s``; the DC level is reported separately as ``mean``);
- ``peak`` = max |x|; ``crest_factor`` = peak / rms (sqrt(2) for a sine, 0.0 for an all-zero frame);
- ``kurtosis`` = mean((x - m)**4) / s**4, Pearson's definition (3.0 for Gaussian noise, 1.5 for a
  sine, >> 3 for an impulse train);
- ``skewness`` = mean((x - m)**3) / s**3.

Constant frames (``s`` negligible against the signal level) have no shape: ``kurtosis`` is then
reported as 3.0, the Gaussian reference ("no evidence of impulsiveness"), and ``skewness`` as 0.0,
so a flat or dead channel never produces NaN (it shows through ``rms`` and ``peak`` instead).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twin_models.features._spectral import FloatArray, as_signal

__all__ = ["crest_factor", "kurtosis", "peak", "rms", "skewness", "time_features"]

GAUSSIAN_KURTOSIS = 3.0
"""Pearson kurtosis of a normal distribution; reported for constant frames."""

_REL_EPS = 1e-12


def rms(x: npt.ArrayLike) -> float:
    """Root mean square of ``x`` (DC included)."""
    arr = as_signal(x)
    return float(np.sqrt(np.sum(arr * arr) / arr.size))


def peak(x: npt.ArrayLike) -> float:
    """Largest absolute sample of ``x``."""
    return float(np.max(np.abs(as_signal(x))))


def crest_factor(x: npt.ArrayLike) -> float:
    """Peak over RMS (sqrt(2) for a sine); 0.0 for an all-zero frame."""
    arr = as_signal(x)
    return _crest(float(np.max(np.abs(arr))), float(np.sqrt(np.sum(arr * arr) / arr.size)))


def kurtosis(x: npt.ArrayLike) -> float:
    """Pearson kurtosis (normal = 3.0); 3.0 for a constant frame."""
    return _moments(as_signal(x))[2]


def skewness(x: npt.ArrayLike) -> float:
    """Sample skewness (population moments); 0.0 for a constant frame."""
    return _moments(as_signal(x))[1]


def time_features(x: npt.ArrayLike) -> dict[str, float]:
    """All time-domain features of ``x``: ``rms, peak, crest_factor, kurtosis, skewness, mean``."""
    arr = as_signal(x)
    mean, skew, kurt, rms_value = _moments(arr)
    peak_value = float(np.max(np.abs(arr)))
    return {
        "rms": rms_value,
        "peak": peak_value,
        "crest_factor": _crest(peak_value, rms_value),
        "kurtosis": kurt,
        "skewness": skew,
        "mean": mean,
    }


def _crest(peak_value: float, rms_value: float) -> float:
    return peak_value / rms_value if rms_value > 0.0 else 0.0


def _moments(arr: FloatArray) -> tuple[float, float, float, float]:
    """``(mean, skewness, kurtosis, rms)`` in one pass over the centred samples."""
    n = arr.size
    mean = float(arr.mean())
    centred = arr - mean
    c2 = centred * centred
    var = float(c2.sum()) / n
    rms_value = float(np.sqrt(var + mean * mean))
    scale = max(abs(mean), float(np.max(np.abs(arr))))
    if var <= (_REL_EPS * scale) ** 2 or var == 0.0:
        return mean, 0.0, GAUSSIAN_KURTOSIS, rms_value
    # einsum: the sums of products without temporaries, the same summation as the batch's
    # ``_rows.time_rows`` (bit for bit); not ``np.dot``, whose BLAS threads spin under contention
    skew = float(np.einsum("i,i->", c2, centred)) / n / var**1.5
    kurt = float(np.einsum("i,i->", c2, c2)) / n / (var * var)
    return mean, skew, kurt, rms_value
