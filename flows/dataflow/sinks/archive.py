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
Arrow columns there (:mod:`flows.dataflow.sinks.archive_columns`), a chunk at a time as they come
(:mod:`flows.dataflow.sinks.archive_pending`), so a flush's write (what a recovery snapshot waits
for) only converts the last chunk, sorts, encodes and writes.
File names carry a run id, the writer partition and a sequence number,
and are renamed into place when complete (:mod:`flows.dataflow.sinks.archive_files`: one file's
table, bookkeeping and write), so appending from later runs or after a crash never
overwrites or corrupts anything already written; the DuckDB views in :mod:`flows.archive.query`
deduplicate rows that a resumed run writes again.

Every row also records who wrote it and when: ``run_id`` (one id per demo, backtest or run
invocation, shared by all its tables), ``_written_at`` (UTC) and ``_write_seq``, a nanosecond
stamp that strictly increases within a process. The views keep the row with the largest
``_write_seq`` per key, so the newest write wins whatever the file's name or folder.
"""

from __future__ import annotations

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
from flows.archive.layout import ASSET
from flows.codec.archive_schema import TABLES, arrow_type, file_columns, open_columns
from flows.codec.command_fields import ARCHIVE_MAPPINGS as MAPPINGS
from flows.codec.record_fields import ALERT, FEATURE_VECTOR, TWIN_SNAPSHOT
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.sinks.archive_files import check_table_folder, write_tables
from flows.dataflow.sinks.archive_pending import CHUNK_ROWS, Pending, item_rows
from flows.dataflow.sinks.archive_writer import BackgroundWriter, FailureGroup

__all__ = ["ROWS", "SINK_INPUT", "TABLES", "ParquetArchiveSink", "alert_row", "archive_attacher",
           "feature_row", "new_run_id", "state_row", "write_records", "write_rows"]

SINK_INPUT = "records"
"""What the flow hands the sinks: the records, keyed by asset (``benchmarks/bench_archive.py``
feeds the sink what this says; ARCHIVE7's flow handed the ``features`` sink column blocks)."""


def new_run_id() -> str:
    """A fresh run id: UTC start time (sortable, readable) and 8 random hex digits."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


feature_row = FEATURE_VECTOR.archive_row
"""One features row: keys, then one column per feature name (:mod:`flows.codec.record_fields`)."""
state_row = TWIN_SNAPSHOT.archive_row
"""One twin_state row."""
alert_row = ALERT.archive_row
"""One alerts row (one per alert message)."""

ROWS: dict[str, Callable[[Any], dict[str, Any]]] = {m.table: m.archive_row for m in MAPPINGS}
FOLDER_COLUMNS = frozenset({"date"})
"""Row keys that name the partition folder and are not written in the file."""


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
    ``_write_seq``. Every date's table is made before any file is written: rows Arrow refuses
    write nothing (:func:`~.archive_files.write_tables`). (The sink writes records with
    :func:`write_records`: the same files.)
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["date"]].append(row)
    tables = {date: layout.sorted_rows(table, _table(table, part)) for date, part in groups.items()}
    return write_tables(root, table, tables, basename, run_id)


def write_records(root: Path, table: str, records: list[Any] | Pending, basename: str,
                  run_id: str | None = None) -> int:
    """Write records (FeatureVector, TwinSnapshot or Alert) as :func:`write_rows` writes their
    rows, converted column by column (:mod:`flows.dataflow.sinks.archive_columns`); returns the
    number of files. FeatureVectors are converted from their NumPy rows, and the ``features``
    sink's items may be :class:`~.feature_blocks.FeatureBlock` s (made where the windows were
    aggregated), records and blocks in any mix (:mod:`flows.dataflow.sinks.archive_features`).
    ``records`` may be a :class:`~.archive_pending.Pending` file, records converted as they
    arrived (the sink's): the same files."""
    if not isinstance(records, Pending):
        pending = Pending(table)
        pending.add(records)
        records = pending
    return write_tables(root, table, records.files(), basename, run_id)


class _ArchivePartition(StatefulSinkPartition[Any, None]):
    """Buffers records; hands them to its background writer (:mod:`.archive_writer`) when
    ``batch_rows`` is reached or ``flush_interval_s`` has passed, at every snapshot and at close.

    The writer converts them to Arrow as they come, :data:`~.archive_pending.CHUNK_ROWS` records at
    a time (:mod:`.archive_pending`), so a flush's write only converts the last chunk, sorts,
    encodes and writes (round 46, LAT46B: the snapshot's wait with a recovery store).

    When snapshots are recovery commit points (``durable_snapshots``), the snapshot waits until
    everything handed over is on disk, so a crash loses nothing: what follows the snapshot is
    replayed. Otherwise (no recovery) the snapshot does not wait and the worker goes on with the
    next windows while the files are written; close waits in every case.

    The first durable snapshot of a worker's epoch end hands over the rows of every archive
    partition of its worker thread (the run's other tables,
    :attr:`~.archive_writer.FailureGroup.members`), not only its own, and waits once for all their
    writers, which then run together (round 48, EPOCH48): Bytewax calls the sinks' snapshots one
    after another, and each table's write (its last chunk, sort, encode, syncs) used to wait for
    the one before. Those tables are marked ``swept``: their own snapshots that follow hand over
    and wait for only what came to them since (rows of the epoch that Bytewax delivers after the
    first snapshot: a small extra file), so rows of the next epoch that a table ahead of the others
    gets meanwhile stay for that epoch's files. Every row a partition holds when its own snapshot
    is called is on disk when it returns, as before. Another worker thread's partitions are never
    touched.
    """

    def __init__(self, sink: ParquetArchiveSink, part: str) -> None:
        self.sink = sink
        self.part = part
        self.rows: list[Any] = []  # records (or feature blocks) not handed to the writer yet
        self.file = Pending(sink.table)  # the next file's records handed over: the writer converts them
        self.n_rows = 0
        self.seq = 0
        self.flushed_at = time.monotonic()
        self.owner: int | None = None  # the worker thread writing to it (its group membership)
        self.swept = False  # its rows handed over by another table's snapshot since its own
        # as many queued jobs as 4 flushes' chunks: the worker waits when 4 flushes are behind, as
        # before the chunks (round 46, LAT46B), not when a few chunks are
        pending = 4 * (1 + -(-sink.batch_rows // CHUNK_ROWS))
        self.writer = BackgroundWriter(f"archive-{sink.table}-{part}", max_pending=pending,
                                       group=sink.failures)

    def write_batch(self, items: list[Any]) -> None:
        self.writer.check()
        if self.owner != threading.get_ident():  # first batch: one of this worker thread's partitions
            self._join()
        self.rows.extend(items)
        self.n_rows += item_rows(self.sink.table, items)
        due = time.monotonic() - self.flushed_at >= self.sink.flush_interval_s
        if self.n_rows >= self.sink.batch_rows or due:
            self.flush()
        elif len(self.rows) >= CHUNK_ROWS:
            self._convert()

    def _convert(self) -> None:
        """Hand the buffered records over to be converted meanwhile (in order), :data:`CHUNK_ROWS`
        at a time; the fewer left stay buffered. Every job then holds at most that many records, so
        the queue's bound (counted in jobs) is 4 flushes of records whatever the batches' size
        (round 47, HOSTILE47: a batch of 1,000 was one chunk, and a held disk let the worker queue
        18 flushes' records at ``batch_rows`` 2,000, a flush of 3,000 rows in one batch all of them)."""
        rows = self.rows
        whole = len(rows) - len(rows) % CHUNK_ROWS
        for at in range(0, whole, CHUNK_ROWS):
            self.writer.submit(partial(self.file.add, rows[at:at + CHUNK_ROWS]))
        self.rows = rows[whole:]

    def flush(self) -> None:
        """Hand the buffered records to the writer as the next file(s) of this partition."""
        if not self.n_rows:
            return
        self._convert()
        base = f"part-{self.sink.run_id}-{self.part}-{self.seq:06d}"
        self.writer.submit(partial(self._write, self.file, self.rows, base))
        self.file = Pending(self.sink.table)
        self.rows = []
        self.n_rows = 0
        self.seq += 1
        self.flushed_at = time.monotonic()

    def _write(self, file: Pending, rest: list[Any], base: str) -> None:
        """On the writer thread: the file's last records converted, the files, then the metrics
        (``sink_write_seconds``: this write, not the chunks converted before it)."""
        start = time.perf_counter()
        file.add(rest)
        write_records(self.sink.root, self.sink.table, file, base, self.sink.run_id)
        m = self.sink.metrics
        if m is not None:
            name = f"archive_{self.sink.table}"
            m.archive_rows.labels(table=self.sink.table).inc(file.rows)
            m.sink_write_seconds.labels(sink=name).observe(time.perf_counter() - start)
            m.sink_batch_size.labels(sink=name).observe(file.rows)

    def _join(self) -> None:
        """Be counted among the calling worker thread's partitions (and no other's)."""
        self.sink.failures.leave(self)
        self.owner = threading.get_ident()
        self.sink.failures.join(self)

    def _sweep(self) -> list[_ArchivePartition]:
        """The first durable snapshot of the worker's epoch end: this partition and every other
        durable one of its worker thread holding rows, marked ``swept`` (their own snapshots that
        follow hand over only what came since: rows of the next epoch that a table ahead of the
        others gets meanwhile stay for that epoch's snapshot, no extra small file)."""
        mates = [p for p in self.sink.failures.mine()
                 if p is not self and p.sink.durable_snapshots and not p.swept and p.n_rows]
        for p in mates:
            p.swept = True
        return [self, *mates]

    def snapshot(self) -> None:
        start = time.perf_counter()
        if self.sink.durable_snapshots:
            mates = [self] if self.swept else self._sweep()
            self.swept = False
            for part in mates:
                part.flush()
            self.sink.failures.drain([part.writer for part in mates])
        else:
            self.flush()
            self.writer.check()
        if self.sink.metrics is not None:
            self.sink.metrics.snapshot_flush_seconds.observe(time.perf_counter() - start)

    def close(self) -> None:
        self.sink.failures.leave(self)
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
