"""What the data-quality checks need of one channel's window, computed vectorised.

Scalars: from the window's columns (times in seconds, values; time-sorted), a handful of NumPy
reductions per channel. Waveforms: :func:`frame_quality` takes the frames' samples as the one 2-D
batch the features are computed from (six reductions over it, ~10 % of the featurization's CPU
when it made them all; the dataflow passes the mean, std, max and min the features found, leaving
the two rail counts: round 43, PERF43), and :func:`waveform_channel_stats` combines a window's
frames of one channel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FRAME_FIELDS", "ChannelStats", "OneReadings", "frame_quality", "one_reading_stats",
           "scalar_channel_stats", "waveform_channel_stats", "window_stats"]

FRAME_FIELDS = ("std", "mean", "rail", "flat", "sample_rate_hz", "duration_s")
"""The per-frame figures of :func:`frame_quality`, in order."""
NAN = math.nan


@dataclass(slots=True)
class ChannelStats:
    """One channel's window, as the checks see it (times in seconds since the epoch; read-only
    by convention: not frozen, as a frozen dataclass's construction costs ~8x (~1.8 us, every
    channel of every window: a C-MAPSS cycle's 24 channels took ~44 us of ~150 us per window).

    ``n``: samples (scalar) or frames (waveform); ``max_dt``/``median_dt``: largest and median
    step between consecutive samples (frame starts); ``duplicates``: steps <= 0 (repeated
    timestamps) or, for frames, frames starting before the previous one ended; ``vmin``/``vmax``:
    extreme values (scalars); ``spread``: the window's standard deviation (scalar) or the
    smallest frame's AC RMS (waveform); ``flat``: every sample identical (a scalar window of at
    least 3 samples; a waveform frame); ``rail``: samples exactly at the window's (frame's)
    extreme value, the larger of the two ends (waveform: the largest share of a frame, in
    [0, 1]); ``dev_top``/``dev_second``: the two largest ``|v - median|`` (scalars) and, for
    waveforms, ``dev_top`` is the largest ``|mean| / AC RMS`` of a frame (DC offset);
    ``rate_lo``/``rate_hi``: the frames' sample rates (NaN for scalars); ``mean``: a scalar
    window's mean (NaN for waveforms)."""

    kind: str
    n: int
    first_t: float
    last_t: float
    max_dt: float = 0.0
    median_dt: float = NAN
    duplicates: int = 0
    vmin: float = NAN
    vmax: float = NAN
    spread: float = NAN
    flat: bool = False
    rail: float = 0.0
    dev_top: float = 0.0
    dev_second: float = 0.0
    rate_lo: float = NAN
    rate_hi: float = NAN
    mean: float = NAN  # scalars: the window's mean (the drift check's regression)


def one_reading_stats(t: float, v: float) -> ChannelStats:
    """Stats of a scalar channel's window of one reading ``v`` at ``t`` (every channel of a C-MAPSS
    cycle). Every field positional (the keywords cost ~1/4 of the construction): max_dt .. rate_hi
    at their defaults, then mean."""
    return ChannelStats("scalar", 1, t, t, 0.0, NAN, 0, v, v, 0.0, False, 0.0, 0.0, 0.0, NAN, NAN, v)


def scalar_channel_stats(times_s: npt.NDArray[np.float64],
                         values: npt.NDArray[np.float64]) -> ChannelStats:
    """Stats of one scalar channel's window (``times_s`` sorted, same length as ``values``)."""
    n = int(values.size)
    first, last = float(times_s[0]), float(times_s[-1])
    if n == 1:
        return one_reading_stats(first, float(values[0]))
    # reductions called directly and medians by partition: a scalar fleet calls this for every
    # channel of every window (np.median's wrapper was most of its cost)
    dt = times_s[1:] - times_s[:-1]
    lo, hi = float(_MIN(values)), float(_MAX(values))
    half = n // 2
    dev = np.abs(values - np.partition(values, half)[half])
    top2 = np.partition(dev, n - 2)[n - 2:]
    rail = max(int(np.count_nonzero(values == hi)), int(np.count_nonzero(values == lo))) if hi > lo else 0
    mean = _ADD(values) / n
    mid = (n - 1) // 2  # of the n - 1 steps
    return ChannelStats(
        "scalar", n, first, last, max_dt=float(_MAX(dt)), median_dt=float(np.partition(dt, mid)[mid]),
        duplicates=int(np.count_nonzero(dt <= 0.0)), vmin=lo, vmax=hi,
        spread=math.sqrt(float(_ADD((values - mean) ** 2)) / n), flat=n >= 3 and hi == lo,
        rail=float(rail), dev_top=float(top2[1]), dev_second=float(top2[0]), mean=float(mean))


_ADD, _MIN, _MAX = np.add.reduce, np.minimum.reduce, np.maximum.reduce


