"""Novelty with no scale to choose: the scales are fractions of each series' own period.

:class:`PeriodNoveltyDetector` is the :class:`~twin_models.anomaly.novelty.NoveltyDetector`
(value tails, multi-scale subsequence novelty, Bonferroni, event mode) whose scales are not
settings but a property of the data: each subsequence length is a fixed fraction ``f`` of the
series' dominant period ``P`` (:mod:`twin_models.anomaly.period`: the autocorrelation's highest
prominent peak, re-estimated at ``warmup`` x 2^k windows on the last ``history`` values), or of
``default_period`` while no period is found. With the default fractions ``(1/36, 1/9, 1, 2)`` a
series with a daily cycle of 288 rows gets subsequences of 8, 32, 289 and 576 rows: a spike, a
burst, one cycle and two cycles. When the estimate changes, the scales are rebuilt from the
values remembered (the last ``history``): the value tails and the event-mode look-back are kept.

:func:`period_scales` is the rule: ``m = max(MIN_LENGTH, round(f P))`` rows in
``d = min(m, max(8, round(sqrt m)))`` segments (PAA), ``m`` then rounded to a multiple of ``d``.
With several features, one period serves them all: the first feature's with a period.

:class:`SeasonalResidual` is a seasonality-aware residual: the value minus the median of the
values at the same phase in up to ``cycles`` past periods, with the two-sided rank p-value of that
residual among the residuals seen (:class:`~twin_models.anomaly.calibration.EmpiricalTail`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from twin_models.anomaly.calibration import EmpiricalTail
from twin_models.anomaly.event_gate import lookback_capacity
from twin_models.anomaly.novelty import NoveltyDetector, SubsequenceNovelty
from twin_models.anomaly.period import PeriodTracker

__all__ = ["DEFAULT_FRACTIONS", "DEFAULT_PERIOD", "MIN_LENGTH", "PeriodNoveltyDetector",
           "SeasonalResidual", "period_scales"]

DEFAULT_FRACTIONS = (1 / 36, 1 / 9, 1.0, 2.0)
DEFAULT_PERIOD = 288  # no period found: a day of 5-minute rows (the cycle of plant shifts and users)
MIN_LENGTH = 4  # the shortest subsequence: a shape needs a few rows (period.MIN_PERIOD alike)


def period_scales(period: int, fractions: Sequence[float]) -> tuple[tuple[int, int], ...]:
    """The ``(m, d)`` scales of ``fractions`` of ``period`` (see the module docstring)."""
    out = []
    for f in fractions:
        m = max(MIN_LENGTH, round(f * period))
        d = min(m, max(8, round(math.sqrt(m))))
        out.append((max(d, d * round(m / d)), d))
    return tuple(out)


class PeriodNoveltyDetector(NoveltyDetector):
    """:class:`NoveltyDetector` with scales ``fractions`` of the series' own period.

    ``fractions``: subsequence lengths as fractions of the period; ``default_period``: the period
    assumed while none is found (rows). Every other argument is the novelty detector's.

    >>> det = PeriodNoveltyDetector(warmup=100, history=2000, refractory=50)
    >>> for i in range(900):
    ...     x = {"temp.mean": 20.0 + math.sin(2 * math.pi * i / 40)}
    ...     _ = det.score_one(x)
    ...     det.learn_one(x)
    >>> det.period, det.scales
    (40, ((4, 4), (4, 4), (40, 8), (81, 9)))
    """

    def __init__(self, *, fractions: Iterable[float] = DEFAULT_FRACTIONS,
                 default_period: int = DEFAULT_PERIOD, warmup: int = 24,
                 features: Iterable[str] = (".mean",), history: int = 8000,
                 value_history: int = 20000, tail_k: int = 20, resolution: float = 0.005,
                 refractory: int = 0, max_features: int = 64, echo: bool = False,
                 hold: int = 0) -> None:
        self.fractions = tuple(float(f) for f in fractions)
        if not self.fractions or any(not f > 0.0 for f in self.fractions) or default_period < 1:
            msg = f"fractions {self.fractions} must be positive and default_period {default_period} >= 1"
            raise ValueError(msg)
        self.default_period = default_period
        super().__init__(warmup=warmup, features=features, history=history,
                         scales=period_scales(default_period, self.fractions),
                         value_history=value_history, tail_k=tail_k, resolution=resolution,
                         refractory=refractory, max_features=max_features, echo=echo, hold=hold)
        self.trackers: dict[str, PeriodTracker] = {}
        self.period: int | None = None

    def learn_one(self, x: Mapping[str, float]) -> None:  # type: ignore[override]
        """Learn the window; at a period checkpoint, rebuild the scales if the period moved."""
        sel = self.selected(x)
        super().learn_one(x)
        changed = False
        for name, value in sel.items():
            if name not in self.state:
                continue
            tracker = self.trackers.get(name)
            if tracker is None:
                tracker = self.trackers[name] = PeriodTracker(first=max(1, self.warmup),
                                                              memory=self.history)
            tracker.learn_one(value)
            changed = changed or tracker.changed
        if changed:
            period = next((t.period for t in self.trackers.values() if t.period is not None), None)
            if period != self.period:
                self.period = period
                scales = period_scales(period or self.default_period, self.fractions)
                if scales != self.scales:
                    self._rebuild(scales)

    def _rebuild(self, scales: tuple[tuple[int, int], ...]) -> None:
        """New scales, learnt again from each feature's remembered values."""
        self.scales = scales
        for name, feat in self.state.items():
            tracker = self.trackers.get(name)
            subs = [SubsequenceNovelty(m, d, self.history, k=self.tail_k) for m, d in scales]
            for value in tracker.values if tracker is not None else ():
                for sub in subs:
                    sub.learn(value, sub.vector(value), None)
            feat.subseq = subs
        capacity = lookback_capacity(self.refractory, [m for m, _ in scales], self.echo)
        self.recent = deque(self.recent, maxlen=capacity)
        self._cache = None


class SeasonalResidual:
    """Value minus the median of the same phase over up to ``cycles`` past periods, and its p.

    ``p_values(x, period)`` -> (upper, lower) rank p-values of the residual (1, 1 with no period
    or fewer than ``min_cycles`` past values at this phase); ``learn(x, period)`` stores ``x`` and
    the residual. The values are kept for ``cycles`` x ``max_period`` rows at most.
    """

    def __init__(self, cycles: int = 7, min_cycles: int = 2, max_period: int = 4032,
                 window: int = 20000, k: int = 20) -> None:
        self.cycles, self.min_cycles = cycles, min_cycles
        self.values: deque[float] = deque(maxlen=cycles * max_period)
        self.residuals = EmpiricalTail(window=window, k=k)

    def residual(self, x: float, period: int | None) -> float:
        """``x`` minus its phase's median level (NaN when not known)."""
        if not period:
            return math.nan
        n = len(self.values)
        past = [self.values[n - j * period] for j in range(1, self.cycles + 1) if j * period <= n]
        if len(past) < self.min_cycles:
            return math.nan
        return x - float(np.median(past))

    def p_values(self, x: float, period: int | None, floor: float = 0.0) -> tuple[float, float]:
        """Two-sided tail p-values of the residual of ``x``."""
        r = self.residual(x, period)
        if math.isnan(r):
            return 1.0, 1.0
        return self.residuals.upper(r, floor), self.residuals.lower(r, floor)

    def learn(self, x: float, period: int | None) -> None:
        """Store ``x`` (and its residual, when it has one)."""
        r = self.residual(x, period)
        if not math.isnan(r):
            self.residuals.learn_one(r)
        self.values.append(x)
