"""Level, spread and step changes of a scalar series, each calibrated to a rank p-value.

:class:`ChangeNovelty` (a ``river.base.AnomalyDetector``, one :class:`ChangeSeries` per selected
feature) is the ensemble member that looks for what a nearest-neighbour pattern
memory does not: a series that moves to a level or a spread it has had before, but not *just
before*. For each scale ``(w, W)`` it compares the last ``w`` values with the ``W`` values that
precede them:

- **level**: ``(mean_w - mean_W) / sd_W`` (how far the recent mean has moved, in the reference's
  own spread);
- **spread**: ``log(sd_w / sd_W)`` (the recent variability against the reference's);

and, at one row, the **step** ``x_t - x_(t-1)`` (a jump inside the range of values seen).

None of these statistics is compared with a fixed threshold: each one's p-value is its two-sided
rank among its own past values (:class:`~twin_models.anomaly.calibration.EmpiricalTail`, with an
exponential tail beyond the range seen). That makes the member scale-free: a series' autocorrelation
or its units change how large the raw statistics run, never the p-values (the calibration the
issue asks for: every member on the common scale of a tail probability of its own history).
Spreads are floored at ``resolution`` x the values' 5-95 % range (as in the novelty detector), so
that a flat or quantised signal does not turn rounding into infinite ratios.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from river import base

from twin_models.anomaly.calibration import EmpiricalTail
from twin_models.anomaly.novelty import selected_features

__all__ = ["ChangeNovelty", "ChangeSeries"]

_TINY = 1e-12  # the spread of a constant series (no division by zero)


class _Window:
    """Running sum and sum of squares of the last ``size`` values (relative to an offset)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: deque[float] = deque()
        self.s = 0.0
        self.ss = 0.0

    def push(self, x: float) -> float | None:
        """Add ``x``; return the value that fell out (None while filling)."""
        self.values.append(x)
        self.s += x
        self.ss += x * x
        if len(self.values) <= self.size:
            return None
        old = self.values.popleft()
        self.s -= old
        self.ss -= old * old
        return old

    @property
    def full(self) -> bool:
        return len(self.values) >= self.size

    def mean_var(self) -> tuple[float, float]:
        n = len(self.values)
        mean = self.s / n
        return mean, max(self.ss / n - mean * mean, 0.0)


class _Scale:
    """The short window (``w``) and its reference (``W`` values just before it)."""

    def __init__(self, w: int, ref: int) -> None:
        self.short = _Window(w)
        self.ref = _Window(ref)

    def stats(self, x: float, floor: float) -> tuple[float, float] | None:
        """(level, spread) with ``x`` as the newest value; None until both windows are full."""
        if not self.ref.full or not self.short.full:
            return None
        n = self.short.size
        # the short window with x in, its oldest value out (what ``push`` will do)
        old = self.short.values[0]
        s = self.short.s + x - old
        ss = self.short.ss + x * x - old * old
        m_s = s / n
        v_s = max(ss / n - m_s * m_s, 0.0)
        # the reference gains the short window's oldest value
        r_old = self.ref.values[0]
        nr = self.ref.size
        rs = self.ref.s + old - r_old
        rss = self.ref.ss + old * old - r_old * r_old
        m_r = rs / nr
        v_r = max(rss / nr - m_r * m_r, 0.0)
        floor = max(floor, _TINY)
        sd_r = math.sqrt(v_r + floor * floor)
        sd_s = math.sqrt(v_s + floor * floor)
        return (m_s - m_r) / sd_r, math.log(sd_s / sd_r)

    def push(self, x: float) -> None:
        out = self.short.push(x)
        if out is not None:
            self.ref.push(out)


