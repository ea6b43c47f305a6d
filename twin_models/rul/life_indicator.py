"""A bearing's health indicator for RUL: the monotone rise of its broadband vibration energy.

Per window, the log of the mean of the named RMS features (one per accelerometer channel) is
compared with the same asset's own early life: the mean log RMS of the life's first
``baseline_windows`` windows. After the baseline the excess is smoothed by an exponential moving
average (``smoothing`` = weight of the new window) and the indicator is its running maximum,
floored at 0: it never falls, so a transient quiet spell does not "heal" a bearing, and it uses
only the windows seen so far (no look-ahead). 0 = as in the life's early windows; ``log(2)`` =
twice the early RMS. Scale-free: the unit and gain of the accelerometers cancel.

>>> ind = LifeIndicator(("*.rms",), baseline_windows=2, smoothing=1.0)
>>> [round(ind.update({"x.rms": v}), 3) for v in (1.0, 1.0, 2.0, 1.0)]
[0.0, 0.0, 0.693, 0.693]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase

__all__ = ["LifeIndicator"]


class LifeIndicator:
    """Smoothed, monotone log-RMS excess over the life's own early windows."""

    def __init__(self, features: tuple[str, ...], *, baseline_windows: int = 30,
                 smoothing: float = 0.1) -> None:
        if baseline_windows < 1 or not 0.0 < smoothing <= 1.0:
            msg = f"baseline_windows >= 1 and smoothing in (0, 1] needed, got {baseline_windows}, {smoothing}"
            raise ValueError(msg)
        self.features = features
        self.baseline_windows = baseline_windows
        self.smoothing = smoothing
        self.base_sum = 0.0
        self.base_n = 0
        self.level = 0.0
        self.value = 0.0

    def energy(self, x: Mapping[str, float]) -> float | None:
        """Log of the mean of the window's matching RMS values (None without a positive one)."""
        vals = [v for k, v in x.items() if v > 0.0 and math.isfinite(v)
                and any(fnmatchcase(k, p) for p in self.features)]
        return math.log(sum(vals) / len(vals)) if vals else None

    def update(self, x: Mapping[str, float]) -> float:
        """Take one window; the indicator after it (0 during the baseline windows)."""
        e = self.energy(x)
        if e is None:
            return self.value
        if self.base_n < self.baseline_windows:
            self.base_sum += e
            self.base_n += 1
            return self.value
        excess = e - self.base_sum / self.base_n
        self.level += self.smoothing * (excess - self.level)
        self.value = max(self.value, self.level, 0.0)
        return self.value
