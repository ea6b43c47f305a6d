"""``run_checks.store_holds_archive`` compares folders with ``os.path.samefile`` (round 46, HOSTILE46:
it was ``os.stat``'s ``st_ino`` and ``st_dev`` by hand): a folder that cannot be looked at is no match,
and the search goes on above it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flows.cli.run_checks import store_holds_archive


def _stat_refused(monkeypatch: pytest.MonkeyPatch, refused: Path) -> None:
    real = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path) == str(refused):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


def test_a_folder_that_cannot_be_looked_at_is_passed_over(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store, archive = tmp_path / "rec", tmp_path / "rec" / "mid" / "arch"
    archive.mkdir(parents=True)
    names = ("--archive", archive, store)
    _stat_refused(monkeypatch, store / "mid")  # between the archive and the store: passed over
    line = store_holds_archive(archive, store, names)
    assert line is not None and line.startswith(f"--archive {archive}: inside --recovery-dir {store}"), line


def test_a_store_holding_partitions_or_none_is_not_refused(tmp_path: Path) -> None:
    archive = tmp_path / "arch"
    archive.mkdir()
    assert store_holds_archive(archive, None, ("--archive", archive, archive)) is None
    (archive / "part-0.sqlite3").write_bytes(b"")
    assert store_holds_archive(archive, archive, ("--archive", archive, archive)) is None
    table = archive / "alerts"
    assert store_holds_archive(archive, table, ("--archive", archive, table)) is not None  # fresh, in a table
