"""The layout's file write (``flows.archive.layout.write_file``): the same bytes as a bare
``pq.write_table`` to the path, in a few system calls, and a failed write still an ``OSError``."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive import layout
from flows.dataflow.sinks import archive as sink
from flows.dataflow.sinks import archive_files
from twin_models.records import FeatureVector

IO = Path("/proc/thread-self/io")


def _features(rows: int, names: int = 40) -> pa.Table:
    """A ``features``-like file of ``rows`` rows: sorted asset ids, times, text, ~40 feature columns."""
    rng = np.random.default_rng(7)
    start = np.arange(rows, dtype=np.int64) * 60_000_000
    cols: dict[str, pa.Array] = {
        "asset_id": pa.array(sorted(f"pump-{i % 100:03d}" for i in range(rows))),
        "window_start": pa.array(start, pa.timestamp("us", tz="UTC")),
        "window_end": pa.array(start + 60_000_000, pa.timestamp("us", tz="UTC")),
        "n_records": pa.array(rng.integers(1, 100, rows)),
        "events": pa.array([""] * rows),
        "inputs": pa.array([f'[{{"source":"kafka:t:0","first":{i},"last":{i + 9}}}]' for i in range(rows)]),
    }
    for j in range(names):
        cols[f"f{j:02d}.mean"] = pa.array(rng.normal(size=rows))
    data = pa.table(cols)
    return archive_files.bookkeeping(data, "run-1", 1_700_000_000_000_000_000)


def _write_calls() -> int:
    """This thread's write system calls so far (Linux)."""
    for line in IO.read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    msg = "no syscw in /proc/thread-self/io"
    raise AssertionError(msg)


@pytest.mark.parametrize("rows", [1, 2400, 20_000])
def test_the_file_is_the_bytes_a_bare_write_table_writes(tmp_path: Path, rows: int) -> None:
    data = _features(rows)
    options = layout.write_options("features", data.schema)
    layout.write_file(data, tmp_path / "buffered.parquet", options)
    pq.write_table(data, tmp_path / "bare.parquet", **options)
    written = (tmp_path / "buffered.parquet").read_bytes()
    assert written == (tmp_path / "bare.parquet").read_bytes()
    assert pq.read_table(tmp_path / "buffered.parquet").equals(data)


@pytest.mark.parametrize("rows", [2400, 8193, 20_000])
def test_a_row_group_per_writer_batch_changes_no_byte(rows: int) -> None:
    """The layout writes a row group's values in one batch (``write_batch_size``, fewer passes of
    the column writers' per-batch work); the file is the same bytes as with Arrow's default."""
    data = _features(rows)
    options = layout.write_options("features", data.schema)
    assert options["write_batch_size"] == layout.ROW_GROUP_ROWS
    default = {k: v for k, v in options.items() if k != "write_batch_size"}
    ours, arrows = pa.BufferOutputStream(), pa.BufferOutputStream()
    pq.write_table(data, ours, **options)
    pq.write_table(data, arrows, **default)
    assert ours.getvalue().equals(arrows.getvalue())


@pytest.mark.skipif(not IO.exists(), reason="needs Linux's /proc/thread-self/io")
def test_a_flush_sized_file_is_written_in_a_few_system_calls(tmp_path: Path) -> None:
    """A 100-asset flush's file (~2,400 rows, ~60 columns): Arrow given the path makes one write
    call per page header, page and footer piece (over a hundred); buffered, the file is one."""
    data = _features(2400)
    options = layout.write_options("features", data.schema)
    before = _write_calls()
    pq.write_table(data, tmp_path / "bare.parquet", **options)
    bare = _write_calls() - before
    before = _write_calls()
    layout.write_file(data, tmp_path / "buffered.parquet", options)
    buffered = _write_calls() - before
    assert bare > 50  # the count sees Arrow's writes (else the next line proves nothing)
    assert buffered <= 3, (buffered, bare)
    big = _features(20_000)  # ~1.2 MB: more than one buffer's worth, still a handful of calls
    before = _write_calls()
    layout.write_file(big, tmp_path / "big.parquet", options)
    assert _write_calls() - before <= 2 + (tmp_path / "big.parquet").stat().st_size // layout.WRITE_BUFFER


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("rows", [1, 20_000])
def test_a_full_disk_is_an_os_error_whether_the_buffer_fills_or_not(rows: int) -> None:
    """A file smaller than the buffer reaches the disk only when the stream is closed: the full
    disk is reported then, as the same ``OSError`` (ENOSPC) the unbuffered write raised."""
    data = _features(rows)
    with pytest.raises(OSError, match="No space left on device") as failed:
        layout.write_file(data, Path("/dev/full"), layout.write_options("features", data.schema))
    assert failed.value.errno == errno.ENOSPC


def test_the_sink_writes_its_files_through_the_layouts_write(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink's files (``write_records``) go through :func:`layout.write_file`, one per date."""
    seen: list[str] = []
    real = layout.write_file

    def spy(data: pa.Table, path: str, options: dict[str, object], *, dir_fd: int) -> None:
        seen.append(path)  # round 49 (DIRFD49): a name in the date folder held open at dir_fd
        real(data, path, options, dir_fd=dir_fd)

    fvs = [FeatureVector(f"pump-{i:03d}", datetime(2026, 1, 1, 0, i, tzinfo=UTC),
                         datetime(2026, 1, 1, 0, i + 1, tzinfo=UTC), {"a.mean": float(i)}, 3)
           for i in range(5)]
    monkeypatch.setattr(layout, "write_file", spy)
    assert sink.write_records(tmp_path, "features", fvs, "part-x-w0-000000", "run-1") == 1
    assert seen == [".part-x-w0-000000.parquet.tmp"]
    got = pq.read_table(tmp_path / "features" / "date=2026-01-01" / "part-x-w0-000000.parquet")
    assert got.column("a.mean").to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]
