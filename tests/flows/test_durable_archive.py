"""The archive sink's part files are on disk before any name of them is (round 39, DURABLE39).

Round 37 synced the manifest, outputs and a compaction's merged file; the sink's parts were renamed
into place unsynced (``os.replace`` only): after a power loss a part that the folder (and then the
run's manifest entry, a recovery snapshot) names could be empty or cut. Now each part's temporary
file is fsynced, renamed, and its date folder fsynced; a folder the write creates is synced in its
parent. The order is recorded through wrappers of ``os.fsync`` and ``os.replace``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import feature_rows
from tests.flows.test_durable_outputs import spied_syncs


def test_a_part_is_synced_before_its_rename_and_its_folder_after(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "archive"
    write_rows(root, "features", feature_rows(), "part-r0-w0-000000", "r0")  # the folders exist now
    events = spied_syncs(monkeypatch)
    write_rows(root, "features", feature_rows(rms=2.0), "part-r1-w0-000000", "r1")
    folder = root / "features" / "date=2026-01-01"
    final = folder / "part-r1-w0-000000.parquet"
    assert events == [("fsync", str(folder / ".part-r1-w0-000000.parquet.tmp")), ("replace", str(final)),
                      ("fsync", str(folder))]
    assert pq.read_table(final).num_rows == 6


def test_the_folders_a_first_write_makes_are_synced_in_their_parents(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "archive"
    events = spied_syncs(monkeypatch)
    write_rows(root, "features", feature_rows(), "part-r0-w0-000000", "r0")
    folder = root / "features" / "date=2026-01-01"
    # The parents' syncs and the part's fsync run on the pool together (round 40, SYNC40), in any
    # order among themselves (the test was order-bound and failed once under load in round 41's CI);
    # every one of them is done before the rename, the date folder's sync after it.
    renamed = events.index(("replace", str(folder / "part-r0-w0-000000.parquet")))
    assert sorted(events[:renamed]) == sorted([("fsync", str(tmp_path)), ("fsync", str(root)),
                                               ("fsync", str(root / "features")),
                                               ("fsync", str(folder / ".part-r0-w0-000000.parquet.tmp"))])
    assert events[renamed + 1:] == [("fsync", str(folder))]


def test_a_failed_sync_fails_the_write_and_leaves_no_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An EIO from fsync (the disk lost the bytes) is the write's failure: no part is named."""
    from flows.dataflow.sinks.archive_writer import ArchiveWriteError

    root = tmp_path / "archive"
    write_rows(root, "features", feature_rows(), "part-r0-w0-000000", "r0")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(ArchiveWriteError, match="Input/output error"):
        write_rows(root, "features", feature_rows(rms=2.0), "part-r1-w0-000000", "r1")
    folder = root / "features" / "date=2026-01-01"
    assert sorted(p.name for p in folder.iterdir()) == ["part-r0-w0-000000.parquet"]
