"""The twin's drift test on its degradation: River's Page-Hinkley test, without ``river.drift``.

:class:`PageHinkley` follows ``river.drift.PageHinkley`` (River 0.26) formula for formula, on
River's own ``stats.Mean`` and ``base.DriftDetector``: the same parameters, the same state
attributes and the same verdict after every ``update`` (a unit test runs both side by side on
random streams, every mode). It exists because importing ``river.drift`` imports the whole drift
package, whose ``KSWIN`` and bundled data sets pull in ``scipy.stats`` and ``scipy.io`` (~0.6 CPU s
of start-up in every ``twin run``, for ~20 lines of arithmetic).

Twins pickled with River's class are converted on restore (:func:`from_river`): the state
attributes are the same, only River's bound ``_test_drift`` is not kept (the mode decides).
"""

from __future__ import annotations

from typing import Any

from river import base, stats

__all__ = ["PageHinkley", "from_river"]

MODES = ("up", "down", "both")


class PageHinkley(base.DriftDetector):
    """Page-Hinkley change detection on a stream of floats (River's formulas and defaults).

    ``mode``: ``"up"`` flags increases of the fading mean, ``"down"`` decreases, ``"both"`` either.
    """

    def __init__(self, min_instances: int = 30, delta: float = 0.005, threshold: float = 50.0,
                 alpha: float = 1 - 0.0001, mode: str = "both") -> None:
        super().__init__()
        self.min_instances, self.delta, self.threshold, self.alpha = min_instances, delta, threshold, alpha
        if mode not in MODES:
            msg = f"PageHinkley mode {mode!r}: must be one of {', '.join(MODES)}"
            raise ValueError(msg)
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._x_mean = stats.Mean()
        self._sum_increase = 0.0
        self._sum_decrease = 0.0
        self._min_increase = float("inf")
        self._max_decrease: float = -1

    def update(self, x: float) -> None:
        """Learn one value; ``drift_detected`` then says whether the test fired on it."""
        if self._drift_detected:
            self._reset()
        self._x_mean.update(x)
        dev = x - self._x_mean.get()
        self._sum_increase = self.alpha * self._sum_increase + dev - self.delta
        self._sum_decrease = self.alpha * self._sum_decrease + dev + self.delta
        self._min_increase = min(self._min_increase, self._sum_increase)
        self._max_decrease = max(self._max_decrease, self._sum_decrease)
        if self._x_mean.n >= self.min_instances:
            up = self.mode != "down" and self._sum_increase - self._min_increase > self.threshold
            down = self.mode != "up" and self._max_decrease - self._sum_decrease > self.threshold
            self._drift_detected = up or down


def from_river(detector: Any) -> Any:
    """A River ``PageHinkley`` (from an old snapshot) as a :class:`PageHinkley` in the same state;
    anything else unchanged."""
    if type(detector).__module__ != "river.drift.page_hinkley":
        return detector
    ours = PageHinkley.__new__(PageHinkley)
    ours.__dict__.update({k: v for k, v in vars(detector).items() if k != "_test_drift"})
    return ours
