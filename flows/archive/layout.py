"""The archive's file layout (issue 10): what a file holds and in which order.

One file per (table, date) per write, ``<root>/<table>/date=YYYY-MM-DD/<name>.parquet``, with
``asset_id`` as its first column and the rows sorted by (asset_id, time), in row groups of at most
:data:`ROW_GROUP_ROWS` rows. Sorted rows give every row group a narrow asset range in its Parquet
statistics, so a one-asset query skips the other assets' groups; one file per date (not per asset
and date) keeps the file count, which every query pays for (a footer read, a fragment), small.
The sink (:mod:`flows.dataflow.sinks.archive`) and the compaction (:mod:`flows.archive.compact`)
both write this layout, with the same :func:`write_options` (statistics where a query prunes)
and :func:`write_file` (buffered);
:mod:`flows.archive.files` also reads the older one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flows.codec.archive_schema import BOOKKEEPING, file_columns

__all__ = ["ASSET", "JSON_TEXT", "ROW_GROUP_ROWS", "TIME_COLUMN", "WRITE_BUFFER", "WriteFailed",
           "compression_by_column", "dictionary_columns", "failure_reason", "sorted_rows",
           "clear_temporary", "new_file", "statistics_columns", "write_file", "replace_synced", "sync_file",
           "sync_folder", "write_options"]

ASSET = ("asset_id", pa.string())
"""The first column of every file: the rows are sorted by it."""
ROW_GROUP_ROWS = 8192
"""Rows per Parquet row group: small enough that a group's asset_id statistics prune, large
enough that a group's overhead is small (a day of a 100-asset fleet at 1-min windows: 18 groups)."""
TIME_COLUMN = {"features": "window_start", "twin_state": "window_start", "alerts": "timestamp",
               "recommendations": "timestamp", "audit": "timestamp",
               "damage_state": "timestamp", "data_quality": "timestamp"}
"""The second sort key of each table's rows."""


def sorted_rows(table: str, data: pa.Table) -> pa.Table:
    """Rows by (asset_id, time): each row group then covers a narrow asset range."""
    keys = [k for k in (ASSET[0], TIME_COLUMN[table]) if k in data.column_names]
    return data.sort_by([(k, "ascending") for k in keys])


JSON_TEXT = {"twin_state": ("top_features", "context", "lineage", "data_quality"), "features": ("inputs",)}
"""A table's columns of JSON text: written without min/max statistics (no query prunes on the
order of a JSON text: the views push only their key columns' filters into the scan, see
:func:`statistics_columns`) and, but ``data_quality`` (a fleet's few states repeat), without a
dictionary: a window's context, top features and lineage are nearly all distinct, so the
dictionary held every value again (or fell back to plain past 1 MB). On the demo's twin_state
flushes: -0.4 us per row of the write (~7 %), files 6 % smaller (RESULTS.md, round 28,
TWINSTATE28). ``features``' ``inputs`` (one distinct text per window) likewise: on 100-asset
one-date files ~8 % less ``write_table`` CPU, no change at the demo's 192-row files (RESULTS.md,
round 29, SPLIT29). ``alerts``' (1-4 rows per file) keep the defaults: no measurable change."""
REPEATING_TEXT = frozenset({"data_quality"})
"""JSON text columns whose values repeat: they keep the dictionary."""


def dictionary_columns(schema: pa.Schema, table: str | None = None) -> list[str]:
    """The columns worth Parquet's dictionary encoding: the text ones (asset ids, conditions,
    events, run ids repeat) but ``table``'s distinct JSON text (:data:`JSON_TEXT`). Numbers and
    timestamps are written plain: a feature or score is nearly always distinct within a row
    group, so its dictionary holds every value again (on the demo archive the files are ~10 %
    smaller without, and the writer skips building it)."""
    distinct = set(JSON_TEXT.get(table or "", ())) - REPEATING_TEXT
    return [f.name for f in schema if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
            and f.name not in distinct]


