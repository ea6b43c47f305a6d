"""The scores' spill (round 39's :class:`~flows.app.scores_file.ScoresSpool`) against a hostile or
careless TMPDIR (round 40, part HOSTILE40): full, killed mid-run, its runs removed or damaged.

The backtests run in processes of their own (see test_scores_file's spill-failure test: after a
two-worker flow in the same process Bytewax prints a failing run's traceback as well)."""

from __future__ import annotations

import fcntl
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from flows.app import scores_file
from flows.app.scores_file import ScoresSpool
from flows.app.spill_dir import PREFIX, SpillFolder, remove_stale
from flows.archive.layout import WriteFailed
from tests.flows.test_scores_file import CONFIG, _alert, _fleet_csv, _snap, scores_table

ROOT = Path(__file__).resolve().parents[2]

BACKTEST = """
import os, resource, signal, sys
from flows.app import scores_file
from flows.cli.main import main
scores_file.RUN_ROWS = 100  # spill after 100 windows (the file makes 300)
if sys.argv[3] == "many":  # 60 runs of 5 windows under a limit of 40 open files, merged 16 at a time
    scores_file.RUN_ROWS = 5
    scores_file.FAN_IN = 16
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
if sys.argv[3] == "kill":  # kill -9 after the second spill
    spill = scores_file.ScoresSpool._spill
    def killed(self):
        spill(self)
        if len(self._runs) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    scores_file.ScoresSpool._spill = killed
sys.exit(main(["backtest", sys.argv[1], "--out", sys.argv[2], "--config", sys.argv[1] + ".toml",
               "--no-progress", "--no-report"]))
"""


