"""Multi-scale novelty detector for scalar telemetry: "has this asset ever behaved like this?"

:class:`NoveltyDetector` scores each window by how novel its selected features are against the
asset's own history, at several time scales, with exact rank p-values (no distribution assumed):

- **value tails**: the two-sided rank of the value among the last ``value_history`` values, with
  an exponential tail beyond the range seen (:class:`~twin_models.anomaly.calibration.EmpiricalTail`); a
  value beyond anything seen is the classic spatial anomaly;
- **subsequence novelty** at every scale ``(m, d)``: the last ``m`` values, averaged into ``d``
  segments (piecewise aggregate approximation), are compared with every such subsequence of the
  last ``history`` windows; the statistic is the distance to the nearest one (a streaming left
  matrix profile, Yeh et al., "Matrix Profile I", ICDM 2016; overlapping subsequences excluded).
  Its p-value is its rank among the nearest-neighbour distances of the stored subsequences to
  each other (kept up to date as new ones arrive), so it needs no burn-in: the reference
  distances shrink exactly as the history fills. Short scales see spikes and bursts, long ones
  level shifts, changed or missing daily patterns.

The smallest p-value over all channels and features, times their number (Bonferroni: valid
under any dependence), is the window's p; the score is ``1 - p``, so 0.999 still means "rarer
than one window in a thousand". Tail scales are floored at ``resolution`` x the spread of the
values (the 5-95 % range), so noise-free signals (a flat line, a perfect square wave) do not turn
rounding errors into alarms.

**Event mode** (``refractory > 0``): an anomaly is an *event*; once the asset is surprising,
being surprising again is not news. A window is reported only when its surprise ``-log10 p``
exceeds every surprise of the previous ``refractory`` windows, otherwise it scores 0. A level
shift then scores once, at its start, and a growing anomaly once per new extreme; this is what
the Numenta Anomaly Benchmark rewards (only the first detection of an anomaly counts, every
further one outside the anomaly window costs). With ``refractory = 0`` every window keeps its
score (what a consecutive-windows alert policy needs). ``echo = True`` lengthens the look-back by
the length of the scale that carries the window's p-value, that scale's echo of a past event
(:mod:`twin_models.anomaly.event_gate`); ``hold = H`` makes the ``H`` windows after an
alarm-grade report (p <= 0.001) no news: the rest of the alarm's burst.

The detector learns from every window (it adapts: a new normal stops being novel) and follows
River's verbs (it is a ``river.base.AnomalyDetector``) and the prequential order: ``score_one``
never changes its state (a cache of the last window's distances, which ``learn_one`` reuses, is
not part of the state nor of its pickle).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
from river import base

from twin_models.anomaly.calibration import EmpiricalTail
from twin_models.anomaly.event_gate import ALARM_SURPRISE, echo_horizon, is_held, is_news, lookback_capacity
from twin_models.moved_modules import restore_state

__all__ = ["NoveltyDetector", "SubsequenceNovelty"]

_P_FLOOR = 1e-300
_Z_MAX = 37.0  # the normal quantile of 1e-300


def selected_features(x: Mapping[str, Any], features: Sequence[str]) -> dict[str, float]:
    """The finite numbers of ``x`` whose names are ``features`` or end with one (all if none)."""
    out = {}
    for name, value in x.items():
        if not (isinstance(value, int | float) and math.isfinite(value)):
            continue
        if not features or any(name == f or name.endswith(f) for f in features):
            out[name] = float(value)
    return out


class SubsequenceNovelty:
    """Nearest-neighbour distance of the latest subsequence, with its rank p-value.

    Values are stored relative to the first value seen (``offset``) so that distances of large
    numbers close together keep their precision.
    """

    def __init__(self, m: int, d: int, history: int = 4000, k: int = 20, min_samples: int = 50):
        if m < 1 or d < 1 or m % d:
            msg = f"subsequence length m={m} must be a positive multiple of its segments d={d}"
            raise ValueError(msg)
        self.m, self.d, self.history, self.k, self.min_samples = m, d, history, k, min_samples
        self._buf = np.zeros(m)
        self._nbuf = 0
        self._vecs = np.zeros((history, d))
        self._sq = np.zeros(history)
        self._nn = np.full(history, np.inf)  # squared nearest-neighbour distance of each stored vector
        self.n = 0  # subsequences stored so far (the ring holds the last ``history``)
        self.offset: float | None = None

    def vector(self, x: float) -> npt.NDArray[np.float64] | None:
        """PAA of the subsequence ending with ``x`` (None until ``m`` values are known)."""
        if self._nbuf < self.m - 1:
            return None
        off = x if self.offset is None else self.offset
        seq = np.empty(self.m)
        seq[:-1] = self._buf[1:]
        seq[-1] = x - off
        vec: npt.NDArray[np.float64] = seq.reshape(self.d, -1).mean(axis=1)
        return vec

    def distances(self, v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Squared distances of ``v`` to the stored vectors (overlapping ones: inf)."""
        held = min(self.n, self.history)
        dist = self._sq[:held] - 2.0 * (self._vecs[:held] @ v) + float(v @ v)
        np.maximum(dist, 0.0, out=dist)
        newest = min(self.m, held)  # the newest m overlap the current subsequence
        end = self.n % self.history if self.n >= self.history else held
        start = end - newest
        if start >= 0:
            dist[start:end] = np.inf
        else:
            dist[start:] = np.inf
            dist[:end] = np.inf
        return dist

    def p_value(self, dist: npt.NDArray[np.float64] | None, floor: float) -> tuple[float, float]:
        """(nearest-neighbour distance per segment, its p-value) for precomputed distances."""
        if dist is None or self.n - self.m < self.min_samples:
            return math.nan, 1.0
        best = float(dist.min())
        if not math.isfinite(best):
            return math.nan, 1.0
        stat = math.sqrt(best / self.d)
        held = min(self.n, self.history)
        ref = self._nn[:held]
        ref = np.sqrt(ref[np.isfinite(ref)] / self.d)
        n = ref.size
        if n < self.min_samples:
            return stat, 1.0
        ge = int(np.count_nonzero(ref >= stat))
        if ge:
            return stat, (ge + 1) / (n + 1)
        k = min(self.k, n - 1)
        top = np.partition(ref, n - k - 1)[n - k - 1 :]
        beta = max(float(top[1:].mean() - top[0]), floor, 1e-300)
        return stat, math.exp(-(stat - float(top.max())) / beta) / (n + 1)

    def learn(self, x: float, v: npt.NDArray[np.float64] | None,
              dist: npt.NDArray[np.float64] | None) -> None:
        """Store the subsequence ending with ``x`` and update the neighbours' distances."""
        if self.offset is None:
            self.offset = x
            if v is not None:  # m == 1: rebuild the first vector with the offset now known
                v, dist = self.vector(x), None
        if v is not None:
            if dist is None:
                dist = self.distances(v)
            held = min(self.n, self.history)
            own = float(dist.min()) if held else math.inf
            np.minimum(self._nn[:held], dist, out=self._nn[:held])
            j = self.n % self.history
            self._vecs[j] = v
            self._sq[j] = float(v @ v)
            self._nn[j] = own
            self.n += 1
        self._buf[:-1] = self._buf[1:]
        self._buf[-1] = x - self.offset
        self._nbuf += 1


