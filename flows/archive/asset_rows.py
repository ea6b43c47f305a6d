"""One asset's views: the rows of one asset, read in the listing's own opening of each file.

Why (round 41, SCAN41b): a view over a table's files reads every file's footer again at each query
(QUERY40's trade for bounded memory), and the listing (:func:`flows.archive.files.scan_table`) reads
them once before that: over 40,000 parts `twin explain` and `twin whatif`, which only ever ask
about one asset, took 100 s and more. :func:`asset_listings` lists the tables keyed by asset
(:data:`ASSET_TABLES`) with a row hook: each file, opened once for its footer, gives the asset's rows
too (the row groups whose ``asset_id`` statistics may hold it; an older layout's file only when its
``asset_id=`` folder names it). The views are then built over those rows, with the dataset's own
columns, file ranks and deduplication (:mod:`flows.archive.views`): every query of the asset gives
the rows the file views give, with no file opened again. Memory: the asset's rows of these tables,
the columns asked, inside the command's :class:`flows.archive.asset_bounds.Bound` of each (round 42,
SCAN42: the whole history before; a file's rows of other assets, or outside the bound, are dropped as
it is read). A bound may be a function of the connection holding the views listed before it (the
tables are listed in :data:`ASSET_TABLES`' order): `twin explain` bounds ``features`` by the life's
start, which it asks of the ``twin_state`` view.

Memory over a long history (round 43, MEM43; a year of one-minute windows: the rows 20-30 MB of Arrow,
the listing had added ~130 MB of RSS): a file's column paths are taken from a row group, not from
``metadata.schema`` (a reference cycle kept ~100 KB a file until collected); the pool's freed pages are
given back after each file's read and each table's listing (kept between the rows held, they stayed);
``date`` and ``asset_id`` are held as runs; and each key's newest write is picked once by Arrow
(:func:`flows.archive.views.newest_writes`), not by DuckDB's window at each query.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flows.archive.asset_bounds import Bound, at_time, bounded, may_reach, newest_time, reaches_whole
from flows.archive.files import RANK_COLUMN, TableFiles, first_line, given_word, scan_table
from flows.archive.views import KEYS, add_empty_view, add_view_over, dataset_schema, file_ranks

__all__ = ["ASSET_TABLES", "AssetRows", "Bounds", "UnreadableRows", "add_asset_views", "asset_table"]

_POOL = pa.default_memory_pool()
ASSET_TABLES = ("twin_state", "features", "damage_state")
"""The tables whose key begins with ``asset_id`` (:data:`flows.archive.views.KEYS`): one asset's rows
hold every write of each of its keys, so its deduplicated rows are the view's rows of that asset."""
_FOLDER = "asset_id="


def _may_hold(stats: pq.Statistics | None, asset: str) -> bool:
    """Whether a row group's ``asset_id`` statistics leave room for ``asset`` (none: it may)."""
    if stats is None or not stats.has_min_max:
        return True
    low, high = stats.min, stats.max
    if not isinstance(low, str) or not isinstance(high, str):
        return True
    return low <= asset <= high


SMALL = 64
"""Rows of a file up to which the asset's rows are picked in Python (a zero-copy slice when they follow
each other, as a flush's do); a larger file's (a compacted one) are filtered by Arrow, a copy that lets
the file's other rows go."""


def _picked(table: pa.Table, asset: str) -> pa.Table | None:
    """``table``'s rows of ``asset`` (None: none)."""
    if table.num_rows > SMALL:
        kind = table.schema.field("asset_id").type
        mask = pc.equal(table["asset_id"], pa.scalar(asset, kind))
        if pc.all(mask, skip_nulls=False).as_py():  # a file of this asset alone: no copy
            return table
        got = table.filter(mask)
        return got if got.num_rows else None
    at = [i for i, v in enumerate(table["asset_id"].to_pylist()) if v == asset]
    if not at:
        return None
    if at[-1] - at[0] + 1 == len(at):
        return table.slice(at[0], len(at))
    return table.take(at)


BATCH = 256
"""Files whose rows are put together into one table as they come: a table per file held ~9 KB of Arrow
objects for its one row (10,000 parts: +90 MB at the peak)."""