def frame_quality(samples: npt.NDArray[np.floating], sample_rate_hz: float,
                  moments: Mapping[str, npt.NDArray[np.float64]] | None = None) -> npt.NDArray[np.float64]:
    """Per frame (rows of ``samples``), the figures of :data:`FRAME_FIELDS`: AC RMS, mean,
    share of samples exactly at the frame's larger extreme (a railed / clipped sensor repeats its
    limit code, piled up above the next level; a live signal touches its peak once or twice), flat
    (1.0: every sample identical), sample rate and duration.

    ``moments``: each row's ``mean``, ``std``, ``max`` and ``min`` as float64 when the caller has
    them already (``frame_features_batch(..., moments=...)`` computes the same values, to the
    bit, on its way: round 43, PERF43), else computed here (and for 64-bit integer samples, whose
    extremes float64 may not hold: round 44)."""
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[None, :]
    n = x.shape[1]
    if moments is not None and x.dtype.kind in "iu" and x.dtype.itemsize > 4:
        moments = None  # 64-bit integers past 2**53: the float64 max/min are not the row's samples
    if moments is None:
        mean = x.mean(axis=1, dtype=np.float64)
        std = x.std(axis=1, dtype=np.float64)
        hi = x.max(axis=1)
        lo = x.min(axis=1)
    else:
        mean, std = moments["mean"], moments["std"]
        hi = moments["max"].astype(x.dtype, copy=False)  # exact: each is one of the row's samples
        lo = moments["min"].astype(x.dtype, copy=False)
    at_hi = _count_equal(x, hi)
    at_lo = _count_equal(x, lo)
    out = np.empty((x.shape[0], len(FRAME_FIELDS)))
    out[:, 0] = std
    out[:, 1] = mean
    out[:, 2] = np.maximum(at_hi, at_lo) / n
    for i in np.flatnonzero(out[:, 2] >= PILE_UP_CHECKED):  # rare: confirm a pile-up at the rail
        out[i, 2] = _pile_up(x[i], hi[i], lo[i], int(at_hi[i]), int(at_lo[i])) / n
    out[:, 3] = hi == lo
    out[:, 4] = sample_rate_hz
    out[:, 5] = n / sample_rate_hz
    return out


_BITWISE_COUNT: Any = getattr(np, "bitwise_count", None)  # NumPy >= 2.0


def _count_equal(x: npt.NDArray[np.floating], v: npt.NDArray[np.floating]) -> npt.NDArray[np.intp]:
    """``np.count_nonzero(x == v[:, None], axis=1)``: the samples of each row equal to its value.

    The comparison's booleans (one byte each, 0 or 1) are counted eight at a time, as the set
    bits of their ``uint64`` view (``np.bitwise_count``), when a row is whole 8-byte words: the
    same integers, ~4x cheaper than ``count_nonzero``'s cast and sum over every byte (round 44,
    PERF44; the two rail counts were ~3 % of the featurize step). Else ``count_nonzero``."""
    eq = x == v[:, None]
    if _BITWISE_COUNT is None or eq.shape[1] % 8:
        return np.asarray(np.count_nonzero(eq, axis=1), dtype=np.intp)
    counts: npt.NDArray[np.intp] = _BITWISE_COUNT(eq.view(np.uint64)).sum(axis=1, dtype=np.intp)
    return counts


PILE_UP_CHECKED = 0.005
"""Frames with this share of samples at an extreme get the pile-up test (below any check's limit)."""
PILE_UP = 4.0
"""A rail is a pile-up: more than 4x the samples of the next level inside it. A coarsely quantised
quiet signal also repeats its extreme code, but its tail thins out (the next level holds more)."""


def _pile_up(x: npt.NDArray[np.floating], hi: float, lo: float, at_hi: int, at_lo: int) -> int:
    """Samples at the frame's extreme that pile up (0 when neither end is a pile-up)."""
    best = 0
    for edge, count, inner in ((hi, at_hi, x < hi), (lo, at_lo, x > lo)):
        rest = x[inner]
        if rest.size == 0:
            continue
        nxt = rest.max() if edge == hi else rest.min()
        if count > PILE_UP * int(np.count_nonzero(x == nxt)):
            best = max(best, count)
    return best


def waveform_channel_stats(starts_s: Sequence[float], frames: Sequence[Sequence[float]]) -> ChannelStats:
    """Stats of one waveform channel's window from its frames' start times (sorted) and their
    :func:`frame_quality` rows."""
    rows = np.asarray(frames, dtype=np.float64).reshape(len(frames), len(FRAME_FIELDS))
    t = np.asarray(starts_s, dtype=np.float64)
    std, mean, rail, flat, rate, dur = rows.T
    if t.size > 1:
        dt = np.diff(t)
        max_dt, median_dt = float(dt.max()), float(np.median(dt))
        # a frame starting before the previous one ended (half a sample of tolerance)
        overlap = int(np.count_nonzero(dt < dur[:-1] - 0.5 / rate[:-1]))
    else:
        max_dt, median_dt, overlap = 0.0, NAN, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        dc = np.where(std > 0.0, np.abs(mean) / std, 0.0)
    return ChannelStats(
        "waveform", int(t.size), float(t[0]), float(t[-1]), max_dt=max_dt, median_dt=median_dt,
        duplicates=overlap, spread=float(std.min()), flat=bool(flat.max() > 0.0),
        rail=float(rail.max()), dev_top=float(dc.max()), rate_lo=float(rate.min()),
        rate_hi=float(rate.max()))


