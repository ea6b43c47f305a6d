"""Operating profiles (what-if plans) and the damage-rate law they drive.

An :class:`OperatingProfile` is a piecewise-constant plan over time from *now*: load (in the units
of the asset's load channel: a fraction of rated, or what the damage state took as reference),
shaft speed (Hz), ambient temperature (degC) and duty (share of the time running). A
constant profile is the "as now" plan.

The damage rate follows the Paris/ISO 281 picture of NOTES-physics: growth per load cycle scales
with the load to the life exponent ``p`` (3 for ball bearings), and cycles per second with the
shaft speed, so the *usage rate* of a segment is ``duty * (speed / reference speed) * load^p``
(``load`` relative to a reference load: 1.0 for a fraction of rated); the damage law
(:mod:`twin_models.rul.damage`) multiplies it. Ambient temperature is carried for the indicator
and temperature trajectories of what-if runs; it does not enter the damage rate (lubricant ageing
is not modelled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LOAD_EXPONENT", "MAX_LOAD", "MAX_SPEED_HZ", "OperatingProfile", "time_of_usage", "usage_integral"]

FloatArray = npt.NDArray[np.float64]
LOAD_EXPONENT = 3.0
"""ISO 281 life exponent of ball bearings (10/3 for roller bearings)."""
MAX_LOAD = 1e9
"""The highest load a plan may hold (in the metadata's load units)."""
MAX_SPEED_HZ = 1e6
"""The highest shaft speed a plan may hold."""


@dataclass(frozen=True, slots=True)
class OperatingProfile:
    """Piecewise-constant operating plan: segment ``i`` holds from ``starts_s[i]`` seconds from
    now until the next start (the last one holds for ever); ``starts_s[0]`` is 0."""

    starts_s: tuple[float, ...]
    load: tuple[float, ...]
    speed_hz: tuple[float, ...]
    ambient_c: tuple[float, ...]
    duty: tuple[float, ...]

    def __post_init__(self) -> None:
        """Refuse plans the damage law cannot run, naming the field."""
        n = len(self.starts_s)
        columns = {"load": self.load, "speed_hz": self.speed_hz, "ambient_c": self.ambient_c,
                   "duty": self.duty}
        if n == 0 or any(len(v) != n for v in columns.values()):
            msg = f"OperatingProfile needs one value per segment in every field, got {n} starts"
            raise ValueError(msg)
        starts = np.asarray(self.starts_s, dtype=np.float64)
        if starts[0] != 0.0 or not np.all(np.diff(starts) > 0.0) or not np.all(np.isfinite(starts)):
            msg = f"OperatingProfile starts_s must be 0 then increasing and finite, got {self.starts_s}"
            raise ValueError(msg)
        checks = (("load", self.load, 0.0, MAX_LOAD), ("speed_hz", self.speed_hz, 1e-9, MAX_SPEED_HZ),
                  ("ambient_c", self.ambient_c, -100.0, 200.0), ("duty", self.duty, 0.0, 1.0))
        for name, values, lo, hi in checks:
            bad = [v for v in values if not (math.isfinite(v) and lo <= v <= hi)]
            if bad:
                msg = f"OperatingProfile {name} must be within [{lo:g}, {hi:g}], got {bad[0]!r}"
                raise ValueError(msg)

    @classmethod
    def constant(cls, load: float, speed_hz: float, ambient_c: float = 20.0,
                 duty: float = 1.0) -> OperatingProfile:
        """One segment for ever: the "as now" plan."""
        return cls((0.0,), (load,), (speed_hz,), (ambient_c,), (duty,))

    def rates(self, reference_speed_hz: float, reference_load: float = 1.0) -> FloatArray:
        """Usage rate of each segment: ``duty * (speed / reference) * (load / reference) ** p``."""
        load = np.asarray(self.load, dtype=np.float64) / reference_load
        speed = np.asarray(self.speed_hz, dtype=np.float64) / reference_speed_hz
        return np.asarray(self.duty, dtype=np.float64) * speed * load**LOAD_EXPONENT


def usage_integral(profile: OperatingProfile, reference_speed_hz: float,
                   times_s: FloatArray, reference_load: float = 1.0) -> FloatArray:
    """``∫_0^t rate dt`` at each of ``times_s`` (seconds from now, >= 0): piecewise linear."""
    starts = np.asarray(profile.starts_s, dtype=np.float64)
    rates = profile.rates(reference_speed_hz, reference_load)
    at_starts = np.concatenate(([0.0], np.cumsum(rates[:-1] * np.diff(starts))))
    t = np.maximum(np.asarray(times_s, dtype=np.float64), 0.0)
    seg = np.searchsorted(starts, t, side="right") - 1
    out: FloatArray = at_starts[seg] + rates[seg] * (t - starts[seg])
    return out


def time_of_usage(profile: OperatingProfile, reference_speed_hz: float,
                  usage: FloatArray, reference_load: float = 1.0) -> FloatArray:
    """Inverse of :func:`usage_integral`: the first time the integral reaches each ``usage``
    (``inf`` when it never does: the plan ends in a segment with zero rate)."""
    starts = np.asarray(profile.starts_s, dtype=np.float64)
    rates = profile.rates(reference_speed_hz, reference_load)
    at_starts = np.concatenate(([0.0], np.cumsum(rates[:-1] * np.diff(starts))))
    u = np.asarray(usage, dtype=np.float64)
    seg = np.clip(np.searchsorted(at_starts, u, side="left") - 1, 0, len(starts) - 1)
    rate = rates[seg]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = starts[seg] + (u - at_starts[seg]) / rate
    out: FloatArray = np.where(u <= 0.0, 0.0, np.where(rate > 0.0, t, math.inf))
    return out