class AssetRows:
    """The :data:`flows.archive.files.RowHook` keeping one asset's rows of each file, only the columns
    ``columns`` names (None: all) and those the view's deduplication needs, with the path of each row,
    and why a file's rows could not be read. A file listed twice (the listing done again) gives its
    rows twice: the view keeps one (same key, same write)."""

    def __init__(self, asset: str, table: str, columns: Iterable[str] | None = None,
                 bound: Bound | None = None) -> None:
        self.asset, self.bound = asset, bound
        if bound is not None:
            bound.check(table)
        # the view's deduplication reads the key and _write_seq; run_id and _written_at only when asked
        needed = {"asset_id", *KEYS[table].replace(" ", "").split(","), "_write_seq"}
        self.columns = None if columns is None else needed | set(columns)
        self.key = frozenset({"asset_id", *KEYS[table].replace(" ", "").split(","), "_write_seq"})
        """What a row before the bound's ``whole_from`` keeps besides its ``narrow`` columns: the key and
        the write order the view's deduplication reads."""
        self.chunks: list[tuple[list[tuple[Path, int]], pa.Table]] = []
        """Tables of rows, each with the files its rows came from, in order (a file and its rows' count):
        a path per row held ~60 bytes a row more (a year of one-minute windows: ~30 MB)."""
        self.failed: dict[Path, str] = {}
        self._pending: list[tuple[Path, pa.Table]] = []
        self._newest: int | None = None
        self._lock = threading.Lock()

    def __call__(self, path: Path, pf: pq.ParquetFile) -> None:
        """Take the asset's rows of ``pf`` (called in a listing thread)."""
        try:
            got = self._read(path, pf)
        except (OSError, pa.ArrowException, ValueError, KeyError) as exc:
            with self._lock:
                self.failed[path] = first_line(exc)
            return
        finally:  # the read's freed pages given back at once (this thread's; ~3 us): kept between the
            _POOL.release_unused()  # rows held, they added ~25 MB to a year's 28 MB of rows (MEM43)
        if not got:
            return
        with self._lock:
            if self.bound is not None and self.bound.newest and not (got := self._newer(got)):
                return
            self._pending.extend((path, t) for t in got)
            if len(self._pending) >= BATCH:
                self.flush()

    def _newer(self, got: list[pa.Table]) -> list[pa.Table]:
        """``got``'s rows at the newest time seen so far (under the lock): a newer time drops the rows
        kept before; an older one, these."""
        assert self.bound is not None
        column = self.bound.column
        tops = [t for t in (newest_time(t, column) for t in got) if t is not None]
        if not tops or (self._newest is not None and max(tops) < self._newest):
            return []
        if self._newest is None or max(tops) > self._newest:
            self._newest = max(tops)
            self.chunks, self._pending = [], []
        return [t for t in (at_time(t, column, self._newest) for t in got) if t.num_rows]

    def flush(self) -> None:
        """The files' rows taken since the last flush as one table (each file's own table when their
        columns cannot be united: a file the listing leaves out, outvoted)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            merged = pa.concat_tables([t for _, t in pending], promote_options="permissive").combine_chunks()
        except (pa.ArrowException, ValueError, TypeError):
            self.chunks.extend(([(p, t.num_rows)], t) for p, t in pending)
            return
        self.chunks.append(([(p, t.num_rows) for p, t in pending], merged))

    def _read(self, path: Path, pf: pq.ParquetFile) -> list[pa.Table]:
        """The asset's rows of ``pf`` inside the bound (its rows before ``whole_from``: a table of their
        narrow columns). With a ``whole_from``, the narrow columns are read first and the others only
        for a file holding rows from it on: reading the history's text to drop it held ~250 MB of
        freed but unreturned memory over a year of one-minute windows."""
        read = None if self.columns is None else [n for n in pf.schema_arrow.names if n in self.columns]
        bound = self.bound
        if bound is not None and bound.whole_from is not None and read is not None:
            narrow = [n for n in read if n in self.key or n in bound.narrow or n == bound.column]
            if len(narrow) < len(read):
                table = self._rows(path, pf, narrow)
                if table is None:
                    return []
                if not reaches_whole(table, bound):
                    return bounded(table, bound, self.key)
        table = self._rows(path, pf, read)
        return [] if table is None else bounded(table, bound, self.key)

    def _rows(self, path: Path, pf: pq.ParquetFile, read: list[str] | None) -> pa.Table | None:
        # the footer's Python objects (``pf.metadata``) only for a file of many row groups: made for
        # each part, they held ~5 KB a file more at the peak (10,000 parts: +50 MB)
        names = pf.schema_arrow.names
        if path.parent.name.startswith(_FOLDER):  # older layout: the folder names the asset
            if unquote(path.parent.name[len(_FOLDER):]) != self.asset or "asset_id" in names:
                return None  # another asset's file (or a foreign one: the listing leaves it out)
            table = pf.read(columns=read, use_threads=False)
            return table if table.num_rows else None
        if "asset_id" not in names:
            return None  # foreign: the listing leaves it out
        groups = list(range(pf.num_row_groups))
        if len(groups) > 1:
            meta = pf.metadata  # its column paths from a row group: ``meta.schema`` makes a reference
            first = meta.row_group(0)  # cycle holding ~100 KB a file until collected (a year: +37 MB)
            paths = [first.column(i).path_in_schema for i in range(meta.num_columns)]
            col = paths.index("asset_id")
            at = paths.index(self.bound.column) if self.bound and self.bound.column in paths else None
            groups = [g for g in groups if _may_hold(meta.row_group(g).column(col).statistics, self.asset)
                      and (at is None or may_reach(self.bound, meta.row_group(g).column(at).statistics))]
        if not groups:
            return None
        return _picked(pf.read_row_groups(groups, columns=read, use_threads=False), self.asset)


class UnreadableRows(ValueError):
    """A file whose footer was read but whose rows of the asset could not be (corrupt data pages)."""


def asset_table(tf: TableFiles, got: AssetRows) -> pa.Table:
    """The asset's rows of ``tf``'s readable files in the dataset's columns (file rank included; only
    those ``got`` read). :class:`UnreadableRows` naming the first file whose rows could not be read."""
    schema, ranks = dataset_schema(tf), file_ranks(tf)
    if got.columns is not None:
        schema = pa.schema([f for f in schema if f.name in got.columns or f.name in ("date", RANK_COLUMN)])
    got.flush()
    if (bad := next((f.path for f in tf.files if f.path in got.failed), None)) is not None:
        msg = f"the archive file {bad} cannot be read ({got.failed[bad]})"
        raise UnreadableRows(msg)
    index = {f.path: i for i, f in enumerate(tf.files)}
    tables, files, counts = [], [], []
    for runs, t in got.chunks:
        listed = [p in index for p, _ in runs]
        if not any(listed):
            continue
        if not all(listed):  # a file the listing left out (outvoted): its rows dropped
            t = t.filter(pa.array(np.repeat(listed, [n for _, n in runs])))
        tables.append(t)
        files += [index[p] for p, n in runs if p in index]
        counts += [n for p, n in runs if p in index]
    if not tables:
        return schema.empty_table()
    at = pa.array(np.repeat(np.asarray(files, np.int64), counts))  # each row's file
    rank = pa.array([ranks[i] for i in range(len(tf.files))], pa.int64()).take(at)
    rows = pa.concat_tables(tables, promote_options="permissive")
    # date and asset as runs (a file's rows share them; the asset is one): a value a row held ~16 bytes
    # a row (a year of one-minute windows: ~10 MB a table); the view's scan reads them as plain columns
    ends = pa.array(np.cumsum(counts, dtype=np.int64), pa.int64())
    dates = pa.RunEndEncodedArray.from_arrays(ends, pa.array([tf.files[i].date for i in files], pa.date32()))
    named = pa.array([tf.files[i].asset_id or got.asset for i in files], pa.string())
    assets = pa.RunEndEncodedArray.from_arrays(ends, named)
    given = {"date": dates, RANK_COLUMN: rank, "asset_id": assets}
    encoded = {"date", "asset_id"}  # kept as runs when of the view's type (else decoded, then cast)
    columns = [given[f.name] if f.name in encoded and f.type == given[f.name].type.value_type
               else pc.run_end_decode(given[f.name]).cast(f.type) if f.name in encoded
               else given[f.name].cast(f.type) if f.name in given
               else rows[f.name].cast(f.type) if f.name in rows.column_names
               else pa.nulls(rows.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, names=schema.names)


Bounds = Mapping[str, Bound | Callable[[duckdb.DuckDBPyConnection], Bound]]
"""A table's :class:`Bound`, or the function making it of the connection holding the views listed before."""


