"""One archive file of the Parquet sink (:mod:`flows.dataflow.sinks.archive`): its table, then its write.

A file's table is the date's sorted rows with the bookkeeping columns appended (``run_id``,
``_written_at`` and ``_write_seq``, the same for the whole file: :func:`write_seq` stamps it) and
its layout's write options (:func:`file_table`). Its write (:func:`put_file`) goes to a temporary
name in ``<root>/<table>/date=YYYY-MM-DD/``, fsynced, renamed into place and the folder fsynced
(:func:`flows.archive.layout.replace_synced`, round 39), so neither a crash nor a power loss
leaves a truncated or empty ``*.parquet`` behind (a part is on disk before any name of it is: the
run's manifest entry, a recovery snapshot after it) and existing files are never touched; a folder
that a run cannot write through (a planted symbolic link) is refused, and a failed write is an
:class:`~.archive_writer.ArchiveWriteError` naming the folder, its temporary file removed.
:func:`check_table_folder` refuses a table folder a run could not write before the flow starts.

A write of several dates makes every date's table first and writes only once all are made
(:func:`write_tables`): a table Arrow refuses then writes nothing of that write (before round 29 a
small file's table was made at its write, and the dates before it were written; RESULTS.md,
SMALLFILE28 and SPLIT29).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from flows.archive import layout
from flows.archive.files import linked_table
from flows.codec.archive_schema import BOOKKEEPING_SCHEMA
from flows.dataflow.sinks.archive_columns import Columns, FileTable
from flows.dataflow.sinks.archive_writer import ArchiveWriteError

__all__ = ["FileData", "bookkeeping", "bookkeeping_arrays", "check_table_folder", "file_schema", "file_table",
           "put_file", "write_file", "write_seq", "write_tables"]

FileData: TypeAlias = pa.Table | Columns | FileTable
"""What a file is made from: a table; its columns and schema; or a function making the file's table
and bookkeeping (:data:`~.archive_columns.FileTable`)."""

_SEQ_LOCK = threading.Lock()
_last_seq = 0


def write_seq() -> int:
    """Nanoseconds since the epoch, strictly increasing within the process (ties broken by +1)."""
    global _last_seq
    with _SEQ_LOCK:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


def _partition_dir(root: Path, table: str, date: str) -> Path:
    return root / table / f"date={date}"


_RUN_ID, _WRITTEN_AT, _WRITE_SEQ = BOOKKEEPING_SCHEMA.types


def bookkeeping(table: pa.Table, run_id: str | None, seq: int) -> pa.Table:
    """Append the columns saying which run wrote the rows and when (same for the whole file)."""
    for name, column in zip(BOOKKEEPING_SCHEMA.names,
                            bookkeeping_arrays(table.num_rows, run_id, seq), strict=True):
        table = table.append_column(name, column)
    return table


def bookkeeping_arrays(n: int, run_id: str | None, seq: int) -> list[pa.Array]:
    """The bookkeeping columns of an ``n``-row file: ``run_id``, ``_written_at``, ``_write_seq``."""
    return [pa.repeat(pa.scalar(run_id, _RUN_ID), n), pa.repeat(pa.scalar(seq // 1000, _WRITTEN_AT), n),
            pa.repeat(pa.scalar(seq, _WRITE_SEQ), n)]


def write_tables(root: Path, table: str, files: Mapping[str, FileData], basename: str,
                 run_id: str | None) -> int:
    """Every date's file of one write: all tables made (:func:`file_table`), then each written
    (:func:`put_file`); returns the number of files. A table that cannot be made raises before
    any file is written."""
    made = {date: file_table(table, data, run_id) for date, data in files.items()}
    for date, (full, options) in made.items():
        put_file(root, table, date, full, options, basename)
    return len(made)


def write_file(root: Path, table: str, date: str, data: FileData, basename: str, run_id: str | None) -> None:
    """Sorted rows of one date -> ``<root>/<table>/date=<date>/<basename>.parquet``, atomically."""
    put_file(root, table, date, *file_table(table, data, run_id), basename)


def file_table(table: str, data: FileData, run_id: str | None) -> tuple[pa.Table, dict[str, Any]]:
    """The file's table, bookkeeping appended with a fresh :func:`write_seq`, and its write options.
    ``data``: a table; its columns and schema (``block_columns``, ``records_columns``), made one table with
    the bookkeeping by one ``RecordBatch.from_arrays`` (~35 us for 59 columns, ~60 by ``append_column``,
    hot); or a function making the file's table and bookkeeping (``records_file``'s, for a few records)."""
    if isinstance(data, pa.Table):
        options = layout.write_options(table, file_schema(data.schema))
        return bookkeeping(data, run_id, write_seq()), options
    if isinstance(data, tuple):
        arrays, schema = data
        full = file_schema(schema)
        options = layout.write_options(table, full)
        arrays = [*arrays, *bookkeeping_arrays(len(arrays[0]), run_id, write_seq())]
        return pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=full)]), options
    made = data(run_id, write_seq())
    return made, layout.write_options(table, made.schema)


def put_file(root: Path, table: str, date: str, data: pa.Table, options: dict[str, Any],
             basename: str) -> None:
    """A file's table (:func:`file_table`) -> ``<root>/<table>/date=<date>/<basename>.parquet``: written
    to a temporary name and renamed into place."""
    folder = _partition_dir(root, table, date)
    final = folder / f"{basename}.parquet"
    tmp = folder / f".{basename}.parquet.tmp"
    try:
        if (linked := linked_table(folder.parent)) is not None:  # planted mid-run: mkdir would follow it
            raise ArchiveWriteError(errno.ELOOP, f"cannot write the archive: {linked}")
        if not _is_folder(folder):  # a folder (not a link) is written into as it is: one lstat
            made = [p for p in (folder, folder.parent, root) if not os.path.lexists(p)]
            folder.mkdir(parents=True, exist_ok=True)
            if folder.is_symlink():  # planted: writing through it would write outside the archive
                raise ArchiveWriteError(errno.ELOOP, f"cannot write the archive: {folder} is a symbolic "
                                        "link (not written through; remove it)")
            for new in made:  # a new folder's name lasts a power loss as its files' do
                layout.sync_folder(new.parent)
        layout.write_file(data, tmp, options)
        layout.replace_synced(tmp, final)  # round 39: on disk before its name is (DURABLE39)
        return
    except ArchiveWriteError:
        raise
    except OSError as exc:
        why = f"cannot write the archive in {folder}: {layout.failure_reason(exc)}"
        failed = ArchiveWriteError(exc.errno or errno.EIO, why)
    if tmp.is_file() and not tmp.is_symlink():
        try:
            tmp.unlink()  # a half-written file takes room and is never part of the archive
        except OSError:  # a disk turned read-only: the rename failed, and so does this
            failed = ArchiveWriteError(failed.errno, f"{failed}; its temporary file {tmp.name} is left "
                                       "there (hidden: never read; remove it once the disk is writable)")
    raise failed  # outside the except: the engine's error is reported by its innermost cause, this one


def _is_folder(path: Path) -> bool:
    """``path`` is a folder, not a link to one: one ``lstat`` (``mkdir`` + ``is_symlink``: two calls)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


