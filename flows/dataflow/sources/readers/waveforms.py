"""Waveform files (Parquet, one list<float> column per channel) -> WaveformFrames, streamed.

The small per-row columns (timestamp, asset, sample rate, shaft speed) are read and checked
first; the samples are then decoded :data:`BATCH_ROWS` rows at a time and never held in memory.
Each asset's frames must already be in time order (checked up front, with an error naming the
row); a multi-asset file made of per-asset blocks (at most :data:`MAX_RUNS`) is merged back into
event-time order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from flows.codec.show import show_value
from flows.dataflow.sources.readers.cells import arrow_us, cell_asset, cell_time, from_us
from flows.dataflow.sources.readers.layout import Layout
from flows.dataflow.sources.readers.source import PARQUET_READ_ERRORS, ReadStats, Source
from twin_models.records import EPOCH, WaveformFrame

BATCH_ROWS = 256  # waveform rows decoded at a time
MAX_RUNS = 64  # time-ordered blocks a waveform file may be made of


@dataclass(frozen=True)
class _WaveIndex:
    """The small per-row columns of a waveform file, read and checked before any samples."""

    times_us: npt.NDArray[np.int64]
    assets: list[str]
    rates: list[float]
    shafts: list[float | None]


def _numeric_column(src: Source, column: str, arr: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """A numeric Parquet column as float64 (null -> NaN)."""
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        msg = f"must be numeric, is {arr.type}"
        raise src.error(msg, column=column)
    return np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _wave_times(src: Source, column: str, arr: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """The timestamp column as microseconds since the epoch; no nulls."""
    times = arrow_us(src, column, arr)
    if times is None:  # ISO text or epoch seconds
        one_us = timedelta(microseconds=1)
        cells = enumerate(arr.to_pylist(), start=1)
        return np.array([(cell_time(src, n, column, v) - EPOCH) // one_us for n, v in cells], dtype=np.int64)
    us, valid = times
    if not valid.all():
        msg = "empty timestamp"
        raise src.error(msg, int(np.argmin(valid)) + 1, column)
    return us


def _wave_rates(src: Source, column: str, arr: pa.ChunkedArray) -> list[float]:
    """Sample rates, each in [1, 1e6] Hz."""
    rates = _numeric_column(src, column, arr)
    bad = np.flatnonzero(~((rates >= 1.0) & (rates <= 1e6)))
    if bad.size:
        msg = f"sample rate {show_value(arr[int(bad[0])].as_py())} is not in [1, 1e6] Hz"
        raise src.error(msg, int(bad[0]) + 1, column)
    out: list[float] = rates.tolist()
    return out


def _wave_shafts(src: Source, column: str, arr: pa.ChunkedArray) -> list[float | None]:
    """Shaft speeds (null or NaN = not measured -> None), each finite and >= 0."""
    speeds = _numeric_column(src, column, arr)
    bad = np.flatnonzero((speeds < 0) | np.isinf(speeds))
    if bad.size:
        msg = f"shaft speed {show_value(float(speeds[bad[0]]))} must be a finite number >= 0 Hz"
        raise src.error(msg, int(bad[0]) + 1, column)
    return [None if math.isnan(v) else v for v in speeds.tolist()]


def _check_order(src: Source, column: str, times: npt.NDArray[np.int64], assets: list[str]) -> None:
    """Each asset's frames must be in time order (checked on the timestamps alone)."""
    ids: dict[str, int] = {}
    codes = np.fromiter((ids.setdefault(a, len(ids)) for a in assets), dtype=np.int64, count=len(assets))
    order = np.argsort(codes, kind="stable")
    t, c = times[order], codes[order]
    bad = np.flatnonzero((t[1:] < t[:-1]) & (c[1:] == c[:-1]))
    if bad.size:
        k = int(bad[0])
        before, after = int(order[k]), int(order[k + 1])
        msg = (f"frames of asset {assets[after]!r} are out of time order: "
               f"{from_us(int(t[k + 1])).isoformat()} comes after {from_us(int(t[k])).isoformat()} "
               f"(row {before + 1}); waveform files are streamed, not sorted: sort it by timestamp first")
        raise src.error(msg, after + 1, column)


def _runs(src: Source, times: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """The file as time-ordered blocks of rows ``[lo, hi)`` (one block for a sorted file)."""
    breaks = (np.flatnonzero(times[1:] < times[:-1]) + 1).tolist()
    bounds = [0, *breaks, len(times)]
    if len(bounds) - 1 > MAX_RUNS:
        msg = (f"is not in time order across assets ({len(bounds) - 1} time-ordered blocks, at most "
               f"{MAX_RUNS} are merged while streaming): sort it by timestamp first")
        raise src.error(msg)
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]


