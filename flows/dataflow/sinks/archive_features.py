"""Feature blocks -> the ``features`` table's files of one write (issue 10: archive write rate).

The sink receives the windows as :class:`~.feature_blocks.FeatureBlock` s, made where they were
aggregated (:mod:`.feature_blocks`: asset ids, int64 times, the events' text, the input spans
flattened, the values of one name sequence: each window's row). A write's columns are the blocks'
columns concatenated; the sort by (date, asset_id, time) is one ``np.lexsort`` over integer codes
(dates in order of first appearance, asset ids by Arrow's dictionary encoding); the windows' rows
(as the blocks hold them: feature maps' row bytes, or a matrix) are gathered into sorted order and
transposed once, a cache-sized piece at a time, and the feature columns are slices of one Arrow
array over that buffer (its null bitmap packed by NumPy); each column is built once for the
whole write and sliced (zero-copy) per date. Records (tests, benchmarks,
``write_records``) are made blocks first, so there is one path.

The tables are the ones :func:`~.archive_columns.date_groups` + ``records_table`` give, date by
date: same dates in order of first appearance, same columns in the same order, types, rows (ties
on (asset_id, time) in arrival order) and nulls (``tests/unit/test_archive_features.py``,
``tests/unit/test_feature_blocks.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa

from flows.archive.layout import ASSET
from flows.codec.archive_schema import arrow_type, file_columns, open_columns
from flows.dataflow.sinks.archive_inputs import flat_inputs_column
from flows.dataflow.sinks.feature_blocks import FeatureBlock, feature_blocks

__all__ = ["block_columns", "block_tables", "feature_tables"]

_TIME = pa.timestamp("us", tz="UTC")
_DAY_US = 86_400_000_000
_FIXED = [pa.field(*ASSET)] + [pa.field(c.name, arrow_type(c)) for c in file_columns("features")]
"""The ``features`` file's named columns, before the open ones."""


def feature_tables(recs: Sequence[Any]) -> dict[str, pa.Table]:
    """``recs`` (FeatureVectors) as the ``features`` table of each UTC date (``YYYY-MM-DD``, in
    order of first appearance): rows sorted by (asset_id, window_start), ties in arrival order.
    (The records are made blocks first: the same path as the sink's blocks.)"""
    return block_tables(feature_blocks(recs))


def _first_seen(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's position among the distinct ones in order of first appearance, and those."""
    if len(values) and (values == values[0]).all():  # a write of one date: the common case
        return np.zeros(len(values), np.intp), values[:1]
    distinct, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    code = np.empty(len(distinct), np.intp)
    code[by_first] = np.arange(len(distinct))
    return code[inverse.reshape(-1)], distinct[by_first]


def block_tables(blocks: Sequence[FeatureBlock]) -> dict[str, pa.Table]:
    """The blocks' windows (in block order, each in arrival order) as :func:`feature_tables`
    gives them: one Arrow table per UTC date, columns concatenated, no per-window object read."""
    return {date: pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=schema)])
            for date, (arrays, schema) in block_columns(blocks).items()}


