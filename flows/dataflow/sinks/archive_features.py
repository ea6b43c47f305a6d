"""FeatureVectors -> the ``features`` table's files of one write, from their NumPy rows (issue 10).

:func:`flows.dataflow.sinks.archive_columns.records_table` reads the ~50 values of every window
out of its mapping (~30 ns each: more than the whole bare ``write_table`` of the same rows). A
window from :func:`twin_models.features.window.aggregate_window` carries its values as one
float64 row and a key sequence shared by every window of its kind
(:class:`twin_models.feature_map.FeatureMap`), so here the rows of a whole write are stacked with
one copy per key sequence (``bytes.join`` of the rows' buffers), and every other per-record step
is a C-level pass: ``map`` over the records for each named column, the datetimes, asset ids and
dates converted once per DISTINCT value (a write of a fleet has few windows and assets), the sort
by (date, asset_id, time) one ``np.lexsort`` over integer codes, each column built once for the
whole write and sliced (zero-copy) per date. Plain dict features (tests, older pickles) are read as
:mod:`.archive_columns` reads them.

The tables are the ones :func:`~.archive_columns.date_groups` + ``records_table`` give, date by
date: same dates in order of first appearance, same columns in the same order, types, rows (ties
on (asset_id, time) in arrival order) and nulls (``tests/unit/test_archive_features.py``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa

from flows.archive.layout import ASSET
from flows.codec.archive_schema import arrow_type, file_columns, open_columns
from flows.codec.record_fields import FEATURE_VECTOR
from flows.dataflow.sinks.archive_columns import _values
from twin_models.feature_map import FeatureKeys, FeatureMap

__all__ = ["feature_tables"]

_TIME = pa.timestamp("us", tz="UTC")
_GET = {c.name: c.value for c in FEATURE_VECTOR.columns}
_FEATURES, _KEY_SET, _ROW = attrgetter("features"), attrgetter("key_set"), attrgetter("row")


def _codes(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Each value's position among the distinct values (in order of first appearance), and those."""
    distinct = list(dict.fromkeys(values))
    at = dict(zip(distinct, range(len(distinct)), strict=True))
    return np.fromiter(map(at.__getitem__, values), np.intp, len(values)), distinct


def _times(recs: Sequence[Any], name: str) -> tuple[np.ndarray, list[datetime]]:
    """Per record: the position of its datetime among the distinct ones, and those."""
    return _codes(list(map(_GET[name], recs)))


def _micros(distinct: list[datetime]) -> np.ndarray:
    """Distinct datetimes -> int64 microseconds as Arrow converts them (aware -> UTC)."""
    return pa.array(distinct, _TIME).cast(pa.int64()).to_numpy(zero_copy_only=False)


def feature_tables(recs: Sequence[Any]) -> dict[str, pa.Table]:
    """``recs`` (FeatureVectors) as the ``features`` table of each UTC date (``YYYY-MM-DD``, in
    order of first appearance): rows sorted by (asset_id, window_start), ties in arrival order."""
    a_code, assets = _codes(list(map(_GET[ASSET[0]], recs)))
    s_code, starts = _times(recs, "window_start")
    e_code, ends = _times(recs, "window_end")
    day_of_start, days = _codes(list(map(datetime.date, starts)))
    rank = np.empty(len(assets), np.intp)
    rank[sorted(range(len(assets)), key=assets.__getitem__)] = np.arange(len(assets))
    start_us = _micros(starts)[s_code]
    day = day_of_start[s_code]
    order = np.lexsort((start_us, rank[a_code], day))  # stable: ties keep arrival order
    bounds = np.searchsorted(day[order], np.arange(len(days) + 1))
    columns = {
        ASSET[0]: pa.array(assets, ASSET[1]).take(a_code[order]),
        "window_start": pa.array(start_us[order], _TIME),
        "window_end": pa.array(_micros(ends)[e_code][order], _TIME),
        "n_records": pa.array(list(map(_GET["n_records"], recs)), pa.int64()).take(order),
        "events": _events(recs).take(order),
    }
    fixed = [pa.field(*ASSET)] + [pa.field(c.name, arrow_type(c)) for c in file_columns("features")]
    spread = arrow_type(open_columns("features"))  # type: ignore[arg-type]
    names_by_day, feature_columns = _feature_columns(recs, order, day)
    out = {}
    for d, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        names = names_by_day[d]
        fields = fixed + [pa.field(k, spread) for k in names]
        arrays = [columns[f.name] for f in fixed] + [feature_columns[k] for k in names]
        out[days[d].isoformat()] = pa.Table.from_arrays([a.slice(lo, hi - lo) for a in arrays],
                                                        schema=pa.schema(fields))
    return out