def statistics_columns(table: str, schema: pa.Schema) -> list[str]:
    """The columns whose min/max statistics are written: the named and bookkeeping ones, not a
    table's open columns (the ``features`` table's one column per feature).

    Why: the views (:mod:`flows.archive.query`) keep the newest write per key with a window
    ``PARTITION BY`` the key columns, and DuckDB pushes into the scan only the filters on those
    columns (``asset_id``, ``window_start``; EXPLAIN shows a filter on a feature, ``run_id`` or
    ``n_records`` evaluated above the window), so a feature's statistics never prune a ``twin
    sql`` query; with rows sorted by asset, a row group's feature range is the whole fleet's
    anyway. Writing them is ~12 % of a file's write (issue 10, part ARCHIVE5). Nor ``table``'s
    JSON text columns (:data:`JSON_TEXT`)."""
    named = {ASSET[0], *(c.name for c in file_columns(table)), *(c.name for c in BOOKKEEPING)}
    named -= set(JSON_TEXT.get(table, ()))
    return [f.name for f in schema if f.name in named]


CODEC = "snappy"
"""The compression of every column but the floating-point ones (:func:`compression_by_column`)."""


def compression_by_column(schema: pa.Schema) -> dict[str, str]:
    """Each column's codec: :data:`CODEC`, but ``none`` for a floating-point column.

    Why (issue 10, round 41, ARCHIVE41): a feature value, score or RUL is nearly always distinct
    and its low bytes are noise, so snappy finds little to take out of them: without it the
    100-asset ``features`` files are 2.4 % larger (29.2 -> 29.9 MB), the demo's ``twin_state``
    2.6 %, and their Parquet write into files takes ~5.5 % less CPU (``twin_state``: ~2 %, inside
    the spread; RESULTS.md, round 41). Text, times and counts repeat or run in order and keep
    snappy. A reader sees the codec per column chunk in the footer (any
    Parquet reader; DuckDB and Arrow read both). Every column is named: given a mapping, Arrow
    writes the columns it does not name uncompressed."""
    return {f.name: "none" if pa.types.is_floating(f.type) else CODEC for f in schema}


def write_options(table: str, schema: pa.Schema) -> dict[str, Any]:
    """``pq.write_table`` settings of every file of the layout (the sink and the compaction):
    row groups, dictionaries, statistics and each column's codec (:func:`compression_by_column`:
    snappy, floats uncompressed). The column lists are computed once per schema and kept
    (:func:`_column_lists`).

    ``write_batch_size``: the values a column writer takes at a time, a whole row group's here
    (Arrow's default, 1,024, made a 100-asset flush's ~2,400-row file three passes of every
    column writer's per-batch work; ~0.14 us per window, ~10 % of the write: RESULTS.md,
    ARCHIVE14). A page is still cut at the default page size, checked after each batch; the
    files are the same bytes at 2,400 to 200,000 rows (``tests/unit/test_layout_write.py``)."""
    dictionary, statistics, codecs = _column_lists(table, schema)
    return {"row_group_size": ROW_GROUP_ROWS, "write_batch_size": ROW_GROUP_ROWS,
            "use_dictionary": list(dictionary), "write_statistics": list(statistics),
            "compression": dict(codecs)}


WRITE_BUFFER = 1 << 20
"""Bytes buffered between the Parquet writer and the file (:func:`write_file`)."""


def write_file(data: pa.Table, path: str | Path, options: dict[str, Any], *,
               dir_fd: int | None = None) -> None:
    """``data`` as the Parquet file ``path`` with ``options`` (:func:`write_options`), through a
    :data:`WRITE_BUFFER` buffer: the same bytes as ``pq.write_table(data, path, **options)``.

    Why (issue 10, round 15): given a path, Arrow writes to an unbuffered file, one system call
    per piece of the file (each page header and page, each column chunk's end, the footer):
    ~130 calls for a 100-asset flush's ~140 KB file, ~0.5 ms of its ~3 ms write. Buffered, a file
    up to a megabyte is one call. A failed write raises ``OSError`` as before (from the write or
    from the buffer's last flush when the stream is closed); the stream is closed either way. The
    file is opened by :func:`new_file` (round 47): never through a symbolic link, nor into a FIFO;
    ``path`` is a name in the folder open at ``dir_fd`` when given (round 49, :func:`new_file`)."""
    with new_file(path, dir_fd=dir_fd) as out:
        pq.write_table(data, out, **options)


