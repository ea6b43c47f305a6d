"""FeatureVectors -> the ``features`` table's files of one write, from their NumPy rows (issue 10).

:func:`flows.dataflow.sinks.archive_columns.records_table` reads the ~50 values of every window
out of its mapping (~30 ns each: more than the whole bare ``write_table`` of the same rows). A
window from :func:`twin_models.features.window.aggregate_window` carries its values as one
float64 row (its bytes) and a key sequence shared by every window of its kind
(:class:`twin_models.feature_map.FeatureMap`), so here the rows of a whole write are stacked with
one copy per key sequence (``bytes.join`` of the rows' bytes), and every other per-record step
is a C-level pass: ``map`` over the records for each named column, the datetimes, asset ids and
dates converted once per DISTINCT value (a write of a fleet has few windows and assets), the sort
by (date, asset_id, time) one ``np.lexsort`` over integer codes, each column built once for the
whole write and sliced (zero-copy) per date. Plain dict features (tests, older pickles, windows
that crossed Bytewax workers: a FeatureMap is pickled as its dict) are read as
:mod:`.archive_columns` reads them.

The tables are the ones :func:`~.archive_columns.date_groups` + ``records_table`` give, date by
date: same dates in order of first appearance, same columns in the same order, types, rows (ties
on (asset_id, time) in arrival order) and nulls (``tests/unit/test_archive_features.py``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import chain, compress
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa

from flows.archive.layout import ASSET
from flows.codec.archive_schema import arrow_type, file_columns, open_columns
from flows.codec.record_fields import FEATURE_VECTOR
from flows.dataflow.sinks.archive_columns import _values
from flows.dataflow.sinks.archive_inputs import inputs_column
from twin_models.feature_map import FeatureKeys, FeatureMap

__all__ = ["feature_tables"]

_TIME = pa.timestamp("us", tz="UTC")
_GET = {c.name: c.value for c in FEATURE_VECTOR.columns}
_FIXED = [pa.field(*ASSET)] + [pa.field(c.name, arrow_type(c)) for c in file_columns("features")]
"""The ``features`` file's named columns, before the open ones."""
_FEATURES, _KEY_SET, _ROW = attrgetter("features"), attrgetter("features.key_set"), attrgetter("features.raw")
_INPUTS = attrgetter("inputs")


