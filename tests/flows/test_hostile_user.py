"""Read-only places for a user who is not root (round 28, part HOSTILE28): we run as root, where every
file is writable, so each case runs `twin` as uid 65534 (``setpriv``; skipped when that cannot run
Python). One line naming the path, exit 2, before anything is read or written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _python_for_nobody() -> list[str] | None:
    """A command running this project's Python as uid 65534, or None (not root, no setpriv, or no
    interpreter that user may run: a pyenv one under /root is not)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    site = next(p for p in sys.path if p.endswith("site-packages"))
    for exe in (sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env", "HOME=/tmp",
               f"PYTHONPATH={ROOT}:{site}", exe]
        ok = subprocess.run([*cmd, "-c", "import flows.cli.main"], capture_output=True, check=False,
                            timeout=60)
        if ok.returncode == 0:
            return cmd
    return None


PYTHON = _python_for_nobody()
pytestmark = pytest.mark.skipif(PYTHON is None, reason="cannot run this Python as uid 65534 with setpriv")


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder uid 65534 owns, where it may reach (pytest's tmp_path is root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="twin-h28-", dir="/tmp"))
    os.chown(folder, NOBODY, NOBODY)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def twin_as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    assert PYTHON is not None
    return subprocess.run([*PYTHON, "-m", "flows.cli.main", *args], capture_output=True, text=True,
                          check=False, timeout=120, cwd="/tmp")


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


RUN = ("run", "--brokers", "127.0.0.1:1", "--connect-timeout", "1", "--exit-at-end")


def test_an_archive_table_folder_this_user_cannot_write_is_one_line_before_it_is_read(place: Path) -> None:
    """Main: the run read its input and stopped at its first archive flush, exit 1 (`cannot write the
    archive in A/features/date=...: Permission denied`, its newline lost); here the broker is absent,
    so main said it could not reach Kafka instead."""
    archive = place / "archive"
    (archive / "features" / "date=2026-01-01").mkdir(parents=True)
    os.chown(archive, NOBODY, NOBODY)  # the archive is the user's, its features/ (and below) root's
    before = _tree(place)
    res = twin_as_nobody(*RUN, "--archive", str(archive))
    assert (res.returncode, res.stderr) == (2, (
        f"twin: error: --archive {archive}: cannot write its folder {archive / 'features'} as uid 65534 "
        "(owner uid 0, mode 0755); make it writable for this user or run as its owner\n"))
    assert _tree(place) == before


def test_a_recovery_partition_this_user_cannot_write_is_one_line_naming_it(place: Path) -> None:
    """Main (with a broker): `partition part-0.sqlite3 cannot be read as a Bytewax recovery partition
    (attempt to write a readonly database): it is damaged or not Bytewax 0.21's; restore the folder
    from a backup ...`: a good store called damaged; without one, the Kafka line."""
    store, archive = place / "store", place / "archive"
    store.mkdir()
    part = store / "part-0.sqlite3"
    part.write_bytes(b"SQLite format 3\0")
    part.chmod(0o644)  # root's, read-only for others
    os.chown(store, NOBODY, NOBODY)
    before = _tree(place)
    res = twin_as_nobody(*RUN, "--archive", str(archive), "--recovery-dir", str(store))
    assert (res.returncode, res.stderr) == (2, (
        f"twin: error: --recovery-dir {store}: cannot write its file {part} as uid 65534 (owner uid 0, "
        "mode 0644); make it writable for this user or run as its owner\n"))
    assert _tree(place) == before


def test_a_backtest_archive_folder_this_user_cannot_write_is_one_line_before_the_input_is_read(
        place: Path) -> None:
    """Main: the whole input was read, dead_letters.jsonl written, then `cannot write the archive in
    OUT/archive/features/date=...: Permission denied; --out OUT keeps ...`."""
    data = place / "in.csv"
    data.write_text("timestamp,value\n" + "".join(f"2025-01-01 00:{m:02d}:00,1.0\n" for m in range(60)))
    out = place / "out"
    (out / "archive" / "alerts").mkdir(parents=True)
    os.chown(out, NOBODY, NOBODY)
    before = _tree(place)
    res = twin_as_nobody("backtest", str(data), "--out", str(out), "--no-report", "--no-progress")
    assert (res.returncode, res.stderr) == (2, (
        f"twin: error: --out {out}: cannot write its folder {out / 'archive' / 'alerts'} as uid 65534 "
        "(owner uid 0, mode 0755); make it writable for this user or run as its owner\n"))
    assert _tree(place) == before


def test_a_compaction_of_an_archive_this_user_cannot_write_is_one_line_before_it_merges(place: Path) -> None:
    """Main: `cannot write the merged file of features 2026-01-01 in ...: Permission denied; that folder
    is left as it was` after reading the folder's files (the next folders not said)."""
    from tests.flows.test_archive_compact import _archive

    archive = _archive(place / "archive")
    for path in (place / "archive", *archive.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)  # root's, readable by all
    before = _tree(place)
    res = twin_as_nobody("archive", "compact", "--archive", str(archive), "--before", "2026-01-03")
    assert (res.returncode, res.stdout, res.stderr) == (2, "", (
        f"twin: error: --archive {archive}: cannot write its folder {archive / 'features'} as uid 65534 "
        "(owner uid 0, mode 0755); make it writable for this user or run as its owner\n"))
    assert _tree(place) == before


PREPARE = """
import sys
from pathlib import Path
from flows.dataflow.recovery_store import RecoveryStoreError, prepare_store
try:
    prepare_store(Path(sys.argv[1]), 1)
except RecoveryStoreError as exc:
    print(exc)
"""


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_recovery_partition_sqlite_may_not_write_is_not_called_damaged(place: Path, what: str) -> None:
    """The resume repair meeting a partition this user may not write (made read-only after `twin run`'s
    start-up check, or a caller without it). Main: `partition part-0.sqlite3 cannot be read as a
    Bytewax recovery partition (attempt to write a readonly database): it is damaged or not Bytewax
    0.21's; restore the folder from a backup ...`: a good store called damaged, the fix a restore."""
    from tests.flows.test_recovery_store import _aborted_store

    store = _aborted_store(place)[0]  # a store with an execution: the repair writes to it
    part = store / "part-0.sqlite3"
    for path in (place, store, part):
        os.chown(path, NOBODY, NOBODY)
    read_only = part if what == "file" else store  # the folder: no -wal/-shm for SQLite
    os.chown(read_only, 0, 0)
    read_only.chmod(0o755 if what == "folder" else 0o644)
    before = part.read_bytes()
    res = subprocess.run([*PYTHON, "-c", PREPARE, str(store)], capture_output=True, text=True, check=False,
                         timeout=120, cwd="/tmp")
    file_owner = 0 if what == "file" else NOBODY
    folder_owner = 0 if what == "folder" else NOBODY
    assert (res.stdout, res.stderr) == ((
        f"recovery store {store}: partition part-0.sqlite3 cannot be written or opened as uid 65534 (SQLite: "
        f"attempt to write a readonly database; the file: owner uid {file_owner}, mode 0644; the folder: "
        f"owner uid {folder_owner}, mode 0755): make the folder and its files writable for this user, or "
        "run as their owner\n"), "")
    assert part.read_bytes() == before  # its snapshots of unfinished epochs not discarded (nor anything)
