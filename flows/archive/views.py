"""The archive's views: each table's files as one Arrow dataset, and the view keeping the newest write
of each key (:mod:`flows.archive.query` builds them on its sandboxed DuckDB connection).

Each view reads every readable Parquet file of its table (``date`` from the folder, ``asset_id``
from the file's column, or from its ``asset_id=`` folder in archives written before issue 10, both
layouts mixed at will; columns united by name, so feature sets may differ between assets) and keeps
one row per key (:data:`KEYS`): the row of the newest write, by the ``_write_seq`` the writer
records (files written before that column existed rank below, by file path as before). A view is
built from a DuckDB relation over its files' Arrow dataset, never from a registered name: a query
sees the views and nothing else (no ``_raw_<table>`` with every write of a key and the bookkeeping
columns, as there was before round 17).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import fs

from flows.archive.files import ArchiveFile, TableFiles
from flows.codec import archive_schema

__all__ = ["BOOKKEEPING", "CHUNK_FILES", "KEYS", "RAW", "FilesInChunks", "add_empty_view", "add_view"]

KEYS = {
    "features": "asset_id, window_start",
    "twin_state": "asset_id, window_start",
    "alerts": "alert_id, sequence",
    "recommendations": "recommendation_id",
    "audit": "entry_id",
    "damage_state": "asset_id, life_id, timestamp",
    "data_quality": "asset_id, channel, timestamp",
}
RANK = "__twin_file_rank"
BOOKKEEPING = archive_schema.BOOKKEEPING_SCHEMA
"""The bookkeeping columns as the writer declares them (older files lack them: null-filled)."""


def _partition_expression(f: ArchiveFile, rank: int) -> pc.Expression:
    """The values a file's path gives: date, file rank, and asset_id for the older layout (a
    current-layout file holds its own ``asset_id`` column, whose row-group statistics prune)."""
    given = ((pc.field("date") == pa.scalar(f.date, pa.date32()))
             & (pc.field(RANK) == pa.scalar(rank, pa.int64())))
    if f.asset_id is None:
        return given
    return given & (pc.field("asset_id") == pa.scalar(f.asset_id, pa.string()))


def _named_columns_then_sorted(table: str, schema: pa.Schema) -> pa.Schema:
    """The united schema with the table's open columns (one per feature name) sorted by name
    after its named columns. Why: files order their open columns by first appearance in a write,
    and the files are united in path order, so without this ``SELECT *`` of the same rows could
    list the features in another order in another archive (e.g. after a resume)."""
    if archive_schema.open_columns(table) is None:
        return schema
    named = {c.name for c in archive_schema.file_columns(table)} | {"asset_id"}
    fixed = [f for f in schema if f.name in named]
    kept = [f for f in schema if f.name in BOOKKEEPING.names]
    spread = sorted((f for f in schema if f.name not in named and f.name not in BOOKKEEPING.names),
                    key=lambda f: f.name)
    return pa.schema(fixed + spread + kept, metadata=schema.metadata)


FOLDERS = pa.schema([("date", pa.date32()), ("asset_id", pa.string())])
"""The columns a file's folders give (``asset_id`` also a current-layout file's own column)."""


def _view_columns(own: pa.Schema) -> pa.Schema:
    """A view's columns over files holding ``own``, in the one order of every view, with files or
    without (:func:`empty_schema`): the files' own columns (``asset_id`` left out), the bookkeeping
    (``_write_seq`` is dropped by the view), then ``date`` and ``asset_id``."""
    own = own.remove(i) if (i := own.get_field_index("asset_id")) >= 0 else own
    return pa.unify_schemas([own, BOOKKEEPING, FOLDERS], promote_options="permissive")


CHUNK_FILES = 1024
"""Files of a table whose Arrow dataset a view's scan holds at a time (:class:`FilesInChunks`)."""


def _files_dataset(paths: list[str], schema: pa.Schema, parts: list[pc.Expression]) -> ds.FileSystemDataset:
    return ds.FileSystemDataset.from_paths(paths, schema=schema, format=ds.ParquetFileFormat(),
                                           filesystem=fs.LocalFileSystem(), partitions=parts)


