"""Parquet archive sink: one file per (table, date) per flush, ``<root>/<table>/date=YYYY-MM-DD/``.

A file holds every asset's rows of its date, with ``asset_id`` as its first column and the rows
sorted by (asset_id, time), in small row groups (:mod:`flows.archive.layout`): the Parquet
statistics of a row group then name a narrow asset range, so a reader filtering on one asset skips
the others' row groups. (Archives written before issue 10 have one file per (date, asset) under
``date=YYYY-MM-DD/asset_id=<id>/``, without the column; :mod:`flows.archive.files` reads both.)
A flush of a 100-asset fleet thus writes a handful of files instead of one per asset and day, which
is what makes the write cost close to one bare ``write_table`` and the queries' file count small.

Rows are buffered per writer partition and written in batches (``batch_rows`` rows or
``flush_interval_s`` seconds, whichever comes first), at every recovery snapshot and at close,
never one file per record, by a background thread per partition
(:mod:`flows.dataflow.sinks.archive_writer`) so the worker goes on meanwhile; records become
Arrow columns there (:mod:`flows.dataflow.sinks.archive_columns`).
File names carry a run id, the writer partition and a sequence number,
and are renamed into place when complete, so appending from later runs or after a crash never
overwrites or corrupts anything already written; the DuckDB views in :mod:`flows.archive.query`
deduplicate rows that a resumed run writes again.

Every row also records who wrote it and when: ``run_id`` (one id per demo, backtest or run
invocation, shared by all its tables), ``_written_at`` (UTC) and ``_write_seq``, a nanosecond
stamp that strictly increases within a process. The views keep the row with the largest
``_write_seq`` per key, so the newest write wins whatever the file's name or folder.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pyarrow as pa
from bytewax.dataflow import Stream
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from flows.archive import layout
from flows.archive.files import linked_table
from flows.archive.layout import ASSET
from flows.codec.archive_schema import BOOKKEEPING, TABLES, arrow_type, file_columns, open_columns
from flows.codec.command_fields import ARCHIVE_MAPPINGS as MAPPINGS
from flows.codec.record_fields import ALERT, FEATURE_VECTOR, TWIN_SNAPSHOT
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.sinks.archive_columns import Columns, FileTable, date_groups, records_file
from flows.dataflow.sinks.archive_features import block_columns
from flows.dataflow.sinks.archive_writer import ArchiveWriteError, BackgroundWriter, FailureGroup
from flows.dataflow.sinks.feature_blocks import FeatureBlock, feature_blocks

__all__ = ["ROWS", "SINK_INPUT", "TABLES", "ParquetArchiveSink", "alert_row", "archive_attacher",
           "check_table_folder", "feature_row", "new_run_id", "state_row", "write_records", "write_rows",
           "write_seq"]

SINK_INPUT = "records"
"""What the flow hands the sinks: the records, keyed by asset (``benchmarks/bench_archive.py``
feeds the sink what this says; ARCHIVE7's flow handed the ``features`` sink column blocks)."""

_SEQ_LOCK = threading.Lock()
_last_seq = 0


def new_run_id() -> str:
    """A fresh run id: UTC start time (sortable, readable) and 8 random hex digits."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def write_seq() -> int:
    """Nanoseconds since the epoch, strictly increasing within the process (ties broken by +1)."""
    global _last_seq
    with _SEQ_LOCK:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


feature_row = FEATURE_VECTOR.archive_row
"""One features row: keys, then one column per feature name (:mod:`flows.codec.record_fields`)."""
state_row = TWIN_SNAPSHOT.archive_row
"""One twin_state row."""
alert_row = ALERT.archive_row
"""One alerts row (one per alert message)."""

ROWS: dict[str, Callable[[Any], dict[str, Any]]] = {m.table: m.archive_row for m in MAPPINGS}
FOLDER_COLUMNS = frozenset({"date"})
"""Row keys that name the partition folder and are not written in the file."""


def _partition_dir(root: Path, table: str, date: str) -> Path:
    return root / table / f"date={date}"


_RUN_ID, _WRITTEN_AT, _WRITE_SEQ = (arrow_type(c) for c in BOOKKEEPING)


def _bookkeeping(table: pa.Table, run_id: str | None, seq: int) -> pa.Table:
    """Append the columns saying which run wrote the rows and when (same for the whole file)."""
    for name, column in zip(("run_id", "_written_at", "_write_seq"),
                            _bookkeeping_arrays(table.num_rows, run_id, seq), strict=True):
        table = table.append_column(name, column)
    return table


def _bookkeeping_arrays(n: int, run_id: str | None, seq: int) -> list[pa.Array]:
    """The bookkeeping columns of an ``n``-row file: ``run_id``, ``_written_at``, ``_write_seq``."""
    return [pa.repeat(pa.scalar(run_id, _RUN_ID), n), pa.repeat(pa.scalar(seq // 1000, _WRITTEN_AT), n),
            pa.repeat(pa.scalar(seq, _WRITE_SEQ), n)]


def _columns(table: str, rows: list[dict[str, Any]]) -> list[tuple[str, pa.DataType]]:
    """The file's columns with their declared types (the folder's ``date``/``asset_id`` left out).

    A fixed table (``twin_state``, ``alerts``) has exactly its declared columns, in order (a
    column a row lacks is null there; a column that is not declared is an error). The open
    ``features`` table has the union of the rows' keys in order of appearance (``pa.Table.
    from_pylist`` takes the first row's keys only: a batch starting with a window without
    vibration frames silently lost every other row's vibration features), declared columns
    with their type and feature columns as ``double``. The union is taken over the rows'
    distinct key sequences (a batch has a handful), which gives the same order as a scan of
    every key of every row.
    """
    declared = {c.name: arrow_type(c) for c in file_columns(table)}
    shapes = dict.fromkeys(tuple(row) for row in rows)
    skip = FOLDER_COLUMNS | {ASSET[0]}
    keys = [k for k in dict.fromkeys(k for shape in shapes for k in shape) if k not in skip]
    spread = open_columns(table)
    if spread is not None:
        return [ASSET, *[(k, declared.get(k, arrow_type(spread))) for k in keys]]
    if extra := [k for k in keys if k not in declared]:
        msg = f"archive table {table!r} has no column {extra[0]!r}; declared: {', '.join(declared)}"
        raise ValueError(msg)
    return [ASSET, *declared.items()]


def _table(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table with the declared schema of archive ``table``.

    Converted by Arrow in one pass as a struct array (a key a row lacks is null, the folder
    key is not a field and is ignored): the same values and types as building each column
    from ``row.get(column)``, without a Python loop per cell."""
    schema = pa.schema(_columns(table, rows))
    structs = pa.array(rows, type=pa.struct(list(schema)))
    return pa.Table.from_batches([pa.RecordBatch.from_struct_array(structs)], schema=schema)


