"""The output manifest's durability (round 37, DURABLE37; noticed by HOSTILE36).

1. Two runs finishing at once into one ``--out`` each read, changed and rewrote the manifest: one's
   entries could be lost. Now each change re-reads it under a lock (``flows/app/out_lock.py``).
2. The atomic writes renamed a temporary file that was never synced: after a power loss the name
   could hold an empty file. Now the file is fsynced before the rename, its folder after.
3. A kill -9 mid-write left ``..twinflow-outputs.tmp-<pid>.json`` (or ``.demo.tmp-<pid>.png``) for
   ever: ``--fresh`` did not delete it. Now it does (and the next manifest write its own), when no
   process ``<pid>`` is alive.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.app import out_lock
from flows.app.demo import DEMO_OUTPUTS
from flows.app.out_dir import prepare_out, replace_file
from flows.app.out_manifest import MANIFEST, Manifest, record_written

WRITERS, FILES_EACH = 4, 25


def _write_many(out: str, k: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    for i in range(FILES_EACH):
        path = Path(out) / f"w{k}-{i}.txt"
        path.write_text(f"{k} {i}")
        record_written(out, [path])


def test_runs_recording_at_once_into_one_folder_lose_no_entry(tmp_path: Path) -> None:
    """Four processes each record 25 files as fast as they can: every entry is in the manifest
    (on the base, ae4dd4c, some dozens of the 100 were lost, each rewrite dropping another's)."""
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), k, start)) for k in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    listed = json.loads((tmp_path / MANIFEST).read_text())["files"]
    wanted = {f"w{k}-{i}.txt" for k in range(WRITERS) for i in range(FILES_EACH)}
    assert wanted - set(listed) == set()
    assert not (tmp_path / out_lock.LOCK).exists()  # its holder removes it: the folder keeps none


