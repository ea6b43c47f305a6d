"""A window's fixed archive numbers, packed where the window is aggregated (issue 10).

The ``features`` archive sink needs, per window, its start and end (int64 microseconds), its
record and event counts, its input spans and its asset id. Read back out of each FeatureVector's
Python objects (two datetimes, a tuple of spans, strings) that was five or six C-level passes
per flush and ~1.5 us per window, about a quarter of the sink (RESULTS.md, ARCHIVE11 section 2).
The window step knows all of them as integers already (the window id, the counts), so
:func:`pack` packs them there into 72 bytes (:data:`TAIL`: nine int64) that become the
window's ``FeatureMap.tail`` (given to the map as it is built). The sink joins the tails of a
flush in one pass and reads the columns out of one int64 matrix (:func:`map_tails`).

Asset ids and span sources are packed as codes into this process's tables (:func:`asset_ids`,
:func:`source_ids`; append-only, at most :data:`MAX_CODES` each). A tail is valid only in the
process that packed it, and it never leaves one: a pickled FeatureMap is a plain dict
(:mod:`twin_models.feature_map`), so a window from another worker has no tail and the sink
reads it the old way. A window that does not fit (a bound beyond int64, a code table full) gets
no tail either; with no span or several, the tail says so and the sink reads the spans from the
window.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np

__all__ = ["FIELDS", "MAX_CODES", "TAIL", "asset_ids", "map_tails", "pack", "source_ids"]

FIELDS = ("start_us", "end_us", "n_records", "n_events", "n_spans", "first", "last", "source", "asset")
"""The tail's int64 fields in order; ``first``, ``last`` and ``source`` are the window's one input
span's (0, 0, -1 without exactly one span: the sink then reads the spans from the windows)."""
TAIL = struct.Struct("<9q")
MAX_CODES = 1 << 20
"""Distinct asset ids (and sources) coded per process; past it a window gets no tail (a fleet has
far fewer: a code per asset and per input partition)."""

_ASSETS: dict[str, int] = {}
_ASSET_IDS: list[str] = []
_SOURCES: dict[str, int] = {}
_SOURCE_IDS: list[str] = []
_LOCK = threading.Lock()
_TAIL = attrgetter("tail")
_PACK = TAIL.pack


def _code(value: str, codes: dict[str, int], values: list[str]) -> int:
    """``value``'s code, a new one the first time (-1 when the table is full). Under a lock:
    worker threads share the tables (the sink's writer thread only reads codes it was given)."""
    with _LOCK:
        code = codes.get(value)
        if code is None:
            if len(values) >= MAX_CODES:
                return -1
            values.append(value)  # before the code is handed out: a reader finds it there
            code = codes[value] = len(values) - 1
        return code


def pack(asset_id: str, start_us: int, end_us: int, n_records: int, n_events: int,
         spans: tuple[Any, ...]) -> bytes:
    """The tail of a window (``b""`` where one would not fit): ``start_us`` / ``end_us`` its bounds
    in microseconds since the epoch (exact integers from the window id), ``n_records`` /
    ``n_events`` its counts, ``spans`` its input spans.

    Per window, so written for speed (~0.4-0.6 us here, against ~1.0-1.3 us of reading the same
    numbers back in the sink): one dict lookup per code and one ``pack``; the window step hands
    the bytes to :func:`~twin_models.features.window.aggregate_columns`, which gives them to the
    feature map it builds (no attribute set afterwards)."""
    asset = _ASSETS.get(asset_id)
    if asset is None and (asset := _code(asset_id, _ASSETS, _ASSET_IDS)) < 0:
        return b""
    if len(spans) != 1:
        return _PACK(start_us, end_us, n_records, n_events, len(spans), 0, 0, -1, asset)
    span = spans[0]
    source = _SOURCES.get(span.source)
    if source is None and (source := _code(span.source, _SOURCES, _SOURCE_IDS)) < 0:
        return b""
    try:
        return _PACK(start_us, end_us, n_records, n_events, 1, span.first, span.last, source, asset)
    except struct.error:  # a bound beyond int64 (or not an integer): read the old way
        return b""


def map_tails(maps: Sequence[Any]) -> np.ndarray | None:
    """The tails of the windows' feature maps as one (fields, windows) int64 matrix (rows in
    :data:`FIELDS` order), or None when any map has none. The sink reads the maps once per flush
    for the tails, the key sets and the rows: one pass over the windows, not three; one C pass
    to join the tails."""
    try:
        joined = b"".join(map(_TAIL, maps))
    except AttributeError:  # a plain dict of features (a window from another process, a test)
        return None
    if len(joined) != TAIL.size * len(maps):
        return None
    matrix = np.frombuffer(joined, "<i8").reshape(len(maps), len(FIELDS))
    return np.ascontiguousarray(matrix.T, np.int64)


def asset_ids() -> list[str]:
    """This process's asset ids by code (the live list: index it, do not change it)."""
    return _ASSET_IDS


def source_ids() -> list[str]:
    """This process's span sources by code (the live list: index it, do not change it)."""
    return _SOURCE_IDS
