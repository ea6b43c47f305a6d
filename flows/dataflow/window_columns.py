"""A window's scalar samples as columns per channel (for ``aggregate_columns`` in twin_models).

Why: a scalar fleet's window holds many samples; walking them one object at a time (blocks
expanded, sorted by time, split by channel) was most of ``aggregate_window``'s CPU on a backtest
(``benchmarks/RESULTS.md``, issue 10, part BACKTEST3). Column pieces
(:class:`~flows.dataflow.items.ScalarColumns`) are concatenated as arrays; lone samples and
:class:`~flows.dataflow.items.ScalarBlock` samples (live runs, recovery state) are added as rows.

The result is the same numbers as the per-sample path: the window's samples in arrival order,
stably sorted by time (what Bytewax's ordered windows gave), then split by channel in order of
each channel's first sample; times in seconds are ``microseconds / 1e6``, which is what
``datetime.timestamp()`` computes (an exact integer divided, correctly rounded).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from flows.dataflow.items import ScalarBlock, ScalarColumns, WindowItem
from twin_models.records import EPOCH, ScalarSample

__all__ = ["scalar_columns"]

_US = timedelta(microseconds=1)
Columns = dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]


def scalar_columns(items: Iterable[WindowItem]) -> tuple[Columns, int]:
    """(channel -> (times in s, values) in time order, number of samples) of a window's items."""
    if not isinstance(items, list):
        items = list(items)
    single = _one_sample_per_channel(items)
    if single is not None:
        return single
    names: dict[str, int] = {}  # channel -> code, window-wide
    times: list[npt.NDArray[np.int64]] = []
    codes: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    rows: list[ScalarSample] = []  # lone samples, gathered until the next piece (arrival order)
    for item in items:
        if type(item) is ScalarColumns:
            _rows(rows, names, times, codes, values)
            local = np.array([names.setdefault(c, len(names)) for c in item.channels], dtype=np.int64)
            times.append(item.times_us)
            codes.append(local[item.channel_idx])
            values.append(item.values)
        elif isinstance(item, ScalarBlock):
            rows.extend(item.samples)
        elif isinstance(item, ScalarSample):
            rows.append(item)
    _rows(rows, names, times, codes, values)
    if not times:
        return {}, 0
    t = np.concatenate(times) if len(times) > 1 else times[0]
    order = np.argsort(t, kind="stable")
    t, code = t[order], (np.concatenate(codes) if len(codes) > 1 else codes[0])[order]
    v = (np.concatenate(values) if len(values) > 1 else values[0])[order]
    seconds = t / 1e6
    if len(names) == 1:
        return {next(iter(names)): (seconds, v)}, len(t)
    present, first = np.unique(code, return_index=True)
    by_code = {c: name for name, c in names.items()}
    out: Columns = {}
    for c in present[np.argsort(first)].tolist():  # channels in order of their first sample
        mask = code == c
        out[by_code[c]] = (seconds[mask], v[mask])
    return out, len(t)


def _one_sample_per_channel(items: list[WindowItem]) -> tuple[Columns, int] | None:
    """The columns of a window of lone samples and blocks whose channels have one sample each
    (a C-MAPSS cycle: 24 channels x 1 sample), without the sort and split by channel codes;
    None for any other window. The same numbers: samples stably sorted by time, channels in
    that order, times ``microseconds / 1e6``."""
    rows: list[ScalarSample] = []
    for item in items:
        kind = type(item)
        if kind is ScalarBlock:
            rows.extend(item.samples)  # type: ignore[union-attr]
        elif kind is ScalarSample:
            rows.append(item)  # type: ignore[arg-type]
        elif isinstance(item, ScalarColumns | ScalarBlock | ScalarSample):  # pieces, subclasses
            return None
    if not rows or len({r.channel for r in rows}) != len(rows):
        return None
    rows.sort(key=_TIME)  # stable: arrival order among equal times
    stamps = list(map(_TIME, rows))
    us_of = {ts: (ts - EPOCH) // _US for ts in dict.fromkeys(stamps)}
    seconds = np.array(list(map(us_of.__getitem__, stamps)), dtype=np.int64) / 1e6
    values = np.array(list(map(_VALUE, rows)), dtype=np.float64)
    return {r.channel: (seconds[i:i + 1], values[i:i + 1]) for i, r in enumerate(rows)}, len(rows)


def _rows(rows: list[ScalarSample], names: dict[str, int], times: list[npt.NDArray[np.int64]],
          codes: list[npt.NDArray[np.int64]], values: list[npt.NDArray[np.float64]]) -> None:
    """Lone samples gathered so far as arrays (then forgotten); a fleet's channels share their
    timestamps, so each distinct one is converted once (attribute reads mapped in C: per sample)."""
    if not rows:
        return
    stamps = list(map(_TIME, rows))
    us_of = {ts: (ts - EPOCH) // _US for ts in dict.fromkeys(stamps)}
    channels = list(map(_CHANNEL, rows))
    for channel in dict.fromkeys(channels):
        names.setdefault(channel, len(names))
    times.append(np.array(list(map(us_of.__getitem__, stamps)), dtype=np.int64))
    codes.append(np.array(list(map(names.__getitem__, channels)), dtype=np.int64))
    values.append(np.array(list(map(_VALUE, rows)), dtype=np.float64))
    rows.clear()


_TIME, _CHANNEL, _VALUE = attrgetter("timestamp"), attrgetter("channel"), attrgetter("value")
