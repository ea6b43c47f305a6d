"""``scores.parquet`` of a backtest, written as its windows close: memory bounded whatever the run's length.

Round 39 (MEM39): a backtest kept every window's :class:`~twin_models.records.TwinSnapshot` until
the end (~3.3 KB of RSS per asset window) to build this file and the report's plots. Now a
:class:`ScoresSpool` is the state stream's sink: of each snapshot it keeps only the file's ten
columns (a tuple), and every :data:`RUN_ROWS` rows it sorts them by (asset, window start) and
spills them to an Arrow IPC file in a temporary directory. :meth:`ScoresSpool.write` merges the runs
(Arrow's k-way merge, :func:`~flows.archive.merge.sorted_merge`, since round 41; stable: ties keep
arrival order, as the sort of all snapshots did), adds the two
columns that need the whole run, and writes the file :data:`OUT_ROWS` rows at a time:

- ``alert_active``: was an episode of the asset open at the window's end; the alerts (a few
  messages per episode, not per window) are kept in memory until the end, as before;
- ``true_rul``: the time to the asset's next failure, from the event files (read at the end).

Memory: one run of rows plus one read batch (:data:`READ_ROWS` rows) per spilled run on disk, and
one output batch; since round 40 every :data:`FAN_IN` runs of a level are merged into one of the next
as they come, so fewer than FAN_IN a level are on disk (and open at the end). The file is the one
built before from all snapshots held in memory (same rows, order and column types: a column's type
is what Arrow infers from its values, ``null`` when every value is None, as ``pa.table`` of Python
lists gave). The report reads its series back from the file
(:func:`asset_series`), one asset at a time.

Round 40 (HOSTILE40): the runs' folder is a :class:`~flows.app.spill_dir.SpillFolder` (locked while
the backtest runs; a killed backtest's is deleted by the next one); a spill that fails marks the
archive sinks' :class:`~flows.dataflow.sinks.archive_writer.FailureGroup` (their closes then write
nothing more: when the disk that filled holds --out too, their failing flushes made Bytewax abort,
SIGABRT, no message); a run removed or damaged while the backtest ran is one line naming it.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bytewax.dataflow import Stream
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.app.out_dir import replace_file
from flows.app.spill_dir import SpillFolder, remove_stale
from flows.archive.files import printable
from flows.archive.layout import WriteFailed, failure_reason
from flows.archive.merge import aligned, sorted_merge, write_groups
from flows.dataflow.sinks.archive_writer import FailureGroup
from twin_models.records import Alert, TwinSnapshot

__all__ = ["RUN_ROWS", "ScoreRow", "ScoresSpool", "asset_series", "episode_spans", "is_active", "true_rul"]

RUN_ROWS = 50_000
"""Rows sorted in memory before they are spilled (~20 MB of tuples)."""
READ_ROWS = 1_024
"""Rows of a spilled run held at once while merging."""
OUT_ROWS = 65_536
"""Rows written to ``scores.parquet`` at a time (a row group each)."""
FAN_IN = 64
"""Runs merged at once: when FAN_IN runs of a level are on disk they are merged into one run of the
next level (each row is rewritten once per level: 2 levels hold 64 x 64 x 50,000 windows), so the
final merge opens fewer than FAN_IN files a level (round 40: it held every run's file open, and past
~1,000 runs, 50 million windows, failed with "Too many open files" under the usual limit of 1,024)."""

SNAPSHOT_COLUMNS = ("timestamp", "window_start", "asset_id", "anomaly_score", "condition", "health_index",
                    "rul", "rul_lower", "rul_upper", "defect")
"""The columns taken from each snapshot, in the order of a spilled row."""
FILE_COLUMNS = ("timestamp", "window_start", "asset_id", "anomaly_score", "alert_active", "condition",
                "health_index", "rul", "rul_lower", "rul_upper", "true_rul", "defect")

Spans = Mapping[str, list[tuple[datetime, datetime | None]]]


def _row(s: TwinSnapshot) -> tuple[Any, ...]:
    return (s.timestamp, s.window_start, s.asset_id, s.anomaly_score, s.condition, s.health_index,
            s.rul_s, s.rul_lower_s, s.rul_upper_s, s.defect)


def _key(row: tuple[Any, ...]) -> tuple[str, datetime]:
    return row[2], row[1]


def episode_spans(alerts: Iterable[Alert]) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """Per asset: (raised, first cleared or None) of each alert episode that was raised."""
    by_id: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_id[a.alert_id].append(a)
    spans: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for msgs in by_id.values():
        raised = [m.timestamp for m in msgs if m.status == "raised"]
        cleared = [m.timestamp for m in msgs if m.status == "cleared"]
        if raised:
            spans[msgs[0].asset_id].append((min(raised), min(cleared) if cleared else None))
    return dict(spans)


def is_active(spans: Spans, asset: str, ts: datetime) -> bool:
    """Was an episode of ``asset`` open at ``ts``?"""
    return any(start <= ts and (end is None or ts < end) for start, end in spans.get(asset, ()))


def true_rul(failures: Mapping[str, list[datetime]], asset: str, ts: datetime) -> float | None:
    """Seconds from ``ts`` to the asset's next failure (at or after it), None without one."""
    times = sorted(failures.get(asset, ()))
    i = bisect_left(times, ts)
    return (times[i] - ts).total_seconds() if i < len(times) else None


