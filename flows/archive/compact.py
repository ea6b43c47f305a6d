"""``twin archive compact``: merge a closed day's files of a table into one, never losing or
duplicating a row.

A live run writes one file per (table, date) per flush, so a day of 60-s flushes is ~1,440 small
files per table, and archives written before issue 10 hold one file per (date, asset) per flush;
queries pay per file (a footer read, a fragment scan). Compaction rewrites a date folder's files
into one file of the current layout (``asset_id`` first, rows sorted by asset and time, row groups
of :data:`flows.archive.layout.ROW_GROUP_ROWS`), keeping every row as it is, bookkeeping
included, so the views deduplicate exactly as before.

Crash safety, in three steps: (1) the merged rows are written to a hidden temporary file; (2) it is
renamed into the date folder, the commit point: its Parquet metadata lists the files it merged
(:data:`flows.archive.files.SUPERSEDES`) and from then on the readers leave those out; (3) they are
deleted. A crash before (2) leaves the sources untouched (the hidden file is ignored by every reader);
a crash between (2) and (3) leaves sources that the readers skip and the next compaction deletes.
One compaction at a time holds the archive's lock exclusively (:func:`compaction_lock`, an ``flock``
on the archive's folder, released by the kernel even on ``kill -9``; ``archive check`` holds it
shared); holding it, a hidden
``.part-compact-*.parquet.tmp`` is a killed compaction's leftover (:func:`stale_temps`): the next
compaction removes it and ``archive check`` reports it (round 28: it stayed for ever). Files
without ``_write_seq`` (written before the bookkeeping columns) are left alone: their order is
their path, which merging would lose. Unreadable or foreign files are never touched (``archive
check --repair`` is for them).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from flows.archive.files import (
    SUPERSEDES,
    TABLES,
    ArchiveFile,
    BadFile,
    TableFiles,
    printable,
    scan_table,
    vote,
)
from flows.archive.held_folders import HeldFolders
from flows.archive.layout import WriteFailed, failure_reason, replace_synced, write_options
from flows.archive.merge import UnreadableSource, merged_schema, write_merged
from twin_models.text import counted, first_few

__all__ = ["Compacted", "CompactionInterrupted", "CompactionRunning", "CompactionStopped", "FolderReplaced",
           "UnreadableSource", "remove_files",
           "VoteWouldChange", "compact_archive", "RUN_TEMP_AGE_S", "compact_date", "compaction_lock",
           "left_run_temps", "lock_holders", "shown_command", "stale_temps"]

@dataclass(frozen=True)
class Compacted:
    """One date folder merged: the new file and how many files and rows went into it."""

    table: str
    date: date
    path: Path
    files: int
    rows: int


def _folders(n: int) -> str:
    return counted(n, "date folder")


class CompactionStopped(WriteFailed):
    """A date folder's merged file could not be written (a full disk): the message names the date
    folders merged before it (complete: their merged files replaced their sources) and counts those
    not tried; :attr:`done` holds the merged ones, :attr:`finished` the left-behind sources deleted
    first (round 28: a stopped compaction did not say them)."""

    def __init__(self, failed: WriteFailed, done: list[Compacted], untried: int, finished: int) -> None:
        text = str(failed)
        if done:
            text += f"; {_folders(len(done))} compacted before it (complete): " + ", ".join(
                f"{c.table} {c.date}" for c in done)
        if untried:
            again = ("the folder named is in place again" if isinstance(failed, FolderReplaced)
                     else "the archive has room and is writable")
            text += f"; {_folders(untried)} after it not tried (compact again once {again})"
        super().__init__(failed.errno or errno.EIO, text)
        self.done, self.untried, self.finished = done, untried, finished


class CompactionInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a compaction while it merged: :attr:`done` holds the date folders merged
    before it (complete), :attr:`untried` counts those left as they were (a folder stopped midway is
    left as it was, or its merged file committed and its sources deleted by the next compaction), and
    :attr:`finished` the left-behind sources deleted first (round 30: it said only ``twin: interrupted``,
    not what it had merged)."""

    def __init__(self, done: list[Compacted], untried: int, finished: int) -> None:
        super().__init__()
        self.done, self.untried, self.finished = done, untried, finished
        was = "it was" if untried == 1 else "they were"
        self.add_note(f"{_folders(untried)} not compacted (left as {was}): compact again to finish")


class VoteWouldChange(ValueError):
    """Merging a table's date folders would change which of its files the views read: a file left out
    for its column types (:attr:`flows.archive.files.TableFiles.outvoted`) would win the files' vote
    once the files it lost to are one (round 40: the merged file, every row of the merged ones, was
    then left out of every query and ``archive check --repair`` moved it aside). The table is left
    as it was."""


