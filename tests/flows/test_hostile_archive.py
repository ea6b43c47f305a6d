"""The archive's disk against a hostile operator (round 13): links and FIFOs planted in the archive,
a partition folder that is a link, a disk that fills up while the flow writes.

Before: ``twin sql`` read a planted link's target outside the archive and hung for ever (even
through SIGTERM) on a FIFO named ``*.parquet``; the sink wrote through a linked partition folder
(a file outside the archive); a full disk aborted ``twin demo`` / ``twin run`` (SIGABRT, exit 134,
the error never shown). Now the reader reports such entries and never follows or opens them, the
writer refuses the link, and a full disk is one line naming the folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from flows.dataflow.sinks.archive_writer import ArchiveWriteError
from tests.flows.archive_fixtures import feature_rows, small_archive
from tests.flows.test_cli_errors import TWIN, one_error_line

SUM = "SELECT count(*) AS n, sum(\"vib.rms\") AS s FROM features"


def _sql(archive: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0
    out = capsys.readouterr()
    return out.out.splitlines(), out.err


def _partition(archive: Path) -> Path:
    return next((archive / "features").rglob("*.parquet")).parent


def test_a_planted_link_to_a_file_outside_is_reported_not_read(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    archive = small_archive(tmp_path / "a")
    outside = tmp_path / "private"
    write_rows(outside, "features", feature_rows(rms=100.0), "part-x-w0-000000", "x")  # same keys, other rows
    (_partition(archive) / "planted.parquet").symlink_to(next(outside.rglob("*.parquet")))
    lines, err = _sql(archive, capsys)
    assert lines == ["n,s", "6,9.0"]  # read through the link, the outside rows won (newer write): 6,606.0
    assert "features/date=2026-01-01/planted.parquet (foreign file: a symbolic link (not followed))" in err


def test_a_linked_partition_folder_is_reported_not_followed(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    archive = small_archive(tmp_path / "a")
    outside = tmp_path / "private"
    write_rows(outside, "features", feature_rows(rms=100.0), "part-x-w0-000000", "x")
    (archive / "features" / "date=2026-01-09").symlink_to(_partition(outside), target_is_directory=True)
    lines, err = _sql(archive, capsys)
    assert lines == ["n,s", "6,9.0"]
    assert "features/date=2026-01-09 (foreign file: a symbolic link (not followed))" in err  # was silent
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 0
    assert (archive / "_quarantine" / "features" / "date=2026-01-09").is_symlink()
    assert next(outside.rglob("*.parquet")).is_file()  # the link moved, its target untouched


def test_a_fifo_named_parquet_is_reported_never_opened(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer: the query hung, and SIGTERM could not stop it."""
    archive = small_archive(tmp_path / "a")
    fifo = _partition(archive) / "pipe.parquet"
    os.mkfifo(fifo)
    proc = subprocess.run([TWIN, "sql", SUM, "--archive", str(archive), "--format", "csv"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n,s", "6,9.0"]
    assert "pipe.parquet (foreign file: not a regular file (a FIFO))" in proc.stderr


def test_the_writer_refuses_a_linked_partition_folder(tmp_path: Path) -> None:
    """The sink wrote its file through the link: into a folder outside the archive."""
    archive = tmp_path / "a"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (archive / "features").mkdir(parents=True)
    (archive / "features" / "date=2026-01-01").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArchiveWriteError, match=r"date=2026-01-01 is a symbolic link \(not written through"):
        write_rows(archive, "features", feature_rows(), "part-r-w0-000000", "r")
    assert list(outside.iterdir()) == []


def _full_disk(script: str, size: str = "100k") -> subprocess.CompletedProcess[str]:
    """``script`` (sh) in a private mount namespace with a ``size`` tmpfs at $DISK; skips where an
    unprivileged user namespace cannot mount one."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, text=True, check=False, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()}")
    mount = f'mount -t tmpfs -o size={size} tmpfs "$DISK"'
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"{mount} && {script}"], capture_output=True,
                          text=True, check=False, timeout=300, env={"PATH": "/usr/bin:/bin", "DISK": "/mnt"})


def test_a_full_disk_is_one_line_naming_the_folder_never_an_abort() -> None:
    """Every table's writer fails on a full disk; the second failure, raised while Bytewax closed
    the sinks after the first, aborted the process (exit 134, no message)."""
    script = (f'{TWIN} demo --assets 2 --days 3 --out "$DISK/out" --no-progress; echo "rc=$?"; '
              'find "$DISK" -name ".*.tmp"; '
              'for f in $(find "$DISK" -name "*.parquet"); do echo "file $f"; done')
    proc = _full_disk(script)
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr
    line = one_error_line(proc.stderr)
    assert line.startswith("twin: error: cannot write the archive in /mnt/out/")
    assert ": No space left on device; --out /mnt/out keeps its archive (" in line  # what it kept (round 14)
    assert line.endswith("; not written: demo.png")
    lines = proc.stdout.splitlines()
    assert not [ln for ln in lines if ln.endswith(".tmp")]  # no half-written file left taking room
    assert all(ln.startswith(("rc=", "file ")) for ln in lines)
    assert any(ln.startswith("file /mnt/out/") for ln in lines)  # it wrote some before the disk filled


def test_after_a_full_disk_every_visible_file_is_whole() -> None:
    """``twin archive check`` reads every visible file's footer: none is half-written."""
    script = (f'{TWIN} demo --assets 2 --days 3 --out "$DISK/out" --no-progress >/dev/null 2>&1; '
              f'{TWIN} archive check --archive "$DISK/out"; echo "rc=$?"')
    proc = _full_disk(script)
    assert "rc=0" in proc.stdout, proc.stdout + proc.stderr
    assert "unreadable" not in proc.stdout + proc.stderr


def _linked_features(tmp_path: Path) -> tuple[Path, Path]:
    """An archive whose ``features`` table folder is a link to another archive's table."""
    archive = small_archive(tmp_path / "a")
    outside = small_archive(tmp_path / "private")
    shutil.rmtree(archive / "features")
    (archive / "features").symlink_to(outside / "features", target_is_directory=True)
    return archive, outside


def test_a_linked_table_folder_is_refused_by_the_reader(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Round 13 refused linked files and partition folders; a linked TABLE folder was still read."""
    archive, _ = _linked_features(tmp_path)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 2
    out = capsys.readouterr()
    assert out.out == ""  # was: n,s / 6,9.0 read from the folder outside the archive
    line = one_error_line(out.err)
    target = tmp_path / "private" / "features"
    assert f"table folder {archive / 'features'} is a symbolic link (to {target})" in line
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 2
    assert "is a symbolic link" in one_error_line(capsys.readouterr().err)
    assert len(list((tmp_path / "private" / "features").rglob("*.parquet"))) == 1  # nothing moved


def test_a_linked_table_folder_is_refused_by_the_writer_at_start(tmp_path: Path) -> None:
    """The writer wrote a whole table through the link (outside the archive), and ``--fresh``
    deleted the files it pointed to."""
    from flows.dataflow.sinks.archive import ParquetArchiveSink

    archive, outside = _linked_features(tmp_path)
    before = sorted(outside.rglob("*.parquet"))
    with pytest.raises(ArchiveWriteError, match=r"features is a symbolic link .*not followed"):
        ParquetArchiveSink(archive, "features")
    with pytest.raises(ArchiveWriteError, match=r"features is a symbolic link"):
        write_rows(archive, "features", feature_rows(assets=1), "part-r-w0-000001", "r")
    proc = subprocess.run([TWIN, "demo", "--assets", "1", "--days", "1", "--out", str(archive), "--fresh",
                           "--no-progress"], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "features is a symbolic link" in one_error_line(proc.stderr)
    assert sorted(outside.rglob("*.parquet")) == before  # nothing written or deleted through the link


def _corrupt_pages(path: Path) -> None:
    """Overwrite every byte between the magic and the footer: the footer reads, the pages do not."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[4:len(data) - 8 - footer] = b"\xab" * (len(data) - 12 - footer)
    path.write_bytes(bytes(data))


def test_a_file_with_corrupt_pages_is_named_and_moved_aside(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The query failed with DuckDB's words (`bad query: ... Couldn't deserialize thrift`), no file named,
    and `twin archive check` (footers only) called every file readable."""
    archive = small_archive(tmp_path / "a")
    later = feature_rows(rms=10.0)
    for row in later:
        row["date"] = "2026-01-02"
    write_rows(archive, "features", later, "part-b-w0-000000", "b")
    bad = next((archive / "features" / "date=2026-01-01").glob("*.parquet"))
    _corrupt_pages(bad)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"twin: error: the archive file {bad} cannot be read (corrupt data pages: ")
    assert line.endswith(f"move it aside with `twin archive check --archive {archive} --pages --repair`")
    assert main(["archive", "check", "--archive", str(archive)]) == 0  # footers only: it looks whole
    capsys.readouterr()
    assert main(["archive", "check", "--archive", str(archive), "--pages"]) == 1
    assert f"{bad.relative_to(archive)}: corrupt data pages: " in capsys.readouterr().out
    assert main(["archive", "check", "--archive", str(archive), "--pages", "--repair"]) == 0
    assert not bad.exists()
    capsys.readouterr()
    lines, err = _sql(archive, capsys)
    assert lines == ["n,s", "6,66.0"] and err == ""  # the other file's rows


def test_an_archive_turned_read_only_mid_run_is_one_line_naming_the_folder() -> None:
    """Each table folder is a bind mount of itself, remounted read-only once the demo has written
    its first files (a disk that errors into read-only: EROFS). Round 13 tested a full disk only."""
    from flows.archive.files import TABLES

    tables = " ".join(TABLES)
    script = (f'for t in {tables}; do mkdir -p "$DISK/out/$t" && '
              'mount --bind "$DISK/out/$t" "$DISK/out/$t"; done; '
              # files from the run's 2nd second on, not only its last half second (round 30: the
              # demo ended before the remounts in a CI run): small flushes
              f'TWIN_ARCHIVE_BATCH_ROWS=100 {TWIN} demo --assets 2 --days 30 --out "$DISK/out" --no-progress '
              '>/dev/null 2>"$DISK/err" & '
              'pid=$!; '
              'i=0; while [ -z "$(find "$DISK/out" -name "*.parquet" | head -1)" ] && [ $i -lt 600 ]; '
              'do sleep 0.1; i=$((i+1)); done; '
              f'for t in {tables}; do until mount -o remount,bind,ro "$DISK/out/$t" 2>/dev/null; '
              'do sleep 0.01; done; done; '  # busy while a file of the table is open for writing
              'wait $pid; echo "rc=$?"; cat "$DISK/err" >&2; '
              'for f in $(find "$DISK/out" -name "*.tmp"); do echo "tmp $(basename $f)"; done; '
              f'{TWIN} archive check --archive "$DISK/out" >/dev/null; echo "check=$?"')
    proc = _full_disk(script, size="64m")
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr
    line = one_error_line(proc.stderr)
    assert line.startswith("twin: error: cannot write the archive in /mnt/out/"), line
    assert ": Read-only file system" in line and "keeps its archive (" in line
    assert all(ln.split()[1].startswith(".") for ln in proc.stdout.splitlines() if ln.startswith("tmp "))
    assert "check=0" in proc.stdout  # every visible file whole: nothing half-written is read


def test_a_rename_refused_by_a_read_only_disk_is_one_line(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """When the disk turns read-only between the temporary file and its rename, removing the
    temporary file fails too: that second error, `[Errno 30] Read-only file system: '.../.part-...tmp'`,
    was the one reported (no folder named as the archive's, no word on the file left behind)."""
    import errno

    from flows.dataflow.sinks import archive_files

    refused: list[bool] = []
    real_unlink = os.unlink

    def read_only(*_args: object, **_fds: object) -> None:
        refused.append(True)
        raise OSError(errno.EROFS, "Read-only file system")

    def unlink(*args: Any, **fds: Any) -> None:  # read-only from the rename on (round 49: by os.unlink)
        if refused:
            read_only()
        real_unlink(*args, **fds)

    monkeypatch.setattr(archive_files.os, "replace", read_only)
    monkeypatch.setattr(archive_files.os, "unlink", unlink)
    with pytest.raises(ArchiveWriteError) as failed:
        write_rows(tmp_path, "features", feature_rows(), "part-r-w0-000000", "r")
    folder = tmp_path / "features" / "date=2026-01-01"
    assert str(failed.value) == (f"cannot write the archive in {folder}: Read-only file system; its "
                                 "temporary file .part-r-w0-000000.parquet.tmp is left there (hidden: never "
                                 "read; remove it once the disk is writable)")
    assert failed.value.errno == errno.EROFS


def test_a_file_compacted_away_during_a_pages_check_is_neither_corrupt_nor_a_failed_repair(
        tmp_path: Path) -> None:
    """``--pages`` reads the whole archive (minutes on a big one); a ``twin archive compact`` meanwhile
    merges and removes files the scan listed. Such a file was reported as 'corrupt data pages: [Errno 2]
    ... No such file' (exit 1), and ``--repair`` stopped at it with a FileNotFoundError line, the
    corrupt files after it left in place."""
    from flows.archive.files import BadFile, corrupt_pages, scan_table
    from flows.archive.quarantine import quarantine

    archive = small_archive(tmp_path / "a")
    later = feature_rows(rms=10.0)
    for row in later:
        row["date"] = "2026-01-02"
    write_rows(archive, "features", later, "part-b-w0-000000", "b")
    tf = scan_table(archive, "features")
    gone, bad = sorted(f.path for f in tf.files)
    _corrupt_pages(bad)
    gone.unlink()  # compacted meanwhile
    found = corrupt_pages(tf)
    assert [b.path for b in found] == [bad]
    moves = quarantine(archive, [BadFile(gone, "features", "foreign file"), *found])
    assert [src for src, _dst in moves] == [bad] and not bad.exists() and moves[0][1].is_file()


def test_the_repair_command_named_for_an_archive_path_with_a_space_can_be_pasted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`twin sql` names the command that moves a corrupt file aside; with the archive in 'my archive'
    the pasted command was `twin archive check --archive /.../my archive --pages --repair`: the shell
    split the path (argparse: unrecognized arguments)."""
    import shlex

    archive = small_archive(tmp_path / "my archive")
    bad = next((archive / "features" / "date=2026-01-01").glob("*.parquet"))
    _corrupt_pages(bad)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 2
    line = one_error_line(capsys.readouterr().err)
    command = line.rsplit("`", 2)[1]
    assert shlex.split(command)[3:] == ["--archive", str(archive), "--pages", "--repair"], line
    assert main(shlex.split(command)[1:]) == 0 and not bad.exists()


@pytest.mark.parametrize("linked", ["_quarantine", "_quarantine/features"])
def test_repair_does_not_move_files_through_a_linked_quarantine_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], linked: str) -> None:
    """The table folders are refused when linked (round 14), but ``--repair`` created and followed
    ``_quarantine/<table>/`` through a planted link: the archive's bad files were moved outside it."""
    archive = small_archive(tmp_path / "a")
    bad = archive / "features" / "date=2026-01-01" / "empty.parquet"
    bad.write_bytes(b"")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (archive / linked).parent.mkdir(parents=True, exist_ok=True)
    (archive / linked).symlink_to(outside, target_is_directory=True)
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{archive / linked} is a symbolic link" in line, line
    assert bad.exists() and not any(outside.rglob("*"))


@pytest.mark.parametrize("odd", ["_quarantine", "_quarantine/features",
                                 "_quarantine/features/date=2026-01-01"])
def test_a_quarantine_that_is_a_regular_file_is_one_line_and_nothing_moves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], odd: str) -> None:
    """`--repair` said `twin: error: [Errno 20] Not a directory: '.../_quarantine/features/...'`
    (round 17, CLEAN20); now it names the odd quarantine folder and moves nothing."""
    archive = small_archive(tmp_path / "a")
    junk = [archive / "features" / "date=2026-01-01" / "junk.parquet", archive / "alerts" / "junk.parquet"]
    for j in junk:
        j.write_bytes(b"junk")
    (archive / odd).parent.mkdir(parents=True, exist_ok=True)
    (archive / odd).write_text("a file of someone's")
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == (f"twin: error: the archive's quarantine folder {archive / odd} is a regular file: "
                    "--repair moves files aside into it; move it away or rename it (nothing was moved)")
    assert all(j.read_bytes() == b"junk" for j in junk)  # neither table's file moved
    assert (archive / odd).read_text() == "a file of someone's"
    (archive / odd).unlink()
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 0
    assert "2 files moved into _quarantine/" in capsys.readouterr().out


