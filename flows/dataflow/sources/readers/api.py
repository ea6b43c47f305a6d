"""The readers' public functions: one file -> its records in event-time order, and a cheap count."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow.parquet as pq

from flows.dataflow.items import ScalarColumns
from flows.dataflow.sources.readers.layout import Layout, layout
from flows.dataflow.sources.readers.pieces import pieces
from flows.dataflow.sources.readers.source import (
    GZIP_ERRORS,
    FileFormatError,
    ReadStats,
    Source,
    gzip_problem,
    open_binary,
    open_source,
)
from flows.dataflow.sources.readers.tables import read_table, read_table_chunks
from flows.dataflow.sources.readers.waveforms import read_waveforms
from twin_models.records import Telemetry

log = logging.getLogger("flows.dataflow.sources.readers")


def _prepare(path: str | Path, fmt: str | None, sep: str | None, ignore_columns: Iterable[str],
             asset_id: str | None) -> tuple[Source, Layout]:
    """Open a file's header and settle its layout."""
    ignore = frozenset([ignore_columns] if isinstance(ignore_columns, str) else ignore_columns)
    src = open_source(Path(path), sep)
    return src, layout(src, fmt, ignore, asset_id)


def read_records(path: str | Path, *, fmt: str | None = None, sep: str | None = None,
                 ignore_columns: Iterable[str] = (), asset_id: str | None = None,
                 stats: ReadStats | None = None) -> Iterator[Telemetry]:
    """One file's records in event-time order (see the package docstring for formats and rules).

    ``fmt`` forces a format (``nab``, ``scalar_table``, ``waveform``, ``events``) instead of
    detecting it; ``sep`` is the CSV separator (default: the most frequent of ``, ; TAB |`` in the
    header; TAB for ``*.tsv``); ``ignore_columns`` are columns to skip (text columns of a scalar
    table, extra columns); ``asset_id`` names the asset of a file without an ``asset_id`` column
    (default: the file stem). ``stats``, if given, is filled in while reading.

    Lazy: nothing is read until the first record is requested; a :class:`FileFormatError` naming the
    file, line/row and column is raised before the first record is yielded.
    """
    st = stats if stats is not None else ReadStats()
    src, lay = _prepare(path, fmt, sep, ignore_columns, asset_id)
    records: Iterable[Telemetry] = (read_waveforms(src, lay, st) if lay.fmt == "waveform"
                                    else read_table(src, lay, st))
    for rec in records:
        st.records += 1
        yield rec
    level = logging.INFO if st.skipped or st.reordered else logging.DEBUG
    log.log(level, "%s (%s): %d rows, %d records, skipped %s%s", src.path, lay.fmt, st.rows, st.records,
            dict(st.skipped) or "nothing", ", sorted by time" if st.reordered else "")


SCALAR_FORMATS = ("nab", "scalar_table")
"""Formats whose files :func:`read_pieces` gives as column pieces."""


def file_format(path: str | Path, *, fmt: str | None = None, sep: str | None = None,
                ignore_columns: Iterable[str] = (), asset_id: str | None = None) -> str:
    """The format a file is read as (its header only)."""
    return _prepare(path, fmt, sep, ignore_columns, asset_id)[1].fmt


def read_pieces(path: str | Path, *, fmt: str | None = None, sep: str | None = None,
                ignore_columns: Iterable[str] = (), asset_id: str | None = None,
                stats: ReadStats | None = None) -> Iterator[ScalarColumns | Telemetry]:
    """:func:`read_records` of a scalar table as per-asset column pieces
    (:mod:`.pieces`; a table out of time order still gives records): same samples, same checks,
    same stats (``records`` counts samples)."""
    st = stats if stats is not None else ReadStats()
    src, lay = _prepare(path, fmt, sep, ignore_columns, asset_id)
    if lay.fmt not in SCALAR_FORMATS:
        msg = f"{src.path}: column pieces are for scalar tables, not {lay.fmt!r} files"
        raise ValueError(msg)
    for piece in pieces(read_table_chunks(src, lay, st), lay):
        st.records += len(piece) if isinstance(piece, ScalarColumns) else 1
        yield piece
    level = logging.INFO if st.skipped or st.reordered else logging.DEBUG
    log.log(level, "%s (%s): %d rows, %d records, skipped %s%s", src.path, lay.fmt, st.rows, st.records,
            dict(st.skipped) or "nothing", ", sorted by time" if st.reordered else "")


def _count_lines(path: Path) -> int:
    """Lines of a (possibly gzipped) text file, counting a last line without a newline."""
    n, last = 0, b"\n"
    try:
        with open_binary(path) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                n += chunk.count(b"\n")
                last = chunk[-1:]
    except GZIP_ERRORS as exc:
        raise FileFormatError(gzip_problem(exc), path=path) from None
    return n + (last != b"\n")


def estimate_records(path: str | Path, *, fmt: str | None = None, sep: str | None = None,
                     ignore_columns: Iterable[str] = (), asset_id: str | None = None) -> int:
    """Records a file holds at most, cheaply: rows x channels from Parquet metadata or line counts.

    Empty cells and blank lines are counted, so this is an upper bound (exact for complete files).
    """
    src, lay = _prepare(path, fmt, sep, ignore_columns, asset_id)
    per_row = 1 if lay.fmt == "events" else len(lay.channels)
    if src.parquet:
        rows: int = pq.read_metadata(src.path).num_rows
    else:
        rows = _count_lines(src.path) - 1
    return max(rows, 0) * per_row
