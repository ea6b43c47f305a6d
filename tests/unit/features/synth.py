"""Synthetic vibration signals for the feature tests (the standard bearing-defect model)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.signal import fftconvolve


def bearing_signal(
    *,
    fs: float,
    n: int,
    defect_hz: float,
    shaft_hz: float,
    resonance_hz: float = 3500.0,
    decay_s: float = 0.0008,
    jitter: float = 0.015,
    modulation: float = 0.0,
    modulation_hz: float | None = None,
    load_zone: bool = False,
    noise_rms: float = 0.5,
    shaft_amp: float = 0.3,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """Impacts at ``defect_hz`` (random period jitter), each ringing a decaying resonance, plus a
    1x shaft line and white noise. ``modulation`` in [0, 1) scales impact amplitudes by
    ``1 + modulation*cos(2 pi f t)``, ``f`` = ``modulation_hz`` or the shaft speed (an inner race
    passing through the load zone; a ball carried through it by the cage: the cage rate FTF).
    ``load_zone`` instead scales them by the load a rolling element carries as it passes through
    a half-circle load zone, ``max(0, cos(2 pi f t))^1.5`` (Stribeck's distribution, load
    factor 0.5): no impacts outside the zone, so the modulation has harmonics of ``f``."""
    rng = np.random.default_rng(seed)
    periods = (1.0 + jitter * rng.standard_normal(int(2 * n / fs * defect_hz) + 8)) / defect_hz
    times = rng.uniform(0.0, 1.0 / defect_hz) + np.cumsum(periods)
    times = times[times < n / fs]
    train = np.zeros(n)
    f_mod = shaft_hz if modulation_hz is None else modulation_hz
    phase = np.cos(2.0 * np.pi * f_mod * times)
    amps = np.maximum(phase, 0.0) ** 1.5 if load_zone else 1.0 + modulation * phase
    np.add.at(train, np.minimum((times * fs).astype(int), n - 1), amps)
    t_kernel = np.arange(int(6 * decay_s * fs)) / fs
    kernel = np.exp(-t_kernel / decay_s) * np.sin(2.0 * np.pi * resonance_hz * t_kernel)
    t = np.arange(n) / fs
    impacts = fftconvolve(train, kernel)[:n]
    shaft = shaft_amp * np.sin(2.0 * np.pi * shaft_hz * t + 0.3)
    return impacts + shaft + noise_rms * rng.standard_normal(n)


def noise(n: int, seed: int = 0, shaft_hz: float = 0.0, fs: float = 1.0) -> npt.NDArray[np.float64]:
    """White Gaussian noise of unit variance plus, if ``shaft_hz``, a 0.3-amplitude 1x line."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    if shaft_hz:
        x += 0.3 * np.sin(2.0 * np.pi * shaft_hz * np.arange(n) / fs)
    return x