def _codes(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Each value's position among the distinct values (in order of first appearance), and those."""
    distinct = list(dict.fromkeys(values))
    at = dict(zip(distinct, range(len(distinct)), strict=True))
    return np.fromiter(map(at.__getitem__, values), np.intp, len(values)), distinct


def _asset_codes(recs: Sequence[Any]) -> tuple[np.ndarray, pa.Array]:
    """Per record: the position of its asset id among the distinct ones (in order of first
    appearance), and those; Arrow's hash encoding, ~2x cheaper than :func:`_codes` for strings."""
    encoded = pa.array(list(map(_GET[ASSET[0]], recs)), ASSET[1]).dictionary_encode()
    return encoded.indices.to_numpy().astype(np.intp), encoded.dictionary


def _times(recs: Sequence[Any], name: str) -> tuple[np.ndarray, list[datetime]]:
    """Per record: the position of its datetime among the distinct ones, and those."""
    return _codes(list(map(_GET[name], recs)))


def _micros(distinct: list[datetime]) -> np.ndarray:
    """Distinct datetimes -> int64 microseconds as Arrow converts them (aware -> UTC)."""
    return pa.array(distinct, _TIME).cast(pa.int64()).to_numpy(zero_copy_only=False)


def feature_tables(recs: Sequence[Any]) -> dict[str, pa.Table]:
    """``recs`` (FeatureVectors) as the ``features`` table of each UTC date (``YYYY-MM-DD``, in
    order of first appearance): rows sorted by (asset_id, window_start), ties in arrival order."""
    a_code, asset_array = _asset_codes(recs)
    assets = asset_array.to_pylist()
    s_code, starts = _times(recs, "window_start")
    e_code, ends = _times(recs, "window_end")
    day_of_start, days = _codes(list(map(datetime.date, starts)))
    rank = np.empty(len(assets), np.intp)
    rank[sorted(range(len(assets)), key=assets.__getitem__)] = np.arange(len(assets))
    start_us = _micros(starts)[s_code]
    day = day_of_start[s_code]
    order = np.lexsort((start_us, rank[a_code], day))  # stable: ties keep arrival order
    bounds = np.searchsorted(day[order], np.arange(len(days) + 1))
    taken = pa.array(order)  # every record is read in arrival order, the columns permuted after
    columns = {
        ASSET[0]: asset_array.take(a_code[order]),
        "window_start": pa.array(start_us[order], _TIME),
        "window_end": pa.array(_micros(ends)[e_code][order], _TIME),
        "n_records": pa.array(list(map(_GET["n_records"], recs)), pa.int64()).take(taken),
        "events": _events(recs).take(taken),
        "inputs": inputs_column(list(map(_INPUTS, recs))).take(taken),  # digital thread: .archive_inputs
    }
    names_by_day, feature_columns = _feature_columns(recs, order, day)
    out = {}
    for d, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        names = names_by_day[d]
        arrays = [columns[f.name] for f in _FIXED] + [feature_columns[k] for k in names]
        if hi - lo != len(recs):  # one date of several (a write of one date takes the arrays whole)
            arrays = [a.slice(lo, hi - lo) for a in arrays]
        out[days[d].isoformat()] = pa.Table.from_arrays(arrays, schema=_schema(tuple(names)))
    return out


@lru_cache(maxsize=256)
def _schema(names: tuple[str, ...]) -> pa.Schema:
    """The ``features`` file schema with these open columns (built once per name sequence: a
    fleet has a handful, and 60 fields cost more than a small write's columns)."""
    spread = arrow_type(open_columns("features"))  # type: ignore[arg-type]
    return pa.schema(_FIXED + [pa.field(k, spread) for k in names])


def _events(recs: Sequence[Any]) -> pa.Array:
    """The events column: the archive value (comma-joined kinds) of the records that have any,
    ``""`` (the same form's value for none) for the rest, without a call per record."""
    values = [""] * len(recs)
    for i in compress(range(len(recs)), map(attrgetter("events"), recs)):
        values[i] = _GET["events"](recs[i])
    return pa.array(values, pa.string())


def _shape(features: Any) -> Hashable:
    """What windows share when their values line up: the key set, or a dict's key tuple."""
    return features.key_set if isinstance(features, FeatureMap) else tuple(features)


def _names(shape: Hashable) -> tuple[str, ...]:
    return shape.names if isinstance(shape, FeatureKeys) else shape  # type: ignore[return-value]


def _feature_columns(recs: Sequence[Any], order: np.ndarray,
                     day: np.ndarray) -> tuple[list[list[str]], dict[str, pa.Array]]:
    """The open columns' names of each date (the union, in order of first appearance in
    ``recs``, of each record's sorted names) and one ``double`` array per name over the whole
    write in sorted order (``recs`` in ``order``): null where a record lacks the name or its
    value is not finite."""
    try:
        shapes: list[Hashable] = list(map(_KEY_SET, recs))
    except AttributeError:  # some plain dicts
        shapes = list(map(_shape, map(_FEATURES, recs)))
    if shapes and shapes.count(shapes[0]) == len(shapes):  # the common case: one key set
        code, distinct = np.zeros(len(shapes), np.intp), shapes[:1]
    else:
        code, distinct = _codes(shapes)
    sorted_names = [s.sorted_names if isinstance(s, FeatureKeys) else tuple(sorted(s)) for s in distinct]
    names_by_day = []
    for d in range(int(day.max()) + 1 if len(day) else 0):
        if len(distinct) == 1:
            names_by_day.append(list(sorted_names[0]))
            continue
        used, first = np.unique(code[day == d], return_index=True)
        in_order = used[np.argsort(first)].tolist()
        names_by_day.append(list(dict.fromkeys(chain.from_iterable(sorted_names[s] for s in in_order))))
    matrix, row_of = _matrix(recs, order, code, distinct)
    finite = np.isfinite(matrix)
    clean = finite.all(axis=1)  # one reduction for every column (most have no missing value)
    columns = {}
    for name, j in row_of.items():
        ok = finite[j]
        columns[name] = pa.array(matrix[j]) if clean[j] else pa.array(matrix[j], pa.float64(), mask=~ok)
    return names_by_day, columns


def _stack(picked: Sequence[Any], shape: Hashable) -> np.ndarray:
    """The feature values of the records ``picked`` (all of ``shape``) as a (records, width)
    matrix: their rows' buffers joined (one copy), or a dict's values read."""
    if isinstance(shape, FeatureKeys):
        if not shape.names:
            return np.empty((len(picked), 0))
        return np.frombuffer(b"".join(map(_ROW, picked)), np.float64).reshape(len(picked), len(shape.names))
    return _values(list(map(_FEATURES, picked)), range(len(picked)), len(shape))  # type: ignore[arg-type]


def _transposed(stacked: np.ndarray, order: np.ndarray, block: int = 512) -> np.ndarray:
    """``stacked[order].T`` as a C-contiguous matrix (one row per name), gathered and copied a
    block of records at a time (NumPy's plain transposing copy of a tall matrix misses the
    cache; the rows are stacked in arrival order, where the records lie near each other in
    memory, and sorted here: reading the records in sorted order cost ~10x more per record)."""
    out = np.empty((stacked.shape[1], stacked.shape[0]))
    for i in range(0, stacked.shape[0], block):
        out[:, i:i + block] = stacked[order[i:i + block]].T
    return out


def _matrix(recs: Sequence[Any], order: np.ndarray, code: np.ndarray,
            distinct: list[Hashable]) -> tuple[np.ndarray, dict[str, int]]:
    """A (names, records) float matrix of the features of ``recs`` (whose key sets are
    ``distinct[code]``) in ``order``, NaN where a record lacks a name, and the row of each name."""
    if len(distinct) == 1:
        names = _names(distinct[0])
        return _transposed(_stack(recs, distinct[0]), order), {k: i for i, k in enumerate(names)}
    union = list(dict.fromkeys(chain.from_iterable(_names(s) for s in distinct)))
    at = {k: j for j, k in enumerate(union)}
    matrix = np.full((len(union), len(recs)), np.nan)
    for s, shape in enumerate(distinct):
        rows = np.flatnonzero(code == s)
        names = _names(shape)
        if names:
            keys = np.fromiter(map(at.__getitem__, names), np.intp, len(names))
            matrix[np.ix_(keys, rows)] = _stack(list(map(recs.__getitem__, rows.tolist())), shape).T
    return np.ascontiguousarray(matrix[:, order]), at
