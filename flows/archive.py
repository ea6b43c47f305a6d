"""DuckDB read side of the Parquet archive: views ``features``, ``twin_state``, ``alerts``.

The views read every Parquet file of a table (hive partitions ``date`` and ``asset_id``; columns
united by name, so feature sets may differ between assets) and keep one row per key: the row from
the most recently written file. A run that is resumed, or a demo run again into the same folder,
therefore never shows a window or an alert message twice.

>>> import tempfile
>>> try:
...     query(tempfile.mkdtemp(), "SELECT 1")
... except ArchiveError as exc:
...     print(str(exc).split(":")[0])
no archive
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

__all__ = ["KEYS", "ArchiveError", "connect", "query"]

KEYS = {
    "features": "asset_id, window_start",
    "twin_state": "asset_id, window_start",
    "alerts": "alert_id, sequence",
}
READ_ONLY = {"SELECT", "EXPLAIN"}


class ArchiveError(ValueError):
    """The archive or a query against it is unusable; the message says why."""


def _view_sql(root: Path, table: str) -> str:
    glob = (root / table / "**" / "*.parquet").as_posix().replace("'", "''")
    return (
        f"CREATE VIEW {table} AS SELECT * EXCLUDE (_rn, filename) FROM ("
        f" SELECT *, row_number() OVER (PARTITION BY {KEYS[table]} ORDER BY filename DESC) AS _rn"
        f" FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true,"
        f" filename = true, hive_types = {{'date': DATE, 'asset_id': VARCHAR}})"
        f") WHERE _rn = 1"
    )


def connect(root: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per archived table found under ``root``."""
    base = Path(root)
    tables = [t for t in KEYS if any((base / t).glob("**/*.parquet"))]
    if not tables:
        msg = f"no archive: {base} has no Parquet tables (run `twin demo --out {base}` first)"
        raise ArchiveError(msg)
    con = duckdb.connect(":memory:")
    for table in tables:
        con.execute(_view_sql(base, table))
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but SELECT/EXPLAIN statements, naming the offending statement type."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        msg = f"bad query: {str(exc).splitlines()[0]}"
        raise ArchiveError(msg) from None
    if not statements:
        msg = "empty query"
        raise ArchiveError(msg)
    for st in statements:
        kind = st.type.name
        if kind not in READ_ONLY:
            msg = f"the archive is read-only: {kind} statements are refused (use SELECT)"
            raise ArchiveError(msg)


def query(root: str | Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query against the archive; returns column names and rows."""
    con = connect(root)
    try:
        check_read_only(con, sql)
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()
    except duckdb.Error as exc:
        msg = f"bad query: {str(exc).splitlines()[0]}"
        raise ArchiveError(msg) from None
    finally:
        con.close()