def _backtest(tmp_path: Path, tmpdir: Path, how: str,
              fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    csv = _fleet_csv(tmp_path / "fleet.csv", n=100)
    Path(f"{csv}.toml").write_text(CONFIG)

    def limit() -> None:
        if fsize is not None:  # every file of the process: TMPDIR's and --out's (one full disk)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))

    return subprocess.run([sys.executable, "-c", BACKTEST, str(csv), str(tmp_path / "out"), how],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, preexec_fn=limit,
                          env={**os.environ, "TMPDIR": str(tmpdir), "TWIN_DEBUG": ""})


def test_a_spill_into_a_full_disk_is_one_line_and_leaves_no_spill_folder(tmp_path: Path) -> None:
    """Main: when the disk that filled (RLIMIT_FSIZE here) holds --out too, the spill's failure was
    followed by the archive sinks' flushes at their close failing as well, while Bytewax unwound
    the first: it aborted (SIGABRT, exit 134, not a word said) and the spill folder stayed in TMPDIR."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    done = _backtest(tmp_path, tmpdir, "run", fsize=3000)  # a spilled run is ~9 KB
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(
        f"twin: error: cannot spill the scores' sorted windows to {tmpdir}/{PREFIX}"), err
    assert "File too large (TMPDIR names the temporary folder)" in err
    assert list(tmpdir.iterdir()) == []


def test_a_killed_backtest_s_spill_folder_is_deleted_by_the_next_backtest(tmp_path: Path) -> None:
    """Main: a backtest killed (kill -9, OOM) after spilling left its ``twin-scores-*`` folder of runs
    in TMPDIR for good. Now the next backtest deletes it; a running backtest's folder (locked), a
    folder without a lock (round 39's, or not ours) and a link are left alone."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    killed = _backtest(tmp_path, tmpdir, "kill")
    assert killed.returncode == -9, killed.stderr
    (left,) = tmpdir.iterdir()
    assert left.name.startswith(PREFIX) and {"lock", "run-0.arrow", "run-1.arrow"} <= set(os.listdir(left))
    old = tmpdir / f"{PREFIX}round39"
    old.mkdir()
    (old / "run-0.arrow").write_bytes(b"x")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "lock").write_text("")
    (tmpdir / f"{PREFIX}link").symlink_to(other)
    live = subprocess.Popen([sys.executable, "-c", "import sys, tempfile\n"
                             "from flows.app.spill_dir import SpillFolder\n"
                             "print(SpillFolder().path, flush=True)\nsys.stdin.read()\n"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    try:
        assert live.stdout is not None
        running = Path(live.stdout.readline().strip())
        done = _backtest(tmp_path, tmpdir, "run")
        assert done.returncode == 0, done.stderr
        assert sorted(os.listdir(tmpdir)) == sorted([old.name, f"{PREFIX}link", running.name])
        assert (other / "lock").exists() and (old / "run-0.arrow").exists()
    finally:
        live.communicate("", timeout=30)
    assert remove_stale(tmpdir) == [running]  # its process ended without closing it: stale now
    assert sorted(os.listdir(tmpdir)) == sorted([old.name, f"{PREFIX}link"])


def test_a_spill_folder_is_never_taken_for_stale_while_its_lock_is_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In one process too: a held folder stays (flock locks are per open file), a closed one is gone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = SpillFolder()
    assert folder.path.parent == tmp_path
    try:
        assert folder.path not in remove_stale() and folder.path.is_dir()
        fd = os.open(folder.path / "lock", os.O_RDONLY)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    finally:
        folder.close()
    assert not folder.path.exists()


@pytest.mark.parametrize("how", ["removed", "cut", "garbled", "other_columns", "fifo"])
def test_a_spilled_run_removed_or_damaged_mid_run_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           how: str) -> None:
    """Main: a run deleted by a TMPDIR cleaner said "cannot write <out>/scores.parquet: No such file or
    directory" (naming --out, which was fine), a cut one "Not an Arrow file", a garbled one "'utf-8'
    codec can't decode byte 0xff": never which file nor TMPDIR. Nothing is written at --out. Round 41
    (HOSTILE41): another Arrow file at its name said "Unsupported cast from double to timestamp"
    (exit 1), a FIFO made the write wait for ever (run here on a thread given 60 s)."""
    import threading

    import pyarrow as pa

    monkeypatch.setattr(scores_file, "RUN_ROWS", 97)
    monkeypatch.setattr(scores_file, "READ_ROWS", 16)
    snaps = [_snap(f"asset-{i % 3}", 5 * i) for i in range(300)]
    out = tmp_path / "scores.parquet"
    with ScoresSpool() as spool:
        spool.extend(snaps)
        run = spool._runs[0]
        if how == "removed":
            run.unlink()
        elif how == "cut":
            os.truncate(run, run.stat().st_size // 2)
        elif how == "other_columns":
            other = pa.table({"asset_id": pa.array([1, 2]), "window_start": pa.array([1.5, 2.5])})
            with pa.OSFile(str(run), "wb") as sink, pa.ipc.new_file(sink, other.schema) as writer:
                writer.write_table(other)
        elif how == "fifo":
            run.unlink()
            os.mkfifo(run)
        else:  # the asset ids' bytes (strings are stored as they are)
            raw = bytearray(run.read_bytes())
            at = raw.find(b"asset-0")
            raw[at:at + 7] = b"\xff" * 7
            run.write_bytes(bytes(raw))
        raised: list[BaseException] = []

        def write() -> None:
            try:
                spool.write(out, [], {})
            except BaseException as exc:  # noqa: BLE001 -- the test looks at it
                raised.append(exc)

        writing = threading.Thread(target=write, daemon=True)
        writing.start()
        writing.join(60)
        if writing.is_alive():  # let the stuck open of the FIFO end before the folder goes
            os.close(os.open(run, os.O_WRONLY | os.O_NONBLOCK))
            writing.join(10)
            pytest.fail("the write waited on the run for over 60 s")
        assert len(raised) == 1 and isinstance(raised[0], WriteFailed), raised
        got = raised[0]
    assert f"the scores' spilled run {run} was removed or damaged while the backtest ran (" in str(got)
    assert "TMPDIR" in str(got)
    assert not out.exists() and sorted(os.listdir(tmp_path)) == []


def test_a_backtest_killed_while_it_wrote_scores_leaves_nothing_after_the_next_run(tmp_path: Path) -> None:
    """Main: a kill -9 while scores.parquet was written left ``.scores.tmp-<pid>.parquet`` (as large as
    the file) in --out; only a run with ``--fresh`` removed it, every other one kept it for good. Now
    the next run into the folder removes it (its pid is gone), not a live process's."""
    from tests.flows.test_durable_outputs import _dead_pid

    out = tmp_path / "out"
    out.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    stale = [out / f".scores.tmp-{dead}.parquet", out / f".alerts.tmp-{dead}.parquet"]
    kept = [out / f".scores.tmp-{alive}.parquet", out / f".other.tmp-{dead}.parquet"]
    for p in (*stale, *kept):
        p.write_bytes(b"PAR1")
    done = _backtest(tmp_path, tmp_path, "run")
    assert done.returncode == 0, done.stderr
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []


def test_a_tmpdir_without_flock_still_spills_and_is_never_taken_for_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system whose flock fails (ENOLCK: some network mounts): the spill goes on as in round 39,
    without a lock file, so no other backtest takes the folder for a dead one's."""
    from flows.app import spill_dir

    def no_flock(fd: int, op: int) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(spill_dir.fcntl, "flock", no_flock)
    folder = SpillFolder()
    try:
        assert os.listdir(folder.path) == [] and folder.path.parent == tmp_path
        monkeypatch.setattr(spill_dir.fcntl, "flock", fcntl.flock)
        assert remove_stale() == [] and folder.path.is_dir()
    finally:
        folder.close()
    assert not folder.path.exists()


DEAD_LETTERS = """
import sys
from flows.cli.main import main
sys.exit(main(["backtest", sys.argv[1], "--out", sys.argv[2], "--config", sys.argv[1] + ".toml",
               "--no-progress", "--no-report"]))
"""


def test_dead_letters_into_a_full_disk_is_one_line_not_an_abort(tmp_path: Path) -> None:
    """Main: the same abort when the dead letters' file was the first to fail on the full disk
    (round 26 kept that sink's own close from raising, not the archive's flushes after it)."""
    csv = _fleet_csv(tmp_path / "fleet.csv", n=100)
    lines = csv.read_text().splitlines()
    late = [f"2024-01-01 00:00:00,pump-a,{i}.5" for i in range(200)]  # behind the clock: dead letters
    csv.write_text("\n".join([*lines[:200], *late, *lines[200:]]) + "\n")
    Path(f"{csv}.toml").write_text(CONFIG)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, resource.RLIM_INFINITY))

    done = subprocess.run([sys.executable, "-c", DEAD_LETTERS, str(csv), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, preexec_fn=limit,
                          env={**os.environ, "TMPDIR": str(tmp_path), "TWIN_DEBUG": ""})
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    dead_letters = tmp_path / "out" / "dead_letters.jsonl"
    assert line.startswith(f"twin: error: cannot write {dead_letters}: File too large")
    assert (tmp_path / "out" / "dead_letters.jsonl").stat().st_size <= 3000


def test_more_runs_than_open_files_are_merged_as_they_come(tmp_path: Path) -> None:
    """Main: the final merge held every spilled run's file open: past ~1,000 runs (50 million
    windows) under the usual limit of 1,024 open files it failed, "Too many open files" (here: 60
    runs under a limit of 40). Now every FAN_IN runs on disk (64; here 16) are merged into one."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    done = _backtest(tmp_path, tmpdir, "many")
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    assert pq.read_metadata(tmp_path / "out" / "scores.parquet").num_rows == 300


@pytest.mark.parametrize("case", ["types_differ_between_runs", "ties_across_runs"])
def test_runs_merged_on_the_way_give_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   case: str) -> None:
    """Runs of 7 rows merged 3 at a time, in levels (a run's column null in one run, int or float in
    others; equal keys across runs: their arrival order kept): the file of all snapshots held in memory."""
    import pyarrow.parquet as pq

    monkeypatch.setattr(scores_file, "RUN_ROWS", 7)
    monkeypatch.setattr(scores_file, "READ_ROWS", 4)
    monkeypatch.setattr(scores_file, "FAN_IN", 3)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if case == "types_differ_between_runs":
        snaps = [_snap("a", 5 * i, rul=None if i < 150 else (7 if i < 291 else 7.5),
                       defect=None if i < 120 else "bpfo") for i in range(300)]
    else:
        snaps = [_snap("ab"[i % 2], 5 * (i // 40), score=i / 1000) for i in range(400)]
    failures = {"a": [snaps[-1].timestamp]}
    alerts = [_alert("a", 50, "raised"), _alert("a", 400, "cleared")]
    with ScoresSpool() as spool:
        for i in range(0, len(snaps), 5):
            spool.extend(snaps[i:i + 5])
            assert all(spool._levels.count(k) < 3 for k in spool._levels)
            assert spool._levels == sorted(spool._levels, reverse=True)
        assert spool._merges > 10 and max(spool._levels) >= 2
        spool.write(tmp_path / "scores.parquet", alerts, failures)
    got = pq.read_table(tmp_path / "scores.parquet")
    expected = scores_table(snaps, alerts, failures)
    assert got.schema == expected.schema
    assert got.equals(expected)


def test_a_tmpdir_with_a_line_break_or_an_escape_is_shown_escaped(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The spill's one line printed TMPDIR as it was: a line break in it made two lines, an escape
    sequence drove the terminal. Now shown as ``\\n``, ``\\x1b`` (as --out paths are)."""
    odd = tmp_path / "tmp\n\x1b[31mred"
    odd.write_text("")  # a file: the spill fails
    monkeypatch.setattr(tempfile, "tempdir", str(odd))
    monkeypatch.setattr(scores_file, "RUN_ROWS", 5)
    with pytest.raises(WriteFailed) as got, ScoresSpool() as spool:
        spool.extend([_snap("a", 5 * i) for i in range(5)])
    text = str(got.value)
    assert "\n" not in text and "\x1b" not in text
    assert f"to {tmp_path}/tmp\\n\\x1b[31mred: Not a directory (TMPDIR" in text


def test_a_stale_folder_that_cannot_be_emptied_keeps_its_lock_and_is_not_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 41 (HOSTILE41): a dead backtest's folder holding a file that cannot be deleted (made
    immutable, a mount in it: refused here by ``os.unlink``, as root ignores permissions) lost its
    ``lock`` or not by the order ``rmtree`` met the names, and was reported deleted: once without its
    lock, no later backtest took it for stale again. It keeps its lock and the next one finishes it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = SpillFolder()
    for name in ("run-0.arrow", "run-1.arrow", "merged-0.arrow", "zz.arrow", "a.arrow"):
        (folder.path / name).write_bytes(b"x" * 10)
    os.close(folder._fd)  # its backtest dies (kill -9): the lock is released, the folder stays
    folder._fd, folder._open = -1, False
    real = os.unlink

    def refused(path: object, *args: object, **kwargs: object) -> None:
        if str(path).endswith("run-1.arrow"):
            raise PermissionError(1, "Operation not permitted")
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", refused)
    assert remove_stale() == []
    assert sorted(os.listdir(folder.path)) == ["lock", "run-1.arrow"]
    monkeypatch.setattr(os, "unlink", real)
    assert remove_stale() == [folder.path]
    assert not folder.path.exists()