class _Sink(DynamicSink[TwinSnapshot]):
    def __init__(self, spool: ScoresSpool) -> None:
        self._spool = spool

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        return _Partition(self._spool)


class _Partition(StatelessSinkPartition[TwinSnapshot]):
    def __init__(self, spool: ScoresSpool) -> None:
        self._spool = spool

    def write_batch(self, items: list[TwinSnapshot]) -> None:
        self._spool.extend(items)


class ScoresSpool:
    """The state stream's sink in a backtest: the scores' rows, in bounded sorted runs.

    ``keep``: a list that also receives every snapshot (in-process callers that read them);
    None keeps none. ``failures``: the run's archive sinks' group (marked when a spill fails).
    Use as a context manager: entering deletes the spill folders of killed backtests, the exit this
    one's."""

    def __init__(self, keep: list[TwinSnapshot] | None = None, failures: FailureGroup | None = None) -> None:
        self.keep = keep
        self.failures = FailureGroup() if failures is None else failures
        self.windows = 0
        self._rows: list[tuple[Any, ...]] = []
        self._first: dict[str, datetime] = {}  # each asset's earliest window end (true_rul's type)
        self._schemas: list[pa.Schema] = []
        self._runs: list[Path] = []
        self._run_schemas: list[pa.Schema] = []  # each spilled run's, as self._runs
        self._levels: list[int] = []  # each spilled run's level (0: spilled, k + 1: merged of level k)
        self._merges = 0
        self._tmp: SpillFolder | None = None

    def __enter__(self) -> ScoresSpool:
        remove_stale()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete the spilled runs."""
        if self._tmp is not None:
            self._tmp.close()
            self._tmp = None

    def attach(self, step_id: str, stream: Stream[Any]) -> None:
        """A :data:`~flows.dataflow.pipeline.SinkAttacher` of the state stream."""
        import bytewax.operators as op

        op.output(step_id, stream, _Sink(self))

    def extend(self, snaps: Iterable[TwinSnapshot]) -> None:
        """Take the rows of ``snaps``; spill a run when RUN_ROWS are held."""
        for s in snaps:
            self._rows.append(_row(s))
            first = self._first.get(s.asset_id)
            if first is None or s.timestamp < first:
                self._first[s.asset_id] = s.timestamp
            if self.keep is not None:
                self.keep.append(s)
            self.windows += 1
            if len(self._rows) >= RUN_ROWS:
                self._spill()

    def _run(self) -> pa.Table:
        self._rows.sort(key=_key)  # stable: equal keys keep their arrival order
        run = pa.table(dict(zip(SNAPSHOT_COLUMNS, map(list, zip(*self._rows, strict=True)), strict=True))
                       if self._rows else {c: [] for c in SNAPSHOT_COLUMNS})
        self._rows = []
        self._schemas.append(run.schema)
        return run

    def _spill(self) -> None:
        run = self._run()
        where = Path(tempfile.gettempdir())
        try:
            if self._tmp is None:
                self._tmp = SpillFolder()
            where = self._tmp.path / f"run-{len(self._schemas) - 1}.arrow"
            with pa.OSFile(str(where), "wb") as sink, pa.ipc.new_file(sink, run.schema) as writer:
                writer.write_table(run, max_chunksize=READ_ROWS)
            self._runs.append(where)
            self._run_schemas.append(run.schema)
            self._levels.append(0)
            while self._levels.count(level := self._levels[-1]) >= FAN_IN:
                where = self._tmp.path / f"merged-{self._merges}.arrow"
                self._merge_runs(where, level)
        except RunLost:  # a run removed or damaged before its merge: named by _batches
            self.failures.raised = True
            raise
        except OSError as exc:  # a full or missing temporary folder: one line naming it (CLI: exit 2)
            failed = exc
        else:
            return
        # raised outside the handler: the CLI names an engine error's innermost cause, this one
        self.failures.raised = True  # the archive's closes write no more (a full disk: they fail too)
        msg = (f"cannot spill the scores' sorted windows to {printable(str(where))}: "
               f"{failure_reason(failed)} (TMPDIR names the temporary folder)")
        raise WriteFailed(failed.errno or errno.EIO, msg)

    def _merge_runs(self, where: Path, level: int) -> None:
        """The runs of ``level`` (the newest, after every run of a higher level) merged into the one
        run ``where`` of the next level, which replaces them (stable: ties keep the runs' order); its
        columns' types are those runs' united (the file's are from all runs')."""
        at = self._levels.index(level)
        runs, schemas = self._runs[at:], self._run_schemas[at:]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        streams: list[Iterator[pa.Table]] = [(aligned(b, schema) for b in _batches(p, s))
                                             for p, s in zip(runs, schemas, strict=True)]
        with pa.OSFile(str(where), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for piece in sorted_merge(streams, ["asset_id", "window_start"]):  # Arrow's, not row by row
                writer.write_table(piece, max_chunksize=READ_ROWS)
        for p in runs:
            p.unlink(missing_ok=True)
        self._runs[at:], self._run_schemas[at:], self._levels[at:] = [where], [schema], [level + 1]
        self._merges += 1

    def write(self, path: Path, alerts: Sequence[Alert], failures: Mapping[str, list[datetime]]) -> Path:
        """Write ``scores.parquet`` at ``path`` (replaced whole): the merged runs, in order, in row
        groups of OUT_ROWS. The runs (and the last one, in memory) are merged as the levels are,
        with Arrow's merge (round 41: a ``heapq.merge`` of their rows made Python tuples of every
        row and built the columns back from them)."""
        last = self._run() if self._rows or not self._runs else None
        schema = self._schema(failures)
        spans = episode_spans(alerts)
        body = pa.schema([schema.field(c) for c in SNAPSHOT_COLUMNS])
        streams: list[Iterator[pa.Table]] = [(aligned(b, body) for b in _batches(p, s))
                                             for p, s in zip(self._runs, self._run_schemas, strict=True)]
        if last is not None:
            streams.append(aligned(b, body) for b in last.to_batches(max_chunksize=READ_ROWS))
        pieces = (_finished(piece, schema, spans, failures)
                  for piece in sorted_merge(streams, ["asset_id", "window_start"]))

        def write(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, schema) as writer:
                if not write_groups(pieces, writer, OUT_ROWS) and not self.windows:
                    writer.write_table(schema.empty_table())

        return replace_file(path, write)

    def _schema(self, failures: Mapping[str, list[datetime]]) -> pa.Schema:
        """The file's columns with the types Arrow infers from all their values (null: all None)."""
        runs = pa.unify_schemas(self._schemas, promote_options="permissive")
        has_truth = any(any(f >= first for f in failures.get(a, ())) for a, first in self._first.items())
        derived = {"alert_active": pa.bool_() if self.windows else pa.null(),
                   "true_rul": pa.float64() if has_truth else pa.null()}
        return pa.schema([(c, derived[c] if c in derived else runs.field(c).type) for c in FILE_COLUMNS])


