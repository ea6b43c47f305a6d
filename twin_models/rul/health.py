"""Health index: how far an asset's failure indicator has moved from its healthy baseline
towards its failure threshold, in [0, 1] (1 = as new, 0 = at the failure threshold).

>>> hi = HealthIndex("vib.rms", threshold=2.0, baseline_windows=3, smoothing=1.0)
>>> for v in (0.5, 0.5, 0.5):
...     hi.learn_one({"vib.rms": v})
>>> round(hi.predict_one({"vib.rms": 1.25}), 3)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from river import stats

__all__ = ["HealthIndex"]


class HealthIndex:
    """Smoothed indicator, healthy baseline learnt over the first windows of each life."""

    def __init__(
        self,
        feature: str,
        threshold: float,
        *,
        baseline_windows: int = 24,
        smoothing: float = 0.3,
    ) -> None:
        if not math.isfinite(threshold):
            msg = f"failure threshold for {feature!r} must be finite, got {threshold}"
            raise ValueError(msg)
        self.feature = feature
        self.threshold = threshold
        self.baseline_windows = baseline_windows
        self.smoothing = smoothing
        self.baseline = stats.Mean()
        self.level: float | None = None

    def _smoothed(self, x: Mapping[str, float]) -> float | None:
        value = x.get(self.feature)
        if value is None or not math.isfinite(value):
            return self.level
        if self.level is None:
            return value
        return self.smoothing * value + (1.0 - self.smoothing) * self.level

    def excess(self, x: Mapping[str, float]) -> float | None:
        """Smoothed indicator minus the healthy baseline (None before any baseline)."""
        level = self._smoothed(x)
        if level is None or self.baseline.n == 0:
            return None
        return level - self.baseline.get()

    @property
    def span(self) -> float:
        """Distance from the healthy baseline to the failure threshold."""
        base = self.baseline.get() if self.baseline.n else 0.0
        return max(self.threshold - base, 1e-9)

    def predict_one(self, x: Mapping[str, float]) -> float:
        """Health index for this window, from the baseline as it was (1.0 while unknown)."""
        ex = self.excess(x)
        if ex is None:
            return 1.0
        return min(1.0, max(0.0, 1.0 - ex / self.span))

    def learn_one(self, x: Mapping[str, float]) -> None:
        """Advance the smoothed level; extend the baseline during the first windows of a life."""
        level = self._smoothed(x)
        value = x.get(self.feature)
        if value is not None and math.isfinite(value) and self.baseline.n < self.baseline_windows:
            self.baseline.update(value)
        self.level = level
