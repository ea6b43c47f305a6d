"""Shared low-level helpers of the feature library: input checks and the windowed spectrum.

Private module: the public functions live in :mod:`~twin_models.features.fft` and friends.
Hot paths avoid ``np.dot`` on long vectors on purpose: it calls a multi-threaded BLAS whose
threads spin under CPU contention (measured 3-10x slower per frame on a loaded 2-core box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from twin_models.features import _fft

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]

MIN_SPECTRUM_SAMPLES = 8
"""Shortest signal a spectrum is computed for."""


def as_signal(x: npt.ArrayLike, *, what: str = "x", min_len: int = 1) -> FloatArray:
    """``x`` as a finite 1-D float64 array of at least ``min_len`` samples, else ``ValueError``."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        msg = f"{what} must be 1-D, got shape {arr.shape}"
        raise ValueError(msg)
    if arr.size < min_len:
        msg = f"{what} needs at least {min_len} samples, got {arr.size}"
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = f"{what} contains {int(np.sum(~np.isfinite(arr)))} non-finite samples"
        raise ValueError(msg)
    return arr


def check_fs(fs: float) -> float:
    """``fs`` as a float if it is a positive finite sample rate in Hz, else ``ValueError``."""
    value = float(fs)
    if not (value > 0.0 and math.isfinite(value)):
        msg = f"sample rate fs must be a positive finite frequency in Hz, got {fs!r}"
        raise ValueError(msg)
    return value


@lru_cache(maxsize=32)
def hann(n: int) -> FloatArray:
    """Periodic (DFT-even) Hann window of length ``n``, cached and read-only.

    scipy.signal is imported here, on the first frame: it imports scipy.stats (~0.6 CPU s of
    start-up that a scalar-only run never needs)."""
    import scipy.signal

    w = np.asarray(scipy.signal.get_window("hann", n, fftbins=True), dtype=np.float64)
    w.setflags(write=False)
    return w


@dataclass(frozen=True, slots=True)
class Spectrum:
    """One-sided Hann-windowed spectrum of a mean-removed signal.

    ``amps`` is amplitude-corrected (a sine of amplitude A on a bin reads A); ``power`` is
    ENBW-corrected mean-square per bin, so ``power.sum()`` estimates the signal's AC mean square.
    """

    freqs: FloatArray
    amps: FloatArray
    power: FloatArray


def hann_spectrum(x: FloatArray, fs: float) -> Spectrum:
    """Hann-windowed one-sided amplitude and power spectrum of ``x - mean(x)``."""
    n = x.size
    w = hann(n)
    spec = _fft.rfft((x - x.mean()) * w)
    mag2 = spec.real**2 + spec.imag**2
    one_sided = np.full(mag2.size, 2.0)
    one_sided[0] = 1.0
    if n % 2 == 0:
        one_sided[-1] = 1.0
    amps = np.sqrt(mag2) * one_sided / w.sum()
    power = mag2 * one_sided / (n * float(np.sum(w * w)))
    freqs = np.arange(mag2.size, dtype=np.float64) * (fs / n)
    return Spectrum(freqs=freqs, amps=amps, power=power)


def raw_rfft(x: FloatArray) -> ComplexArray:
    """Unwindowed one-sided DFT of ``x - mean(x)`` (input of the FFT-domain band-pass)."""
    return np.asarray(_fft.rfft(x - x.mean()), dtype=np.complex128)
