"""Records -> the archive's Arrow tables, column by column (issue 10: archive write rate).

The archive sink used to turn every record into a row dict (:meth:`RecordMapping.archive_row`,
a Python loop over every cell, features sorted per record) and the rows into Arrow: ~93 % of
its CPU, ten times the ``write_table`` that follows. Here each named column is one list filled
by a C-level ``map`` over the records, and the open ``features`` columns are read per distinct
key sequence (a batch has a handful: one per asset kind) into one float matrix with NumPy, so no
Python code runs per cell. The result is the same table as the row path
(:func:`flows.dataflow.sinks.archive.write_rows`): same columns in the same order, same types,
same values and nulls (a non-finite or missing feature is null), rows sorted by (asset_id,
time) with ties in arrival order, one table per date (``tests/unit/test_archive_columns.py``
compares both on every table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import cache, partial
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flows.archive.layout import ASSET, TIME_COLUMN
from flows.codec.archive_schema import BOOKKEEPING_SCHEMA, arrow_type, file_columns, mapping, open_columns

__all__ = ["SMALL", "Columns", "FileTable", "date_groups", "fixed_arrays", "fixed_schema", "key_columns",
           "key_order", "open_arrays", "records_columns", "records_file", "records_table"]

Columns = tuple[list[pa.Array], pa.Schema]
"""A file's columns and schema, without the bookkeeping columns (the sink appends them)."""
FileTable = Callable[[str | None, int], pa.Table]
"""A file's table made at its write: given the run id and the write stamp, the rows with the
bookkeeping columns (``run_id``, ``_written_at``, ``_write_seq``) appended."""


def date_groups(table: str, recs: Sequence[Any]) -> dict[str, list[Any]]:
    """``recs`` split by UTC date (``YYYY-MM-DD``), both in order of first appearance: the
    content of each file of one write."""
    days = list(map(datetime.date, map(attrgetter(mapping(table).date_of), recs)))
    distinct = dict.fromkeys(days)
    if len(distinct) == 1:
        return {date.isoformat(days[0]): list(recs)}
    groups: dict[date, list[Any]] = {d: [] for d in distinct}
    for d, rec in zip(days, recs, strict=True):
        groups[d].append(rec)
    return {d.isoformat(): part for d, part in groups.items()}


SMALL = 16
"""Records below which a file's table is made by :func:`_small_file` (the sink's, bookkeeping
included, :func:`records_file`): a Python sort and one struct conversion rather than a column at
a time: the demo's ``alerts``, ``audit`` and
``recommendations`` files hold 1-10 rows, and each Arrow call's fixed cost (every ``pa.array``
reads an environment variable; a sort is a table, a kernel and two ``take``) was most of their
conversion (RESULTS.md, round 27, SMALLFILE27). Not raised for ``data_quality``'s 40-row files in
round 28: ~40 us less hot, not measurable in its write (SMALLFILE28)."""


_SORT_KEYS = [("a", "ascending"), ("t", "ascending")]


def key_columns(table: str, recs: Sequence[Any]) -> tuple[pa.Array, pa.Array]:
    """The asset and time columns of ``recs`` (the file's sort keys), in the order given."""
    asset = pa.array(list(map(attrgetter(ASSET[0]), recs)), ASSET[1])
    when = pa.array(list(map(attrgetter(TIME_COLUMN[table]), recs)), pa.timestamp("us", tz="UTC"))
    return asset, when


def key_order(asset: pa.Array, when: pa.Array) -> pa.Array:
    """The positions of the rows sorted by (asset_id, time) with ties in the order given (Arrow's
    sort is stable): the order :func:`flows.archive.layout.sorted_rows` gives the row path's table."""
    return pc.sort_indices(pa.table({"a": asset, "t": when}), sort_keys=_SORT_KEYS)


