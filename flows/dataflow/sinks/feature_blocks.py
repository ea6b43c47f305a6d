"""Windows as column blocks for the ``features`` archive (one block per run of one name sequence).

Issue 10's archive target (write >= 0.8x a bare ``write_table``): reading each window's Python
objects one at a time (asset id, two datetimes, the feature map and its bytes, the input spans)
cost ~4-5 us per window (RESULTS.md, ARCHIVE6). A :class:`FeatureBlock` holds consecutive
windows as columns: the asset ids (shared strings), start/end/n_records as int64 arrays, the
events' archive text, the input spans flattened into int64 arrays, and the feature values of a
single name sequence (each window's float64 row; :attr:`FeatureBlock.values` is them as one
(windows, names) matrix); each is made by C-level passes
over the windows (``map`` of attribute getters), and the sink builds a write's columns by
concatenating blocks (:func:`flows.dataflow.sinks.archive_features.block_tables`).

The sink makes them on its writer thread, :data:`~.archive_pending.CHUNK_ROWS` windows at a time
as they come (round 46, LAT46B: a snapshot with a recovery store then waits for the last chunk's
only; :mod:`flows.dataflow.sinks.archive_pending`), so the fixed cost of a block is paid once per
chunk. (ARCHIVE7 made them on the worker, a Bytewax batch at a time: at the demo's ~8
windows per batch that fixed cost halved the all-in rate; ARCHIVE8.) A block holds windows in
arrival order (blocks are split where the name sequence changes, so concatenating them keeps
the arrival order the sort's ties use) and is picklable; the sink still accepts blocks.

Round 13 (issue 10): the numbers a block needs besides the values (start/end, counts, the one
input span, the asset) were still five or six passes over the windows' objects, ~1.2 us per
window. The window step now packs them into each window's ``FeatureMap.tail``
(:mod:`flows.dataflow.window_tail`), and a block of windows that all have one is made from
one join of the tails (same block, ``tests/unit/test_window_tail.py``); others (a window from
another process, a plain dict, a bound beyond int64) are read from their objects as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, groupby
from operator import attrgetter
from typing import Any

import numpy as np

from flows.codec.record_fields import FEATURE_VECTOR
from flows.dataflow.sinks.archive_inputs import source_codes
from flows.dataflow.window_tail import asset_ids, map_tails, source_ids
from twin_models.feature_map import FeatureKeys, FeatureMap

__all__ = ["FeatureBlock", "feature_blocks"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_EVENTS = next(c.value for c in FEATURE_VECTOR.columns if c.name == "events")
_ASSET, _START, _END = attrgetter("asset_id"), attrgetter("window_start"), attrgetter("window_end")
_N, _FEATURES, _INPUTS = attrgetter("n_records"), attrgetter("features"), attrgetter("inputs")
_EVS = attrgetter("events")
_SOURCE, _FIRST, _LAST = attrgetter("source"), attrgetter("first"), attrgetter("last")
_RAW, _KEY_SET = attrgetter("raw"), attrgetter("key_set")


@dataclass(frozen=True, slots=True)
class FeatureBlock:
    """Consecutive windows of one feature-name sequence, as columns (arrival order).

    ``ids``: the distinct asset ids (first appearance), ``codes``: each window's position in
    them; ``names``: the feature names in the order of ``values``' columns; ``values``:
    ``rows``: the values, either a (windows, names) float64 matrix, C-contiguous (one row per
    window, as the windows hold them), or each window's row as the bytes of its ``FeatureMap.raw``
    (a block made from feature maps: the sink gathers those rows straight into sorted columns,
    :func:`~.archive_features.block_columns`, with no (windows, names) copy of the flush in
    arrival order; round 42); :attr:`values` is the matrix either way. ``span_counts``: input
    spans per window, their fields flattened into ``span_codes`` (positions in the distinct
    ``span_sources``) / ``span_first`` / ``span_last`` (int64, or object for integers beyond it)."""

    ids: list[str]
    codes: np.ndarray
    start_us: np.ndarray
    end_us: np.ndarray
    n_records: np.ndarray
    events: list[str]
    span_counts: np.ndarray
    span_sources: list[str]
    span_codes: np.ndarray
    span_first: np.ndarray
    span_last: np.ndarray
    names: tuple[str, ...]
    rows: np.ndarray | list[bytes]

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def values(self) -> np.ndarray:
        """The (windows, names) float64 matrix of the windows' values, arrival order."""
        if isinstance(self.rows, np.ndarray):
            return self.rows
        return np.frombuffer(b"".join(self.rows), np.float64).reshape(len(self.rows), len(self.names))

    @property
    def assets(self) -> list[str]:
        """Each window's asset id."""
        return [self.ids[c] for c in self.codes.tolist()]


