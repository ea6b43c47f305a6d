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

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import fs

from flows.archive.files import RANK_COLUMN, ArchiveFile, TableFiles
from flows.codec import archive_schema

__all__ = ["BOOKKEEPING", "KEYS", "RAW", "UncachedFiles", "add_empty_view", "add_view", "add_view_over",
           "dataset_schema", "file_ranks", "newest_writes"]

KEYS = {
    "features": "asset_id, window_start",
    "twin_state": "asset_id, window_start",
    "alerts": "alert_id, sequence",
    "recommendations": "recommendation_id",
    "audit": "entry_id",
    "damage_state": "asset_id, life_id, timestamp",
    "data_quality": "asset_id, channel, timestamp",
}
RANK = RANK_COLUMN
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


class UncachedFiles(ds.FileSystemDataset):  # type: ignore[misc]  # pyarrow.dataset is untyped
    """A table's files as an Arrow dataset whose scans keep no file's footer.

    Why (round 40, QUERY40): a Parquet fragment keeps the file's parsed footer once a scan has read it
    (``FileMetaData``: ~54 KB in memory for a 5 KB ``twin_state`` footer, ~74 KB a file in all) for the
    dataset's life, which is the view's: ``SELECT count(*) FROM twin_state`` over 20,000 parts peaked at
    1.8 GB, over 80,000 at 6.5 GB. DuckDB scans a pyarrow dataset through its class's ``scanner`` (with the
    columns and filter it pushes down), so this one asks Arrow not to cache (``cache_metadata=False``):
    each footer is read once per scan, as before, and let go. Any other reader of the dataset gets the
    same rows (the fragments are the dataset's own), only with the footers cached as before."""

    def scanner(self, **options: Any) -> ds.Scanner:
        """Arrow's scanner of the files with ``options`` (DuckDB's ``columns`` and ``filter``), caching
        no footer."""
        return ds.FileSystemDataset.scanner(self, **{**options, "cache_metadata": False})


def dataset_schema(tf: TableFiles) -> pa.Schema:
    """The columns of ``tf``'s dataset (the view's, with the file rank)."""
    assert tf.schema is not None
    return _view_columns(_named_columns_then_sorted(tf.table, tf.schema)).append(pa.field(RANK, pa.int64()))


def file_ranks(tf: TableFiles) -> dict[int, int]:
    """Each file's rank (index in ``tf.files`` to its place in path order): of two writes of a key
    without ``_write_seq``, the later path's wins."""
    by_path = sorted(range(len(tf.files)), key=lambda i: str(tf.files[i].path))
    return {i: r for r, i in enumerate(by_path)}


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``col`` with its runs decoded (the asset views' ``date`` and ``asset_id``), as is otherwise."""
    return pc.run_end_decode(col) if pa.types.is_run_end_encoded(col.type) else col


def _one_value(col: pa.ChunkedArray) -> bool:
    """Whether ``col`` holds one value in every row (no null)."""
    if pa.types.is_run_end_encoded(col.type):  # its values (all of a chunk's: a slice's too, at worst no)
        col = pa.chunked_array([c.values for c in col.chunks], col.type.value_type)
    if col.null_count or not pa.types.is_string(col.type) and not pa.types.is_integer(col.type):
        return False
    low, high = pc.min_max(col).values()
    return bool(low.is_valid and low == high)


_PER_KEY_NULLS = int(pa.__version__.split(".")[0]) >= 25  # noqa: PLR2004


def _sorted(rows: pa.Table, keys: list[tuple[str, str]]) -> pa.Array:
    """The indices of ``rows`` sorted by ``keys``, nulls last in each (pyarrow 25 takes that per key; the
    table-wide option is older and deprecated since)."""
    if _PER_KEY_NULLS:
        return pc.sort_indices(rows, sort_keys=[(k, order, "at_end") for k, order in keys])
    return pc.sort_indices(rows, sort_keys=keys, null_placement="at_end")  # pragma: no cover - pyarrow < 25


def newest_writes(table: str, rows: pa.Table) -> pa.Table:
    """``rows`` (in :func:`dataset_schema`'s columns) with one row per key (:data:`KEYS`): the newest
    write, as :func:`_view_body` orders them (``_write_seq`` descending, nulls last, then the file
    rank; null keys equal, as DuckDB's ``PARTITION BY``), in the rows' own order; ``rows`` itself when
    no key is written twice (no copy). ``pa.ArrowException`` for a key Arrow cannot sort."""
    if rows.num_rows < 2:
        return rows
    # a key column of one value (an asset's rows: ``asset_id``) is left out of the sort: fewer bytes
    keys = [k for k in KEYS[table].replace(" ", "").split(",") if not _one_value(rows[k])]
    order = _sorted(rows, [*((k, "ascending") for k in keys), ("_write_seq", "descending"),
                           (RANK, "descending")])
    same = None  # each sorted row (but the first): whether its key is its predecessor's
    for k in keys:
        col = _plain(rows[k]).take(order)
        after, before = col.slice(1), col.slice(0, len(col) - 1)
        eq = pc.or_kleene(pc.fill_null(pc.equal(after, before), False),
                          pc.and_(pc.is_null(after), pc.is_null(before)))
        same = eq if same is None else pc.and_(same, eq)
    if same is not None and not pc.any(same).as_py():
        return rows
    first = np.zeros(rows.num_rows, bool)  # no key column left: every row is the one key's
    first[0] = True
    if same is not None:
        first[1:] = ~np.asarray(same.to_numpy(zero_copy_only=False), bool)
    keep = np.zeros(rows.num_rows, bool)
    keep[np.asarray(order)[first]] = True
    rows = pa.Table.from_arrays([_plain(c) for c in rows.columns], names=rows.column_names)  # no run filtered
    return rows.filter(pa.array(keep))


def add_view_over(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """The view of ``table`` on ``con`` over ``rows`` (in :func:`dataset_schema`'s columns) instead of
    the files' dataset: the same deduplication, over rows read already, done once by Arrow
    (:func:`newest_writes`) and not by DuckDB's window at each query: over a year of one-minute windows
    the window held ~50-80 MB more at each query of `twin explain` than the rows (round 43, MEM43). A key
    Arrow cannot sort (another writer's column type) keeps the window."""
    try:
        newest = newest_writes(table, rows)
    except (pa.ArrowException, ValueError, TypeError):
        body = _view_body(table)
    else:
        rows, body = newest, f"SELECT * EXCLUDE ({RANK}, _write_seq) FROM {RAW}"
    con.from_arrow(rows).query(RAW, body).create_view(table)  # type: ignore[union-attr]


def _dataset(tf: TableFiles) -> ds.Dataset:
    """The table's readable files as one Arrow dataset (:class:`UncachedFiles`); folder values and file
    rank as columns.

    The columns keep one order whichever layouts the files have: the files' own (``asset_id``
    left out), the bookkeeping, then ``date`` and ``asset_id``."""
    schema, rank = dataset_schema(tf), file_ranks(tf)
    parts = [_partition_expression(f, rank[i]) for i, f in enumerate(tf.files)]
    parquet, local = ds.ParquetFileFormat(), fs.LocalFileSystem()
    files = [parquet.make_fragment(str(f.path), local, part) for f, part in zip(tf.files, parts, strict=True)]
    return UncachedFiles(files, schema, parquet, local)


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