def _wave_index(src: Source, lay: Layout) -> _WaveIndex:
    """Read and check every column of a waveform file except the samples."""
    r = lay.roles
    cols = [c for c in (r["timestamp"], r.get("asset_id"), r["sample_rate_hz"], r.get("shaft_speed_hz")) if c]
    try:
        with pq.ParquetFile(src.path) as pf:
            table = pf.read(columns=cols)
    except PARQUET_READ_ERRORS as exc:
        raise src.unreadable(exc, 0) from None
    times = _wave_times(src, r["timestamp"], table.column(r["timestamp"]))
    if "asset_id" in r:
        cells = enumerate(table.column(r["asset_id"]).to_pylist(), start=1)
        assets = [cell_asset(src, n, r["asset_id"], v) for n, v in cells]
    else:
        assets = [lay.default_asset] * table.num_rows
    _check_order(src, r["timestamp"], times, assets)
    rates = _wave_rates(src, r["sample_rate_hz"], table.column(r["sample_rate_hz"]))
    shafts: list[float | None] = [None] * table.num_rows
    if "shaft_speed_hz" in r:
        shafts = _wave_shafts(src, r["shaft_speed_hz"], table.column(r["shaft_speed_hz"]))
    return _WaveIndex(times, assets, rates, shafts)


def _row_batches(src: Source, columns: list[str], lo: int, hi: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first row, batch) covering rows ``[lo, hi)``, decoding only the row groups that hold them."""
    pos = lo
    try:
        with pq.ParquetFile(src.path) as pf:
            end = 0
            for g in range(pf.metadata.num_row_groups):
                start, end = end, end + pf.metadata.row_group(g).num_rows
                if end <= lo or start >= hi:
                    continue
                pos = start
                for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], columns=columns):
                    a, b = max(pos, lo), min(pos + batch.num_rows, hi)
                    if a < b:
                        yield a, batch.slice(a - pos, b - a)
                    pos += batch.num_rows
                    if pos >= hi:
                        return
    except PARQUET_READ_ERRORS as exc:
        raise src.unreadable(exc, pos) from None


_ListParts = tuple[npt.NDArray[Any], npt.NDArray[np.float32], npt.NDArray[Any] | None, bool,
                   npt.NDArray[Any] | None]


def _list_parts(arr: pa.Array) -> _ListParts:
    """A list column of a batch -> (offsets, float32 values, valid mask or None, all finite, the
    samples' own valid mask or None when no sample is null)."""
    if not (pa.types.is_list(arr.type) and arr.type.value_type == pa.float32()):
        arr = arr.cast(pa.list_(pa.float32()), safe=False)
    offsets = arr.offsets.to_numpy()
    values = np.asarray(arr.values.to_numpy(zero_copy_only=False), dtype=np.float32)
    valid = None if arr.null_count == 0 else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
    known = (None if arr.values.null_count == 0
             else np.asarray(arr.values.is_valid().to_numpy(zero_copy_only=False)))
    return offsets, values, valid, bool(np.isfinite(values).all()), known


def _batch_frames(lay: Layout, index: _WaveIndex, first: int, batch: pa.RecordBatch,
                  stats: ReadStats) -> Iterator[WaveformFrame]:
    """One WaveformFrame per row and channel of a batch (null, empty or non-finite frames skipped)."""
    parts = [(name, *_list_parts(batch.column(name))) for name in lay.channels]
    times = index.times_us[first:first + batch.num_rows].tolist()
    for i, us in enumerate(times):
        r = first + i
        ts, asset, rate, shaft = from_us(us), index.assets[r], index.rates[r], index.shafts[r]
        for name, offsets, values, valid, finite, known in parts:
            a, b = offsets[i], offsets[i + 1]
            if a == b or (valid is not None and not valid[i]):
                stats.skipped["empty_frame"] += 1
                continue
            samples = values[a:b]
            if not finite and not np.isfinite(samples).all():  # round 50: all null is said apart
                all_null = known is not None and not known[a:b].any()
                stats.skipped["null_frame" if all_null else "non_finite_frame"] += 1
                continue
            stats.frames[asset, name] += 1
            yield WaveformFrame(asset, name, ts, rate, samples.copy(), shaft)


def _run_frames(src: Source, lay: Layout, index: _WaveIndex, lo: int, hi: int,
                stats: ReadStats) -> Iterator[WaveformFrame]:
    """The frames of rows ``[lo, hi)``, in row order."""
    for first, batch in _row_batches(src, list(lay.channels), lo, hi):
        yield from _batch_frames(lay, index, first, batch, stats)


def read_waveforms(src: Source, lay: Layout, stats: ReadStats) -> Iterable[WaveformFrame]:
    """A waveform file's frames in event-time order, streamed (the checks run first)."""
    index = _wave_index(src, lay)
    stats.rows = len(index.assets)
    runs = _runs(src, index.times_us)
    streams = [_run_frames(src, lay, index, lo, hi, stats) for lo, hi in runs]
    stats.reordered = len(streams) > 1
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda f: f.timestamp)