def new_file(path: str | Path, buffer_size: int = WRITE_BUFFER, *,
             dir_fd: int | None = None) -> pa.NativeFile:
    """``path`` made (or emptied) and open for writing through a ``buffer_size`` buffer, never
    through a symbolic link nor into a FIFO put at its name (``O_NOFOLLOW | O_NONBLOCK``: ``OSError``
    ELOOP, ENXIO; EEXIST for a FIFO with a reader, round 49); a device such as ``/dev/full`` is
    written as before. A writer of a temporary
    name of its own clears it first (:func:`clear_temporary`).

    Round 47 (HOSTILE47): the archive's temporary names are guessable (the sink's part after the
    last one seen, ``.part-<run>-w0-<seq+1>.parquet.tmp``; a compaction's merged file in its next
    date folder), and Arrow opened them by name: a link planted there had its target, outside the
    archive, overwritten and the link renamed into the archive as the part; a FIFO held the writer
    (every table's writer: they take turns) and the run's next snapshot for ever.

    Round 48 (HOSTILE48): the name is made new (``O_EXCL``); a regular file found there is emptied
    and written only when it is this process's user's and has no other name (``st_nlink`` 1), else
    ``OSError`` EEXIST naming it, the file untouched: put there between :func:`clear_temporary` and
    the open, a hard link to a file outside the archive had that file emptied and overwritten (and,
    renamed, the part was that file), and another user's file made the part theirs to rewrite after
    its rename. A folder there: ``OSError`` EISDIR naming it (was Arrow's bare "Is a directory").

    Round 49 (DIRFD49): ``dir_fd``, a folder held open (the sink's date folder, opened from the archive
    down without following a link): ``path`` is a name in it, whatever is put at the folder's name."""
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd, found = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=dir_fd), False  # new: ours
    except FileExistsError:  # something is there: looked at before it is emptied (docstring)
        try:
            fd, found = os.open(path, flags, dir_fd=dir_fd), True
        except IsADirectoryError:
            raise _not_made(errno.EISDIR, path, "a folder") from None
        except OSError as exc:  # round 49: was the bare "No such device or address"
            if exc.errno != errno.ENXIO:
                raise
            raise _not_made(errno.ENXIO, path, "a FIFO or socket") from None
    # a buffered file object: its write writes all or raises (a raw one returns a short count on a
    # disk filling up, which Arrow does not look at: the file's end was lost, the file renamed)
    file = open(fd, "wb")  # noqa: SIM115 - closed with its stream
    try:
        if found:  # not for a file made here: its owner may read as another uid (NFS root_squash, CIFS uid=)
            _emptied_if_own(file.fileno(), path)
        return pa.output_stream(file, compression=None, buffer_size=buffer_size)
    except BaseException:
        file.close()
        raise


def _emptied_if_own(fd: int, path: str | Path) -> None:
    """Empty the regular file open at ``fd`` if it is this user's and has no other name; raise
    :func:`_not_made` (EEXIST) and leave it as it is otherwise. A FIFO (one with a reader opens):
    refused the same way (round 49, HOSTILE49: put there between the clearing and the open, its
    reader was handed the part's bytes, then the run stopped on fsync's bare "Invalid argument").
    Another file that is not a regular one (a device such as ``/dev/full``): left as it is, written
    as before."""
    st = os.fstat(fd)
    if stat.S_ISFIFO(st.st_mode):
        raise _not_made(errno.EEXIST, path, "a FIFO")
    if not stat.S_ISREG(st.st_mode):
        return
    if st.st_nlink > 1:
        raise _not_made(errno.EEXIST, path, f"a file with {st.st_nlink - 1} other name(s) (a hard link)")
    if st.st_uid != os.geteuid():
        raise _not_made(errno.EEXIST, path, f"a file of another user (uid {st.st_uid})")
    if st.st_size:
        os.ftruncate(fd, 0)


def _not_made(code: int, path: str | Path, what: str) -> OSError:
    """The refusal to write ``path``, where ``what`` was found: ``str()`` and ``strerror`` name both."""
    name = os.path.basename(os.fspath(path))
    return OSError(code, f"{what} is at the temporary name {name} (put there by someone else: not written "
                         "through; remove it)")