class CompactionRunning(ValueError):
    """Another compaction holds the archive's lock: two at once could merge the same files twice."""


@dataclass
class _Lock:
    held: bool = False  # False: the folder cannot be locked here (no flock): stale files are not judged
    fd: int = field(default=-1, repr=False)


CHECK_WAIT_S = 30.0
"""How long a compaction waits for readers of the lock (``archive check``'s scans) before it gives up."""


def _exclusive(fd: int, root: Path) -> bool:
    """Take the lock for a compaction; False on a file system without ``flock``. A compaction holding it
    (exclusively): :class:`CompactionRunning` at once; ``archive check``s scanning (shared): wait for
    them, at most :data:`CHECK_WAIT_S` (round 29: a check made a compaction say another compacted).
    Another program holding it is named (round 30: it was said to be a compaction)."""
    deadline = time.monotonic() + CHECK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # granted: only readers hold it
        except BlockingIOError:
            raise CompactionRunning(_held_exclusively(root, lock_holders(fd, "WRITE"))) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
        if time.monotonic() > deadline:
            who = "; ".join(f"{pid} ({shown_command(argv)})" for pid, argv in lock_holders(fd, "READ"))
            msg = (f"the archive's lock on {root} has been held for {CHECK_WAIT_S:g} s by processes that "
                   "only read it (`twin archive check`, or another program's shared flock"
                   f"{': process ' + who if who else ''}); try again")
            raise CompactionRunning(msg)
        time.sleep(0.05)


def _held_exclusively(root: Path, holders: list[tuple[int, list[str]]]) -> str:
    """The line for a lock another process holds exclusively: a compaction's, or another program's."""
    if not holders or any(_is_compaction(argv) for _, argv in holders):
        by = f" (process {holders[0][0]})" if holders else ""
        return (f"another `twin archive compact`{by} is compacting {root} (it holds the archive's lock); "
                "wait for it to end")
    pid, argv = holders[0]
    return (f"process {pid} ({shown_command(argv)}) holds the archive's lock on {root} exclusively (an flock "
            "on the folder, which only `twin archive compact` should take): no compaction can run while it "
            "does; end that process, then compact again")


def _is_compaction(argv: list[str]) -> bool:
    return any(a == "archive" and b == "compact" for a, b in zip(argv, argv[1:], strict=False))


def shown_command(argv: list[str]) -> str:
    """A command line to quote in one line: printable, at most 120 characters."""
    cmd = printable(" ".join(argv))
    return cmd if len(cmd) <= 120 else cmd[:117] + "..."


def lock_holders(fd: int, kind: str) -> list[tuple[int, list[str]]]:
    """The other processes holding an ``flock`` of ``kind`` (``WRITE``: exclusive, ``READ``: shared) on
    the file open as ``fd``, with their command lines, from Linux's ``/proc/locks``; [] where that cannot
    be told (no ``/proc``, a holder gone since, or only this process: its descriptors are its own)."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return []
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    for line in text.splitlines():  # "3: FLOCK  ADVISORY  WRITE 30879 fe:00:99862 0 EOF"; waiter "3: -> .."
        f = line.split()
        if len(f) >= 6 and f[1] == "FLOCK" and f[3] == kind and f[5] == key and f[4].isdigit():
            pid = int(f[4])
            if pid != os.getpid() and pid not in pids:
                pids.append(pid)
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue  # ended since
        out.append((pid, [a.decode("utf-8", "replace") for a in argv if a]))
    return out


@contextlib.contextmanager
def compaction_lock(root: Path, wait: bool = False) -> Iterator[_Lock]:
    """Hold the archive's compaction lock (an ``flock`` on its folder: no file is created, and the
    kernel releases it when the process ends, ``kill -9`` included): exclusively for a compaction
    (``wait=False``; another one holding it: :class:`CompactionRunning`), shared for ``archive check``
    (``wait=True``: checks do not exclude each other; a compaction holding it: a lock that is not held,
    and the check judges no temporary file stale). Not held either on a file system without ``flock``."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield _Lock()
        return
    try:
        if not wait:
            held = _exclusive(fd, root)
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                held = True
            except OSError:  # BlockingIOError: a compaction runs; else no flock here
                held = False
        yield _Lock(held, fd if held else -1)
    finally:
        os.close(fd)


def stale_temps(root: Path, tables: tuple[str, ...] = TABLES) -> list[Path]:
    """The hidden temporary files of compaction's own naming (``.part-compact-*.parquet.tmp``,
    regular files, in a table's date folders, no link followed): left by a compaction killed while
    it wrote, when no compaction holds the lock (the caller's to know)."""
    return [path for path, _ in _hidden_temps(root, tables, ".part-compact-*.parquet.tmp")]


