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
from functools import partial
from pathlib import Path

from flows.archive.layout import sync_file, sync_folder

__all__ = ["SYNC_THREADS", "SyncedRenames"]

SYNC_THREADS = 8
"""Threads issuing the archive's fsyncs (shared by every sink of the process): they wait on the
disk, not the CPU."""

_LOCK = threading.Lock()
_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _start(sync: Callable[..., None], path: str | Path | int, dir_fd: int | None = None) -> Future[None]:
    """``sync(path)`` (``dir_fd=`` passed when given) on the pool (made per process: a forked child has
    none of its threads), or here and now when no thread can take it (at interpreter exit a stopped run
    writes what was handed over: ``archive_writer``'s atexit)."""
    global _POOL
    call = partial(sync, path) if dir_fd is None else partial(sync, path, dir_fd=dir_fd)
    try:
        with _LOCK:
            if _POOL is None or _POOL[0] != os.getpid():
                _POOL = (os.getpid(), ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="archive-sync"))
            pool = _POOL[1]
        return pool.submit(call)
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        done: Future[None] = Future()
        try:
            call()
            done.set_result(None)
        except OSError as exc:
            done.set_exception(exc)
        return done


class SyncedRenames:
    """One flush's parts: :meth:`folder_made`, :meth:`add` each written part, then :meth:`commit`
    (or :meth:`discard` on a failure). ``failed``: the temporary file whose fsync or rename failed
    in :meth:`commit` (None before).

    Round 49 (DIRFD49): a folder given with ``dir_fd``, held open by the caller until the batch is
    committed or :meth:`pending` returned, is synced as that open folder and a part's fsync and rename
    are made in it by name (``openat``, ``renameat``), whatever is put at the folder's name meanwhile;
    the paths then only name them in errors."""

    def __init__(self) -> None:
        self._parts: list[tuple[Path, Path, int | None, Future[None]]] = []  # temporary, final, folder, fsync
        self._parents: dict[Path, Future[None]] = {}
        self._renamed = 0
        self.failed: Path | None = None

    def folder_made(self, parent: Path, dir_fd: int | None = None) -> None:
        """A folder was made in ``parent`` (open at ``dir_fd`` when given): sync ``parent`` (best
        effort, as :func:`sync_folder`)."""
        if parent not in self._parents:
            self._parents[parent] = _start(sync_folder, parent if dir_fd is None else dir_fd)

    def add(self, tmp: Path, final: Path, dir_fd: int | None = None) -> None:
        """The part written at ``tmp``, to be renamed onto ``final`` (both in the folder open at
        ``dir_fd`` when given): its fsync starts now."""
        synced = _start(sync_file, tmp if dir_fd is None else tmp.name, dir_fd)
        self._parts.append((tmp, final, dir_fd, synced))

    def commit(self) -> None:
        """Wait for every sync started, rename every part in order, then sync their folders."""
        wait([*self._parents.values(), *(synced for *_, synced in self._parts)])
        for tmp, _final, _fd, synced in self._parts:
            if synced.exception() is not None:
                self.failed = tmp
                raise synced.exception()  # type: ignore[misc]
        try:
            for tmp, final, fd, _synced in self._parts:
                self.failed = tmp
                if fd is None:
                    os.replace(tmp, final)
                else:
                    os.replace(tmp.name, final.name, src_dir_fd=fd, dst_dir_fd=fd)
                self._renamed += 1
            self.failed = None
        finally:  # the renamed parts' folders, even when a later rename failed (best effort)
            renamed = self._parts[:self._renamed]
            folders = dict.fromkeys(final.parent if fd is None else fd for _, final, fd, _ in renamed)
            wait([_start(sync_folder, folder) for folder in folders])

    def pending(self) -> list[Path]:
        """The temporary files not renamed (after a failure), every sync this flush started finished
        (round 41, HOSTILE41: the syncs of the folders it made ran on after the failure was raised)."""
        wait([*self._parents.values(), *(synced for *_, synced in self._parts)])
        return [tmp for tmp, *_ in self._parts[self._renamed:]]
