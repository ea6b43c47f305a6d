"""Scalar and events tables -> records, in event-time order, without holding the file's records.

Each batch of rows (:mod:`.batches`) is checked and converted column by column (:mod:`.columns`)
into a compact *chunk*: an Arrow batch of ``ts`` (int64 microseconds), ``asset`` (text, if the
file has an asset_id column) and one float64 column per channel (NaN = nothing to emit: empty or
non-finite, counted in :class:`ReadStats`), or ``kind``/``note`` for events. Records (Python
objects, ~150 bytes each) are only made while they are yielded.

Order, in two passes so that every error is raised before the first record:

1. *check*: every batch is converted (all errors, all stats) and the timestamps compared with
   their predecessors. Chunks are kept while they total at most :data:`KEEP_ROWS` rows, so a
   small file is read once.
2. *emit*: a time-ordered file (the common case) is streamed in file order, from the kept chunks
   or by reading it again. A file out of order is sorted in runs of :data:`RUN_ROWS` rows (a
   stable argsort of the run's timestamps); a single run is emitted from memory, several are
   spilled to Arrow IPC files in a temporary directory and merged with ``heapq.merge``. Memory
   is bounded by one run plus one batch per run, whatever the file's size; the result is the
   stable sort by time (ties keep row, then channel, order), as before.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from flows.dataflow.sources.readers import columns as col
from flows.dataflow.sources.readers.batches import (
    Batch,
    csv_line,
    first_bad_width,
    table_batches,
    width_error,
)
from flows.dataflow.sources.readers.cells import from_us
from flows.dataflow.sources.readers.layout import Layout
from flows.dataflow.sources.readers.source import ReadStats, Source
from twin_models.records import AssetEvent, ScalarSample, Telemetry

KEEP_ROWS = 1 << 20  # rows of converted chunks kept from the check pass (so small files are read once)
RUN_ROWS = 1 << 20  # rows sorted in memory at a time when a file is out of order
SPILL_ROWS = 8192  # rows per batch of a sorted run (what is turned into records at a time)


def _convert(src: Source, lay: Layout, batch: Batch, stats: ReadStats | None) -> pa.RecordBatch:
    """A batch -> a chunk (see the module docstring); the first bad cell (by row, then column) raises."""
    out: dict[str, pa.Array] = {}
    first_bad: tuple[int, int, col.BadCell, str] | None = None
    for pos, (name, arr) in enumerate(zip(lay.needed(), batch.columns, strict=True)):
        try:
            out[_key(lay, pos, name)] = _convert_column(lay, pos, name, arr, stats)
        except col.BadCell as bad:
            if first_bad is None or bad.index < first_bad[0]:
                first_bad = (bad.index, pos, bad, name)
    if first_bad is not None:
        raise _place(src, batch, first_bad[2], first_bad[3])
    if batch.bad_width:
        found = first_bad_width(src)
        if found is not None:
            raise width_error(src, *found)
    if stats is not None:
        stats.rows += len(batch.kept)
    return pa.RecordBatch.from_pydict(out)


def _key(lay: Layout, pos: int, name: str) -> str:
    """A chunk's column name for the file's column at ``pos`` (channels by position: names may clash)."""
    if pos == 0:
        return "ts"
    if name == lay.roles.get("asset_id"):
        return "asset"
    if lay.fmt == "events":
        return "kind" if name == lay.roles["event"] else "note"
    return f"c{pos}"


def _convert_column(lay: Layout, pos: int, name: str, arr: pa.Array, stats: ReadStats | None) -> pa.Array:
    """One column of a batch, by its role; a channel's empty and non-finite cells are counted."""
    key = _key(lay, pos, name)
    if key == "ts":
        return pa.array(col.times_us(arr), pa.int64())
    if key == "asset":
        return col.assets(arr)
    if key == "kind":
        return col.kinds(arr)
    if key == "note":
        return col.notes(arr)
    values, empty = col.numbers(arr)
    if stats is not None:
        n_empty = int(empty.sum())
        n_bad = int((~np.isfinite(values)).sum()) - n_empty
        for reason, n in (("empty", n_empty), ("non_finite", n_bad)):
            if n:
                stats.skipped[reason] += n
    return pa.array(values, pa.float64())