RUN_TEMP_AGE_S = 600.0
"""A run's temporary part file older than this was left by a run stopped mid-write: a part's write
(encode, sync, rename) takes seconds."""


def left_run_temps(root: Path, now: float, tables: tuple[str, ...] = TABLES) -> list[tuple[Path, float]]:
    """The hidden temporary files of a run's writes (``.part-<run>-w<i>-<seq>.parquet.tmp``, regular
    files in a table's date folders, no link followed) last changed more than :data:`RUN_TEMP_AGE_S`
    before ``now`` (epoch seconds), each with its age in seconds: left by a ``twin run``, demo or
    backtest killed while it wrote a part (``kill -9``, a power loss). Nothing removes them by itself:
    no lock says whether a run writes to the archive (round 48: ``archive check`` named none)."""
    temps = _hidden_temps(root, tables, ".part-*.parquet.tmp")
    return [(p, now - mtime) for p, mtime in temps
            if not p.name.startswith(".part-compact-") and now - mtime > RUN_TEMP_AGE_S]


def _hidden_temps(root: Path, tables: tuple[str, ...], pattern: str) -> list[tuple[Path, float]]:
    """The regular files matching ``pattern`` in the tables' date folders (no link followed), with
    their modification times, sorted."""
    out = []
    for table in tables:
        table_dir = root / table
        if table_dir.is_symlink() or not table_dir.is_dir():
            continue
        for folder in table_dir.glob("date=*"):
            if folder.is_symlink() or not folder.is_dir():
                continue
            for path in folder.glob(pattern):
                with contextlib.suppress(OSError):
                    st = path.lstat()
                    if stat.S_ISREG(st.st_mode):
                        out.append((path, st.st_mtime))
    return sorted(out)


def compact_date(root: Path, table: str, files: list[ArchiveFile], name: str) -> Compacted:
    """Merge one date folder's ``files`` into ``<date folder>/<name>.parquet`` (the three steps),
    streamed (:mod:`flows.archive.merge`, round 39: memory bounded, not the folder's size)."""
    table_dir = root / table
    folder = table_dir / f"date={files[0].date.isoformat()}"
    sources = [str(f.path.relative_to(table_dir)) for f in files]
    schema = merged_schema(files).with_metadata({SUPERSEDES: json.dumps(sources).encode()})
    options = {k: v for k, v in write_options(table, schema).items() if k != "row_group_size"}
    tmp, final = folder / f".{name}.parquet.tmp", folder / f"{name}.parquet"
    with _held(root) as held:
        replaced = None
        try:
            fd = held.folder(folder)  # round 50: a link put at the table or date folder's name: one line
            rows = write_merged(table, files, schema, tmp, options, fd, held.reading)  # UnreadableSource:
            # nothing written
            if (replaced := held.replaced(folder)) is None:  # round 37: on disk before its sources go
                replace_synced(tmp.name, final.name, dir_fd=fd)
        except FolderReplaced:
            raise
        except OSError as exc:  # a full disk: it said Arrow's words only, naming no folder
            why = (f"cannot write the merged file of {table} {files[0].date} in {folder}: "
                   f"{failure_reason(exc)}")
            raise WriteFailed(exc.errno or errno.EIO, f"{why}; that folder is left as it was") from exc
        finally:  # a failed or interrupted write (Ctrl-C, SIGTERM) leaves no half-written file
            with contextlib.suppress(OSError):
                if held.opened(folder) is not None:
                    held.unlink(tmp)
        if replaced is not None:
            raise _replaced(replaced, f"while {table} {files[0].date} was merged",
                            "that folder is left as it was")
        for f in files:  # by name in the folder merged, never through what is at its name now
            held.unlink(f.path)
        if (replaced := held.replaced(folder)) is not None:  # merged, in the folder wherever it is now
            raise _replaced(replaced, f"after {table} {files[0].date} was merged",
                            "its merged file is in the folder merged, wherever it is now")
    return Compacted(table, files[0].date, final, len(files), rows)


def _replaced(replaced: str, when: str, state: str) -> FolderReplaced:
    """The one line of a folder found not at its name (:meth:`HeldFolders.replaced`) ``when``."""
    return FolderReplaced(errno.ESTALE, f"{COMPACTING}: {replaced} {when} (nothing written or removed "
                                        f"through it; {state})")


COMPACTING = "cannot compact the archive"


class FolderReplaced(WriteFailed):
    """A table or date folder of the archive is not the folder it was (a symbolic link put at its name,
    moved away) while a compaction merged its files (round 50, COMPACT50): never followed."""


