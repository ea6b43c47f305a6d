"""Priors over a bearing's life for the life model: the usage clock and the shape of the prior.

**Usage clock.** A rolling bearing's rating life is counted in revolutions and shortened by load:
ISO 281 gives ``L10 = (C / P)^p`` million revolutions (``p = 3`` for ball bearings, 10/3 for
rollers), so one second at shaft speed ``n`` (Hz) under load ``P`` uses ``n * (P / P_ref)^p`` of
a reference bearing's life. :func:`usage_rates` puts every completed life on that clock (load
only when ``load_exponent > 0`` and every life carries one; speed only when every life carries
one; else seconds), so lives run at different speeds and loads become comparable.

**Prior shape.** :func:`lognormal_quantiles`: a log-normal fitted to the completed lives, as the
Student t predictive (the model's default: smooth, wide with few lives). :func:`kernel_quantiles`:
a Gaussian kernel mixture over the log lives (bandwidth in log units), which keeps the clusters
of the lives instead of averaging them into one wide bump: when the lives fall in groups (FEMTO's
learning set on the ISO 281 clock: four lives within 8 %, two others three times longer), the
posterior can commit to a group, and the age moves it to the next one once the first has passed.

Both return equal-mass quantiles (``particles`` of them) of the log life on the usage clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["kernel_quantiles", "lognormal_quantiles", "usage_rates"]

FloatArray = npt.NDArray[np.float64]


def usage_rates(speeds: Sequence[float | None], loads: Sequence[float | None],
                load_exponent: float) -> tuple[bool, bool, float]:
    """(use speed, use load, reference load) for lives with these speeds (Hz) and loads (N).

    The reference load (the lives' geometric mean) only keeps the numbers near revolutions."""
    use_speed = bool(speeds) and all(s is not None and s > 0 for s in speeds)
    use_load = load_exponent > 0 and bool(loads) and all(x is not None and x > 0 for x in loads)
    ref = math.exp(float(np.mean(np.log([x or 1.0 for x in loads])))) if use_load else 1.0
    return use_speed, use_load, ref


def lognormal_quantiles(logs: FloatArray, particles: int) -> FloatArray:
    """Student t predictive of a normal sample of log lives: ``n - 1`` degrees of freedom, scale
    ``sd * sqrt(1 + 1/n)``; clipped so that a Cauchy's (two lives) extreme particles stay finite."""
    # imported here: scipy.stats costs ~1 CPU s of every start-up, and only a life model needs it
    from scipy import stats

    n = logs.size
    scale = max(float(logs.std(ddof=1)), 1e-3) * math.sqrt(1.0 + 1.0 / n)
    q = (np.arange(particles) + 0.5) / particles
    return np.asarray(np.clip(float(logs.mean()) + scale * stats.t.ppf(q, n - 1), 0.0, 60.0))


def kernel_quantiles(logs: FloatArray, bandwidth: float, particles: int) -> FloatArray:
    """Equal-mass quantiles of the Gaussian kernel mixture (sd ``bandwidth``) over the log lives."""
    from scipy import special

    grid = np.linspace(logs.min() - 6.0 * bandwidth, logs.max() + 6.0 * bandwidth, 8 * particles)
    cdf = special.ndtr((grid[:, None] - logs[None, :]) / bandwidth).mean(axis=1)
    q = (np.arange(particles) + 0.5) / particles
    return np.asarray(np.clip(np.interp(q, cdf, grid), 0.0, 60.0))
