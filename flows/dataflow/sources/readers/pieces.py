"""A time-ordered scalar table as per-asset column pieces instead of one ScalarSample per row.

Why: building one ``ScalarSample`` (and then one ``RawRecord``) per row was ~30 % of a scalar
backtest's CPU (``benchmarks/RESULTS.md``, issue 10, parts SCALAR2 and BACKTEST3). A piece
(:class:`~flows.dataflow.items.ScalarColumns`) holds one asset's samples of a stretch of rows as
NumPy arrays; the decode step checks them as arrays and the window step takes them as one item.

A piece's samples are exactly the records :func:`flows.dataflow.sources.readers.read_records`
would give for its asset, in the same order (row by row, channels in column order, empty and
non-finite cells skipped): only the interleaving of different assets changes, which no
asset-keyed step can see. :data:`PIECE_ROWS` rows are cut into pieces at a time.

Digital thread: a piece's ``positions`` are its samples' data rows in the file (0-based, the
header and blank rows not counted: the rows as the chunk reader gives them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from flows.dataflow.items import ScalarColumns
from flows.dataflow.sources.readers.layout import Layout
from twin_models.records import Telemetry

__all__ = ["PIECE_ROWS", "pieces"]

PIECE_ROWS = 1 << 15
"""Rows cut into pieces at a time: a 100-asset 1 Hz fleet's pieces then span ~5 min per asset
(the block builder cuts them at window bounds)."""


def pieces(chunks: Iterator[pa.RecordBatch] | Iterator[Telemetry], lay: Layout,
           ) -> Iterator[ScalarColumns | Telemetry]:
    """Pieces of checked, time-ordered chunks; records (what an unordered table gives) pass as they are."""
    group: list[pa.RecordBatch] = []
    rows = row0 = 0
    for chunk in chunks:
        if not isinstance(chunk, pa.RecordBatch):
            yield chunk
            continue
        group.append(chunk)
        rows += chunk.num_rows
        if rows >= PIECE_ROWS:
            yield from _cut(group, lay, row0)
            group, rows, row0 = [], 0, row0 + rows
    if group:
        yield from _cut(group, lay, row0)


def _cut(group: Iterable[pa.RecordBatch], lay: Layout, row0: int = 0) -> list[ScalarColumns]:
    """One piece per asset of a group of chunks (its first row the file's data row ``row0``),
    assets in order of first appearance."""
    table = pa.Table.from_batches(list(group))
    ts = np.asarray(table.column(0).to_numpy(), dtype=np.int64)
    channels = tuple(name for name in lay.needed() if name in lay.channels)
    cols = [np.asarray(table.column(f"c{pos}").to_numpy(), dtype=np.float64)
            for pos, name in enumerate(lay.needed()) if name in lay.channels]
    k = len(cols)
    if not k:
        return []
    # row-major: row i's channels in column order, as the per-row reader yields them
    values = np.column_stack(cols).ravel() if k > 1 else cols[0]
    keep = np.isfinite(values)
    if not keep.any():  # rows of empty or non-finite cells only: no record
        return []
    times = np.repeat(ts, k) if k > 1 else ts
    cidx = np.tile(np.arange(k, dtype=np.int16), len(ts))
    row = np.arange(row0, row0 + len(ts), dtype=np.int64)
    rows = (np.repeat(row, k) if k > 1 else row)[keep]
    i = table.schema.get_field_index("asset")
    if i < 0:
        return [ScalarColumns.of(lay.default_asset, times[keep], cidx[keep], channels, values[keep],
                                 positions=rows)]
    encoded = table.column(i).combine_chunks().dictionary_encode()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = encoded.dictionary.to_pylist()
    codes = (np.repeat(codes, k) if k > 1 else codes)[keep]
    times, cidx, values = times[keep], cidx[keep], values[keep]
    order = np.argsort(codes, kind="stable")  # dictionary codes follow first appearance
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    out = []
    for idx in np.split(order, bounds):
        if idx.size:
            out.append(ScalarColumns.of(names[codes[idx[0]]], times[idx], cidx[idx], channels, values[idx],
                                        positions=rows[idx]))
    return out
