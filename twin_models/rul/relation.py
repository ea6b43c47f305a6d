"""How a degrading asset's other indicators follow its damage indicator (pure, bounded).

What-if runs (:mod:`twin_models.whatif`) forecast the damage state's indicator ``y`` (the failure
feature's excess over its healthy baseline as a share of the span to the failure threshold). The
failure feature itself is ``baseline + y * span`` by definition; the envelope line of a defect and
the housing temperature are not, so the twin learns, from the windows of the life since the first
evidence of damage, an ordinary least-squares line ``feature = a + b * y`` per tracked feature
(running sums of the smoothed pairs: five numbers per feature, at most :data:`MAX_FEATURES`
features). The slope is
never negative (damage does not lower vibration or heat); with fewer than :data:`MIN_WINDOWS`
windows, or no spread of ``y`` yet, the line is flat at the mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["MAX_FEATURES", "MIN_WINDOWS", "WARMUP_WINDOWS", "IndicatorRelation", "tracked"]

MAX_FEATURES = 16
MIN_WINDOWS = 3
WARMUP_WINDOWS = 12
TEMPERATURE = "temperature.mean"


def tracked(name: str) -> bool:
    """The features a relation follows: envelope defect lines and the housing temperature."""
    return name == TEMPERATURE or (".env_" in name and name.endswith("_amp"))


class IndicatorRelation:
    """Running least squares of tracked features on the damage indicator ``y``, both smoothed.

    Each pair is smoothed first (EWMA, ``smoothing`` per window: about a day of hourly windows),
    so what the line follows is the slow damage trend, not what moves both within a day: the
    ambient cycle heats the housing and the load moves the vibration, which made raw pairs give
    slopes several times too steep on the demo fleet. The first :data:`WARMUP_WINDOWS` smoothed
    pairs of a feature are its warm-up and not counted.
    """

    def __init__(self, smoothing: float = 0.04) -> None:
        self.smoothing = smoothing
        self.level_y: float | None = None
        self.levels: dict[str, list[float]] = {}  # name -> [EWMA of f, windows seen]
        self.sums: dict[str, list[float]] = {}  # name -> [n, sum y, sum y^2, sum f, sum y f]

    def learn(self, y: float, features: Mapping[str, float]) -> None:
        """Add one window: its indicator and its tracked features (non-finite ones skipped)."""
        if not math.isfinite(y):
            return
        a = self.smoothing
        ly = self.level_y = y if self.level_y is None else a * y + (1 - a) * self.level_y
        for name, f in features.items():
            if not tracked(name) or not math.isfinite(f):
                continue
            level = self.levels.get(name)
            if level is None:
                if len(self.levels) >= MAX_FEATURES:
                    continue
                level = self.levels[name] = [f, 0.0]
            level[0] = a * f + (1 - a) * level[0]
            level[1] += 1.0
            if level[1] > WARMUP_WINDOWS:
                self._add(name, ly, level[0])

    def _add(self, name: str, y: float, f: float) -> None:
        s = self.sums.setdefault(name, [0.0, 0.0, 0.0, 0.0, 0.0])
        s[0] += 1.0
        s[1] += y
        s[2] += y * y
        s[3] += f
        s[4] += y * f

    def line(self, name: str) -> tuple[float, float] | None:
        """``(a, b)`` of ``feature = a + b * y``, or None when the feature was never seen."""
        s = self.sums.get(name)
        if s is None or s[0] == 0.0:
            return None
        n, sy, syy, sf, syf = s
        var = syy / n - (sy / n) ** 2
        b = (syf / n - sy / n * sf / n) / var if n >= MIN_WINDOWS and var > 1e-12 else 0.0
        b = max(b, 0.0)
        return sf / n - b * sy / n, b

    def predict(self, name: str, y: float) -> float | None:
        """The feature expected at indicator ``y`` (None when the feature was never seen)."""
        ab = self.line(name)
        return None if ab is None else ab[0] + ab[1] * y

    def envelope_feature(self, defect: str | None) -> str | None:
        """The tracked envelope line of ``defect`` with the most windows (None if none)."""
        if defect is None:
            return None
        names = [k for k in self.sums if k.endswith(f".env_{defect}_amp")]
        return max(names, key=lambda k: (self.sums[k][0], k)) if names else None
