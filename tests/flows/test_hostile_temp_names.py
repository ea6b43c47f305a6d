"""The archive's temporary files are made new, never opened through what was put at their names.

Their names are guessable: the sink's next part follows the last one seen (``part-<run>-w0-000000
.parquet`` -> ``.part-<run>-w0-000001.parquet.tmp``), a compaction's merged file has one name in
every date folder. Until round 47 (HOSTILE47) Arrow opened them by name: a symbolic link planted
there had its target, outside the archive, overwritten with the part (and the link renamed into the
archive as the part), and a FIFO held the writer, every table's writer (they take turns) and the
run's next snapshot for ever.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flows.archive import layout, merge
from flows.archive.files import SUPERSEDES, scan_table
from flows.archive.layout import write_options
from flows.dataflow.sinks.archive import ParquetArchiveSink
from tests.flows.test_compact_stream import _folder
from tests.unit.test_archive_columns import T
from tests.unit.test_serde import make_snapshot


def _records(n: int) -> list[Any]:
    base = make_snapshot()
    return [replace(base, asset_id=f"p{i % 5}", window_start=T + timedelta(minutes=i % 50)) for i in range(n)]


def _second_part_after(tmp_path: Path, plant: Any) -> tuple[Path, bool]:
    """A sink's first part written, ``plant(next temporary name)``, then its second part; returns
    the date folder and whether the snapshot writing the second part returned within 20 s."""
    records = _records(40)
    sink = ParquetArchiveSink(tmp_path / "a", "twin_state", batch_rows=10**6, flush_interval_s=1e9,
                              run_id="r")
    part = sink.build_part("twin_state_out", "w0", None)
    part.write_batch(records[:20])
    part.snapshot()  # durable: part-r-w0-000000.parquet is on disk
    folder = next((tmp_path / "a" / "twin_state").glob("date=*"))
    assert [p.name for p in folder.iterdir()] == ["part-r-w0-000000.parquet"]
    tmp = folder / ".part-r-w0-000001.parquet.tmp"
    plant(tmp)
    part.write_batch(records[20:])
    done = threading.Event()
    thread = threading.Thread(target=lambda: (part.snapshot(), done.set()), daemon=True)
    thread.start()
    returned = done.wait(timeout=20)
    if not returned and tmp.exists():  # the base: the writer waits for a reader of the FIFO
        os.close(os.open(tmp, os.O_RDONLY | os.O_NONBLOCK))
        thread.join(timeout=20)
    part.close()
    return folder, returned


def test_a_link_planted_at_the_sinks_next_temporary_name_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("not the archive's\n")
    folder, returned = _second_part_after(tmp_path, lambda tmp: tmp.symlink_to(victim))
    assert returned
    assert victim.read_bytes() == b"not the archive's\n"  # the base: the part's Parquet bytes
    second = folder / "part-r-w0-000001.parquet"
    assert not second.is_symlink()  # the base: the planted link, renamed into the archive
    assert sorted(p.name for p in folder.iterdir()) == ["part-r-w0-000000.parquet", second.name]
    assert pq.read_metadata(second).num_rows == 20


def test_a_fifo_planted_at_the_sinks_next_temporary_name_holds_no_writer(tmp_path: Path) -> None:
    folder, returned = _second_part_after(tmp_path, os.mkfifo)
    assert returned, "the snapshot waited for a reader of the FIFO planted at the part's temporary name"
    second = folder / "part-r-w0-000001.parquet"
    assert second.is_file() and pq.read_metadata(second).num_rows == 20


def merge_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> tuple[list[Any], Any, dict[str, Any], Path]:
    """A date folder of 5 files to merge in passes of 3 (``FAN_IN`` made small): the files, the merged
    schema, the write options and the merged file's temporary name."""
    monkeypatch.setattr(merge, "FAN_IN", 3)
    files = _folder(tmp_path / "a", 5)
    table_dir = tmp_path / "a" / "features"
    sources = [str(f.path.relative_to(table_dir)) for f in files]
    schema = merge.merged_schema(files).with_metadata({SUPERSEDES: json.dumps(sources).encode()})
    options = {k: v for k, v in write_options("features", schema).items() if k != "row_group_size"}
    return files, schema, options, table_dir / "date=2026-01-01" / ".part-compact-t.parquet.tmp"


@pytest.mark.parametrize("at", ["merged", "run"])
def test_a_link_planted_at_a_compactions_temporary_names_is_not_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: str) -> None:
    """The merged file's temporary name and a merge pass's run file (``FAN_IN`` made small)."""
    files, schema, options, out = merge_inputs(tmp_path, monkeypatch)
    victim = tmp_path / "victim.txt"
    victim.write_text("not the archive's\n")
    planted = out if at == "merged" else out.with_name(".part-compact-t.run-0-0.parquet.tmp")
    planted.symlink_to(victim)
    rows = merge.write_merged("features", files, schema, out, options)
    assert victim.read_bytes() == b"not the archive's\n"
    assert not out.is_symlink() and pq.read_metadata(out).num_rows == rows
    assert rows == sum(pq.read_metadata(f.path).num_rows for f in scan_table(tmp_path / "a", "features").files
                       if str(f.date) == "2026-01-01")


def test_a_fifo_put_where_a_written_file_is_synced_is_an_error_not_a_wait(tmp_path: Path) -> None:
    """A part's temporary file is synced by name after its write (so is every output the manifest
    lists): a FIFO swapped in meanwhile held the sync (and the writer's turn) for ever."""
    fifo = tmp_path / ".part-r-w0-000001.parquet.tmp"
    os.mkfifo(fifo)
    failed: list[BaseException] = []

    def sync() -> None:
        try:
            layout.sync_file(fifo)
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=sync, daemon=True)
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():  # the base: waiting for a writer of the FIFO
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=20)
        pytest.fail("the sync waited for a writer of the FIFO")
    assert len(failed) == 1