class ChangeSeries:
    """Rank p-values of level, spread (per scale) and step changes of one scalar series.

    ``scales``: ``(w, W)`` pairs (recent window, reference before it) in rows; ``history``: past
    statistics each calibration keeps; ``tail_k``: order statistics behind the exponential tail;
    ``min_samples``: statistics seen before a p-value below 1 is given.

    >>> ch = ChangeSeries(scales=((8, 64),), history=2000)
    >>> for i in range(600):
    ...     _ = ch.learn(10.0 + (i % 5) * 0.1)
    >>> min(ch.p_values(10.0)) > 0.01, min(ch.p_values(13.0)) < 1e-3
    (True, True)
    """

    def __init__(self, scales: Sequence[tuple[int, int]] = ((8, 128), (32, 512)),
                 history: int = 20000, tail_k: int = 20, min_samples: int = 50,
                 resolution: float = 0.005) -> None:
        self.scales = [_Scale(int(w), int(ref)) for w, ref in scales]
        self.resolution = resolution
        self.values = EmpiricalTail(window=history, k=tail_k)  # the values' range, for the floor
        n_stats = 1 + 2 * len(self.scales)
        self.tails = [EmpiricalTail(window=history, k=tail_k, min_samples=min_samples)
                      for _ in range(n_stats)]
        self.last: float | None = None
        self.offset: float | None = None

    @property
    def n_channels(self) -> int:
        """p-values per row: two sides of each statistic."""
        return 2 * len(self.tails)

    def _floor(self) -> float:
        if not self.values.n:
            return 0.0
        spread = self.values.quantile(0.95) - self.values.quantile(0.05)
        return self.resolution * spread if math.isfinite(spread) else 0.0

    def _stats(self, x: float) -> list[float | None]:
        floor = self._floor()
        rel = x - (self.offset if self.offset is not None else x)
        out: list[float | None] = [None if self.last is None else rel - self.last]
        for sc in self.scales:
            st = sc.stats(rel, floor)
            out.extend((None, None) if st is None else st)
        return out

    def p_values(self, x: float) -> list[float]:
        """Upper and lower tail p-value of every statistic with ``x`` as the newest value (pure)."""
        ps: list[float] = []
        floor = self._floor()
        for tail, st in zip(self.tails, self._stats(x), strict=True):
            if st is None:
                ps.extend((1.0, 1.0))
                continue
            # the step is in the values' units: floor its tails like the values'
            f = floor if tail is self.tails[0] else 0.0
            ps.extend((tail.upper(st, f), tail.lower(st, f)))
        return ps

    def learn(self, x: float) -> list[float | None]:
        """Learn ``x``: its statistics join their histories; returns them."""
        if self.offset is None:
            self.offset = x
        stats = self._stats(x)
        for tail, st in zip(self.tails, stats, strict=True):
            if st is not None:
                tail.learn_one(st)
        rel = x - self.offset
        for sc in self.scales:
            sc.push(rel)
        self.values.learn_one(x)
        self.last = rel
        return stats


class ChangeNovelty(base.AnomalyDetector):
    """Level, spread and step changes of the selected features, Bonferroni-combined.

    ``features``: names or name suffixes to score (empty = every feature); ``scales``,
    ``history``: see :class:`ChangeSeries`; ``warmup``: windows learnt before scoring;
    ``max_features``: features tracked at most. The score is ``1 - p`` with ``p`` the smallest
    channel p-value times the number of channels (valid under any dependence), so it sits on the
    same scale as :class:`~twin_models.anomaly.novelty.NoveltyDetector`'s. ``score_one`` is pure.

    >>> det = ChangeNovelty(warmup=50, scales=((8, 64),), history=2000)
    >>> for i in range(600):
    ...     det.learn_one({"t.mean": 10.0 + (i % 5) * 0.1})
    >>> det.score_one({"t.mean": 10.0}) < 0.99 < 0.999 < det.score_one({"t.mean": 13.0})
    True
    """

    def __init__(self, *, warmup: int = 24, features: Iterable[str] = (".mean",),
                 scales: Sequence[Sequence[int]] = ((8, 128), (32, 512)), history: int = 20000,
                 max_features: int = 64) -> None:
        self.warmup = warmup
        self.features = tuple(features)
        self.scales = tuple((int(w), int(ref)) for w, ref in scales)
        self.history = history
        self.max_features = max_features
        self.state: dict[str, ChangeSeries] = {}
        self.n_learned = 0

    def selected(self, x: Mapping[str, Any]) -> dict[str, float]:
        """The finite features this detector scores."""
        return selected_features(x, self.features)

    def p_value(self, x: Mapping[str, Any]) -> float:
        """The window's Bonferroni p-value over every channel of every known feature (pure)."""
        ps = [p for name, v in self.selected(x).items() if name in self.state
              for p in self.state[name].p_values(v)]
        return min(1.0, min(ps) * len(ps)) if ps else 1.0

    def score_one(self, x: Mapping[str, Any]) -> float:  # type: ignore[override]
        """``1 - p`` in [0, 1]; 0 while warming up."""
        if self.n_learned < self.warmup:
            return 0.0
        return max(0.0, 1.0 - self.p_value(x))

    def learn_one(self, x: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Learn one window (every window: a new level becomes the reference in ``W`` rows)."""
        for name, v in self.selected(x).items():
            series = self.state.get(name)
            if series is None:
                if len(self.state) >= self.max_features:
                    continue
                series = self.state[name] = ChangeSeries(self.scales, history=self.history)
            series.learn(v)
        self.n_learned += 1