def _place(src: Source, batch: Batch, bad: col.BadCell, column: str) -> Exception:
    """A bad cell's FileFormatError: its line (CSV) or row (Parquet); or an earlier wrong-width row's."""
    row = batch.base + int(batch.kept[bad.index])
    if src.parquet:
        return src.error(bad.detail, row + 1, column)
    line = csv_line(src, row)
    found = first_bad_width(src) if batch.bad_width else None
    if found is not None and found[0] < line:
        return width_error(src, *found)
    return src.error(bad.detail, line, column)


def _chunks(src: Source, lay: Layout, stats: ReadStats | None) -> Iterator[pa.RecordBatch]:
    """The file's chunks in file order (checked; ``stats`` filled in if given)."""
    for batch in table_batches(src, lay.needed()):
        if len(batch.kept) or batch.bad_width:
            chunk = _convert(src, lay, batch, stats)
            if chunk.num_rows:
                yield chunk


def _emitting_times(chunk: pa.RecordBatch, lay: Layout) -> npt.NDArray[np.int64]:
    """The timestamps of the rows that give records (a scalar row of empty/non-finite cells gives none)."""
    ts = np.asarray(chunk.column(0).to_numpy(), dtype=np.int64)
    if lay.fmt == "events":
        return ts
    emits = np.zeros(len(ts), dtype=bool)
    for name in chunk.schema.names:
        if name.startswith("c"):
            emits |= np.isfinite(chunk.column(name).to_numpy())
    return ts[emits]


def _check(src: Source, lay: Layout, stats: ReadStats) -> tuple[bool, list[pa.RecordBatch] | None]:
    """Pass 1: (is the file in time order, its chunks if they total at most KEEP_ROWS rows)."""
    ordered, last, rows = True, np.iinfo(np.int64).min, 0
    kept: list[pa.RecordBatch] | None = []
    for chunk in _chunks(src, lay, stats):
        ts = _emitting_times(chunk, lay)
        if ordered and ts.size and (ts[0] < last or bool((ts[1:] < ts[:-1]).any())):
            ordered = False
        last = int(ts[-1]) if ts.size else last
        rows += chunk.num_rows
        if kept is not None and rows <= KEEP_ROWS:
            kept.append(chunk)
        else:
            kept = None
    return ordered, kept


def read_table(src: Source, lay: Layout, stats: ReadStats) -> Iterator[Telemetry]:
    """A scalar or events table's records in event-time order (every check done before returning)."""
    ordered, kept = _check(src, lay, stats)
    stats.reordered = not ordered
    chunks: Iterable[pa.RecordBatch] = kept if kept is not None else _chunks(src, lay, None)
    if ordered:
        return _records(chunks, lay)
    return _sorted(chunks, lay)


def read_table_chunks(src: Source, lay: Layout,
                      stats: ReadStats) -> Iterator[pa.RecordBatch] | Iterator[Telemetry]:
    """Like :func:`read_table`, but a time-ordered scalar table (the common case) gives its checked
    chunks (see the module docstring) instead of records; any other table gives its records."""
    ordered, kept = _check(src, lay, stats)
    stats.reordered = not ordered
    chunks: Iterable[pa.RecordBatch] = kept if kept is not None else _chunks(src, lay, None)
    if not ordered:
        return _sorted(chunks, lay)
    if lay.fmt == "events":
        return _records(chunks, lay)
    return iter(chunks)


def _records(chunks: Iterable[pa.RecordBatch], lay: Layout) -> Iterator[Telemetry]:
    """The records of chunks, in their order."""
    for chunk in chunks:
        yield from (_events if lay.fmt == "events" else _scalars)(chunk, lay)


