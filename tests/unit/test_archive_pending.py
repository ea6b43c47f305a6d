"""The archive sink converts records as they arrive, and writes the same files (round 46, LAT46B).

With a recovery store a snapshot waits for its files; the records handed over before it are
converted to Arrow by the partition's writer meanwhile (:mod:`flows.dataflow.sinks.archive_pending`),
so the snapshot's write converts only the last few. The files must be the ones the row path writes
from the same records: same dates, columns, types, rows in the same order (ties in arrival order),
nulls and row groups.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flows.codec.record_fields import RecordMapping
from flows.dataflow.sinks import archive
from flows.dataflow.sinks.archive import ROWS, ParquetArchiveSink, write_rows
from tests.unit.test_archive_columns import BOOKKEEPING, T, _alerts, _features, _snapshots
from tests.unit.test_serde import make_snapshot


def _many(records: list[Any], n: int, time_field: str) -> list[Any]:
    """``n`` records cycling through ``records``, shifted so they spread over two dates, with
    repeated (asset, time) pairs (ties: their order is arrival order)."""
    out = []
    for i in range(n):
        rec = records[i % len(records)]
        shift = timedelta(minutes=(i // len(records)) % 7)
        out.append(replace(rec, **{time_field: getattr(rec, time_field) + shift}))
    return out


def _part(root: Path, table: str, batch_rows: int = 100_000) -> Any:
    sink = ParquetArchiveSink(root, table, batch_rows=batch_rows, flush_interval_s=1e9, run_id="r")
    return sink.build_part(f"{table}_out_0", "w0", None)


def _files(root: Path, table: str) -> list[tuple[str, Any, list[int]]]:
    """Each file's date folder, table without bookkeeping and row group sizes, in date order."""
    out = []
    for path in sorted((root / table).rglob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        out.append((path.parent.name, pq.read_table(path).drop_columns(BOOKKEEPING), groups))
    return out


CASES = [("twin_state", _snapshots, "window_start", 700), ("alerts", _alerts, "timestamp", 530),
         ("features", _features, "window_start", 900)]


@pytest.mark.parametrize(("table", "make", "time_field", "n"), CASES)
@pytest.mark.parametrize("sizes", [(1, 7, 40, 300), (600,)])
def test_the_files_are_the_row_paths_whatever_the_batches(
        tmp_path: Path, table: str, make: Any, time_field: str, n: int, sizes: tuple[int, ...]) -> None:
    records = _many(make(), n, time_field)
    part = _part(tmp_path / "sink", table)
    at, k = 0, 0
    while at < len(records):
        part.write_batch(records[at:at + sizes[k % len(sizes)]])
        at += sizes[k % len(sizes)]
        k += 1
    part.snapshot()  # one file per date: every chunk converted before it joined
    part.close()
    write_rows(tmp_path / "rows", table, [ROWS[table](r) for r in records], "part-x", "r")
    got, want = _files(tmp_path / "sink", table), _files(tmp_path / "rows", table)
    assert [g[0] for g in got] == [w[0] for w in want] == ["date=2026-01-08", "date=2026-01-09"]
    for (_, data, groups), (_, expected, expected_groups) in zip(got, want, strict=True):
        assert data.schema == expected.schema
        assert data.to_pylist() == expected.to_pylist()
        assert groups == expected_groups


def test_a_small_date_beside_a_large_one_is_the_row_paths(tmp_path: Path) -> None:
    """A date with a handful of records (the small-file path) next to one with hundreds."""
    base = make_snapshot()
    big = [replace(base, asset_id=f"p{i % 5}", window_start=T + timedelta(minutes=i % 50))
           for i in range(400)]
    small = [replace(base, asset_id=f"p{i}", window_start=T + timedelta(hours=3, minutes=i))
             for i in range(3)]
    records = [*big[:200], small[0], *big[200:], *small[1:]]
    part = _part(tmp_path / "sink", "twin_state")
    for i in range(0, len(records), 30):
        part.write_batch(records[i:i + 30])
    part.close()
    write_rows(tmp_path / "rows", "twin_state", [ROWS["twin_state"](r) for r in records], "part-x", "r")
    got, want = _files(tmp_path / "sink", "twin_state"), _files(tmp_path / "rows", "twin_state")
    assert [(g[0], g[1].num_rows) for g in got] == [("date=2026-01-08", 400), ("date=2026-01-09", 3)]
    assert [(g[0], g[1].to_pylist(), g[2]) for g in got] == [(w[0], w[1].to_pylist(), w[2]) for w in want]


def test_the_records_handed_over_are_converted_before_the_snapshot(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot's write (what a recovery snapshot waits for) converts only the last records."""
    converted: dict[str, int] = {"before": 0, "snapshot": 0}
    phase = ["before"]
    lock = threading.Lock()
    real = RecordMapping.archive_values

    def counting(self: RecordMapping, recs: Any, skip: tuple[str, ...] = ()) -> dict[str, list[Any]]:
        with lock:
            converted[phase[0]] += len(recs)
        return real(self, recs, skip)

    monkeypatch.setattr(RecordMapping, "archive_values", counting)
    records = _many(_snapshots(), 1200, "window_start")
    part = _part(tmp_path, "twin_state")
    for i in range(0, len(records), 10):
        part.write_batch(records[i:i + 10])
    part.writer.drain()  # the writer idle: what it converts meanwhile is done
    phase[0] = "snapshot"
    part.snapshot()
    part.close()
    assert converted["before"] + converted["snapshot"] == len(records)
    assert converted["before"] >= len(records) * 3 // 4, converted  # the base converted all at the snapshot
    assert sum(pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet")) == len(records)


def _held_in_a_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: list[Any],
                     batch_rows: int) -> tuple[Any, threading.Event]:
    """A ``twin_state`` partition whose writer is held in the write of ``first`` (a slow disk)
    until the event returned is set."""
    release, started = threading.Event(), threading.Event()
    real = archive.write_records

    def slow_disk(*args: Any, **kwargs: Any) -> int:
        started.set()
        release.wait(timeout=60)
        return real(*args, **kwargs)

    monkeypatch.setattr(archive, "write_records", slow_disk)
    part = _part(tmp_path, "twin_state", batch_rows=batch_rows)
    part.write_batch(first)
    part.flush()  # the writer is now held in this file's write
    assert started.wait(timeout=30)
    return part, release


def test_a_busy_writer_makes_the_worker_wait_only_when_flushes_are_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a file is written, the records coming meanwhile queue their conversions: the worker
    does not wait for the disk until whole flushes are behind (as when the records waited in its
    buffer)."""
    records = _many(_snapshots(), 3000, "window_start")
    part, release = _held_in_a_write(tmp_path, monkeypatch, records[:10], batch_rows=5000)
    done = threading.Event()

    def worker() -> None:
        for i in range(10, len(records), 10):
            part.write_batch(records[i:i + 10])
        done.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    waited = not done.wait(timeout=20)
    release.set()
    thread.join(timeout=30)
    part.close()
    assert not waited, "the worker waited for the disk with less than one flush behind"
    assert sum(pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet")) == len(records)


@pytest.mark.parametrize("batch", [300, 1000, 3000])
def test_a_slow_disk_holds_four_flushes_of_records_whatever_the_batches_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    """Round 47 (HOSTILE47): the queue's bound counts jobs, 4 flushes' worth of chunks of
    :data:`CHUNK_ROWS` records; a batch larger than that was handed over as one chunk (and a flush's
    last records as one job), so with batches of 1,000 records a held disk let the worker queue
    36,000 records at ``batch_rows=2000`` (18 flushes) before it waited, with batches of 3,000 all
    40,000: memory was bounded by 4 flushes before round 46 (the worker waited with 4 flushes
    queued). Now every job holds at most CHUNK_ROWS records."""
    records = _many(_snapshots(), 40_000, "window_start")
    part, release = _held_in_a_write(tmp_path, monkeypatch, records[:10], batch_rows=2000)
    handed = [10]

    def worker() -> None:
        for i in range(10, len(records), batch):
            part.write_batch(records[i:i + batch])
            handed[0] = i + batch

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join(timeout=3)  # the worker waits for the disk once the queue is full
    queued = handed[0]
    release.set()
    thread.join(timeout=60)
    part.close()
    assert queued <= 6 * 2000 + batch, f"{queued} records queued behind a held disk (4 flushes: 8,000)"
    assert sum(pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet")) == len(records)



@pytest.mark.parametrize(("table", "make"), [(c[0], c[1]) for c in CASES if c[0] != "features"])
def test_a_dates_records_are_let_go_once_converted_but_a_small_dates_few(table: str, make: Any) -> None:
    """Round 47: a Pending file held every record it converted until its write (a flush of twin
    snapshots, kept alive for the collector to walk again and again); now only a date with fewer
    than SMALL records keeps them (its file is made from them). Same files either way (above)."""
    import sys

    from flows.codec.archive_schema import mapping
    from flows.dataflow.sinks.archive_columns import SMALL
    from flows.dataflow.sinks.archive_pending import Pending

    day = mapping(table).date_of  # the field whose UTC date is the file's
    noon = getattr(make()[0], day).replace(hour=12)
    one_date = [replace(rec, **{day: noon}) for rec in make()]
    many = [replace(one_date[i % len(one_date)]) for i in range(SMALL + 5)]
    few = [replace(rec) for rec in many[: SMALL - 1]]
    refs = sys.getrefcount  # read outside the asserts (pytest's rewriting holds what they name)
    held_many, held_few = refs(many[0]), refs(few[0])
    pending = Pending(table)
    pending.add(many[:SMALL - 2])  # still few: kept
    kept = refs(many[0])
    pending.add(many[SMALL - 2:])  # SMALL reached: let go
    after = refs(many[0])
    small = Pending(table)
    small.add(few)
    kept_few = refs(few[0])
    assert (kept, after, kept_few) == (held_many + 1, held_many, held_few + 1)  # a small date: its records
    assert set(small.files()) == set(pending.files()) == {getattr(one_date[0], day).date().isoformat()}
