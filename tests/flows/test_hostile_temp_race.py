"""What is found at an archive temporary name when it is opened: never written through (round 48,
part HOSTILE48).

Round 47 removed what was planted at the sink's and the compaction's guessable temporary names
(:func:`flows.archive.layout.clear_temporary`) and then opened them ``O_NOFOLLOW | O_TRUNC``
(:func:`~flows.archive.layout.new_file`). A hard link put there between the two (a file outside the
archive, on its file system) was emptied and overwritten with the part, and the part renamed into the
archive was that file; another user's file put there became the part, theirs to rewrite after its
rename. A folder there stopped the run naming neither the name nor what was there.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from flows.archive import layout, merge
from flows.dataflow.sinks.archive_files import write_file
from flows.dataflow.sinks.archive_writer import ArchiveWriteError
from tests.flows.test_hostile_temp_names import merge_inputs

NAME = "part-r-w0-000001"
DATE = "2026-01-01"


def _alerts() -> pa.Table:
    return pa.table({"asset_id": ["p1"], "time": pa.array([0], pa.timestamp("us", tz="UTC"))})


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("not the archive's\n")
    return victim


def _racing(monkeypatch: pytest.MonkeyPatch, where: Any, plant: Any) -> None:
    """``where.clear_temporary`` clears the name, then ``plant(name)`` runs: what a user writing in
    the folder can put there before the open."""
    real = where.clear_temporary

    def cleared_then_planted(path: str | Path, *, dir_fd: int | None = None) -> None:
        real(path, dir_fd=dir_fd)  # the sink's: a name in its date folder held open (round 49)
        plant(Path(path) if dir_fd is None else Path(os.readlink(f"/proc/self/fd/{dir_fd}")) / path)

    monkeypatch.setattr(where, "clear_temporary", cleared_then_planted)


def test_a_hard_link_put_at_the_sinks_temporary_name_after_its_clearing_is_not_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = _victim(tmp_path)
    _racing(monkeypatch, layout, lambda tmp: os.link(victim, tmp))
    with pytest.raises(ArchiveWriteError) as err:  # the base: written, no error
        write_file(tmp_path / "a", "alerts", DATE, _alerts(), NAME, "r")
    assert victim.read_bytes() == b"not the archive's\n"  # the base: the part's Parquet bytes
    folder = tmp_path / "a" / "alerts" / f"date={DATE}"
    assert str(err.value) == (f"cannot write the archive in {folder}: a file with 1 other name(s) (a hard "
                              f"link) is at the temporary name .{NAME}.parquet.tmp (put there by someone "
                              "else: not written through; remove it)")
    assert list(folder.iterdir()) == []  # the base: the victim's inode renamed in as the part


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_another_users_file_put_at_the_sinks_temporary_name_does_not_become_the_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def theirs(tmp: Path) -> None:
        tmp.write_bytes(b"theirs")
        os.chown(tmp, 65534, 65534)

    _racing(monkeypatch, layout, theirs)
    with pytest.raises(ArchiveWriteError, match=r"a file of another user \(uid 65534\) is at the temporary "
                       rf"name \.{NAME}\.parquet\.tmp"):
        write_file(tmp_path / "a", "alerts", DATE, _alerts(), NAME, "r")
    assert not (tmp_path / "a" / "alerts" / f"date={DATE}" / f"{NAME}.parquet").exists()


def test_a_folder_at_the_sinks_temporary_name_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "alerts" / f"date={DATE}"
    (folder / f".{NAME}.parquet.tmp" / "x").mkdir(parents=True)
    with pytest.raises(ArchiveWriteError) as err:
        write_file(tmp_path / "a", "alerts", DATE, _alerts(), NAME, "r")
    assert str(err.value) == (f"cannot write the archive in {folder}: a folder is at the temporary name "
                              f".{NAME}.parquet.tmp (put there by someone else: not written through; "
                              "remove it)")  # the base: "... in <folder>: Is a directory"


def test_a_fifo_with_a_reader_put_at_the_sinks_temporary_name_after_its_clearing_gets_no_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 49 (HOSTILE49): a FIFO with a reader opens (``O_NONBLOCK``: ENXIO only without one); its
    reader got the part's Parquet bytes, then the run stopped on fsync's "Invalid argument"."""
    got = bytearray()
    done = threading.Event()
    readers: list[threading.Thread] = []

    def fifo_with_a_reader(tmp: Path) -> None:
        os.mkfifo(tmp)
        fd = os.open(tmp, os.O_RDONLY | os.O_NONBLOCK)  # open before the sink's: its open succeeds

        def read() -> None:  # what the FIFO is given until the write is over
            try:
                while not done.is_set():
                    try:
                        got.extend(os.read(fd, 65536))
                    except BlockingIOError:
                        pass
                    done.wait(0.005)
                with contextlib.suppress(BlockingIOError):
                    got.extend(os.read(fd, 1 << 20))
            finally:
                os.close(fd)

        readers.append(threading.Thread(target=read, daemon=True))
        readers[-1].start()

    _racing(monkeypatch, layout, fifo_with_a_reader)
    folder = tmp_path / "a" / "alerts" / f"date={DATE}"
    with pytest.raises(ArchiveWriteError) as err:
        try:
            write_file(tmp_path / "a", "alerts", DATE, _alerts(), NAME, "r")
        finally:
            done.set()
            readers[0].join(10)
    assert str(err.value) == (f"cannot write the archive in {folder}: a FIFO is at the temporary name "
                              f".{NAME}.parquet.tmp (put there by someone else: not written through; "
                              "remove it)")  # the base: "... in <folder>: Invalid argument"
    assert bytes(got) == b""  # the base: the part's Parquet bytes


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_fifo_or_socket_put_at_the_sinks_temporary_name_after_its_clearing_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Round 49 (HOSTILE49): the open's ENXIO (no reader; a socket) stopped the run with the bare
    "No such device or address"."""
    held: list[socket.socket] = []

    def plant(tmp: Path) -> None:
        if kind == "fifo":
            os.mkfifo(tmp)
        else:
            held.append(socket.socket(socket.AF_UNIX))
            back = os.getcwd()
            os.chdir(tmp.parent)  # a socket's path is at most 107 bytes: bound by its name
            try:
                held[-1].bind(tmp.name)
            finally:
                os.chdir(back)

    _racing(monkeypatch, layout, plant)
    folder = tmp_path / "a" / "alerts" / f"date={DATE}"
    try:
        with pytest.raises(ArchiveWriteError) as err:
            write_file(tmp_path / "a", "alerts", DATE, _alerts(), NAME, "r")
    finally:
        for s in held:
            s.close()
    assert str(err.value) == (f"cannot write the archive in {folder}: a FIFO or socket is at the temporary "
                              f"name .{NAME}.parquet.tmp (put there by someone else: not written through; "
                              "remove it)")  # the base: "... in <folder>: No such device or address"


@pytest.mark.parametrize("at", ["merged", "run"])
def test_a_hard_link_put_at_a_compactions_temporary_names_after_their_clearing_is_not_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: str) -> None:
    files, schema, options, out = merge_inputs(tmp_path, monkeypatch)
    target = out if at == "merged" else out.with_name(".part-compact-t.run-0-0.parquet.tmp")
    victim = _victim(tmp_path)
    _racing(monkeypatch, merge, lambda tmp: os.link(victim, tmp) if tmp == target else None)
    with pytest.raises(OSError, match=r"a file with 1 other name\(s\) \(a hard link\)"):
        merge.write_merged("features", files, schema, out, options)  # the base: written, no error
    assert victim.read_bytes() == b"not the archive's\n"


def test_a_file_made_new_is_written_whatever_owner_the_file_system_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner check is for a file found at the name: one made here is written even where the file
    system shows another owner (NFS with root_squash, a CIFS mount's ``uid=``), as before."""
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 4242)
    write_file(tmp_path / "a", "alerts", DATE, _alerts(), NAME, "r")
    assert (tmp_path / "a" / "alerts" / f"date={DATE}" / f"{NAME}.parquet").is_file()
