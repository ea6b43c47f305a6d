"""One archive file of the Parquet sink (:mod:`flows.dataflow.sinks.archive`): its table, then its write.

A file's table is the date's sorted rows with the bookkeeping columns appended (``run_id``,
``_written_at`` and ``_write_seq``, the same for the whole file: :func:`write_seq` stamps it) and
its layout's write options (:func:`file_table`). Its write (:func:`put_files`, every date of one
flush at once) goes to a temporary name in ``<root>/<table>/date=YYYY-MM-DD/``, fsynced, renamed into
place and the folder fsynced (round 39), so neither a crash nor a power loss leaves a truncated or
empty ``*.parquet`` behind (a part is on disk before any name of it is: the run's manifest entry, a
recovery snapshot after it) and existing files are never touched. Since round 40 the syncs of a
flush's parts are issued together (:class:`~flows.archive.synced_renames.SyncedRenames`): every
part's file fsynced, then all renamed, then each folder fsynced once, before the write returns. A
folder that a run cannot write through (a planted symbolic link) is refused (round 49: the table and date
folders are opened from the archive down without following a link and held for the write, so one
swapped for a link meanwhile is never written through either:
:class:`~flows.archive.held_folders.HeldFolders`), what was put at a part's
temporary name (a link, a FIFO: the name is guessable) is removed and the file made new, never
written through (round 47, :func:`~flows.archive.layout.new_file`), and a failed write is
an :class:`~.archive_writer.ArchiveWriteError` naming the folder, the write's parts not yet renamed
removed.
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
from flows.archive.held_folders import HeldFolders
from flows.archive.shown_text import given_word
from flows.archive.synced_renames import SyncedRenames
from flows.codec.archive_schema import BOOKKEEPING_SCHEMA
from flows.dataflow.sinks.archive_columns import Columns, FileTable
from flows.dataflow.sinks.archive_writer import ArchiveWriteError
from twin_models.text import and_more, counted

__all__ = ["FileData", "bookkeeping", "bookkeeping_arrays", "check_table_folder", "file_schema", "file_table",
           "put_files", "write_file", "write_seq", "write_tables"]

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
    """Every date's file of one write: all tables made (:func:`file_table`), then all written
    (:func:`put_files`); returns the number of files. A table that cannot be made raises before
    any file is written."""
    made = {date: file_table(table, data, run_id) for date, data in files.items()}
    put_files(root, table, made, basename)
    return len(made)


def write_file(root: Path, table: str, date: str, data: FileData, basename: str, run_id: str | None) -> None:
    """Sorted rows of one date -> ``<root>/<table>/date=<date>/<basename>.parquet``, atomically."""
    put_files(root, table, {date: file_table(table, data, run_id)}, basename)


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


def put_files(root: Path, table: str, made: Mapping[str, tuple[pa.Table, dict[str, Any]]],
              basename: str) -> None:
    """Each date's table and write options (:func:`file_table`) -> ``<root>/<table>/date=<date>/
    <basename>.parquet``: each written to a temporary name, all of them fsynced, renamed into place
    and their folders fsynced, before this returns (:class:`~flows.archive.synced_renames.
    SyncedRenames`, round 40: the syncs of a write issued together). A failure names no part of
    the write that was not renamed yet and removes their temporary files.

    Round 49 (DIRFD49): the table and date folders are opened from the archive down, never through a
    link (:class:`~flows.archive.held_folders.HeldFolders`), and held open for the write: each part is
    made, fsynced, renamed and its
    folder fsynced in the date folder so opened. A folder swapped for a link to a folder outside the
    archive between the look at it and the write had the part written there."""
    dates = list(made)
    for start in range(0, len(dates), MAX_DATES_HELD):  # round 50: a few hundred descriptors at most
        batch = SyncedRenames()
        held = HeldFolders(root, ArchiveWriteError, batch=batch)
        try:
            _put_files(root, table, {d: made[d] for d in dates[start:start + MAX_DATES_HELD]}, basename,
                       batch, held)
        finally:
            batch.pending()  # every sync started finished before the folders it uses are closed
            held.close()


MAX_DATES_HELD = 64
"""Date folders one commit holds open (:class:`~flows.archive.held_folders.HeldFolders`); a write of
more dates is committed in groups of this many, each whole before the next is written. Round 50
(HOSTILE50): a write held every date's folder open, so a backtest of a 4-year CSV (1,460 dates in
one write) under the common 1,024-descriptor limit stopped, "cannot write the archive in ...: Too
many open files" (round 48 wrote it)."""


