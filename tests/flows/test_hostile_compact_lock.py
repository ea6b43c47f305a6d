"""The compaction lock and ``twin archive check`` (round 29, part HOSTILE29).

Round 28's lock was exclusive for both commands: a compaction started while an ``archive check``
scanned the date folders for a killed compaction's files (0.3 s on 24,000 date folders) was refused
with ``another `twin archive compact` is compacting`` (none was), and of two checks at once the
second judged no file stale. Now a check holds the lock shared and a compaction waits for checks
(at most :data:`flows.archive.compact.CHECK_WAIT_S`); a compaction holding it is refused as before
(``test_hostile_compact.py``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import flows.archive.compact as compact
from flows.archive.query import query
from flows.cli.main import main
from tests.flows.test_archive_compact import VIEW, _archive

COMPACT = ["archive", "compact", "--before", "2026-01-03", "--archive"]


def _held_by_a_check(root: Path, seconds: float) -> threading.Thread:
    """Another `archive check`'s hold of the lock (its own function, on its own descriptor)."""
    holding = threading.Event()

    def check() -> None:
        with compact.compaction_lock(root, wait=True) as lock:
            assert lock.held
            holding.set()
            threading.Event().wait(seconds)

    thread = threading.Thread(target=check, daemon=True)
    thread.start()
    assert holding.wait(10)
    return thread


def test_a_compaction_started_while_a_check_scans_waits_for_it_and_compacts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    view = query(root, VIEW)
    thread = _held_by_a_check(root, 0.5)
    code = main([*COMPACT, str(root)])  # main: 2, "another `twin archive compact` is compacting"
    out, err = capsys.readouterr()
    thread.join()
    assert (code, err) == (0, ""), err
    assert out.splitlines()[-1] == f"archive {root}: 2 date folders compacted"
    assert query(root, VIEW) == view


def test_two_checks_at_once_both_report_a_killed_compaction_s_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    stale = root / "features" / "date=2026-01-01" / ".part-compact-killed.parquet.tmp"
    stale.write_bytes(b"a killed compaction's rows")
    thread = _held_by_a_check(root, 1.0)
    assert main(["archive", "check", "--archive", str(root)]) == 0
    out = capsys.readouterr().out
    thread.join()
    assert out.splitlines()[0].startswith("1 temporary file of a killed compaction"), out  # main: not said
    assert stale.exists()


def test_a_shared_hold_that_never_ends_is_one_line_not_a_wait_for_ever(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = _archive(tmp_path / "a")
    monkeypatch.setattr(compact, "CHECK_WAIT_S", 0.3)
    thread = _held_by_a_check(root, 3.0)
    assert main([*COMPACT, str(root)]) == 2
    out, err = capsys.readouterr()
    thread.join()
    assert out == ""
    assert err == (f"twin: error: the archive's lock on {root} has been held for 0.3 s by processes that "
                   "only read it (`twin archive check`, or another program's shared flock); try again\n")