def write_rows(root: Path, table: str, rows: list[dict[str, Any]], basename: str,
               run_id: str | None = None) -> int:
    """Write rows as new Parquet files under ``root/table``; returns the number of files.

    One file per date, rows sorted by (asset_id, time), written to a temporary name and renamed
    into place, so a crash never leaves a truncated ``*.parquet`` behind and existing files are
    never touched. Each file gets ``run_id`` (null if not given), ``_written_at`` and a fresh
    ``_write_seq``. (The sink writes records with :func:`write_records`: the same files.)
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["date"]].append(row)
    for date, part in groups.items():
        _write_file(root, table, date, layout.sorted_rows(table, _table(table, part)), basename, run_id)
    return len(groups)


def write_records(root: Path, table: str, records: list[Any], basename: str,
                  run_id: str | None = None) -> int:
    """Write records (FeatureVector, TwinSnapshot or Alert) as :func:`write_rows` writes their
    rows, converted column by column (:mod:`flows.dataflow.sinks.archive_columns`); returns the
    number of files. FeatureVectors are converted from their NumPy rows, and the ``features``
    sink's items may be :class:`~.feature_blocks.FeatureBlock` s (made where the windows were
    aggregated), records and blocks in any mix (:mod:`flows.dataflow.sinks.archive_features`)."""
    if table == FEATURE_VECTOR.table:
        tables = block_columns(_as_blocks(records))
    else:
        tables = {date: records_file(table, part) for date, part in date_groups(table, records).items()}
    for date, data in tables.items():
        _write_file(root, table, date, data, basename, run_id)
    return len(tables)


def _as_blocks(items: list[Any]) -> list[FeatureBlock]:
    """The items (FeatureBlocks and FeatureVectors) as blocks, in their order."""
    kinds = set(map(type, items))  # one C pass (the flow's flushes are records only)
    if FeatureBlock not in kinds:
        return feature_blocks(items)
    if kinds == {FeatureBlock}:
        return items
    out: list[FeatureBlock] = []
    loose: list[Any] = []
    for item in [*items, None]:
        if type(item) is FeatureBlock or item is None:
            out.extend(feature_blocks(loose))
            loose = []
            if item is not None:
                out.append(item)
        else:
            loose.append(item)
    return out


def _rows(items: list[Any]) -> int:
    """How many rows the items are (a FeatureBlock is its windows)."""
    if FeatureBlock not in set(map(type, items)):  # the flow's items: records (one C pass)
        return len(items)
    return sum(len(item) if type(item) is FeatureBlock else 1 for item in items)


def _write_file(root: Path, table: str, date: str, data: pa.Table | Columns | FileTable, basename: str,
                run_id: str | None) -> None:
    """Sorted rows of one date -> ``<root>/<table>/date=<date>/<basename>.parquet``, atomically.
    ``data``: a table; its columns and schema (``block_columns``, ``records_columns``), made one table with
    the bookkeeping by one ``RecordBatch.from_arrays`` (~35 us for 59 columns, ~60 by ``append_column``,
    hot); or a function making the file's table and bookkeeping (``records_file``'s, for a few records)."""
    folder = _partition_dir(root, table, date)
    final = folder / f"{basename}.parquet"
    tmp = folder / f".{basename}.parquet.tmp"
    if isinstance(data, pa.Table):
        options = layout.write_options(table, _file_schema(data.schema))
        data = _bookkeeping(data, run_id, write_seq())
    elif isinstance(data, tuple):
        arrays, schema = data
        full = _file_schema(schema)
        options = layout.write_options(table, full)
        arrays = [*arrays, *_bookkeeping_arrays(len(arrays[0]), run_id, write_seq())]
        data = pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=full)])
    else:
        options = layout.write_options(table, (data := data(run_id, write_seq())).schema)
    try:
        if (linked := linked_table(folder.parent)) is not None:  # planted mid-run: mkdir would follow it
            raise ArchiveWriteError(errno.ELOOP, f"cannot write the archive: {linked}")
        if not _is_folder(folder):  # a folder (not a link) is written into as it is: one lstat
            folder.mkdir(parents=True, exist_ok=True)
            if folder.is_symlink():  # planted: writing through it would write outside the archive
                raise ArchiveWriteError(errno.ELOOP, f"cannot write the archive: {folder} is a symbolic "
                                        "link (not written through; remove it)")
        layout.write_file(data, tmp, options)
        os.replace(tmp, final)
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


_BOOKKEEPING_FIELDS = [pa.field(c.name, arrow_type(c)) for c in BOOKKEEPING]
_FILE_SCHEMAS: list[tuple[pa.Schema, pa.Schema]] = []
_KEPT = 64
"""Schemas whose file schema is kept (a fleet writes a handful per table: one per feature-name set)."""


def _file_schema(schema: pa.Schema) -> pa.Schema:
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
    full = pa.schema([*schema, *_BOOKKEEPING_FIELDS], metadata=schema.metadata)
    if len(kept) >= _KEPT:
        del kept[0]
    kept.append((schema, full))
    return full


class _ArchivePartition(StatefulSinkPartition[Any, None]):
    """Buffers records; hands them to its background writer (:mod:`.archive_writer`) when
    ``batch_rows`` is reached or ``flush_interval_s`` has passed, at every snapshot and at close.

    When snapshots are recovery commit points (``durable_snapshots``), the snapshot waits until
    everything handed over is on disk, so a crash loses nothing: what follows the snapshot is
    replayed. Otherwise (no recovery) the snapshot does not wait and the worker goes on with the
    next windows while the files are written; close waits in every case.
    """

    def __init__(self, sink: ParquetArchiveSink, part: str) -> None:
        self.sink = sink
        self.part = part
        self.rows: list[Any] = []  # records (or feature blocks), converted by the writer
        self.n_rows = 0
        self.seq = 0
        self.flushed_at = time.monotonic()
        self.writer = BackgroundWriter(f"archive-{sink.table}-{part}", group=sink.failures)

    def write_batch(self, items: list[Any]) -> None:
        self.writer.check()
        self.rows.extend(items)
        self.n_rows += _rows(items) if self.sink.table == FEATURE_VECTOR.table else len(items)
        due = time.monotonic() - self.flushed_at >= self.sink.flush_interval_s
        if self.n_rows >= self.sink.batch_rows or due:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered records to the writer as the next file(s) of this partition."""
        if not self.rows:
            return
        base = f"part-{self.sink.run_id}-{self.part}-{self.seq:06d}"
        self.writer.submit(partial(self._write, self.rows, base))
        self.rows = []
        self.n_rows = 0
        self.seq += 1
        self.flushed_at = time.monotonic()

    def _write(self, records: list[Any], base: str) -> None:
        """On the writer thread: the files, then the metrics."""
        start = time.perf_counter()
        write_records(self.sink.root, self.sink.table, records, base, self.sink.run_id)
        m = self.sink.metrics
        if m is not None:
            name = f"archive_{self.sink.table}"
            rows = _rows(records)
            m.archive_rows.labels(table=self.sink.table).inc(rows)
            m.sink_write_seconds.labels(sink=name).observe(time.perf_counter() - start)
            m.sink_batch_size.labels(sink=name).observe(rows)

    def snapshot(self) -> None:
        start = time.perf_counter()
        self.flush()
        if self.sink.durable_snapshots:
            self.writer.drain()
        else:
            self.writer.check()
        if self.sink.metrics is not None:
            self.sink.metrics.snapshot_flush_seconds.observe(time.perf_counter() - start)

    def close(self) -> None:
        if not self.sink.failures.raised:  # after a write failure the flow stops: write no more
            self.flush()
        self.writer.close()