class RunLost(WriteFailed):
    """A spilled run that cannot be read back (removed or damaged while the backtest ran)."""


def _batches(path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """A spilled run's batches (each validated: a damaged run is an error naming it, not a
    UnicodeDecodeError's words or wrong rows). Round 41 (HOSTILE41): a run must still be a file (a
    FIFO put at its name made the backtest wait for ever, a link was followed) with the columns it
    was spilled with (another Arrow file there: "Unsupported cast from double to timestamp", exit 1)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            why = "not a regular file"
            raise ValueError(why)  # named below as a damaged run
        with pa.OSFile(str(path)) as source:
            reader = pa.ipc.open_file(source)
            if not reader.schema.equals(schema):
                why = "its columns are not those it was spilled with"
                raise ValueError(why)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                batch.validate(full=True)
                yield batch
    except (OSError, pa.ArrowException, ValueError) as exc:  # removed or cut while the backtest ran
        why = failure_reason(exc) if isinstance(exc, OSError) else (str(exc).splitlines() or ["?"])[0]
        lost = not isinstance(exc, OSError) or exc.errno in (None, errno.ENOENT)
        shown = printable(str(path))
        msg = (f"the scores' spilled run {shown} was removed or damaged while the backtest ran ({why}); "
               "run it again (TMPDIR names the temporary folder: one no cleaner empties)" if lost else
               f"the scores' spilled run {shown} could not be read back: {why} (TMPDIR names the temporary "
               "folder)")
        raise RunLost(getattr(exc, "errno", None) or errno.EIO, msg) from None


def _finished(piece: pa.Table, schema: pa.Schema, spans: Spans,
              failures: Mapping[str, list[datetime]]) -> pa.Table:
    """A merged piece of rows (sorted by asset) as the file's columns: with ``alert_active``
    (:func:`is_active`) and ``true_rul`` (:func:`true_rul`) of each row, computed an asset's rows at
    a time on the window ends' integer ticks (exact, as the datetimes compare)."""
    import numpy as np

    ends_type = piece.schema.field("timestamp").type
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[ends_type.unit]

    def tick(times: Sequence[datetime]) -> Any:
        return pa.array(times, type=ends_type).cast(pa.int64()).to_numpy()

    ticks = piece.column("timestamp").cast(pa.int64()).to_numpy()
    active = np.zeros(len(ticks), dtype=bool)
    rul = np.full(len(ticks), np.nan)
    known = np.zeros(len(ticks), dtype=bool)
    runs = pc.run_end_encode(piece.column("asset_id").combine_chunks())
    start = 0
    for asset, stop in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        at = ticks[start:stop]
        for first, last in spans.get(asset, ()):
            opened = at >= tick([first])[0]
            active[start:stop] |= opened if last is None else opened & (at < tick([last])[0])
        times = tick(sorted(failures.get(asset, ())))
        nxt = np.searchsorted(times, at, side="left")
        has = nxt < len(times)
        rul[start:stop][has] = (times[nxt[has]] - at[has]) / per_second
        known[start:stop] = has
        start = stop
    made = {"alert_active": pa.array(active), "true_rul": pa.array(rul, mask=~known)}
    derived = {c: pa.nulls(len(ticks)) if schema.field(c).type == pa.null() else v for c, v in made.items()}
    return pa.Table.from_arrays([derived[c] if c in derived else piece.column(c) for c in FILE_COLUMNS],
                                schema=schema)


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One window of an asset as the report plots it (a row of ``scores.parquet``)."""

    asset_id: str
    timestamp: datetime
    window_start: datetime
    anomaly_score: float
    health_index: float
    rul_s: float | None
    rul_lower_s: float | None
    rul_upper_s: float | None


_SERIES = ("asset_id", "timestamp", "window_start", "anomaly_score", "health_index", "rul", "rul_lower",
           "rul_upper")


def asset_series(path: Path) -> Iterator[tuple[str, list[ScoreRow]]]:
    """Each asset's windows from a ``scores.parquet`` (sorted by asset, then window start), one
    asset at a time: memory holds one asset's series, not the file's."""
    asset: str | None = None
    rows: list[ScoreRow] = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=OUT_ROWS, columns=list(_SERIES)):
        for values in zip(*(batch.column(c).to_pylist() for c in _SERIES), strict=True):
            if values[0] != asset:
                if asset is not None:
                    yield asset, rows
                asset, rows = values[0], []
            rows.append(ScoreRow(*values))
    if asset is not None:
        yield asset, rows