def _put_files(root: Path, table: str, made: Mapping[str, tuple[pa.Table, dict[str, Any]]], basename: str,
               batch: SyncedRenames, held: HeldFolders) -> None:
    tmp: Path | None = None
    try:
        for date, (data, options) in made.items():
            folder = _partition_dir(root, table, date)
            tmp = folder / f".{basename}.parquet.tmp"
            fd = held.folder(folder)
            layout.clear_temporary(tmp.name, dir_fd=fd)  # round 47: a link or FIFO at its guessable name goes
            layout.write_file(data, tmp.name, options, dir_fd=fd)
            batch.add(tmp, folder / f"{basename}.parquet", fd)
            tmp = None
        batch.commit()  # round 39: on disk before its name is (DURABLE39); round 40: together
        if (moved := held.moved()) is not None:  # its parts went with it: not in the archive
            raise ArchiveWriteError(errno.ENOENT, f"cannot write the archive: {moved} was moved or removed "
                                    f"while this write was in it (its part {basename}.parquet went with it, "
                                    "not in the archive)")
        return
    except ArchiveWriteError:
        _remove(batch.pending(), tmp, held)
        raise
    except OSError as exc:
        at, failed = batch.failed or tmp or root, exc  # the part whose write, fsync or rename failed
    except Exception:  # not the disk's (Arrow refusing a table mid-write): no temporary file stays
        _remove(batch.pending(), tmp, held)
        raise
    raise _write_error(at, failed, _remove(batch.pending(), tmp, held))  # outside the except: the engine's
    # error is reported by its innermost cause, this one


def _remove(pending: list[Path], current: Path | None, held: HeldFolders) -> list[Path]:
    """Remove the write's temporary files not renamed (a half-written file takes room and is never
    part of the archive), each by name in its date folder as opened
    (:class:`~flows.archive.held_folders.HeldFolders`: none is made
    before its folder is open); returns those that could not be removed (a disk turned read-only)."""
    left = []
    for tmp in [*pending, *([current] if current is not None else [])]:
        if (fd := held.opened(tmp.parent)) is None:
            continue
        try:
            if not stat.S_ISREG(os.stat(tmp.name, dir_fd=fd, follow_symlinks=False).st_mode):
                continue
        except OSError:
            continue
        try:
            os.unlink(tmp.name, dir_fd=fd)
        except OSError:
            left.append(tmp)
    return left


def _write_error(at: Path, exc: OSError, left: list[Path]) -> ArchiveWriteError:
    """The write's failure at the temporary file ``at``, naming its folder and any file left."""
    why = f"cannot write the archive in {at.parent}: {layout.failure_reason(exc)}"
    if at in left:
        more = and_more(len(left), 1)
        more = f" ({more.lstrip()} of this write's in other date folders)" if more else ""
        why += (f"; its temporary file {at.name} is left there{more} (hidden: never read; remove it "
                "once the disk is writable)")
    elif left:
        one = len(left) == 1
        why += (f"; {counted(len(left), 'temporary file')} of this write {'is' if one else 'are'} left in "
                f"other date folders{':' if one else ', e.g.'} {left[0]} (hidden: never read; remove "
                f"{'it' if one else 'them'} once the disk is writable)")
    return ArchiveWriteError(exc.errno or errno.EIO, why)


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
    repair = f"move it aside: `twin archive check --archive {given_word(root)} --repair`"  # one word to paste
    if (root / table).exists() and not (root / table).is_dir():
        msg = f"cannot write the archive: its table folder {root / table} is not a folder ({repair})"
        raise ArchiveWriteError(errno.ENOTDIR, msg)
    if (stray := _date_not_a_folder(root / table)) is not None:
        what = "a symbolic link (never written through)" if stray.is_symlink() else "not a folder"
        msg = f"cannot write the archive: its date folder {stray} is {what} ({repair})"
        raise ArchiveWriteError(errno.ENOTDIR, msg)


def _date_not_a_folder(table_dir: Path) -> Path | None:
    """The first ``date=...`` entry of ``table_dir`` that is not a folder (a regular file, a FIFO, a
    symbolic link, to a folder too), else None: a run writing that day's rows failed there mid-way
    (exit 1, its other tables' files already among the archive's), so it is refused before the flow
    starts (round 47: a link to a folder passed here and failed at that day's first write, which
    never writes through a link: :class:`~flows.archive.held_folders.HeldFolders`)."""
    try:
        with os.scandir(table_dir) as entries:
            return next((Path(e.path) for e in sorted(entries, key=lambda e: e.name)
                         if e.name.startswith("date=") and not e.is_dir(follow_symlinks=False)), None)
    except (FileNotFoundError, NotADirectoryError):
        return None