def clear_temporary(path: str | Path, *, dir_fd: int | None = None) -> None:
    """Remove what is at ``path`` (a name in the folder open at ``dir_fd`` when given), a temporary
    name of the caller's own (hidden, never read), unless a folder: a link or a FIFO planted there
    (:func:`new_file`) goes, not what a link points to."""
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        os.unlink(path, dir_fd=dir_fd)


class WriteFailed(OSError):
    """A file could not be written: ``WriteFailed(errno, message)``, the message naming the file or
    its folder and the system's reason; ``str()`` is the message alone."""

    def __str__(self) -> str:
        return str(self.strerror)


def replace_synced(tmp: str | Path, final: str | Path, *, dir_fd: int | None = None) -> None:
    """Rename the written file ``tmp`` onto ``final``, its bytes on disk first (fsync) and the rename
    after it (the folder fsynced, best effort: a file system that cannot sync a folder is not an error).

    Round 37 (DURABLE37): a bare ``os.replace`` can reach the disk before the data it renames; after a
    power loss the name then holds an empty or cut file (the output manifest: "not twinflow's" from
    then on, never rewritten; a compaction's merged file, whose sources it has already deleted).
    Round 39 (DURABLE39): the archive sink's part files too (:mod:`flows.dataflow.sinks.archive_files`).
    Round 50 (COMPACT50): ``dir_fd``, a folder held open (a compaction's date folder): ``tmp`` and
    ``final`` are names in it, synced, renamed and the folder synced there, whatever is put at its name."""
    if dir_fd is not None:
        sync_file(tmp, dir_fd=dir_fd)
        os.replace(tmp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        sync_folder(dir_fd)
        return
    sync_file(tmp)
    os.replace(tmp, final)
    sync_folder(os.path.dirname(os.path.abspath(final)))


def sync_file(path: str | Path, *, dir_fd: int | None = None) -> None:
    """fsync the file ``path`` (its bytes and size on disk); raises ``OSError`` if it cannot. Opened
    ``O_NONBLOCK`` (round 47): a FIFO put at the name since it was written (a part's temporary
    file, an output the manifest lists) is an error (fsync: EINVAL), not a wait for a writer for ever.
    ``dir_fd``: ``path`` is a name in that open folder (round 49)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: str | Path | int) -> None:
    """fsync a folder, so the names made or renamed in it last a power loss; best effort: a folder
    that cannot be opened or a file system without folder sync (EINVAL) is not an error (the files'
    own bytes are synced by their writers). An ``int``: a folder held open (round 49), synced as it is."""
    if isinstance(folder, int):
        with contextlib.suppress(OSError):  # EINVAL: a file system without folder sync
            os.fsync(folder)
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        sync_folder(fd)
    finally:
        os.close(fd)


def failure_reason(exc: OSError) -> str:
    """The system's words for a failed write (Arrow's OSError repeats them after ``Detail:``)."""
    text = exc.strerror or str(exc)
    return text.rsplit("] ", 1)[-1] if "Detail: [errno" in text else text


_KEPT = 64
"""Schemas per table whose column lists are kept (a fleet writes a handful: one per feature-name set)."""
_Lists = tuple[list[str], list[str], dict[str, str]]
_LISTS: dict[str, list[tuple[pa.Schema, _Lists]]] = {}


def _column_lists(table: str, schema: pa.Schema) -> _Lists:
    """:func:`dictionary_columns`, :func:`statistics_columns` and :func:`compression_by_column`
    of ``schema``, kept per equal
    schema: reading a ~60-column schema's fields from Python is 0.1-0.25 ms, paid per file
    (RESULTS.md, ARCHIVE11); comparing a schema with the same object is a pointer compare."""
    kept = _LISTS.setdefault(table, [])
    for seen, lists in kept:
        if seen.equals(schema):
            return lists
    lists = (dictionary_columns(schema, table), statistics_columns(table, schema),
             compression_by_column(schema))
    if len(kept) >= _KEPT:
        del kept[0]
    kept.append((schema, lists))
    return lists
