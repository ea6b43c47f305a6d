"""The renames of one archive flush, made durable together (issue 10, round 40, SYNC40).

A flush of the archive sink writes one part per date it holds (a demo flush 1-8, a benchmark's
wide batch ~8), each in its own ``date=`` folder. Round 39 synced each part alone: its temporary
file fsynced, renamed, its folder fsynced, and a folder the write made synced in its parent first,
one after the other: two or three journal commits a part, each waiting on the disk (ext4 commits
its whole journal for a folder's fsync). Here the same syncs are issued from a small pool of threads
and waited for together, in the order the invariant needs:

1. each part's temporary file is fsynced as soon as it is written (:meth:`SyncedRenames.add`),
   while the next part is encoded, and a folder the write made is synced in its parent as soon as
   it is made (:meth:`SyncedRenames.folder_made`, once per parent per flush);
2. :meth:`SyncedRenames.commit` waits for all of them (a failing fsync fails the flush before any
   part of it is named), then renames every part into place, in order;
3. then syncs each distinct folder it renamed into, concurrently, and returns once all are done.

So every part's bytes are on disk before its name is, and its name (and its folder's) before the
flush returns: before the sink's drain at a recovery snapshot, before the run's manifest entry
(written after the sinks close). Concurrent fsyncs share the journal's commits. ``os.fdatasync``
instead of ``os.fsync`` for the parts measured no different (a new file's size and blocks are the
metadata fdatasync keeps, and they are the whole of its metadata change): not used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from flows.archive.layout import sync_file, sync_folder

__all__ = ["SYNC_THREADS", "SyncedRenames"]

SYNC_THREADS = 8
"""Threads issuing the archive's fsyncs (shared by every sink of the process): they wait on the
disk, not the CPU."""

_LOCK = threading.Lock()
_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _start(sync: Callable[[Path], None], path: Path) -> Future[None]:
    """``sync(path)`` on the pool (made per process: a forked child has none of its threads), or
    here and now when no thread can take it (at interpreter exit a stopped run writes what was
    handed over: ``archive_writer``'s atexit)."""
    global _POOL
    try:
        with _LOCK:
            if _POOL is None or _POOL[0] != os.getpid():
                _POOL = (os.getpid(), ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="archive-sync"))
            pool = _POOL[1]
        return pool.submit(sync, path)
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        done: Future[None] = Future()
        try:
            sync(path)
            done.set_result(None)
        except OSError as exc:
            done.set_exception(exc)
        return done


class SyncedRenames:
    """One flush's parts: :meth:`folder_made`, :meth:`add` each written part, then :meth:`commit`
    (or :meth:`discard` on a failure). ``failed``: the temporary file whose fsync or rename failed
    in :meth:`commit` (None before)."""

    def __init__(self) -> None:
        self._parts: list[tuple[Path, Path, Future[None]]] = []  # (temporary, final, its fsync)
        self._parents: dict[Path, Future[None]] = {}
        self._renamed = 0
        self.failed: Path | None = None

    def folder_made(self, parent: Path) -> None:
        """A folder was made in ``parent``: sync ``parent`` (best effort, as :func:`sync_folder`)."""
        if parent not in self._parents:
            self._parents[parent] = _start(sync_folder, parent)

    def add(self, tmp: Path, final: Path) -> None:
        """The part written at ``tmp``, to be renamed onto ``final``: its fsync starts now."""
        self._parts.append((tmp, final, _start(sync_file, tmp)))

    def commit(self) -> None:
        """Wait for every sync started, rename every part in order, then sync their folders."""
        wait([*self._parents.values(), *(synced for _, _, synced in self._parts)])
        for tmp, _final, synced in self._parts:
            if synced.exception() is not None:
                self.failed = tmp
                raise synced.exception()  # type: ignore[misc]
        try:
            for tmp, final, _synced in self._parts:
                self.failed = tmp
                os.replace(tmp, final)
                self._renamed += 1
            self.failed = None
        finally:  # the renamed parts' folders, even when a later rename failed (best effort)
            folders = dict.fromkeys(final.parent for _, final, _ in self._parts[:self._renamed])
            wait([_start(sync_folder, folder) for folder in folders])

    def pending(self) -> list[Path]:
        """The temporary files not renamed (after a failure), every sync this flush started finished
        (round 41, HOSTILE41: the syncs of the folders it made ran on after the failure was raised)."""
        wait([*self._parents.values(), *(synced for _, _, synced in self._parts)])
        return [tmp for tmp, _, _ in self._parts[self._renamed:]]