def _micros(values: Iterable[datetime]) -> np.ndarray:
    """Datetimes -> int64 microseconds since the epoch, as Arrow converts them (naive = UTC);
    converted once per run of equal values (a flush's windows come period by period: runs of a
    fleet's size). Runs are found by comparing neighbours: hashing an aware datetime asks its
    zone for the offset, once per object, and the flow's windows never share their objects.
    ``values`` may be an iterator (no list of the window's datetimes is made)."""
    keys: list[int] = []
    lens: list[int] = []
    for d, run in groupby(values):
        keys.append(((d if d.tzinfo is not None else d.replace(tzinfo=UTC)) - _EPOCH) // _US)
        lens.append(sum(1 for _ in run))
    return np.repeat(np.array(keys, np.int64), lens)


def _ints(items: Sequence[Any], field: Callable[[Any], Any]) -> np.ndarray:
    """``field`` of every item as int64, read straight into the array (no list of Python ints);
    an object array when a value does not fit (the inputs column falls back then)."""
    try:
        return np.fromiter(map(field, items), np.int64, len(items))
    except (OverflowError, TypeError, ValueError):
        return np.array(list(map(field, items)), dtype=object)


def _shape(features: Any) -> Hashable:
    """What windows share when their values line up: the key set, or a dict's key tuple."""
    return features.key_set if isinstance(features, FeatureMap) else tuple(features)


def _values(maps: Sequence[Any], shape: Hashable) -> tuple[tuple[str, ...], np.ndarray | list[bytes]]:
    """The names and the rows of windows (their feature maps) that all have ``shape``: feature
    maps' rows as their bytes, not copied (round 42: the sink gathers them into sorted columns in
    cache-sized pieces, :func:`~.archive_features.block_columns`; joining them here first made a
    whole (windows, names) copy of the flush, ~8 MB for 20,000 windows, written then read once);
    plain dicts' as a (windows, names) matrix."""
    from flows.dataflow.sinks.archive_columns import _values as dict_values

    if isinstance(shape, FeatureKeys):
        if not shape.names:
            return shape.names, np.empty((len(maps), 0))
        return shape.names, list(map(_RAW, maps))
    names: tuple[str, ...] = shape  # type: ignore[assignment]
    return names, dict_values(list(maps), range(len(maps)), len(names))


def _block(fvs: Sequence[Any], maps: Sequence[Any], shape: Hashable) -> FeatureBlock:
    """Windows of one shape (in arrival order; ``maps`` their feature maps) as one block: from
    their tails (the numbers the window step packed, :mod:`flows.dataflow.window_tail`) when
    every window has one, else from their objects."""
    numbers = map_tails(maps)
    if numbers is None:
        return _object_block(fvs, maps, shape)
    start_us, end_us, n_records, n_events, n_spans, first, last, source, asset = numbers
    events = [""] * len(fvs)
    if n_events.any():  # most windows have none
        for i in np.flatnonzero(n_events).tolist():
            events[i] = _EVENTS(fvs[i])
    ids, codes = _coded(asset, asset_ids())
    names, values = _values(maps, shape)
    if not bool((n_spans == 1).all()):  # not one span per window: the spans read the old way
        return FeatureBlock(ids, codes, start_us, end_us, n_records, events, *_spans(fvs), names, values)
    sources, span_codes = _coded(source, source_ids())
    return FeatureBlock(ids, codes, start_us, end_us, n_records, events, n_spans, sources, span_codes,
                        first, last, names, values)


def _coded(codes: np.ndarray, table: list[str]) -> tuple[list[str], np.ndarray]:
    """Process-wide codes (positions in ``table``) as a block holds them: the distinct values in
    order of first appearance and each one's position among them."""
    if bool((codes == codes[0]).all()):  # one asset kind's fleet of one, one input partition
        return [table[int(codes[0])]], np.zeros(len(codes), np.intp)
    size = int(codes.max()) + 1
    if size <= 4 * len(codes) + 4096 and int(codes.min()) >= 0:  # a fleet's codes: no sort (round 22)
        first = np.full(size, len(codes), np.intp)
        np.minimum.at(first, codes, np.arange(len(codes)))  # each code's first window
        used = np.flatnonzero(first < len(codes))
        in_order = used[np.argsort(first[used], kind="stable")]
        position = np.empty(size, np.intp)
        position[in_order] = np.arange(len(in_order))
        return [table[c] for c in in_order.tolist()], position[codes]
    distinct, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    position = np.empty(len(distinct), np.intp)
    position[by_first] = np.arange(len(distinct))
    return [table[c] for c in distinct[by_first].tolist()], position[inverse.reshape(-1)]


def _spans(fvs: Sequence[Any]) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The windows' input spans flattened: counts, distinct sources, codes, first, last."""
    spans = list(map(_INPUTS, fvs))
    flat = list(chain.from_iterable(spans))
    return (np.fromiter(map(len, spans), np.int64, len(spans)), *source_codes(list(map(_SOURCE, flat))),
            _ints(flat, _FIRST), _ints(flat, _LAST))


def _object_block(fvs: Sequence[Any], maps: Sequence[Any], shape: Hashable) -> FeatureBlock:
    """Windows of one shape (in arrival order; ``maps`` their feature maps) as one block, read
    from their objects."""
    events = [""] * len(fvs)
    if any(map(_EVS, fvs)):  # most windows have none: no Python loop then
        for i, fv in enumerate(fvs):
            if fv.events:
                events[i] = _EVENTS(fv)
    names, values = _values(maps, shape)
    assets = list(map(_ASSET, fvs))
    ids = list(dict.fromkeys(assets))
    at = dict(zip(ids, range(len(ids)), strict=True))
    codes = np.fromiter(map(at.__getitem__, assets), np.intp, len(assets))
    return FeatureBlock(ids, codes, _micros(map(_START, fvs)), _micros(map(_END, fvs)),
                        _ints(fvs, _N), events, *_spans(fvs), names, values)


def feature_blocks(fvs: Sequence[Any]) -> list[FeatureBlock]:
    """FeatureVectors (in arrival order) as blocks: one per run of consecutive windows with the
    same feature names (one block for a batch of one asset kind)."""
    if not fvs:
        return []
    maps = list(map(_FEATURES, fvs))  # read once: their tails, key sets and rows come from here
    try:
        shapes: list[Hashable] = list(map(_KEY_SET, maps))
    except AttributeError:  # some plain dicts (windows pickled across workers, tests)
        shapes = [_shape(m) for m in maps]
    first = shapes[0]
    if shapes.count(first) == len(shapes):  # the common case
        return [_block(fvs, maps, first)]
    out, lo = [], 0
    for i in range(1, len(shapes) + 1):
        if i == len(shapes) or shapes[i] != shapes[lo]:
            out.append(_block(fvs[lo:i], maps[lo:i], shapes[lo]))
            lo = i
    return out