_Vec = npt.NDArray[np.float64] | None


@dataclass
class _FeatureEval:
    """One feature of one window: its value, per-scale vectors and distances, p-values."""

    value: float
    vecs: list[_Vec] | None = None
    dists: list[_Vec] | None = None
    ps: list[float] = field(default_factory=list)
    sign: float = 0.0


@dataclass
class _Eval:
    """One window: its features' evaluations and the combined (Bonferroni) p-value."""

    per: dict[str, _FeatureEval]
    p: float
    surprise: float
    horizon: int = 0  # echo horizon of the channel carrying p (event_gate.echo_horizon)


class _Feature:
    """Everything the detector keeps about one feature."""

    def __init__(self, scales: Sequence[tuple[int, int]], history: int, value_history: int,
                 tail_k: int) -> None:
        self.values = EmpiricalTail(window=value_history, k=tail_k)
        self.subseq = [SubsequenceNovelty(m, d, history, k=tail_k) for m, d in scales]


class NoveltyDetector(base.AnomalyDetector):
    """Value-tail and multi-scale subsequence novelty, Bonferroni-combined; optional event mode.

    ``features``: names or name suffixes to score (e.g. ``(".mean",)``); empty = every feature.
    ``scales``: ``(m, d)`` pairs, subsequence length in windows and its number of segments.
    ``history``: subsequences kept per scale (the memory of patterns); ``value_history``: values
    kept for the value tails. ``warmup``: windows learnt before scoring; ``refractory``: see the
    module docstring (0 = off); ``echo``: the look-back also spans the echo horizon of the channel
    carrying the window's p (:mod:`~twin_models.anomaly.event_gate`); ``hold``: windows after an
    alarm-grade report that are not news (0 = off; event mode only). ``tail_k``: order statistics
    behind each exponential tail; ``resolution``: the tail-scale floor as a fraction of the
    values' 5-95 % range; ``max_features``: features tracked at most (more are ignored).

    Cost per scored feature at the defaults: about 4 MB of state (the pattern memory) and
    0.3 ms per window.

    >>> det = NoveltyDetector(warmup=50, scales=((4, 4),), history=500, refractory=100)
    >>> for i in range(300):
    ...     x = {"temp.mean": 20.0 + (i % 7) * 0.1}
    ...     _ = det.score_one(x)
    ...     det.learn_one(x)
    >>> det.score_one({"temp.mean": 20.6}) < 0.9 < 0.999 < det.score_one({"temp.mean": 35.0})
    True
    """

    echo: bool = False  # what a detector pickled before the option existed did
    hold: int = 0  # idem
    last_alarm: int = -1  # index (windows learnt before it) of the last alarm-grade report; -1: none

    def __init__(
        self,
        *,
        warmup: int = 24,
        features: Iterable[str] = (".mean",),
        scales: Sequence[Sequence[int]] = ((8, 8), (32, 8), (128, 16), (576, 24)),
        history: int = 8000,
        value_history: int = 20000,
        tail_k: int = 20,
        resolution: float = 0.005,
        refractory: int = 0,
        max_features: int = 64,
        echo: bool = False,
        hold: int = 0,
    ) -> None:
        self.warmup = warmup
        self.features = tuple(features)
        self.scales = tuple((int(m), int(d)) for m, d in scales)
        self.history = history
        self.value_history = value_history
        self.tail_k = tail_k
        self.resolution = resolution
        self.refractory = refractory
        self.max_features = max_features
        self.echo = echo
        self.hold = hold
        self.last_alarm = -1
        self.state: dict[str, _Feature] = {}
        lengths = [m for m, _ in self.scales]
        self.recent: deque[float] = deque(maxlen=lookback_capacity(refractory, lengths, echo))
        self.n_learned = 0
        self._cache: tuple[tuple[tuple[str, float], ...], _Eval] | None = None

    # ------------------------------------------------------------------ pickling (no cache)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        restore_state(self, state)

    # ------------------------------------------------------------------ evaluation

    @property
    def ready(self) -> bool:
        """True once ``warmup`` windows have been learnt."""
        return self.n_learned >= self.warmup

    @property
    def channels_per_feature(self) -> int:
        """Tests per feature: the two value tails and one per scale."""
        return 2 + len(self.scales)

    def selected(self, x: Mapping[str, float]) -> dict[str, float]:
        """The finite features this detector scores."""
        return selected_features(x, self.features)

    def _evaluate(self, x: Mapping[str, float]) -> _Eval:
        """Per feature: value, vectors, distances, p-values; cached for the same window."""
        sel = self.selected(x)
        key = tuple(sorted(sel.items()))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        per: dict[str, _FeatureEval] = {}
        for name, value in sel.items():
            feat = self.state.get(name)
            if feat is None:
                per[name] = _FeatureEval(value)
                continue
            tail = feat.values
            spread = tail.quantile(0.95) - tail.quantile(0.05) if tail.n else 0.0
            floor = self.resolution * spread if math.isfinite(spread) else 0.0
            up, low = tail.upper(value, floor), tail.lower(value, floor)
            vecs: list[_Vec] = []
            dists: list[_Vec] = []
            ps = [up, low]
            for sub in feat.subseq:
                v = sub.vector(value)
                d = sub.distances(v) if v is not None and sub.n else None
                vecs.append(v)
                dists.append(d)
                ps.append(sub.p_value(d, floor)[1])
            sign = 1.0 if up < low else -1.0 if low < up else 0.0
            per[name] = _FeatureEval(value, vecs, dists, ps, sign)
        n_tests = sum(len(f.ps) for f in per.values())
        p_min = min((p for f in per.values() for p in f.ps), default=1.0)
        p = min(1.0, p_min * n_tests) if n_tests else 1.0
        horizon = echo_horizon((f.ps for f in per.values()), [m for m, _ in self.scales])
        out = _Eval(per, p, -math.log10(max(p, _P_FLOOR)), horizon)
        self._cache = (key, out)
        return out

    def surprise(self, x: Mapping[str, float]) -> float:
        """``-log10`` of the window's Bonferroni p-value (0 = not surprising at all)."""
        return self._evaluate(x).surprise

    def raw_one(self, x: Mapping[str, float]) -> float:
        """The raw statistic: the surprise, before the event-mode suppression."""
        return self.surprise(x)

    def score_one(self, x: Mapping[str, float]) -> float:  # type: ignore[override]
        """Calibrated score in [0, 1] (``1 - p``); 0 while warming up or suppressed in event mode."""
        if self.n_learned < self.warmup:
            return 0.0
        ev = self._evaluate(x)
        if self.refractory > 0 and not self._news(ev):
            return 0.0
        return max(0.0, 1.0 - ev.p)

    def _news(self, ev: _Eval) -> bool:
        """Event mode: the window out-surprises its look-back and is not held by an alarm."""
        lookback = self.refractory + (ev.horizon if self.echo else 0)
        if not is_news(ev.surprise, self.recent, lookback):
            return False
        return not is_held(self.n_learned, self.last_alarm, self.hold)

    def deviations(self, x: Mapping[str, float]) -> dict[str, float]:
        """Per feature: the signed normal quantile of its own (Bonferroni) p-value, like a z-score."""
        out = {}
        for name, f in self._evaluate(x).per.items():
            if not f.ps:
                continue
            p = min(1.0, min(f.ps) * len(f.ps))
            z = -NormalDist().inv_cdf(max(p / 2.0, _P_FLOOR)) if p < 1.0 else 0.0
            out[name] = math.copysign(min(z, _Z_MAX), f.sign or 1.0) if z > 0 else 0.0
        return out

    def ratio(self, name: str, value: float) -> float:
        """``value`` over the median of the feature's history (NaN if unknown)."""
        feat = self.state.get(name)
        if feat is None or not feat.values.n:
            return math.nan
        med = feat.values.quantile(0.5)
        return value / med if med else math.nan

    # ------------------------------------------------------------------ learning

    def learn_one(self, x: Mapping[str, float]) -> None:  # type: ignore[override]
        """Learn one window (every window: the detector adapts to a new normal)."""
        ev = self._evaluate(x)
        if self.n_learned >= self.warmup and self.refractory > 0:
            if self.hold > 0 and ev.surprise >= ALARM_SURPRISE and self._news(ev):
                self.last_alarm = self.n_learned
            self.recent.append(ev.surprise)
        for name, f in ev.per.items():
            feat = self.state.get(name)
            if feat is None:
                if len(self.state) >= self.max_features:
                    continue
                feat = self.state[name] = _Feature(self.scales, self.history, self.value_history,
                                                   self.tail_k)
            vecs = f.vecs or [None] * len(feat.subseq)
            dists = f.dists or [None] * len(feat.subseq)
            for sub, v, d in zip(feat.subseq, vecs, dists, strict=True):
                if v is None:
                    v, d = sub.vector(f.value), None
                sub.learn(f.value, v, d)
            feat.values.learn_one(f.value)
        self._cache = None
        self.n_learned += 1
