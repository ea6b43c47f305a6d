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
all their columns (a file's rows of other assets are dropped as it is read).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flows.archive.files import RANK_COLUMN, TableFiles, scan_table
from flows.archive.views import BOOKKEEPING, KEYS, dataset_schema, file_ranks

__all__ = ["ASSET_TABLES", "AssetRows", "UnreadableRows", "asset_listings", "asset_table"]

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
        got = table.filter(pc.equal(table["asset_id"], pa.scalar(asset, kind)))
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

    def __init__(self, asset: str, table: str, columns: Iterable[str] | None = None) -> None:
        self.asset = asset
        needed = {"asset_id", *KEYS[table].replace(" ", "").split(","), *BOOKKEEPING.names}
        self.columns = None if columns is None else needed | set(columns)
        self.chunks: list[tuple[list[Path], pa.Table]] = []
        self.failed: dict[Path, str] = {}
        self._pending: list[tuple[Path, pa.Table]] = []
        self._lock = threading.Lock()

    def __call__(self, path: Path, pf: pq.ParquetFile) -> None:
        """Take the asset's rows of ``pf`` (called in a listing thread)."""
        try:
            got = self._read(path, pf)
        except (OSError, pa.ArrowException, ValueError, KeyError) as exc:
            with self._lock:
                self.failed[path] = (str(exc).splitlines() or [type(exc).__name__])[0]
            return
        if got is None:
            return
        with self._lock:
            self._pending.append((path, got))
            if len(self._pending) >= BATCH:
                self.flush()

    def flush(self) -> None:
        """The files' rows taken since the last flush as one table (each file's own table when their
        columns cannot be united: a file the listing leaves out, outvoted)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            merged = pa.concat_tables([t for _, t in pending], promote_options="permissive").combine_chunks()
        except (pa.ArrowException, ValueError, TypeError):
            self.chunks.extend(([p] * t.num_rows, t) for p, t in pending)
            return
        self.chunks.append(([p for p, t in pending for _ in range(t.num_rows)], merged))

    def _read(self, path: Path, pf: pq.ParquetFile) -> pa.Table | None:
        # the footer's Python objects (``pf.metadata``) only for a file of many row groups: made for
        # each part, they held ~5 KB a file more at the peak (10,000 parts: +50 MB)
        names = pf.schema_arrow.names
        read = None if self.columns is None else [n for n in names if n in self.columns]
        if path.parent.name.startswith(_FOLDER):  # older layout: the folder names the asset
            if unquote(path.parent.name[len(_FOLDER):]) != self.asset or "asset_id" in names:
                return None  # another asset's file (or a foreign one: the listing leaves it out)
            table = pf.read(columns=read, use_threads=False)
            return table if table.num_rows else None
        if "asset_id" not in names:
            return None  # foreign: the listing leaves it out
        groups = list(range(pf.num_row_groups))
        if len(groups) > 1:
            meta = pf.metadata
            col = [meta.schema.column(i).path for i in range(meta.num_columns)].index("asset_id")
            groups = [g for g in groups if _may_hold(meta.row_group(g).column(col).statistics, self.asset)]
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
    tables, dates, rank, assets = [], [], [], []
    for paths, t in got.chunks:
        kept = [j for j, p in enumerate(paths) if p in index]
        if not kept:
            continue
        tables.append(t if len(kept) == len(paths) else t.take(kept))
        for j in kept:
            f = tf.files[index[paths[j]]]
            dates.append(f.date)
            rank.append(ranks[index[paths[j]]])
            assets.append(f.asset_id or got.asset)
    if not tables:
        return schema.empty_table()
    rows = pa.concat_tables(tables, promote_options="permissive")
    given = {"date": pa.array(dates, pa.date32()), RANK_COLUMN: pa.array(rank, pa.int64()),
             "asset_id": pa.array(assets, pa.string())}
    columns = [given[f.name].cast(f.type) if f.name in given
               else rows[f.name].cast(f.type) if f.name in rows.column_names
               else pa.nulls(rows.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def asset_listings(root: str | Path, tables: Iterable[str], asset: str,
                   columns: Mapping[str, Iterable[str]] | None = None,
                   ) -> list[tuple[TableFiles, pa.Table | None]]:
    """Each of ``tables`` (of :data:`ASSET_TABLES`) listed, each file opened once, with ``asset``'s rows
    of its readable files (None for a table with no readable file; ``columns``: a table's columns
    wanted, all when it is not named): what :func:`flows.archive.query.connect` builds the views over."""
    out = []
    for table in (t for t in ASSET_TABLES if t in set(tables)):
        got = AssetRows(asset, table, (columns or {}).get(table))
        tf = scan_table(Path(root), table, rows=got)
        out.append((tf, asset_table(tf, got) if tf.files else None))
    return out