def test_a_lock_held_too_long_warns_and_the_entry_is_still_written(tmp_path: Path, monkeypatch:
                                                                  pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Another process holding the lock past the bounded wait: one warning, the run's own entry
    written anyway (its outputs are whole; only a simultaneous run's entry may be missing)."""
    monkeypatch.setattr(out_lock, "LOCK_WAIT_S", 0.2)
    (tmp_path / "a.txt").write_text("a")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(30)"), str(tmp_path / out_lock.LOCK)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        record_written(tmp_path, [tmp_path / "a.txt"])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.startswith(f"twin: warning: the output manifest's lock {tmp_path / out_lock.LOCK} was not "
                          "taken (another process held it for 0.2 s)")
    assert err.count("\n") == 1
    assert "a.txt" in json.loads((tmp_path / MANIFEST).read_text())["files"]


def test_a_link_planted_as_the_lock_is_not_followed(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / out_lock.LOCK).symlink_to(victim)
    (out / "a.txt").write_text("a")
    record_written(out, [out / "a.txt"])
    assert victim.read_text() == "keep" and (out / out_lock.LOCK).is_symlink()
    assert "was not taken" in capsys.readouterr().err
    assert "a.txt" in json.loads((out / MANIFEST).read_text())["files"]


def spied_syncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The ``os.fsync`` (of which path) and ``os.replace`` (onto which path) calls from now on, in order."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: object, dst: object, **fds: int) -> None:  # the archive's: in a folder held open
        at = os.fspath(dst)  # type: ignore[arg-type]
        if "dst_dir_fd" in fds:
            at = os.path.join(os.readlink(f"/proc/self/fd/{fds['dst_dir_fd']}"), at)
        events.append(("replace", at))
        real_replace(src, dst, **fds)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_an_atomic_write_is_synced_before_its_rename_and_its_folder_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What reaches the disk, in order: the temporary file's bytes, the rename, the folder."""
    events = spied_syncs(monkeypatch)
    target = tmp_path / "report.html"
    replace_file(target, lambda tmp: tmp.write_text("<html/>"))
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(str(tmp_path / ".report.tmp-"))
    assert events[1][1] == str(target) and events[2][1] == str(tmp_path)
    assert target.read_text() == "<html/>"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_fresh_removes_temporary_files_of_killed_writes_only(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "demo.png").write_bytes(b"png")
    record_written(out, [out / "demo.png"])
    dead, alive = _dead_pid(), os.getpid()
    stale = [out / f"..twinflow-outputs.tmp-{dead}.json", out / f".demo.tmp-{dead}.png",
             out / f".demo.tmp-{dead}-0123abcd.png"]  # round 42's name (a write's own 8 hex digits)
    kept = [out / f".demo.tmp-{alive}.png", out / f".demo.tmp-{alive}-0123abcd.png",  # writes going on
            out / f".notes.tmp-{dead}.txt",  # not a temporary of an output of this command
            out / f".demo.tmp-{dead}.png.bak"]  # not that shape
    for p in (*stale, *kept):
        p.write_bytes(b"")
    prepare_out(out, out / "archive", DEMO_OUTPUTS, fresh=True)
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    assert not (out / "demo.png").exists() and not (out / MANIFEST).exists()


def test_the_next_manifest_write_removes_its_own_stale_temporary(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f"..twinflow-outputs.tmp-{dead}.json"
    mine = tmp_path / f"..twinflow-outputs.tmp-{os.getpid()}.json"
    stale.write_text("{")
    (tmp_path / "a.txt").write_text("a")
    Manifest.read(tmp_path).record([tmp_path / "a.txt"])
    assert not stale.exists() and not mine.exists()
    assert list(json.loads((tmp_path / MANIFEST).read_text())["files"]) == ["a.txt"]


@pytest.mark.parametrize("name", ["..twinflow-outputs.tmp-{pid}-0123abcd.json",
                                  ".report.tmp-{pid}-0123abcd.html"])
def test_a_link_planted_at_the_temporary_name_is_not_written_through(tmp_path: Path, name: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 39 (HOSTILE39): the temporary name was ``.<stem>.tmp-<pid><suffix>``, guessable; a link
    planted there was written through (a file outside --out overwritten with the manifest or the
    page) and then renamed onto the output (the manifest became that link). On f313d9d both failed.
    Round 42: the name has 8 random hex digits too; made known here, so the link is at its name."""
    monkeypatch.setattr("flows.app.out_dir.secrets.token_hex", lambda n: "0123abcd")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    planted = out / name.format(pid=os.getpid())
    planted.symlink_to(victim)
    if name.startswith("..twinflow"):
        (out / "a.txt").write_text("a")
        record_written(out, [out / "a.txt"])
        final = out / MANIFEST
        assert "a.txt" in json.loads(final.read_text())["files"]
    else:
        final = replace_file(out / "report.html", lambda tmp: tmp.write_text("<html/>"))
        assert final.read_text() == "<html/>"
    assert victim.read_text() == "keep"
    assert not final.is_symlink() and not planted.exists() and not planted.is_symlink()


@pytest.mark.parametrize("plant", ["folder", "fifo"])
def test_a_lock_that_cannot_be_taken_is_warned_of_once_per_command(tmp_path: Path, plant: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Round 39 (HOSTILE39): a command writes the manifest 3-4 times, and each said the same ~330
    characters again (f313d9d: twice here; a FIFO's line named the lock twice)."""
    lock = tmp_path / out_lock.LOCK
    lock.mkdir() if plant == "folder" else os.mkfifo(lock)
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
        record_written(tmp_path, [tmp_path / name])
    err = capsys.readouterr().err
    why = "Is a directory" if plant == "folder" else "not a regular file"
    assert err.count("\n") == 1 and f"lock {lock} was not taken ({why}); " in err
    assert sorted(json.loads((tmp_path / MANIFEST).read_text())["files"]) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("pid", ["2147483648", "9999999999"])
def test_a_temporary_name_with_a_pid_no_process_can_have_is_stale(tmp_path: Path, pid: str) -> None:
    """Round 39 (HOSTILE39): ``os.kill`` raised OverflowError for a pid over a pid_t: a file named
    ``..twinflow-outputs.tmp-9999999999.json`` (or ``.demo.tmp-...png`` for --fresh) made every
    manifest write, so every demo and backtest into the folder, `twin: internal error`, exit 1."""
    stale = [tmp_path / f"..twinflow-outputs.tmp-{pid}.json", tmp_path / f".demo.tmp-{pid}.png"]
    for p in stale:
        p.write_bytes(b"")
    (tmp_path / "demo.png").write_bytes(b"png")
    record_written(tmp_path, [tmp_path / "demo.png"])
    assert not stale[0].exists() and stale[1].exists()  # the manifest write: its own temporaries only
    prepare_out(tmp_path, tmp_path / "archive", DEMO_OUTPUTS, fresh=True)
    assert not stale[1].exists() and not (tmp_path / "demo.png").exists()


@pytest.mark.parametrize("planted", ["link", "dangling", "folder", "fifo"])
def test_something_planted_at_the_lock_name_refuses_the_run_first_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], planted: str) -> None:
    """Round 39 (DURABLE39): before, every run into that folder ran, then warned "the output
    manifest's lock ... was not taken" and wrote the manifest without the lock, run after run.
    Now the command refuses before it computes anything (exit 2, one line naming it); the planted
    thing and a link's target are left as they are (twinflow never follows nor deletes a link)."""
    from flows.cli.main import main

    out = tmp_path / "out"
    out.mkdir()
    lock = out / out_lock.LOCK
    victim = tmp_path / "victim"
    victim.write_text("keep")
    if planted == "link":
        lock.symlink_to(victim)
    elif planted == "dangling":
        lock.symlink_to(tmp_path / "nowhere")
    elif planted == "folder":
        lock.mkdir()
        (lock / "notes.txt").write_text("mine")
    else:
        os.mkfifo(lock)
    code = main(["demo", "--out", str(out), "--assets", "1", "--days", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(lock) in err and "remove it" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == [out_lock.LOCK]  # nothing computed, nothing written
    assert victim.read_text() == "keep"
    assert lock.is_symlink() if planted in ("link", "dangling") else lock.exists()


def test_a_killed_write_s_lock_file_does_not_refuse_the_next_run(tmp_path: Path) -> None:
    """A regular file at the lock name is a kill -9's leftover: taken and removed, as in round 37."""
    from flows.app.out_dir import prepare_out

    out = tmp_path / "out"
    out.mkdir()
    (out / out_lock.LOCK).write_text("")
    prepare_out(out, out / "archive", ())
    (out / "a.txt").write_text("a")
    record_written(out, [out / "a.txt"])
    assert not (out / out_lock.LOCK).exists()
    assert "a.txt" in json.loads((out / MANIFEST).read_text())["files"]