def _events(recs: Sequence[Any]) -> pa.Array:
    """The events column: the archive value (comma-joined kinds) of the records that have any,
    ``""`` (the same form's value for none) for the rest, without a call per record."""
    events = list(map(attrgetter("events"), recs))
    values = [""] * len(recs)
    for i in np.flatnonzero(np.fromiter(map(len, events), np.intp, len(recs))).tolist():
        values[i] = _GET["events"](recs[i])
    return pa.array(values, pa.string())


def _shape(features: Any) -> Hashable:
    """What windows share when their values line up: the key set, or a dict's key tuple."""
    return features.key_set if isinstance(features, FeatureMap) else tuple(features)


def _feature_columns(recs: Sequence[Any], order: np.ndarray,
                     day: np.ndarray) -> tuple[list[list[str]], dict[str, pa.Array]]:
    """The open columns' names of each date (the union, in order of first appearance in the
    records, of each record's sorted names) and one ``double`` array per name over the whole
    write in ``order``: null where a record lacks the name or its value is not finite."""
    maps = list(map(_FEATURES, recs))
    try:
        shapes: list[Hashable] = list(map(_KEY_SET, maps))
    except AttributeError:  # some plain dicts
        shapes = list(map(_shape, maps))
    code, distinct = _codes(shapes)
    sorted_names = [s.sorted_names if isinstance(s, FeatureKeys) else tuple(sorted(s)) for s in distinct]
    union = list(dict.fromkeys(chain.from_iterable(sorted_names)))
    names_by_day = []
    for d in range(int(day.max()) + 1 if len(day) else 0):
        used, first = np.unique(code[day == d], return_index=True)
        in_order = used[np.argsort(first)].tolist()
        names_by_day.append(list(dict.fromkeys(chain.from_iterable(sorted_names[s] for s in in_order))))
    matrix = _matrix(maps, code, distinct, union, order)
    finite = np.isfinite(matrix)
    columns = {}
    for j, name in enumerate(union):
        ok = finite[j]
        columns[name] = pa.array(matrix[j]) if ok.all() else pa.array(matrix[j], pa.float64(), mask=~ok)
    return names_by_day, columns


def _stack(picked: list[Any], shape: Hashable) -> np.ndarray:
    """The values of ``picked`` (maps all of ``shape``) as a (maps, width) matrix."""
    if isinstance(shape, FeatureKeys):
        if not shape.names:
            return np.empty((len(picked), 0))
        return np.frombuffer(b"".join(map(_ROW, picked)), np.float64).reshape(len(picked), len(shape.names))
    return _values(picked, range(len(picked)), len(shape))  # type: ignore[arg-type]


def _matrix(maps: list[Any], code: np.ndarray, distinct: list[Hashable], union: list[str],
            order: np.ndarray) -> np.ndarray:
    """A (union names, records in ``order``) float matrix of the maps' values, NaN where a map
    lacks a name."""
    if len(distinct) == 1:  # the common case: one key set, names = its sorted names
        shape = distinct[0]
        names = shape.names if isinstance(shape, FeatureKeys) else shape
        index = {k: i for i, k in enumerate(names)}  # type: ignore[union-attr]
        by_name = np.fromiter(map(index.__getitem__, union), np.intp, len(union))
        return np.ascontiguousarray(_stack(list(map(maps.__getitem__, order.tolist())), shape).T[by_name])
    at = {k: j for j, k in enumerate(union)}
    position = np.empty(len(order), np.intp)
    position[order] = np.arange(len(order))
    matrix = np.full((len(union), len(order)), np.nan)
    for s, shape in enumerate(distinct):
        rows = np.flatnonzero(code == s)
        names = shape.names if isinstance(shape, FeatureKeys) else shape
        if names:
            keys = np.fromiter((at[k] for k in names), np.intp, len(names))  # type: ignore[union-attr]
            picked = list(map(maps.__getitem__, rows.tolist()))
            matrix[np.ix_(keys, position[rows])] = _stack(picked, shape).T
    return matrix