def test_a_file_name_with_control_characters_is_shown_escaped(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23 (HOSTILE23): a file planted in a table folder under a name holding an escape
    sequence and a newline was printed as it was by `twin archive check` (and `--repair`) and by
    the query's skip warning: the terminal obeyed the escape, the one-line warning became two."""
    archive = small_archive(tmp_path / "archive")
    name = "x\x1b[31mred\nforged line"
    (_partition(archive) / name).write_text("junk")
    shown = "x\\x1b[31mred\\nforged line"
    arch = ["--archive", str(archive)]
    assert main(["sql", "SELECT count(*) AS n FROM features", *arch, "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["n", "6"]
    assert len(out.err.splitlines()) == 1 and "\x1b" not in out.err and f"/{shown} (foreign file" in out.err
    assert main(["archive", "check", *arch]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert out.splitlines()[0].endswith(f"/{shown}: foreign file: not a Parquet file name")
    assert main(["archive", "check", *arch, "--repair"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert out.splitlines()[0].endswith(f"_quarantine/features/{_partition(archive).name}/{shown}")


def test_an_error_line_escapes_control_characters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23: the one error line folded newlines but printed an escape it quoted as it was."""
    assert main(["sql", "SELECT 1", "--archive", str(tmp_path / "a\x1b]0;title\x07")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error: no archive: ") and "\x1b" not in err and "\x07" not in err
    assert "a\\x1b]0;title\\x07 does not exist" in err


@pytest.mark.parametrize(("make", "says"), [
    (lambda d: Path("/dev/zero"), "is a character device, not a folder"),
    (lambda d: (os.mkfifo(d / "fifo"), d / "fifo")[1], "is a FIFO, not a folder"),
    (lambda d: ((d / "f.parquet").write_bytes(b"PAR1"), d / "f.parquet")[1],
     "is a regular file, not a folder"),  # round 31: it said "a file"; one table of kinds (archive.listing)
    (lambda d: d / "missing", "does not exist (an archive is what `twin demo --out"),
])
def test_an_archive_path_that_is_no_folder_is_named_for_what_it_is(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, says: str) -> None:
    """Round 24: ``--archive /dev/zero`` (a FIFO, a file) said "has no Parquet tables (run `twin
    demo --out /dev/zero` first)", and ``twin whatif`` printed a warning line about its table
    folders before it."""
    path = make(tmp_path)
    for argv in (["sql", "SELECT 1"], ["whatif", "pump-001"], ["explain", "a-1"], ["archive", "check"],
                 ["archive", "compact"]):
        assert main([*argv, "--archive", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"twin: error: no archive: {path} {says}") and len(err.splitlines()) == 1, err


def test_explain_shows_an_archived_text_s_control_characters_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23: an alert message of the right schema planted in the archive (or written by another
    writer) with an escape sequence in its explanation drove the terminal of `twin explain`."""
    from tests.flows.archive_fixtures import alert_rows

    archive = tmp_path / "archive"
    run_id = "20260101T000000-aaaaaaaa"
    rows = [{**r, "explanation": "ok\x1b[2J\x1b]0;owned\x07", "started_at": r["timestamp"]}
            for r in alert_rows()]
    write_rows(archive, "alerts", rows, f"part-{run_id}-w0-000000", run_id)
    assert main(["explain", "a1", "--archive", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "ok\\x1b[2J\\x1b]0;owned\\x07" in out
    assert main(["explain", "a1", "--archive", str(archive), "--json"]) == 0
    assert "\\u001b[2J" in capsys.readouterr().out  # JSON keeps the exact text, escaped by JSON


def test_explain_of_an_alert_row_lacking_a_needed_column_is_one_line(tmp_path: Path) -> None:
    """Round 23: an alert message without ``started_at`` (a file of another writer, or one planted
    with the alerts' columns) stopped `twin explain` with an internal error, exit 1."""
    archive = small_archive(tmp_path / "archive")  # its alert rows carry no started_at
    run = subprocess.run([TWIN, "explain", "a1", "--archive", str(archive)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 2
    line = one_error_line(run.stderr)
    assert line == (f"twin: error: the archive {archive} holds a message of alert 'a1' (sequence 0) without "
                    "started_at: not written by twinflow? (see `twin archive check`)")


@pytest.mark.parametrize("column", ["severity", "status", "timestamp"])
def test_explain_names_the_needed_column_an_alert_message_lacks(tmp_path: Path, column: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23: a null severity or status stopped the text form with an internal error (a None
    formatted as text), a null timestamp with another."""
    from tests.flows.archive_fixtures import alert_rows

    archive = tmp_path / "archive"
    run_id = "20260101T000000-aaaaaaaa"
    rows = [{**r, "started_at": r["timestamp"]} for r in alert_rows()]
    rows[1][column] = None
    write_rows(archive, "alerts", rows, f"part-{run_id}-w0-000000", run_id)
    assert main(["explain", "a1", "--archive", str(archive)]) == 2
    assert capsys.readouterr().err == (f"twin: error: the archive {archive} holds a message of alert 'a1' "
                                       f"(sequence 1) without {column}: not written by twinflow? "
                                       "(see `twin archive check`)\n")


def test_explain_of_an_alert_message_stamped_past_year_9999_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 24 (HOSTILE24): DuckDB hands a time past year 9999 (a planted file's, twinflow's end in
    2262) back as text, and `twin explain` stopped with `internal error: AttributeError: 'str' object
    has no attribute 'isoformat'`, exit 1."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.flows.archive_fixtures import alert_rows

    archive = tmp_path / "archive"
    run_id = "20260101T000000-aaaaaaaa"
    write_rows(archive, "alerts", [{**r, "started_at": r["timestamp"]} for r in alert_rows()],
               f"part-{run_id}-w0-000000", run_id)
    path = next((archive / "alerts").rglob("*.parquet"))
    data = pq.read_table(path)
    i = data.schema.get_field_index("timestamp")
    far = pa.array([300_000_000_000_000_000] * data.num_rows, pa.int64()).cast(data.schema.field(i).type)
    pq.write_table(data.set_column(i, "timestamp", far), path)
    assert main(["explain", "a1", "--archive", str(archive)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"twin: error: the archive {archive} holds a message of alert 'a1' (sequence 0) "
                          "whose timestamp 11476-08-15")
    assert "is outside years 1-9999: not written by twinflow?" in err and err.count("\n") == 1


def test_a_folder_holding_other_things_is_said_to_hold_no_archive_tables(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 25: ``--archive /etc`` said "has no Parquet tables (run `twin demo --out /etc`
    first)"; a folder of other files holds no archive, and the hint is kept for an empty one.
    Round 26: `twin archive check` said "every file is readable" (exit 0) of both; round 27:
    `twin archive compact` said "0 date folders compacted" (exit 0)."""
    other, empty = tmp_path / "etc", tmp_path / "empty"
    other.mkdir()
    empty.mkdir()
    (other / "passwd").write_text("root:x:0:0\n")
    (other / "ssh").mkdir()
    for argv in (["sql", "SELECT 1"], ["whatif", "pump-001"], ["explain", "a-1"], ["archive", "check"],
                 ["archive", "compact"]):
        assert main([*argv, "--archive", str(other)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"twin: error: no archive: {other} holds no twinflow archive tables (no "
                              "folder features, twin_state,") and len(err.splitlines()) == 1, err
        assert "twin demo --out " + str(other) not in err
        assert main([*argv, "--archive", str(empty)]) == 2
        err = capsys.readouterr().err
        assert f"{empty} has no Parquet tables yet (an archive is what `twin demo --out DIR`" in err