def _sort_keys(table: str, recs: Sequence[Any]) -> tuple[pa.Array, pa.Array, list[int]]:
    """The asset and time columns of ``recs`` sorted by :func:`key_order`, and that order."""
    asset, when = key_columns(table, recs)
    order = key_order(asset, when)
    return asset.take(order), when.take(order), order.to_pylist()


def fixed_arrays(table: str, recs: Sequence[Any], done: dict[str, pa.Array]) -> list[pa.Array]:
    """The columns of :func:`fixed_schema` for ``recs`` in their order: those in ``done`` as given,
    the others converted from :meth:`~flows.codec.record_fields.RecordMapping.archive_values`."""
    values = mapping(table).archive_values(recs, skip=tuple(done))
    return [done[f.name] if f.name in done else pa.array(values[f.name], f.type) for f in fixed_schema(table)]


@cache
def fixed_schema(table: str) -> pa.Schema:
    """``asset_id`` and the named file columns of ``table``: one schema object per table (the
    writer's options and file schema are then found by a pointer compare)."""
    return pa.schema([pa.field(*ASSET), *(pa.field(c.name, arrow_type(c)) for c in file_columns(table))])


def _python_order(table: str, recs: Sequence[Any]) -> list[int] | None:
    """The positions of ``recs`` sorted by (asset_id, time), ties in the order given (Python's
    sort is stable), as :func:`_sort_keys` orders them: text compares by code point as Arrow's
    by UTF-8 bytes, and datetimes by instant (or all naive: by wall time, which Arrow takes as
    UTC). None where Python cannot compare them (a None next to a value, naive next to aware):
    Arrow sorts those."""
    keys = list(zip(map(attrgetter(ASSET[0]), recs), map(attrgetter(TIME_COLUMN[table]), recs), strict=True))
    try:
        return sorted(range(len(keys)), key=keys.__getitem__)
    except TypeError:
        return None


@cache
def _struct(table: str) -> pa.StructType:
    """A file's whole schema as one struct type: :func:`fixed_schema`'s fields and the bookkeeping
    fields, one object per table."""
    return pa.struct([*fixed_schema(table), *BOOKKEEPING_SCHEMA])


def _small_cells(table: str, recs: Sequence[Any], order: list[int]) -> list[list[Any]]:
    """The cells of a few records of a fixed table, one list per column of :func:`fixed_schema`,
    rows in ``order``: :meth:`~flows.codec.record_fields.RecordMapping.archive_values`' cells."""
    ordered = [recs[i] for i in order]
    time_column = TIME_COLUMN[table]
    values = mapping(table).archive_values(ordered, skip=(ASSET[0], time_column))
    values[ASSET[0]] = list(map(attrgetter(ASSET[0]), ordered))
    values[time_column] = list(map(attrgetter(time_column), ordered))
    return [values[n] for n in fixed_schema(table).names]


