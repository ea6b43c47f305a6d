"""Compaction's merge of a date folder, streamed: memory bounded by the fan-in, not by the folder.

Round 39 (DURABLE39): :func:`flows.archive.compact.compact_date` read every file of a date folder
into one table, sorted it and wrote it: a day of a fleet's flushes was held in memory at once (a
folder of N MB cost ~N MB of Arrow columns and again for the sort). Now the files are merged as
sorted streams: each file of the current layout is already sorted by (asset_id, time) (the sink and
the compaction write it so: :func:`flows.archive.layout.sorted_rows`), so the merged file is their
k-way merge, read :data:`READ_ROWS` rows at a time per file. A file that is not sorted (an older
layout's per-asset file, whose ``asset_id`` is its folder, or a hand-made one) is read whole and
sorted on its own: memory bounded by that one file. More than :data:`FAN_IN` files are merged in
passes: each group of :data:`FAN_IN` (in order) into a hidden sorted run file in the date folder
(``.<name>.run-<pass>-<i>.parquet.tmp``, removed when the merge ends; a killed compaction's are
removed by the next one, see :func:`flows.archive.compact.stale_temps`), then the runs.

The result is the one the in-memory merge gave, byte for byte: the rows of the files united with
``promote_options="permissive"`` (a column a file lacks is null, types promoted), in the column order
``asset_id``, the table's columns, the bookkeeping, sorted by (asset_id, time) with ties in the
files' order then their rows' order (Arrow's sort is stable), written in row groups of
:data:`~flows.archive.layout.ROW_GROUP_ROWS` rows with the layout's options
(``tests/flows/test_compact_stream.py`` compares the files).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flows.archive.files import ArchiveFile, first_line
from flows.archive.layout import (
    ASSET,
    ROW_GROUP_ROWS,
    TIME_COLUMN,
    WriteFailed,
    clear_temporary,
    failure_reason,
    new_file,
)
from flows.codec.archive_schema import BOOKKEEPING_SCHEMA

__all__ = ["BOOKKEEPING_NAMES", "FAN_IN", "READ_ROWS", "UnreadableSource", "aligned", "merged_schema",
           "sorted_merge", "write_groups", "write_merged"]

BOOKKEEPING_NAMES = tuple(BOOKKEEPING_SCHEMA.names)
"""``run_id``, ``_written_at``, ``_write_seq``: last in every file, in this order."""
FAN_IN = 16
"""Files (or runs) merged at once: memory is about ``FAN_IN`` x :data:`READ_ROWS` rows."""
READ_ROWS = 1024
"""Rows read from a file at a time."""
WHOLE_GROUP_ROWS = 4096
"""A row group of at most this many rows is read in one call (a live run's flushes: one group of a
fleet's minute), a larger one :data:`READ_ROWS` rows at a time."""


class UnreadableSource(ValueError):
    """A file to merge whose data pages cannot be read (its footer is intact): its date folder is
    left as it is (nothing written), named with the command that moves the file aside. A file the
    system cannot open or read (an errno: it vanished, too many open files, EIO) is a
    :class:`~flows.archive.layout.WriteFailed` naming it instead, which stops the compaction (round 40:
    it was called "corrupt data pages" and the user told to move a sound file aside)."""


def _unreadable(path: Path, exc: BaseException) -> UnreadableSource:
    return UnreadableSource(f"{path} cannot be read (corrupt data pages: {first_line(exc)})")


def merged_schema(files: list[ArchiveFile]) -> pa.Schema:
    """The merged file's schema: the files' (an older layout's with ``asset_id`` appended) united
    permissively, ordered ``asset_id``, the table's columns, the bookkeeping."""
    schemas = [f.schema if f.asset_id is None else f.schema.append(pa.field(*ASSET)) for f in files]
    united = pa.unify_schemas(schemas, promote_options="permissive")
    body = [n for n in united.names if n != ASSET[0] and n not in BOOKKEEPING_NAMES]
    return pa.schema([united.field(n) for n in (ASSET[0], *body, *BOOKKEEPING_NAMES)])


def aligned(data: pa.Table | pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """``data``'s columns as ``schema`` (missing ones null, others cast as a permissive concat does)."""
    columns = []
    for field in schema:
        i = data.schema.get_field_index(field.name)
        col = data.column(i) if i >= 0 else pa.nulls(data.num_rows, field.type)
        columns.append(col if col.type.equals(field.type) else col.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _keys(table: str, schema: pa.Schema) -> list[str]:
    return [k for k in (ASSET[0], TIME_COLUMN[table]) if k in schema.names]


def _is_sorted(data: pa.Table, keys: list[str]) -> bool:
    order = pc.sort_indices(data, sort_keys=[(k, "ascending") for k in keys])
    return bool(pc.all(pc.equal(order, pa.array(range(len(order)), order.type))).as_py() is not False)


def _source(f: ArchiveFile, schema: pa.Schema, keys: list[str],
            at: Callable[[Path], Path | str] = str) -> Iterator[pa.Table]:
    """One file's rows, aligned to ``schema``, in (asset_id, time) order, :data:`READ_ROWS` at a time.
    A file of one small row group (a live run's flush) is read in one call and sorted if it is not;
    a larger file is streamed when its key columns are sorted, else read whole and sorted. ``at``: the
    path a reader opens the file by (:func:`write_merged`); its lines name ``f.path``."""
    try:
        with pq.ParquetFile(at(f.path)) as pf:
            meta = pf.metadata
            small = meta.num_row_groups <= 1 and meta.num_rows <= WHOLE_GROUP_ROWS
            data = pf.read() if small or f.asset_id is not None else None
        if data is None and _is_sorted(pq.read_table(at(f.path), columns=keys), keys):
            batches: Iterator[Any] = _batches(at(f.path))
        else:  # a small, an older layout's or an unsorted file: this one file in memory
            if data is None:
                data = pq.read_table(at(f.path))
            if f.asset_id is not None:
                data = data.append_column(ASSET[0], pa.array([f.asset_id] * data.num_rows, ASSET[1]))
            if not _is_sorted(data, keys):
                data = data.sort_by([(k, "ascending") for k in keys])
            batches = iter(data.to_batches(max_chunksize=READ_ROWS))
            data = None
        for batch in batches:
            yield aligned(batch, schema)
    except (OSError, pa.ArrowException) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the system's: not the file's pages
            raise WriteFailed(exc.errno, f"cannot read {f.path}: {failure_reason(exc)}") from None
        raise _unreadable(f.path, exc) from None


def _batches(path: Path | str) -> Iterator[pa.RecordBatch]:
    """A file's rows, :data:`READ_ROWS` at a time, one row group after the other. (``iter_batches``
    over the whole file reads ahead: a final merge of 7 runs of 25,600 rows held ~100 MB of Arrow
    memory, the runs' every row group, where one group each is ~5 MB.)"""
    with pq.ParquetFile(path) as pf:
        for group in range(pf.metadata.num_row_groups):
            if pf.metadata.row_group(group).num_rows <= WHOLE_GROUP_ROWS:  # one call (a reader: ~2 ms)
                yield from pf.read_row_group(group, use_threads=False).to_batches(max_chunksize=READ_ROWS)
            else:
                yield from pf.iter_batches(batch_size=READ_ROWS, row_groups=[group], use_threads=False)


def _run(path: Path | str) -> Iterator[pa.Table]:
    """A run file of an earlier pass (sorted, aligned)."""
    for batch in _batches(path):
        yield pa.Table.from_batches([batch])


def _key(data: pa.Table, keys: list[str], row: int) -> tuple[Any, ...]:
    """Row ``row``'s sort key, ordered as Arrow sorts (a null after every value)."""
    out: list[Any] = []
    for k in keys:
        s = data.column(k)[row]
        value = s.value if isinstance(s, pa.TimestampScalar) else s.as_py()
        out += [0, value] if s.is_valid else [1, None]
    return tuple(out)


def _below(data: pa.Table, keys: list[str], bound: pa.Table) -> int:
    """How many leading rows of the sorted ``data`` sort before ``bound``'s one row."""
    less: pa.Array | None = None
    equal: pa.Array | None = None
    for k in keys:
        col, value = data.column(k), bound.column(k)[0]
        if value.is_valid:
            lt = pc.fill_null(pc.less(col, value), False)
            eq = pc.fill_null(pc.equal(col, value), False)
        else:  # every value sorts before a null
            lt, eq = pc.is_valid(col), pc.is_null(col)
        less = lt if less is None else pc.or_(less, pc.and_(equal, lt))
        equal = eq if equal is None else pc.and_(equal, eq)
    return int(pc.sum(less).as_py() or 0) if less is not None else 0


def sorted_merge(streams: list[Iterator[pa.Table]], keys: list[str]) -> Iterator[pa.Table]:
    """The k-way merge of sorted streams: sorted pieces, ties in the streams' order then rows'.

    Each step takes from every buffer the rows sorting before the smallest of the buffers' last
    keys (no later batch of any stream can hold a row sorting before it), and refills the buffers
    that reached it."""
    bufs: list[pa.Table | None] = [None] * len(streams)
    live = [True] * len(streams)

    def pull(i: int) -> None:
        for batch in streams[i]:
            if batch.num_rows:
                buf = bufs[i]
                bufs[i] = batch if buf is None or not buf.num_rows else pa.concat_tables([buf, batch])
                return
        live[i] = False

    for i in range(len(streams)):
        pull(i)
    while True:
        ends = {i: (_key(b, keys, 0), _key(b, keys, b.num_rows - 1)) for i, b in enumerate(bufs)
                if b is not None and b.num_rows}
        tails = {i: tail for i, (_head, tail) in ends.items() if live[i]}
        if not tails:  # every stream read: the rest of the buffers
            rest = [bufs[i] for i in ends]
            if rest:
                yield pa.concat_tables(rest).sort_by([(k, "ascending") for k in keys])
            return
        at = min(tails, key=tails.__getitem__)
        bound, at_buf = tails[at], bufs[at]
        assert at_buf is not None
        bound_row = at_buf.slice(at_buf.num_rows - 1, 1)  # its last row: no buffer's cut moves it
        pieces = []
        for i, (head, tail) in ends.items():
            buf = bufs[i]
            assert buf is not None
            if head >= bound:  # nothing before the bound (Python orders the keys as Arrow sorts them)
                continue
            n = buf.num_rows if tail < bound else _below(buf, keys, bound_row)
            pieces.append(buf.slice(0, n))
            bufs[i] = buf.slice(n)
        if pieces:
            yield pa.concat_tables(pieces).sort_by([(k, "ascending") for k in keys])
        for i in [i for i, t in tails.items() if t == bound]:
            pull(i)


def write_groups(pieces: Iterable[pa.Table], writer: pq.ParquetWriter, group_rows: int) -> int:
    """``pieces`` written in row groups of exactly ``group_rows`` rows (the last one less), each one
    contiguous table, as ``write_table`` of the whole cuts them; returns the rows. (A row group per
    piece made a pass's runs of ~90-row groups: slow, and each open run held ~10 MB of metadata.)"""
    held: list[pa.Table] = []
    n_held = rows = 0
    for piece in pieces:
        held.append(piece)
        n_held += piece.num_rows
        while n_held >= group_rows:
            data = pa.concat_tables(held)
            writer.write_table(data.slice(0, group_rows).combine_chunks())
            rest = data.slice(group_rows)
            held, n_held, rows = [rest], rest.num_rows, rows + group_rows
    if n_held:
        writer.write_table(pa.concat_tables(held).combine_chunks())
        rows += n_held
    return rows


def write_merged(table: str, files: list[ArchiveFile], schema: pa.Schema, path: Path,
                 options: dict[str, Any], dir_fd: int | None = None,
                 at: Callable[[Path], Path | str] = str) -> int:
    """Every row of ``files`` once, merged (module docstring), as the Parquet file ``path`` with
    ``schema`` (its metadata included) and the layout's ``options``; returns the rows. Run files of
    the passes are made beside ``path`` and removed before it returns or raises. ``path`` is a
    temporary name of the caller's: what is there is removed first, each file made new
    (:func:`~flows.archive.layout.new_file`, round 47: never written through a link planted there).
    ``dir_fd``: the date folder held open (round 50, :class:`~flows.archive.held_folders.HeldFolders`):
    ``path`` and the runs are made and removed by name in it, whatever is put at its name; ``at`` maps
    the path of a file to read (a source, a run) to the one to open it by (the compaction's: through the
    folders it holds, :meth:`~flows.archive.held_folders.HeldFolders.reading`)."""
    bare = schema.remove_metadata()
    keys = _keys(table, bare)
    streams = [_source(f, bare, keys, at) for f in files]
    runs: list[Path] = []
    try:
        level = 0
        while len(streams) > FAN_IN:
            made: list[Path] = []
            for g in range(0, len(streams), FAN_IN):
                run = path.with_name(f"{path.name.removesuffix('.parquet.tmp')}.run-{level}-{g // FAN_IN}"
                                     ".parquet.tmp")
                runs.append(run)
                clear_temporary(_name(run, dir_fd), dir_fd=dir_fd)
                with (new_file(_name(run, dir_fd), dir_fd=dir_fd) as file,
                      pq.ParquetWriter(file, bare, write_statistics=False) as out):
                    # groups read back whole
                    write_groups(sorted_merge(streams[g:g + FAN_IN], keys), out, max(1, WHOLE_GROUP_ROWS))
                made.append(run)
            for old in runs[:len(runs) - len(made)]:  # the previous pass's runs are read: room back
                _removed(old, dir_fd)
            streams, level = [_run(at(p)) for p in made], level + 1
        clear_temporary(_name(path, dir_fd), dir_fd=dir_fd)
        with (new_file(_name(path, dir_fd), 1 << 20, dir_fd=dir_fd) as sink,
              pq.ParquetWriter(sink, schema, **options) as writer):
            return write_groups(sorted_merge(streams, keys), writer, ROW_GROUP_ROWS)
    finally:
        for run in runs:
            _removed(run, dir_fd)


def _name(path: Path, dir_fd: int | None) -> str | Path:
    """``path`` as the system is given it: its name in the open folder ``dir_fd``, else itself."""
    return path if dir_fd is None else path.name


def _removed(path: Path, dir_fd: int | None) -> None:
    """A temporary file of the merge removed (gone or not removable: nothing)."""
    with contextlib.suppress(OSError):
        os.unlink(_name(path, dir_fd), dir_fd=dir_fd)