def add_asset_views(con: duckdb.DuckDBPyConnection, root: str | Path, tables: Iterable[str], asset: str,
                    columns: Mapping[str, Iterable[str]] | None = None, bounds: Bounds | None = None,
                    ) -> list[TableFiles]:
    """Each of ``tables`` that is one of :data:`ASSET_TABLES` listed (each file opened once), in that
    order, and its view added to ``con`` over ``asset``'s rows of its readable files inside the table's
    bound (``columns``: a table's columns wanted, all when it is not named); an empty view for a table
    with no file yet. The listings; :class:`UnreadableRows` (one line, naming the command that moves the
    file aside) for a file whose footer was read but not its rows."""
    out = []
    for table in (t for t in ASSET_TABLES if t in set(tables)):
        bound = (bounds or {}).get(table)
        got = AssetRows(asset, table, (columns or {}).get(table), bound(con) if callable(bound) else bound)
        tf = scan_table(Path(root), table, rows=got)
        try:
            rows = asset_table(tf, got) if tf.files else None
        except UnreadableRows as exc:
            command = f"twin archive check --archive {given_word(root)} --pages --repair"
            msg = f"{exc}: move it aside with `{command}`"
            raise UnreadableRows(msg) from None
        del got  # the files' tables: the view's rows are a copy
        _POOL.release_unused()  # what the listing's reads freed: back to the system
        if rows is not None:
            add_view_over(con, table, rows)
        elif not tf.bad:  # as the file views: a table whose every file is bad stays missing
            add_empty_view(con, table)
        out.append(tf)
    return out
