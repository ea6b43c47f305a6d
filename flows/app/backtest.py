"""``twin backtest``: historical files through the SAME get_flow as ``twin run``, as fast as possible.

Prequential by construction: the files are merged in event-time order and every window is scored
by the models as they were before it. Windows close on event time (``clock = "data"``); all other
settings come from the same configuration file as ``twin run``.

Outputs in ``--out``: ``scores.parquet`` (one row per asset window), ``alerts.parquet``, the archive
(``archive/``), ``dead_letters.jsonl`` (this run's only) and ``report.html`` with its PNG plots.

Nothing is lost silently: the summary counts the dead letters by reason, and :func:`failure`
says why a run's outputs cannot be trusted (no record, no window, or more than
``max_dead_letter_share`` of the records in the dead letters); the CLI then exits 1, after the
outputs are written so that they can be inspected. The same file given twice (same resolved path,
or identical bytes) is refused before anything runs.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from bytewax.testing import run_main

from flows.app.heap import collecting_less
from flows.app.losses import (
    DEFAULT_MAX_DEAD_LETTER_SHARE,
    dead_letters_by_reason,
    describe_reasons,
    duplicate_files,
    loss_problem,
)
from flows.app.out_dir import (
    RunOutputs,
    kept_on_stop,
    missing_top,
    prepare_out,
    refuse_linked_folders,
    replace_file,
)
from flows.app.out_held import held_folder
from flows.app.out_manifest import record_written
from flows.app.out_places import held_place
from flows.app.outputs import local_outputs
from flows.app.progress import progress_bar
from flows.app.scores_file import ScoresSpool
from flows.archive.files import printable
from flows.codec.archive_schema import arrow_type, file_columns
from flows.config.pipeline import PipelineConfig
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import Sinks, get_flow
from flows.dataflow.sinks.archive import alert_row, new_run_id
from flows.dataflow.sources.files import FileReplaySource, ReadStats, count_records, merge_files
from flows.dataflow.sources.readers.source import regular_file
from twin_models.records import Alert, AssetEvent, AssetMetadata, Recommendation, TwinSnapshot
from twin_models.text import counted

__all__ = ["BACKTEST_EPOCH", "BACKTEST_SETTINGS", "BacktestResult", "failure", "failure_times",
           "print_summary", "refuse_duplicates", "refuse_inputs_in_outputs", "run_backtest"]

BACKTEST_OUTPUTS = ("scores.parquet", "alerts.parquet", "dead_letters*.jsonl", "report.html", "figures/*.png")
"""What ``twin backtest`` writes into ``--out`` besides ``archive/`` (``--fresh`` deletes them)."""

BACKTEST_SETTINGS: Mapping[str, Any] = MappingProxyType({"clock": "data"})
"""Settings every backtest runs with, whatever the config says (a replay closes its windows on event
time only). ``twin backtest`` loads its settings with them as flags (round 42, TIDY42: it loaded the
default ``clock = "system"`` and replaced it here), so the settings checked are the ones it runs with."""

BACKTEST_EPOCH = timedelta(days=365)
"""Bytewax epoch interval (wall time) of a backtest: in effect the whole replay is ONE epoch.