def _asset_column(chunk: pa.RecordBatch, lay: Layout) -> list[str]:
    i = chunk.schema.get_field_index("asset")
    return chunk.column(i).to_pylist() if i >= 0 else [lay.default_asset] * chunk.num_rows


def _scalars(chunk: pa.RecordBatch, lay: Layout) -> list[ScalarSample]:
    """One ScalarSample per row and channel with a finite value (a chunk's worth, built in one go)."""
    times = chunk.column(0).to_numpy().tolist()
    # a fleet's rows share their times (every asset read at the same second): one datetime each
    stamp_of = {us: from_us(us) for us in dict.fromkeys(times)}
    stamps = [stamp_of[us] for us in times]
    assets = _asset_column(chunk, lay)
    values = [(name, v.tolist(), np.isfinite(v).tolist())
              for name, v in ((name, chunk.column(f"c{pos}").to_numpy())
                              for pos, name in enumerate(lay.needed()) if name in lay.channels)]
    if len(values) == 1:
        name, vals, finite = values[0]
        rows = zip(stamps, assets, vals, finite, strict=True)
        return [ScalarSample(a, name, t, v) for t, a, v, ok in rows if ok]
    return [ScalarSample(assets[i], name, t, vals[i])
            for i, t in enumerate(stamps) for name, vals, finite in values if finite[i]]


def _events(chunk: pa.RecordBatch, lay: Layout) -> list[AssetEvent]:
    """One AssetEvent per row."""
    times, assets = chunk.column(0).to_numpy().tolist(), _asset_column(chunk, lay)
    kinds = chunk.column("kind").to_pylist()
    i = chunk.schema.get_field_index("note")
    notes = chunk.column(i).to_pylist() if i >= 0 else [""] * chunk.num_rows
    return [AssetEvent(asset, from_us(us), kind, note)
            for us, asset, kind, note in zip(times, assets, kinds, notes, strict=True)]


def _sort(group: list[pa.RecordBatch]) -> pa.Table:
    """Chunks as one table sorted by time (stable: ties keep row order)."""
    table = pa.Table.from_batches(group)
    return table.take(pa.array(np.argsort(table.column(0).to_numpy(), kind="stable")))


def _runs(chunks: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
    """The chunks as runs of RUN_ROWS rows (the last may be shorter), each sorted by time."""
    group: list[pa.RecordBatch] = []
    rows = 0
    for chunk in chunks:
        at = 0
        while at < chunk.num_rows:
            part = chunk.slice(at, RUN_ROWS - rows)
            group.append(part)
            rows, at = rows + part.num_rows, at + part.num_rows
            if rows >= RUN_ROWS:
                yield _sort(group)
                group, rows = [], 0
    if group:
        yield _sort(group)


def _spill(run: pa.Table, path: Path) -> Path:
    """Write a sorted run to an Arrow IPC file, in batches of SPILL_ROWS rows."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, run.schema) as writer:
        writer.write_table(run, max_chunksize=SPILL_ROWS)
    return path


def _spilled(path: Path) -> Iterator[pa.RecordBatch]:
    """A spilled run, batch by batch."""
    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def _sorted(chunks: Iterable[pa.RecordBatch], lay: Layout) -> Iterator[Telemetry]:
    """Records in time order: one run from memory, several spilled and merged (see the docstring)."""
    runs = _runs(chunks)
    first = next(runs, None)
    second = next(runs, None) if first is not None else None
    if first is None or second is None:
        yield from _records(first.to_batches(max_chunksize=SPILL_ROWS) if first is not None else (), lay)
        return
    with tempfile.TemporaryDirectory(prefix="twin-sort-") as tmp:
        paths = [_spill(first, Path(tmp, "run-0.arrow"))]
        del first
        paths.append(_spill(second, Path(tmp, "run-1.arrow")))
        del second
        paths += [_spill(run, Path(tmp, f"run-{k}.arrow")) for k, run in enumerate(runs, start=2)]
        streams = [_records(_spilled(p), lay) for p in paths]
        yield from heapq.merge(*streams, key=lambda r: r.timestamp)
