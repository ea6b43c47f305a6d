"""Window aggregation: everything one asset sent in one event-time window -> one FeatureVector.

Vibration frames are featurised one by one upstream (:func:`twin_models.features.frame.frame_features`);
a window averages each frame feature over its frames. Scalar channels give window statistics:
``mean``, ``std``, ``min``, ``max``, ``last`` and ``slope_per_h`` (least squares trend).
Feature names are ``<channel>.<feature>``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import add
from typing import Any

import numpy as np

from twin_models.feature_map import feature_map
from twin_models.records import AssetEvent, FeatureVector, InputSpan, ScalarSample

__all__ = ["aggregate_columns", "aggregate_window", "frame_means", "scalar_stats"]


def scalar_stats(times_s: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """Statistics of one scalar channel over a window (times in seconds).

    The same numbers, bit for bit, as ``values.mean()``, ``values.std()``, ... (NumPy's own
    formulas: a pairwise sum divided by n; the std from the mean of squared deviations), with the
    mean computed once and the reductions called directly: a window's arrays are short, so the
    wrappers around them were most of the cost (``tests/unit/test_window_scalars.py`` compares)."""
    n = values.size
    if n == 1:
        # one sample (a C-MAPSS cycle): the same numbers without ten NumPy calls (the sum starts
        # at +0.0, so the mean of -0.0 is +0.0; min, max and last keep the sample as it is)
        v = float(values[0])
        if math.isfinite(v):
            return {"mean": v + 0.0, "std": 0.0, "min": v, "max": v, "last": v, "slope_per_h": 0.0}
        # NaN or +-inf (a library caller's: the flow's admission refuses them): NumPy's answer,
        # a NaN std (inf - inf), the same bits; in Python floats, which do not warn where the
        # array arithmetic warned "invalid value encountered in subtract" for an infinity
        dev = v - v
        return {"mean": v + 0.0, "std": math.sqrt(dev * dev), "min": v, "max": v, "last": v,
                "slope_per_h": 0.0}
    mean = _ADD(values) / n
    dev = values - mean
    out = {
        "mean": float(mean),
        "std": math.sqrt(_ADD(dev * dev) / n),
        "min": float(_MIN(values)),
        "max": float(_MAX(values)),
        "last": float(values[times_s.argmax()]),
    }
    span = float(_MAX(times_s) - _MIN(times_s))
    if n >= 3 and span > 0.0:
        t = (times_s - _ADD(times_s) / times_s.size) / 3600.0
        out["slope_per_h"] = float(_ADD(t * dev) / _ADD(t * t))
    else:
        out["slope_per_h"] = 0.0
    return out


_ADD, _MIN, _MAX = np.add.reduce, np.minimum.reduce, np.maximum.reduce


def frame_means(frames: Sequence[tuple[str, Mapping[str, float]]]) -> dict[str, float]:
    """Each frame feature's mean over the frames that have it, keyed ``<channel>.<feature>`` in
    the order the keys first appear: each sum starts at ``0.0`` and adds the frames' values in
    their order, divided by how many frames have the key.

    Round 48 (PERF48): the frames of one channel nearly always share one key set, so each such
    group sums its values as a list (``map(add, ...)``, one C call a frame) and every name is
    made once, not once per frame and feature (that loop was ~2.5 % of a waveform ``twin run``'s
    CPU). The same additions in the same order, so the same bits; when a name belongs to two
    groups (a channel whose frames differ in their keys, or two channel/feature pairs spelling
    one name) the sums interleave and the per-value loop (:func:`_frame_means_by_value`) does it."""
    groups: dict[tuple[str, tuple[str, ...]], list[Any]] = {}
    for channel, feats in frames:
        group = (channel, tuple(feats))
        acc = groups.get(group)
        if acc is None:
            acc = groups[group] = [[0.0] * len(group[1]), 0]
        acc[0] = list(map(add, acc[0], feats.values()))
        acc[1] += 1
    names = [[f"{channel}.{name}" for name in keys] for channel, keys in groups]
    if sum(map(len, names)) != len({name for group in names for name in group}):
        return _frame_means_by_value(frames)
    return {name: total / count for group, (sums, count) in zip(names, groups.values(), strict=True)
            for name, total in zip(group, sums, strict=True)}


def _frame_means_by_value(frames: Iterable[tuple[str, Mapping[str, float]]]) -> dict[str, float]:
    """:func:`frame_means`, one value at a time (any mix of key sets)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for channel, feats in frames:
        for name, value in feats.items():
            key = f"{channel}.{name}"
            sums[key] += value
            counts[key] += 1
    return {k: sums[k] / counts[k] for k in sums}


def aggregate_window(
    asset_id: str,
    window_start: datetime,
    window_end: datetime,
    frames: Iterable[tuple[str, Mapping[str, float]]],
    scalars: Iterable[ScalarSample],
    events: Iterable[AssetEvent] = (),
) -> FeatureVector:
    """Combine per-frame features ``(channel, features)`` and scalar samples into one vector."""
    # per channel, times and values as two flat lists (one float array each; the statistics are
    # the same numbers as from the columns of one 2-D array: a window holds thousands of samples
    # on a scalar fleet, so this loop is per record); channels' samples share their times
    by_channel: dict[str, tuple[list[float], list[float]]] = {}
    seconds: dict[datetime, float] = {}
    n = 0
    for s in scalars:
        n += 1
        lists = by_channel.get(s.channel)
        if lists is None:
            lists = by_channel[s.channel] = ([], [])
        ts = s.timestamp
        sec = seconds.get(ts)
        if sec is None:
            sec = seconds[ts] = ts.timestamp()
        lists[0].append(sec)
        lists[1].append(s.value)
    arrays = {channel: (np.array(times, dtype=float), np.array(values, dtype=float))
              for channel, (times, values) in by_channel.items()}
    return aggregate_columns(asset_id, window_start, window_end, frames, arrays, n, events)


def aggregate_columns(
    asset_id: str,
    window_start: datetime,
    window_end: datetime,
    frames: Iterable[tuple[str, Mapping[str, float]]],
    scalars: Mapping[str, tuple[np.ndarray, np.ndarray]],
    n_scalars: int,
    events: Iterable[AssetEvent] = (),
    inputs: tuple[InputSpan, ...] = (),
    tail: bytes = b"",
    scalar_features: Mapping[str, float] | None = None,
) -> FeatureVector:
    """:func:`aggregate_window` with the scalar samples given as columns: per channel (in the
    order of its first sample) its times in seconds and values, each in time order; ``n_scalars``
    samples in all. Why: a scalar fleet's window holds many samples, and a replay carries them
    as arrays already (no object per sample). ``inputs``: the window's input ranges (digital
    thread), carried as they are; ``tail``: bytes carried as the feature map's ``tail`` (the
    flow's window step packs its archive numbers there); ``scalar_features``: the scalar channels'
    features as :func:`twin_models.features.scalar_rows.scalar_rows` computed them from ``scalars``
    (the same numbers and names), else computed here."""
    rows = list(frames)
    n = len(rows)
    features = frame_means(rows)
    if scalar_features is not None:
        features.update(scalar_features)
    else:
        for channel, (times, values) in scalars.items():
            stats = scalar_stats(times, values)
            for name, value in stats.items():
                features[f"{channel}.{name}"] = value
    evs = tuple(sorted(events, key=lambda e: e.timestamp))
    # carried columnar (one row, a key set shared by the windows of a kind): the archive sink
    # stacks the rows instead of reading every value out of a dict
    return FeatureVector(asset_id, window_start, window_end, feature_map(features, tail),
                         n + n_scalars + len(evs), evs, inputs)