A backtest has no recovery store (nothing resumes from its snapshots), yet at every epoch's end
Bytewax copies the state of every key a stateful step touched and the archive sinks flush their
files: with the default 10 s epochs that was ~23,000 state copies and 2.4x the archive files on
C-MAPSS FD001, for nothing. Outputs do not depend on the epoch length (event-time windows)."""


@dataclass
class BacktestResult:
    """What a backtest produced (also written to ``out``)."""

    snapshots: list[TwinSnapshot]
    alerts: list[Alert]
    metrics: PipelineMetrics
    seconds: float
    records: int
    out: Path
    failures: dict[str, list[datetime]] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    """Dead letters by reason (``dead_letters.jsonl`` holds them)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Cells or frames the file readers skipped, by reason (empty, non_finite, ...)."""
    recommendations: list[Recommendation] = field(default_factory=list)
    """The twin's prescriptions (also in the archive's ``recommendations`` table)."""
    windows: int | None = None
    """Asset windows scored (rows of ``scores.parquet``); ``len(snapshots)`` when not given.
    ``snapshots`` is empty when the run did not keep them (``keep_snapshots=False``)."""

    def __post_init__(self) -> None:
        if self.windows is None:
            self.windows = len(self.snapshots)


def alerts_schema() -> pa.Schema:
    """``alerts.parquet``'s columns: the archive's declared ``alerts`` columns with their types, plus
    ``asset_id`` and ``date`` (its ISO text, as before). Declared, not inferred from the rows: a
    quiet run's file has every column (a query on ``severity`` finds no rows rather than no
    column), and a column that is null in every row keeps its type."""
    declared = [(c.name, arrow_type(c)) for c in file_columns("alerts")]
    return pa.schema([declared[0], ("asset_id", pa.string()), ("date", pa.string()), *declared[1:]])


def failure_times(event_files: Sequence[str | Path]) -> dict[str, list[datetime]]:
    """Failure times per asset from event files (the truth that RUL is judged against)."""
    out: dict[str, list[datetime]] = defaultdict(list)
    for rec in merge_files(event_files, fmt="events"):
        if isinstance(rec, AssetEvent) and rec.kind == "failure":
            out[rec.asset_id].append(rec.timestamp)
    return dict(out)


def run_backtest(
    inputs: Sequence[str | Path],
    out: str | Path,
    cfg: PipelineConfig,
    *,
    events: Sequence[str | Path] = (),
    metadata: Mapping[str, AssetMetadata] | None = None,
    read_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    report: bool = True,
    fresh: bool = False,
    epoch_interval: timedelta = BACKTEST_EPOCH,
    keep_snapshots: bool = True,
) -> BacktestResult:
    """Run the files through the dataflow; write scores, alerts, archive and the report.

    ``fresh`` first deletes what an earlier backtest wrote to ``out``; without it, an archive of
    earlier runs there gets a warning that results will be mixed. ``epoch_interval``: Bytewax's
    (wall time; see :data:`BACKTEST_EPOCH`), a parameter for the tests only.
    ``keep_snapshots``: keep every window's snapshot in ``BacktestResult.snapshots`` (in-process
    callers that read them, ~3 KB of memory a window); ``twin backtest`` keeps none: its scores
    and report are written from bounded runs (:mod:`flows.app.scores_file`) whatever the length.
    """
    refuse_duplicates([*inputs, *events])
    refuse_inputs_in_outputs([*inputs, *events], Path(out))
    out = Path(out)
    refuse_linked_folders(out, ("archive", *(("figures",) if report else ())))  # before any work
    made = missing_top(out)
    out.mkdir(parents=True, exist_ok=True)
    run = RunOutputs(new_run_id())
    expected = ("scores.parquet", "alerts.parquet", *(("report.html",) if report else ()))
    # refused before the run: a folder made for it goes again; stopped mid-way: say what is kept
    # round 41: --out itself held (as archive/ and figures/ below it, round 40) while anything is
    # written or deleted in it: a link put at its name meanwhile gets nothing (followed if there at
    # the start: the user's folder); every line says OUT, never the hold's /proc path
    with (held_folder(out, lambda: None, follow=True) as at,
          kept_on_stop(at, at / "archive", run, expected, logs=("dead_letters.jsonl",), made=made)):
        held_place("--out", out, at)  # round 42: the CLI's checks looked at --out by name, before the hold
        refuse_inputs_in_outputs([*inputs, *events], at, shown=out)  # round 43b: and so did this one
        res = _backtest(inputs, at, cfg, run, events=events, metadata=metadata, read_options=read_options,
                        progress=progress, report=report, fresh=fresh, epoch_interval=epoch_interval,
                        keep_snapshots=keep_snapshots)
    return replace(res, out=out)


def _backtest(inputs: Sequence[str | Path], out: Path, cfg: PipelineConfig, run: RunOutputs, *,
              events: Sequence[str | Path], metadata: Mapping[str, AssetMetadata] | None,
              read_options: Mapping[str, Any] | None, progress: bool, report: bool, fresh: bool,
              epoch_interval: timedelta, keep_snapshots: bool) -> BacktestResult:
    snaps: list[TwinSnapshot] = []
    with ScoresSpool(snaps if keep_snapshots else None) as spool:
        return _spooled(inputs, out, cfg, run, spool, events=events, metadata=metadata,
                        read_options=read_options, progress=progress, report=report, fresh=fresh,
                        epoch_interval=epoch_interval)


def _spooled(inputs: Sequence[str | Path], out: Path, cfg: PipelineConfig, run: RunOutputs,
             spool: ScoresSpool, *, events: Sequence[str | Path],
             metadata: Mapping[str, AssetMetadata] | None, read_options: Mapping[str, Any] | None,
             progress: bool, report: bool, fresh: bool, epoch_interval: timedelta,
             ) -> BacktestResult:
    """The run and its outputs, written into ``out`` (the held ``--out``)."""
    cfg = replace(cfg, **BACKTEST_SETTINGS)  # a caller's own settings (benchmarks): as twin backtest's
    opts = dict(read_options or {})
    specs: list[Any] = [*inputs, *((e, {"fmt": "events"}) for e in events)]
    metrics = PipelineMetrics()
    # round 40: archive/ held open from its check, written through the hold: a link put at its name
    # mid-run is never written through (its error lines name archive/)
    with held_folder(out / "archive", lambda: refuse_linked_folders(out, ("archive",))) as archive_at:
        sinks, got = local_outputs(cfg, metrics, archive_dir=archive_at,
                                   dead_letter_file=out / "dead_letters.jsonl",
                                   collect=("alerts", "recommendations"), run_id=run.run_id,
                                   failures=spool.failures)
        sinks = replace(sinks, state=[*sinks.state, spool.attach])  # where the collector was: state_1
        read_stats: dict[str, ReadStats] = {}
        source = FileReplaySource(specs, stats=read_stats, **opts)
        source.open()  # every file is opened and checked before the run (and read once)
        prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=fresh)
        seconds = _run_flow(cfg, source, sinks, run, metadata=metadata, metrics=metrics,
                            total=count_records(specs, **opts), progress=progress,
                            epoch_interval=epoch_interval)
    alerts = got.alerts
    failures = failure_times(events) if events else {}
    spool.write(out / "scores.parquet", alerts, failures)
    run.written.append("scores.parquet")
    rows = [alert_row(a) for a in sorted(alerts, key=lambda a: (a.timestamp, a.sequence))]
    alert_table = pa.Table.from_pylist(rows, schema=alerts_schema())
    replace_file(out / "alerts.parquet", lambda tmp: pq.write_table(alert_table, tmp))
    run.written.append("alerts.parquet")
    records = int(sum(s.value for m in metrics.registry.collect() for s in m.samples
                      if s.name == "twin_records_in_total"))
    skipped: Counter[str] = sum((st.skipped for st in read_stats.values()), Counter())
    result = BacktestResult(spool.keep or [], alerts, metrics, seconds, records, out, failures,
                            dead_letters_by_reason(metrics), dict(skipped.most_common()),
                            got.recommendations, spool.windows)
    mine = [out / "scores.parquet", out / "alerts.parquet", out / "dead_letters.jsonl"]
    if report:
        from flows.app.report_html import write_report

        # the run's read counted each waveform key's frames: the report transforms only those it draws
        counts = ({str(p): read_stats[str(p)].frames for p in inputs}
                  if all(str(p) in read_stats for p in inputs) else None)
        write_report(result, inputs=inputs, metadata=metadata, read_options=opts, written=mine,
                     frame_counts=counts)
    record_written(out, mine)  # --fresh knows them as twinflow's, even with archive/ gone
    return result


def _run_flow(cfg: PipelineConfig, source: FileReplaySource, sinks: Sinks, run: RunOutputs, *,
              metadata: Mapping[str, AssetMetadata] | None, metrics: PipelineMetrics, total: int,
              progress: bool, epoch_interval: timedelta) -> float:
    """Run the dataflow; its seconds. The flow (its steps' states and undo journals: up to a
    thousand items per key) is garbage once this returns, before the outputs are written."""
    with progress_bar(total, disable=not progress, desc="backtest") as bar:  # a stop: not drawn again
        source.progress = bar.update
        # a replay never sends commands, whatever commands.mode says (at most advise: audited only)
        flow = get_flow(cfg, source=source, sinks=sinks, metadata=metadata, metrics=metrics,
                        send_commands=False)
        start = time.perf_counter()
        run.started = True
        with collecting_less():  # as twin run: fewer collections of a batch's short-lived objects
            run_main(flow, epoch_interval=epoch_interval)  # no recovery store: nothing resumes
        return time.perf_counter() - start


def refuse_duplicates(paths: Sequence[str | Path]) -> None:
    """A file given twice would be replayed twice (every record a duplicate or late): refuse it,
    whether named twice, through a symlink or as a copy (identical bytes). A path that is not a
    regular file (a symbolic link loop, a FIFO, ...) is named first: resolving a loop raises."""
    for path in paths:
        regular_file(Path(path))
    dup = duplicate_files(paths)
    if dup is not None:
        first, second = dup
        same = "is the same file as" if Path(first).resolve() == Path(second).resolve() \
            else "has the same content as"
        msg = f"input {second} {same} {first}: give each file once"
        raise ValueError(msg)


def refuse_inputs_in_outputs(paths: Sequence[str | Path], out: Path, shown: Path | None = None) -> None:
    """An input that is one of the files the backtest writes or ``--fresh`` deletes in ``out``
    (``OUT/scores.parquet``, a file of ``OUT/archive/``, ...) would be replaced or deleted: with
    ``--fresh`` it was deleted before it was read (the user's file gone, then ``[Errno 2]``). Checked
    before any work, by name, and again on the held ``out`` (``shown``: its name in the line)."""
    top = out.resolve()
    for path in paths:
        try:
            rel = Path(path).resolve().relative_to(top).as_posix()
        except ValueError:
            continue
        if rel.startswith("archive/") or any(fnmatch(rel, pattern) for pattern in BACKTEST_OUTPUTS):
            msg = (f"input {path} is a file the backtest writes or --fresh deletes in --out {shown or out}: "
                   "copy it elsewhere or choose another --out")
            raise ValueError(msg)


def failure(res: BacktestResult, max_dead_letter_share: float = DEFAULT_MAX_DEAD_LETTER_SHARE,
            ) -> str | None:
    """Why the backtest's outputs cannot be trusted (no record, no window, too many dead
    letters), or None."""
    return loss_problem(res.records, res.windows or 0, res.dead_letters, max_dead_letter_share)


def print_summary(res: BacktestResult, *, report: bool = True) -> None:
    """The summary lines of ``twin backtest`` (stdout)."""
    episodes = sum(a.status == "raised" for a in res.alerts)
    out = printable(str(res.out))  # the user's path: a control character shown escaped
    print(f"backtest: {counted(res.records, 'record')}, {counted(res.windows or 0, 'window')}, "
          f"{counted(episodes, 'alert episode')} "
          f"in {res.seconds:.1f} s -> {out}/scores.parquet, alerts.parquet"
          + (", report.html" if report else ""))
    dead = sum(res.dead_letters.values())
    detail = f" ({describe_reasons(res.dead_letters)}) -> {out}/dead_letters.jsonl" if dead else ""
    print(f"  dead letters: {dead}{detail}")
    if res.skipped:
        print(f"  skipped while reading the files: {describe_reasons(res.skipped)}")
    if res.recommendations:
        plans: dict[str, int] = dict(Counter(r.chosen.plan for r in res.recommendations).most_common())
        print(f"  recommendations: {len(res.recommendations)} ({describe_reasons(plans)}) "
              "-> archive table recommendations")
    sys.stdout.flush()