def _held(root: Path) -> HeldFolders:
    """The archive's folders below ``root`` opened from it down, never through a link, none made."""
    return HeldFolders(root, FolderReplaced, doing=COMPACTING)


def remove_files(root: Path, paths: list[Path]) -> int:
    """Delete the files ``paths`` below the archive ``root``, each by name in its folder opened from the
    archive down (:class:`~flows.archive.held_folders.HeldFolders`: a folder swapped for a link to one
    outside the archive since it was listed is refused in one line, nothing deleted there); returns how
    many. Round 50: by path, the files of those names in the outside folder were deleted."""
    with _held(root) as held:
        for path in paths:
            held.unlink(path)
    return len(paths)


def _finish(root: Path, superseded: list[Path]) -> int:
    """Delete the sources a stopped compaction left behind (its step 3)."""
    return remove_files(root, superseded)


def _vote_change(base: Path, tf: TableFiles, plan: list[tuple[str, date, list[ArchiveFile]]], name: str
                 ) -> str | None:
    """Why merging ``plan`` (``tf``'s folders) would change which files the views read, or None. The
    views leave out a file whose column types disagree with most files' (:func:`flows.archive.files.vote`,
    which counts files): merging N files into one takes N - 1 votes from their types."""
    if not tf.outvoted:
        return None
    merged = {f.path for _, _, files in plan for f in files}
    folder = base / tf.table
    stand_ins = [ArchiveFile(folder / f"date={day.isoformat()}" / f"{name}.parquet", day, None,
                             merged_schema(files)) for _, day, files in plan]
    before = {f.path for f in tf.outvoted}
    after = vote(tf.table, [f for f in tf.files if f.path not in merged] + stand_ins + tf.outvoted)
    if after == before:
        return None
    read = [b for b in tf.bad if b.path in before - after]
    # printable: the CLI's line folds a newline in a name into a space (short_words), naming no file
    shown = first_few(read, 3, sep="; ",
                      show=lambda b: f"{printable(str(b.path.relative_to(base)))} ({b.reason})")
    n = len(after - before)
    return (f"merged, the {tf.table} files of {'these folders' if len(plan) > 1 else 'this folder'} would no "
            f"longer outvote {shown} (files of other "
            f"column types), which queries would then read in place of {counted(n, 'file')}")


def compact_archive(root: str | Path, before: date, name: str, tables: tuple[str, ...] = TABLES,
                    skipped: list[str] | None = None, left: list[BadFile] | None = None
                    ) -> tuple[list[Compacted], int]:
    """Compact every date folder before ``before`` that holds more than one mergeable file (or an
    older-layout file); returns what was merged and how many left-behind sources were deleted.

    A date folder holding a file whose pages cannot be read is left as it is: with ``skipped``
    (a list) its reason is appended there and the other folders are compacted, else
    :class:`UnreadableSource` stops the compaction (before round 24 it stopped it as
    ``twin: error: Corrupt snappy compressed data.``, naming neither the file nor the remedy). So is
    a table whose merge would change which files its views read (:class:`VoteWouldChange`, round 40).
    ``left`` (a list) gets the files every reader leaves out, which compaction leaves as they are."""
    base = Path(root)
    done: list[Compacted] = []
    finished = 0
    plan: list[tuple[str, date, list[ArchiveFile]]] = []
    for table in tables:
        tf = scan_table(base, table)
        finished += _finish(base, tf.superseded)
        if left is not None:
            left += tf.bad
        by_date: dict[date, list[ArchiveFile]] = defaultdict(list)
        for f in tf.files:
            if f.date < before and "_write_seq" in f.schema.names:
                by_date[f.date].append(f)
        table_plan = [(table, day, files) for day, files in sorted(by_date.items())
                      if len(files) > 1 or files[0].asset_id is not None]
        if table_plan and (change := _vote_change(base, tf, table_plan, name)) is not None:
            if skipped is None:
                raise VoteWouldChange(change)
            skipped += [f"{table} {day}" for _, day, _ in table_plan[:-1]]
            skipped.append(f"{table} {table_plan[-1][1]}: {change}")
            continue
        plan += table_plan
    left_alone = 0
    try:
        for i, (table, day, files) in enumerate(plan):
            try:
                done.append(compact_date(base, table, files, name))
            except UnreadableSource as exc:
                if skipped is None:
                    raise
                skipped.append(f"{table} {day}: {exc}")
                left_alone += 1
            except WriteFailed as exc:  # round 27: it named only the folder that failed
                raise CompactionStopped(exc, done, len(plan) - i - 1, finished) from exc
    except KeyboardInterrupt:  # a stop signal: what was merged before it is complete, and said
        raise CompactionInterrupted(done, len(plan) - len(done) - left_alone, finished) from None
    return done, finished
