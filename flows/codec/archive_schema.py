"""The Parquet archive's declared schema: tables, columns, Arrow types, nullability.

Built from the record field tables (:mod:`flows.codec.record_fields`) and published as
``schemas/archive/<table>.v1.json`` (``python -m flows.codec.archive_schema schemas/archive``
writes them; ``tests/contract/test_archive_schema.py`` checks the files, a real written archive and
the JSON schemas against it). The sink writes every file with these types, so a column's type
never depends on the values of a batch.

Every table but ``features`` has a fixed set of columns. ``features`` is open: after its named
columns come one ``double`` column per feature name, the union over the rows of a file (feature
sets differ between assets and channels; the views unite columns by name).

Every file also carries the bookkeeping columns. ``date`` is not stored in the files but in the
partition folder, ``<table>/date=YYYY-MM-DD/``; ``asset_id`` is the first column of every file (rows
sorted by asset_id, then time). Archives written before issue 10 keep ``asset_id`` in a folder too,
``<table>/date=YYYY-MM-DD/asset_id=<id>/``, and stay readable.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.codec.command_fields import ARCHIVE_MAPPINGS as MAPPINGS
from flows.codec.record_fields import TIMESTAMP_TYPE, RecordMapping

__all__ = ["BOOKKEEPING", "BOOKKEEPING_SCHEMA", "PARTITIONS", "TABLES", "ColumnSpec", "arrow_type",
           "file_columns", "mapping", "open_columns", "schema_doc"]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One declared column: name, Arrow type name (pyarrow's ``str(type)``), nullable, meaning."""

    name: str
    arrow: str
    nullable: bool
    description: str


PARTITIONS = (
    ColumnSpec("date", "date32[day]", False, "UTC date of the row (folder date=YYYY-MM-DD)."),
    ColumnSpec("asset_id", "string", False, "The asset: the files' first column (rows sorted by it); "
               "in archives written before issue 10, the folder asset_id=<url-quoted id>."),
)
BOOKKEEPING = (
    ColumnSpec("run_id", "string", True, "The demo, backtest or run invocation that wrote the row "
               "(null if written without one)."),
    ColumnSpec("_written_at", TIMESTAMP_TYPE, False, "When the file was written (UTC)."),
    ColumnSpec("_write_seq", "int64", False, "Nanosecond write stamp, strictly increasing within a "
               "process; the views keep the newest write of each key (hidden in the views)."),
)
_ARROW = {"string": pa.string(), "double": pa.float64(), "int64": pa.int64(), "bool": pa.bool_(),
          TIMESTAMP_TYPE: pa.timestamp("us", tz="UTC"), "date32[day]": pa.date32(),
          "list<element: double>": pa.list_(pa.field("element", pa.float64()))}


def arrow_type(c: ColumnSpec) -> pa.DataType:
    """The Arrow type of a declared column (the writer and the read side share it)."""
    return _ARROW[c.arrow]


BOOKKEEPING_SCHEMA = pa.schema([pa.field(c.name, arrow_type(c)) for c in BOOKKEEPING])
"""The bookkeeping columns as Arrow fields: appended to every file by the writer, unified into the
views by the read side (older files lack them: null-filled)."""


TABLES: tuple[str, ...] = tuple(m.table for m in MAPPINGS)
_BY_TABLE = {m.table: m for m in MAPPINGS}
_PARTITION_NAMES = {c.name for c in PARTITIONS}


def mapping(table: str) -> RecordMapping:
    """The record mapping behind an archive table; ``ValueError`` for an unknown table."""
    try:
        return _BY_TABLE[table]
    except KeyError:
        msg = f"unknown archive table {table!r}; expected one of {', '.join(TABLES)}"
        raise ValueError(msg) from None


def file_columns(table: str) -> tuple[ColumnSpec, ...]:
    """The named columns stored in the table's files, in order (open columns and bookkeeping
    not included)."""
    return tuple(ColumnSpec(c.name, c.arrow, c.nullable, c.description)
                 for c in mapping(table).columns if c.name not in _PARTITION_NAMES)


def open_columns(table: str) -> ColumnSpec | None:
    """The type of the table's open columns (one per feature name), or None if it is fixed."""
    f = mapping(table).open_field
    return None if f is None else ColumnSpec(f"<{f.name}>", f.form.arrow, f.form.nullable, f.description)


def _spec(c: ColumnSpec) -> dict[str, Any]:
    return {"name": c.name, "type": c.arrow, "nullable": c.nullable, "description": c.description}


def schema_doc(table: str) -> dict[str, Any]:
    """The published form of one table's schema (``schemas/archive/<table>.v<N>.json``)."""
    m, extra = mapping(table), open_columns(table)
    shape = ("Fixed columns: exactly those listed." if extra is None
             else "Open: the named columns, then one column per feature name.")
    return {
        "$id": f"urn:twinflow:archive:{table}:v{m.version}",
        "title": f"Archive table {table} v{m.version}",
        "description": f"Parquet files <archive>/{table}/date=YYYY-MM-DD/*.parquet (asset_id their first "
                       "column; older archives: date=YYYY-MM-DD/asset_id=<id>/*.parquet); one row "
                       f"per {m.record.__name__} ({m.schema}.v{m.version}). {shape} Types are Arrow types; "
                       "nullable "
                       "says whether a value may be null (every Parquet column is physically optional).",
        "record_schema": f"{m.schema}.v{m.version}.json",
        "fixed": extra is None,
        "partitions": [_spec(c) for c in PARTITIONS],
        "columns": [_spec(c) for c in file_columns(table)],
        "open_columns": None if extra is None else {
            "from_field": extra.name.strip("<>"), "type": extra.arrow, "nullable": extra.nullable,
            "description": "One column per key, after the named columns: " + extra.description},
        "bookkeeping": [_spec(c) for c in BOOKKEEPING],
    }


def dump(table: str) -> str:
    """The schema file's text: stable, one column per line."""
    doc = schema_doc(table)
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if not isinstance(v, list)]
    for k, v in doc.items():
        if isinstance(v, list):
            items = ",\n".join(f"    {json.dumps(x)}" for x in v)
            lines.append(f"  {json.dumps(k)}: [\n{items}\n  ]")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    """Write every table's current schema file into the folder given (default ``schemas/archive``);
    the files of earlier versions stay as they were published."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "schemas/archive")
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:  # earlier versions' files stay as published
        (out / f"{table}.v{mapping(table).version}.json").write_text(dump(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