class FilesInChunks(ds.FileSystemDataset):  # type: ignore[misc]  # pyarrow.dataset is untyped
    """A table's files as a dataset DuckDB scans :data:`CHUNK_FILES` files at a time.

    Why (round 40, QUERY40): an Arrow dataset's Parquet fragment keeps the file's footer once it has
    read it (``FileMetaData``: ~54 KB in memory for a 5 KB ``twin_state`` footer, ~74 KB a file in all)
    for the dataset's life, which is the view's: ``SELECT count(*) FROM twin_state`` over 20,000 parts
    peaked at 1.8 GB. Each scan of the view (DuckDB calls the class's ``scanner`` with the columns and
    filter it pushes down) here makes one dataset per chunk of files as it reaches it, scanned with
    those columns and that filter (row groups still pruned by their statistics, fragments by their
    partition values) and dropped before the next: the footers of one chunk are held, not the table's.
    The object itself holds no fragment: its other readers go through the same scanner."""

    def __init__(self, paths: list[str], schema: pa.Schema, parts: list[pc.Expression]) -> None:
        super().__init__([], schema, ds.ParquetFileFormat(), fs.LocalFileSystem())
        self._paths, self._parts = paths, parts

    def scanner(self, **options: Any) -> ds.Scanner:
        """The scan of every chunk in turn, as one scanner (DuckDB's ``columns`` and ``filter``)."""
        projected = ds.FileSystemDataset.scanner(self, **options).projected_schema
        return ds.Scanner.from_batches(self._batches(options), schema=projected)

    def _batches(self, options: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        for lo in range(0, len(self._paths), CHUNK_FILES):
            cut = slice(lo, lo + CHUNK_FILES)
            chunk = _files_dataset(self._paths[cut], self.schema, self._parts[cut])
            yield from chunk.scanner(**options).to_batches()

    def to_batches(self, **options: Any) -> Iterator[pa.RecordBatch]:
        """The rows, through :meth:`scanner` (the dataset's own fragment list is empty)."""
        return iter(self.scanner(**options).to_batches())

    def to_table(self, **options: Any) -> pa.Table:
        """The rows as one table, through :meth:`scanner`."""
        return self.scanner(**options).to_table()

    def count_rows(self, **options: Any) -> int:
        """The number of rows, through :meth:`scanner`."""
        return int(self.scanner(**options).count_rows())


def _dataset(tf: TableFiles) -> ds.Dataset:
    """The table's readable files as one Arrow dataset (over :data:`CHUNK_FILES` files:
    :class:`FilesInChunks`); folder values and file rank as columns.

    The columns keep one order whichever layouts the files have: the files' own (``asset_id``
    left out), the bookkeeping, then ``date`` and ``asset_id``."""
    assert tf.schema is not None
    schema = _view_columns(_named_columns_then_sorted(tf.table, tf.schema)).append(pa.field(RANK, pa.int64()))
    by_path = sorted(range(len(tf.files)), key=lambda i: str(tf.files[i].path))
    rank = {i: r for r, i in enumerate(by_path)}
    parts = [_partition_expression(f, rank[i]) for i, f in enumerate(tf.files)]
    paths = [str(f.path) for f in tf.files]
    if len(paths) <= CHUNK_FILES:
        return _files_dataset(paths, schema, parts)
    return FilesInChunks(paths, schema, parts)


RAW = "_raw"
"""The name a view's SQL gives its table's files (an Arrow dataset); it exists only inside that
view's definition, so a query sees the deduplicated views and nothing else."""


def _view_body(table: str) -> str:
    """The SELECT of a table's view over :data:`RAW`: the newest write of each key."""
    return (
        f"SELECT * EXCLUDE (_rn, {RANK}, _write_seq) FROM ("
        f" SELECT *, row_number() OVER (PARTITION BY {KEYS[table]}"
        f" ORDER BY _write_seq DESC NULLS LAST, {RANK} DESC) AS _rn FROM {RAW}"
        f") WHERE _rn = 1"
    )


def add_view(con: duckdb.DuckDBPyConnection, tf: TableFiles) -> None:
    """The view of ``tf``'s table on ``con``, over its files' dataset."""
    # built from a relation, not a registered name: no `_raw_<table>` a query could read
    # (undeduplicated rows, bookkeeping columns) or see in SHOW ALL TABLES
    # duckdb annotates DuckDBPyRelation.query "-> DuckDBPyRelation | None" for every statement; None comes
    # only of a statement without rows (a write), never of this SELECT
    con.from_arrow(_dataset(tf)).query(RAW, _view_body(tf.table)).create_view(tf.table)  # type: ignore[union-attr]


def empty_schema(table: str) -> pa.Schema:
    """The columns of ``table``'s view over no file, in a view's order: the declared file columns
    (no open column: no feature is known), the bookkeeping shown, then ``date`` and ``asset_id``."""
    declared = archive_schema.file_columns(table)
    columns = _view_columns(pa.schema([pa.field(c.name, archive_schema.arrow_type(c)) for c in declared]))
    return columns.remove(columns.get_field_index("_write_seq"))  # as the view's SELECT leaves it out


def add_empty_view(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """An empty view of a table with no readable file yet (round 30: ``SELECT count(*) FROM alerts``
    before the first alert was ``Catalog Error: Table with name alerts does not exist!``, exit 2)."""
    con.from_arrow(empty_schema(table).empty_table()).create_view(table)