class ParquetArchiveSink(FixedPartitionedSink[Any, None]):
    """Bytewax sink writing one archive table (``features``, ``twin_state`` or ``alerts``).

    Items are ``(asset_id, record)``; ``partitions`` writer partitions spread the work over
    workers (an asset always goes to the same one). ``durable_snapshots``: the snapshots are
    recovery commit points (a run with a recovery store), so each waits until its rows are on
    disk; without recovery nothing resumes from them and they do not wait. ``failures``: the
    :class:`~.archive_writer.FailureGroup` of the run's archive sinks (give all of a flow's sinks
    the same one; default: this sink's own).
    """

    def __init__(
        self,
        root: str | Path,
        table: str,
        *,
        batch_rows: int = 20000,
        flush_interval_s: float = 60.0,
        partitions: int = 1,
        run_id: str | None = None,
        metrics: PipelineMetrics | None = None,
        durable_snapshots: bool = True,
        failures: FailureGroup | None = None,
    ) -> None:
        if table not in ROWS:
            msg = f"unknown archive table {table!r}; expected one of {', '.join(TABLES)}"
            raise ValueError(msg)
        self.root = Path(root)
        self.table = table
        check_table_folder(self.root, table)  # refused before the flow starts
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.partitions = partitions
        self.run_id = run_id or new_run_id()
        self.metrics = metrics
        self.durable_snapshots = durable_snapshots
        self.failures = FailureGroup() if failures is None else failures

    def list_parts(self) -> list[str]:
        """Writer partitions ``w0``, ``w1`` ..."""
        return [f"w{i}" for i in range(self.partitions)]

    def part_fn(self, item_key: str) -> int:
        """Stable assignment of an asset to a writer partition."""
        return zlib.crc32(item_key.encode()) % self.partitions

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ArchivePartition:
        """One buffer per writer partition (nothing to resume: files are immutable)."""
        return _ArchivePartition(self, for_part)


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


def archive_attacher(
    root: str | Path, table: str, **kwargs: Any
) -> Callable[[str, Stream[Any]], None]:
    """A :data:`flows.dataflow.pipeline.SinkAttacher` that archives a stream of records into ``table``.

    Every table takes its records keyed by asset (:data:`SINK_INPUT`): the ``features`` windows
    become columns on the writer thread, one block per flush (:func:`write_records`), not a
    Bytewax batch at a time on the worker (ARCHIVE7's ``<step>_blocks`` step: at the demo's ~8
    windows per batch its fixed cost per block halved the all-in rate; RESULTS.md, ARCHIVE8)."""
    sink = ParquetArchiveSink(root, table, **kwargs)

    def attach(step_id: str, stream: Stream[Any]) -> None:
        keyed = op.key_on(f"{step_id}_key", stream, lambda rec: rec.asset_id)
        op.output(step_id, keyed, sink)

    return attach