def block_columns(blocks: Sequence[FeatureBlock]) -> dict[str, tuple[list[pa.Array], pa.Schema]]:
    """:func:`block_tables`' tables as their columns and schema (the sink appends its bookkeeping
    columns and makes each file's table in one call: ``RecordBatch.from_arrays`` wraps ~60 arrays
    for ~half of what ``Table.from_arrays`` and three ``append_column`` cost, RESULTS.md round 26)."""
    if not blocks:
        return {}
    n = sum(map(len, blocks))
    assets, a_code = _merged([(b.ids, b.codes) for b in blocks])
    start_us = blocks[0].start_us if len(blocks) == 1 else np.concatenate([b.start_us for b in blocks])
    day, days = _first_seen(start_us // _DAY_US)  # dates in order of first appearance
    rank = np.empty(len(assets), np.intp)
    rank[sorted(range(len(assets)), key=assets.__getitem__)] = np.arange(len(assets))
    keys = (start_us, rank[a_code]) if len(days) == 1 else (start_us, rank[a_code], day)
    order = np.lexsort(keys)  # stable: ties keep arrival order
    columns = {
        ASSET[0]: pa.array(assets, ASSET[1]).take(a_code[order]),
        "window_start": _times(start_us[order]),
        "window_end": _times(_joined(blocks, "end_us")[order]),
        "n_records": pa.array(_joined(blocks, "n_records")[order], pa.int64()),
        "events": _events(blocks, n, order),
        "inputs": _inputs(blocks, order),  # digital thread: .archive_inputs
    }
    names_by_day, feature_columns = _feature_columns(blocks, order, day)
    if len(days) == 1:  # a write of one date (a live run's flush): the arrays whole
        names = names_by_day[0]
        arrays = [columns[f.name] for f in _FIXED] + [feature_columns[k] for k in names]
        return {_date(days[0]): (arrays, _schema(tuple(names)))}
    bounds = np.searchsorted(day[order], np.arange(len(days) + 1))
    out = {}
    for d, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        names = names_by_day[d]
        arrays = [columns[f.name] for f in _FIXED] + [feature_columns[k] for k in names]
        out[_date(days[d])] = ([a.slice(lo, hi - lo) for a in arrays], _schema(tuple(names)))
    return out


def _times(us: np.ndarray) -> pa.Array:
    """Microseconds since the epoch as a ``timestamp[us, UTC]`` column: converted as int64 and
    viewed as the timestamp (the same buffer; ``pa.array(us, type)`` takes ~5x longer, ~12 against
    ~2.5 us per 192 windows, round 26)."""
    return pa.array(us, pa.int64()).view(_TIME)


def _date(day: np.integer) -> str:
    """Days since the epoch as ``YYYY-MM-DD``."""
    text: str = np.datetime64(int(day), "D").astype(str)
    return text


def _joined(blocks: Sequence[FeatureBlock], field: str) -> np.ndarray:
    """One of the blocks' per-window int64 fields over all of them (a one-block write: as it is)."""
    if len(blocks) == 1:
        one: np.ndarray = getattr(blocks[0], field)
        return one
    return np.concatenate([getattr(b, field) for b in blocks])


def _merged(coded: list[tuple[list[str], np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """Blocks' (distinct values, codes) as one: the distinct values of all (first appearance)
    and every code mapped to its position there (a run of blocks with equal values, e.g. one
    fleet's windows of successive batches, maps its codes with one table)."""
    distinct: list[str] = []
    at: dict[str, int] = {}
    parts, last, table = [], None, np.empty(0, np.intp)
    for values, codes in coded:
        if values != last:
            for v in values:
                if v not in at:
                    at[v] = len(distinct)
                    distinct.append(v)
            last, table = values, np.fromiter(map(at.__getitem__, values), np.intp, len(values))
        parts.append(table[codes])
    return distinct, np.concatenate(parts)


def _events(blocks: Sequence[FeatureBlock], n: int, order: np.ndarray) -> pa.Array:
    """The events column in ``order`` (``""`` for a window without any: most; a write without
    any events needs no reordering)."""
    if not any(any(b.events) for b in blocks):
        return pa.repeat(_NO_EVENTS, n)
    return pa.array(list(chain.from_iterable(b.events for b in blocks)), pa.string()).take(order)


_NO_EVENTS = pa.scalar("", pa.string())


def _inputs(blocks: Sequence[FeatureBlock], order: np.ndarray) -> pa.Array:
    """The ``inputs`` column of the blocks' windows in ``order``, from their flattened spans
    (with one span per window, the common case, the spans are put in order before the texts
    are made; else the texts are)."""
    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        if any(a.dtype == object for a in arrays):
            return np.concatenate([a.astype(object) for a in arrays])
        return np.concatenate(arrays)

    sources, codes = _merged([(b.span_sources, b.span_codes) for b in blocks])
    counts = np.concatenate([b.span_counts for b in blocks])
    first, last = cat([b.span_first for b in blocks]), cat([b.span_last for b in blocks])
    if len(codes) == len(counts) and bool((counts == 1).all()):
        return flat_inputs_column(counts, sources, codes[order], first[order], last[order])
    return flat_inputs_column(counts, sources, codes, first, last).take(order)


@lru_cache(maxsize=256)
def _schema(names: tuple[str, ...]) -> pa.Schema:
    """The ``features`` file schema with these open columns (built once per name sequence: a
    fleet has a handful, and 60 fields cost more than a small write's columns)."""
    spread = arrow_type(open_columns("features"))  # type: ignore[arg-type]
    return pa.schema(_FIXED + [pa.field(k, spread) for k in names])


def _feature_columns(blocks: Sequence[FeatureBlock], order: np.ndarray,
                     day: np.ndarray) -> tuple[list[list[str]], dict[str, pa.Array]]:
    """The open columns' names of each date (the union, in order of first appearance, of each
    window's sorted names) and one ``double`` array per name over the whole write in sorted
    order: null where a window lacks the name or its value is not finite.

    The blocks' (windows, names) rows are gathered into sorted order and transposed in one
    pass (:func:`_sorted_columns`); the columns are slices of ONE Arrow array over that
    (names, windows) buffer (one conversion, not one per name)."""
    distinct = list(dict.fromkeys(b.names for b in blocks))
    sorted_names = [tuple(sorted(names)) for names in distinct]
    names_by_day = []
    matrix = None
    if len(distinct) == 1:
        names_by_day = [list(sorted_names[0]) for _ in range(int(day.max()) + 1)]
        row_of = {k: i for i, k in enumerate(distinct[0])}
        if distinct[0] and all(type(b.rows) is list for b in blocks):  # feature maps' rows: gathered
            raws = blocks[0].rows if len(blocks) == 1 else list(chain.from_iterable(b.rows for b in blocks))
            matrix = _gathered_columns(raws, order, len(distinct[0]))  # type: ignore[arg-type]
        else:
            rows = blocks[0].values if len(blocks) == 1 else np.concatenate([b.values for b in blocks])
    else:
        at_shape = {names: s for s, names in enumerate(distinct)}
        code = np.repeat([at_shape[b.names] for b in blocks], [len(b) for b in blocks])
        for d in range(int(day.max()) + 1):
            used, first = np.unique(code[day == d], return_index=True)
            in_order = used[np.argsort(first)].tolist()
            names_by_day.append(list(dict.fromkeys(chain.from_iterable(sorted_names[s] for s in in_order))))
        rows, row_of = _scattered(blocks, distinct)
    if matrix is None:
        matrix = _sorted_columns(rows, order)  # (names, windows), sorted
    n = matrix.shape[1]
    whole = _doubles(matrix.reshape(-1))
    columns = {name: whole.slice(j * n, n) for name, j in row_of.items()}
    return names_by_day, columns


def _doubles(flat: np.ndarray) -> pa.Array:
    """A float64 vector as one ``double`` array over its buffer (no copy), null where a value is not
    finite: the validity bitmap packed by NumPy from ``isfinite`` (round 42: ``pa.array(..., mask=)``
    inverted a bool copy of the flush and converted it, ~2.5x this; same array,
    ``tests/unit/test_archive_features.py``)."""
    finite = np.isfinite(flat)
    valid = int(np.count_nonzero(finite))
    if valid == len(flat):  # the common case: no missing value anywhere
        return pa.array(flat)
    bits = pa.py_buffer(np.packbits(finite, bitorder="little"))
    nulls = len(flat) - valid
    return pa.Array.from_buffers(pa.float64(), len(flat), [bits, pa.py_buffer(flat)], null_count=nulls)


_CHUNK = 256
"""Windows per step of :func:`_sorted_columns`: 256 rows of ~50 values (~100 KB) stay in the
core's cache while they are written out as columns."""


def _sorted_columns(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``rows[order].T`` as a C-contiguous (names, windows) matrix, made in one copy a chunk of
    windows at a time (round 14: a whole-matrix gather then transpose made two ~1 MB copies, the
    transpose reading across the whole gathered matrix: ~0.38 us per window at 100 assets,
    against ~0.10 chunked and fused; ``tests/unit/test_archive_features.py``)."""
    out = np.empty((rows.shape[1], len(order)), rows.dtype)
    for lo in range(0, len(order), _CHUNK):
        out[:, lo:lo + _CHUNK] = rows[order[lo:lo + _CHUNK]].T
    return out


def _gathered_columns(raws: Sequence[bytes], order: np.ndarray, width: int) -> np.ndarray:
    """:func:`_sorted_columns` of the rows whose bytes are ``raws`` (each ``width`` float64), made
    without joining them first: each piece of sorted windows' bytes is joined (~128 KB, in the
    core's cache) and transposed into its columns' place (round 42: joining the flush in arrival
    order first wrote and read a whole (windows, names) copy, ~8 MB for 20,000 windows)."""
    out = np.empty((width, len(order)))
    step = max(16, (1 << 17) // (8 * width))
    at = order.tolist()
    for lo in range(0, len(at), step):
        piece = at[lo:lo + step]
        picked = itemgetter(*piece)(raws) if len(piece) > 1 else (raws[piece[0]],)
        out[:, lo:lo + len(piece)] = np.frombuffer(b"".join(picked), np.float64).reshape(len(piece), width).T
    return out


def _scattered(blocks: Sequence[FeatureBlock],
               distinct: list[tuple[str, ...]]) -> tuple[np.ndarray, dict[str, int]]:
    """A (windows, names) matrix over the union of the blocks' names (arrival order), NaN
    where a window lacks a name, and the column of each name."""
    union = list(dict.fromkeys(chain.from_iterable(distinct)))
    at = {k: j for j, k in enumerate(union)}
    matrix = np.full((sum(map(len, blocks)), len(union)), np.nan)
    lo = 0
    for b in blocks:
        if b.names:
            keys = np.fromiter(map(at.__getitem__, b.names), np.intp, len(b.names))
            matrix[lo:lo + len(b), keys] = b.values
        lo += len(b)
    return matrix, at