class OneReadings(Mapping[str, Any]):
    """The stats of a window whose channels are all scalar with one reading each (a C-MAPSS
    cycle), kept as what determines them: the channels and one (2, n) read-only float64 array of
    their (time, value). Why: the twin step's undo journal keeps its windows since its last
    checkpoint (``flows.dataflow.guard``); 24 :class:`ChannelStats` a window were ~6 KB and 25
    objects for the collector to walk, this is ~0.8 KB and one (``benchmarks/RESULTS.md``, round 28).

    A Mapping channel -> :func:`one_reading_stats` (each built on access: the same numbers, bit
    for bit, as :func:`window_stats`'s dict had); :meth:`materialise` builds the dict once (what
    :meth:`~twin_models.quality.monitor.QualityMonitor.judge` does; it is dropped after).
    :meth:`update` adds other entries (the window's clock flags), kept beside the numbers as a
    dict's update would (a key already present: its new value, in its place)."""

    __slots__ = ("channels", "extra", "tv")

    def __init__(self, channels: tuple[str, ...], tv: npt.NDArray[np.float64],
                 extra: dict[str, Any] | None = None) -> None:
        if tv.shape != (2, len(channels)) or tv.dtype != np.float64:
            msg = f"OneReadings: {len(channels)} channels need a (2, n) float64 array"
            raise ValueError(msg)
        tv.flags.writeable = False
        self.channels, self.tv, self.extra = channels, tv, extra

    def __reduce__(self) -> tuple[Any, ...]:
        return OneReadings, (self.channels, np.array(self.tv), self.extra and dict(self.extra))

    def materialise(self) -> dict[str, Any]:
        """The window's stats as :func:`window_stats` built them (then the updates, in order)."""
        times, values = self.tv.tolist()
        out: dict[str, Any] = dict(zip(self.channels, map(one_reading_stats, times, values), strict=True))
        if self.extra:
            out.update(self.extra)
        return out

    def __getitem__(self, key: str) -> Any:
        extra = self.extra
        if extra and key in extra:
            return extra[key]
        try:
            i = self.channels.index(key)
        except ValueError:
            raise KeyError(key) from None
        return one_reading_stats(float(self.tv[0, i]), float(self.tv[1, i]))

    def __iter__(self) -> Iterator[str]:
        yield from self.channels
        if self.extra:
            yield from (k for k in self.extra if k not in self.channels)

    def __len__(self) -> int:
        if not self.extra:
            return len(self.channels)
        return len(self.channels) + sum(k not in self.channels for k in self.extra)

    def update(self, other: Mapping[str, Any]) -> None:
        """Add ``other``'s entries (a dict's ``update``; the numbers themselves are read-only)."""
        if other:
            if self.extra is None:
                self.extra = {}
            self.extra.update(other)

    def __repr__(self) -> str:
        return f"OneReadings({self.materialise()!r})"


def window_stats(scalars: Mapping[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
                 frames: Iterable[tuple[str, float, Sequence[float]]]) -> dict[str, Any] | OneReadings:
    """Every channel's stats of one window: ``scalars`` channel -> (times in s sorted, values);
    ``frames`` (channel, start in s, :func:`frame_quality` row) in time order (frames without a
    row, from recovery state older than the checks, are left out). A window of scalar channels
    of one reading each and no frames: a :class:`OneReadings` (the same mapping, compact); any
    other: a dict of :class:`ChannelStats`."""
    if scalars and isinstance(frames, Sequence) and not frames:
        columns = scalars.values()
        if all(v.size == 1 for _t, v in columns):  # (one element each: gathered as Python floats)
            tv = np.array([[t.item() for t, _v in columns], [v.item() for _t, v in columns]],
                          dtype=np.float64)
            return OneReadings(tuple(scalars), tv)
    out: dict[str, ChannelStats] = {}
    for channel, (t, v) in scalars.items():
        n = v.size
        if n == 1:  # one reading: without scalar_channel_stats's array handling
            out[channel] = one_reading_stats(float(t[0]), float(v[0]))
        elif n:
            out[channel] = scalar_channel_stats(t, v)
    by_channel: dict[str, tuple[list[float], list[Sequence[float]]]] = {}
    for channel, start, row in frames:
        if len(row) != len(FRAME_FIELDS):
            continue
        starts, rows = by_channel.setdefault(channel, ([], []))
        starts.append(start)
        rows.append(row)
    for channel, (starts, rows) in by_channel.items():
        out[channel] = waveform_channel_stats(starts, rows)
    return out