def _small_file(cells: list[list[Any]], table: str, run_id: str | None, seq: int) -> pa.Table:
    """A :data:`FileTable` of a few records: their cells and the bookkeeping values converted
    together by ONE ``pa.array`` (no ``pa.repeat``/``pa.scalar`` per bookkeeping column and no
    ``RecordBatch.from_arrays``: ~80 us of a ~165 us conversion of a 1-row ``alerts`` file, hot;
    RESULTS.md, round 28, SMALLFILE28). The same table as the columns' path."""
    rows = list(zip(*cells, repeat(run_id), repeat(seq // 1000), repeat(seq)))
    structs = pa.array(rows, type=_struct(table))
    return pa.Table.from_batches([pa.RecordBatch.from_struct_array(structs)])


def records_file(table: str, recs: Sequence[Any]) -> FileTable | Columns:
    """What ``archive_files.write_file`` takes for ``recs`` (one date): below :data:`SMALL` records
    of a fixed table, a :data:`FileTable` converting them with the bookkeeping values in one call;
    otherwise :func:`records_columns`' columns and schema (the sink appends the bookkeeping)."""
    fixed = mapping(table).open_field is None
    if len(recs) < SMALL and fixed and (order := _python_order(table, recs)) is not None:
        return partial(_small_file, _small_cells(table, recs, order), table)
    return records_columns(table, recs)


def records_columns(table: str, recs: Sequence[Any]) -> tuple[list[pa.Array], pa.Schema]:
    """:func:`records_table`'s columns and schema (what ``archive_files.write_file`` takes), converted
    a column at a time (a few records of a fixed table: :func:`records_file`)."""
    m = mapping(table)
    maps = m.open_maps(recs)
    asset, when, order = _sort_keys(table, recs)
    arrays = fixed_arrays(table, [recs[i] for i in order], {ASSET[0]: asset, TIME_COLUMN[table]: when})
    schema = fixed_schema(table)
    if maps is not None:
        spread = arrow_type(open_columns(table))  # type: ignore[arg-type]
        names, columns = open_arrays(maps, order)
        schema = pa.schema([*schema, *(pa.field(n, spread) for n in names)])
        arrays.extend(columns)
    return arrays, schema


def records_table(table: str, recs: Sequence[Any]) -> pa.Table:
    """``recs`` as one Arrow table of archive ``table``'s file columns, rows sorted by (asset_id,
    time); open columns in the order of the records as given (as the row path names them)."""
    arrays, schema = records_columns(table, recs)
    return pa.Table.from_arrays(arrays, schema=schema)


def open_arrays(maps: Sequence[dict[str, float]], order: list[int]) -> tuple[list[str], list[pa.Array]]:
    """One ``double`` array per key of the maps, rows in ``order``; nulls where a map lacks the key
    or its value is None or not finite. Keys in the row path's order: the union, in order of first
    appearance in ``maps``, of each map's sorted keys."""
    shapes = list(map(tuple, maps))
    distinct = dict.fromkeys(shapes)
    names = list(dict.fromkeys(k for shape in distinct for k in sorted(shape)))
    if len(distinct) == 1:  # the common case: one key sequence for the whole batch
        rows = _values(maps, range(len(maps)), len(names))[np.asarray(order, np.intp)]
        at = {k: j for j, k in enumerate(shapes[0])}
        matrix = np.ascontiguousarray(rows.T[[at[k] for k in names]])
    else:
        matrix = _scattered(maps, shapes, names)[:, np.asarray(order, np.intp)]
    return names, [pa.array(col, pa.float64(), mask=~np.isfinite(col)) for col in matrix]


def _scattered(maps: Sequence[dict[str, float]], shapes: list[tuple[str, ...]],
               names: list[str]) -> np.ndarray:
    """A (names, maps) matrix of the maps' values, NaN where a map lacks a key, read one distinct
    key sequence at a time."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(shape, []).append(i)
    at = {k: j for j, k in enumerate(names)}
    matrix = np.full((len(names), len(maps)), np.nan)
    for shape, rows in groups.items():
        if shape:
            keys = np.fromiter((at[k] for k in shape), np.intp, len(shape))
            matrix[np.ix_(keys, np.asarray(rows, np.intp))] = _values(maps, rows, len(shape)).T
    return matrix


def _values(maps: Sequence[dict[str, float]], rows: Sequence[int], width: int) -> np.ndarray:
    """The values of the maps ``rows`` (same keys in the same order) as a (rows, width) matrix;
    None -> NaN. Anything ``float()`` refuses raises as the row path does."""
    picked = maps if len(rows) == len(maps) else [maps[i] for i in rows]
    flat = chain.from_iterable(map(dict.values, picked))
    try:
        return np.fromiter(flat, np.float64, len(rows) * width).reshape(len(rows), width)
    except (TypeError, ValueError):  # a None (or a value float() refuses: raised again below)
        cells = [[np.nan if v is None else float(v) for v in m.values()] for m in picked]
        return np.array(cells, np.float64).reshape(len(rows), width)