_FILE_SCHEMAS: list[tuple[pa.Schema, pa.Schema]] = []
_KEPT = 64
"""Schemas whose file schema is kept (a fleet writes a handful per table: one per feature-name set)."""


def file_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the bookkeeping columns appended, the same object for equal schemas (kept):
    the layout's write options are then computed once per schema (:func:`flows.archive.layout.
    write_options` keeps them; reading a ~60-column schema's fields from Python costs 0.1-0.25 ms
    per file, ~1 us per window of a demo-sized flush: RESULTS.md, ARCHIVE11). The ``features``
    tables of a name set share one schema object (:func:`~.archive_features.block_tables`), so
    the comparison is a pointer compare."""
    kept = _FILE_SCHEMAS
    for seen, full in kept:
        if seen.equals(schema):
            return full
    full = pa.schema([*schema, *BOOKKEEPING_SCHEMA], metadata=schema.metadata)
    if len(kept) >= _KEPT:
        del kept[0]
    kept.append((schema, full))
    return full


def check_table_folder(root: Path, table: str) -> None:
    """Refuse (ArchiveWriteError, one line) an archive whose ``table`` folder a run cannot write: a
    link, not a folder, or holding a ``date=`` entry that is not a folder. Each was found at its first
    write (round 26: the date folder), failing the run mid-way with its other tables' files written."""
    if (linked := linked_table(root / table)) is not None:
        raise ArchiveWriteError(errno.ELOOP, f"cannot write the archive: {linked}")
    repair = f"move it aside: `twin archive check --archive {root} --repair`"
    if (root / table).exists() and not (root / table).is_dir():
        msg = f"cannot write the archive: its table folder {root / table} is not a folder ({repair})"
        raise ArchiveWriteError(errno.ENOTDIR, msg)
    if (stray := _date_not_a_folder(root / table)) is not None:
        msg = f"cannot write the archive: its date folder {stray} is not a folder ({repair})"
        raise ArchiveWriteError(errno.ENOTDIR, msg)


def _date_not_a_folder(table_dir: Path) -> Path | None:
    """The first ``date=...`` entry of ``table_dir`` that is not a folder (a regular file, a FIFO, a
    dangling link), else None: a run writing that day's rows failed there mid-way (exit 1, its other
    tables' files already among the archive's), so it is refused before the flow starts."""
    try:
        with os.scandir(table_dir) as entries:
            return next((Path(e.path) for e in sorted(entries, key=lambda e: e.name)
                         if e.name.startswith("date=") and not e.is_dir()), None)
    except (FileNotFoundError, NotADirectoryError):
        return None
