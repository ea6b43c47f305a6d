"""A background thread that writes the archive sink's batches, so a flush does not stop the worker.

Bytewax runs every step of a worker on one thread: a Parquet flush in the sink's ``write_batch``
or ``snapshot`` (a few hundred ms for a minute of a fleet's rows) delays every window that closes
meanwhile, alerts included (issue 10: alert latency). The sink hands each batch to a
:class:`BackgroundWriter` instead: one thread per sink partition, jobs run in the order given (so
files keep their sequence numbers' order), at most ``max_pending`` batches queued (a full queue
makes the worker wait: memory stays bounded when the disk is slower than the flow). The writers
of one :class:`FailureGroup` (a run's archive sinks) run their jobs one at a time: at each epoch's
end every table hands its rows over at once, and without a recovery store (the worker goes on
meanwhile) six writer threads converting records together held the GIL against the worker for
~0.3 s, delaying every output of that moment (round 46, part LAT46; see also
:mod:`flows.app.switching`). One at a time, the worker contends with one writer. Not while a
worker thread waits for writers (:meth:`FailureGroup.drain`, a durable snapshot with a recovery
store): it polls nothing meanwhile, so the writers it waits for run their jobs together, and the
tables' encodes and syncs (Arrow and the disk release the GIL) overlap. The snapshot hands over
every table's rows of its worker first (:mod:`.archive`), so the tables' writes at an epoch's end
run together instead of one after another (round 48, part EPOCH48: the pause 20-30 % shorter on
2 shared vCPUs, not down to the longest write: the writes are mostly CPU).

Nothing is lost or written twice on recovery: the sink waits for the queue (:meth:`drain`)
before its recovery snapshot returns when snapshots are commit points, and at close; at
interpreter exit (a run stopped by a signal, where Bytewax closes no sink) what was handed over
is written. A job that
fails is raised again on the worker thread at every later call (the flow stops as it did when
the flush ran inline), and no later job runs. Once one writer's failure has been raised there,
no writer of its :class:`FailureGroup` (the archive sinks of one run) raises from
:meth:`BackgroundWriter.close` (a full disk fails every table's writer): Bytewax closes the sinks
while it unwinds from the first error, and a second exception there aborts the process (SIGABRT,
exit 134, no message). The group is an object made with the run's sinks, not a process-wide set of
run ids: a later run in the same process (a library user, the tests), even under the same run id,
starts clean (a remembered failure made its sinks drop their last rows at close).

A file that cannot be written (a full or read-only disk, a planted symbolic link) is an
:class:`ArchiveWriteError` naming the folder, its temporary file removed.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from flows.archive.layout import WriteFailed

__all__ = ["ArchiveWriteError", "BackgroundWriter", "FailureGroup"]

log = logging.getLogger(__name__)
Job = Callable[[], None]
_OPEN: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class FailureGroup:
    """The archive writers of one run (its sinks share one, :mod:`flows.app.outputs`). ``raised``:
    a failure of one of them has been raised on a worker thread (the flow stops on it): the sinks'
    closes then write and raise nothing more. The group's writers take turns: no job starts while
    another of theirs runs (module docstring), except a job of a writer that a worker thread waits
    for (:meth:`drain`): that worker polls nothing meanwhile, so the writers it waits for run
    together, their encodes and syncs overlapping. ``members``: the archive partitions of each
    worker thread (by thread id), so a durable snapshot hands over every table's rows of its
    worker at once (:mod:`.archive`). It lives as long as the run's sinks."""

    __slots__ = ("_members_lock", "_running", "_turn", "members", "raised")

    def __init__(self) -> None:
        self.raised = False
        self._turn = threading.Condition()
        self._running = 0  # jobs of the group's writers running now
        self.members: dict[int, list[Any]] = {}
        self._members_lock = threading.Lock()  # worker threads join and leave at once (``-w 2``)

    def join(self, member: Any) -> None:
        """Count ``member`` among the calling worker thread's archive partitions (once)."""
        with self._members_lock:
            mine = self.members.setdefault(threading.get_ident(), [])
            if member not in mine:
                mine.append(member)

    def leave(self, member: Any) -> None:
        """``member`` is closed (or moved thread): no longer among any thread's partitions."""
        with self._members_lock:
            for mine in self.members.values():
                if member in mine:
                    mine.remove(member)

    def mine(self) -> list[Any]:
        """The calling worker thread's archive partitions (never another thread's)."""
        with self._members_lock:
            return list(self.members.get(threading.get_ident(), ()))

    @contextlib.contextmanager
    def turn(self, writer: BackgroundWriter) -> Iterator[None]:
        """Held while ``writer`` runs a job: waits while another job of the group runs, unless a
        worker thread waits for ``writer`` (then the jobs it waits for run together)."""
        with self._turn:
            while self._running and not writer.awaited:
                self._turn.wait()
            self._running += 1
        try:
            yield
        finally:
            with self._turn:
                self._running -= 1
                self._turn.notify_all()

    def drain(self, writers: list[BackgroundWriter]) -> None:
        """Wait until every job queued to ``writers`` has run, their jobs allowed to run together
        meanwhile; raise the first failure among them (on the calling worker thread)."""
        with self._turn:
            for w in writers:
                w.awaited += 1
            self._turn.notify_all()  # a writer waiting for its turn may start now
        try:
            for w in writers:
                w.join()
        finally:
            with self._turn:
                for w in writers:
                    w.awaited -= 1
        for w in writers:
            w.check()


class ArchiveWriteError(WriteFailed):
    """An archive file could not be written; the message names the folder and the reason.
    ``ArchiveWriteError(errno, message)``: ``str()`` is the message alone."""

    def remedy(self) -> str:
        """When a restart will write it, by the failure's kind. Round 50: every failure said "once
        the archive's disk has room and is writable", also for a folder moved away or swapped for a
        link mid-write (HOSTILE50, DIRFD49) and for the open-files limit."""
        if self.errno == errno.EMFILE:
            return "with a higher open-files limit (`ulimit -n`)"
        if self.errno in (errno.ENOENT, errno.ELOOP):
            return "once the folder it names is back in the archive as a plain folder"
        return "once the archive's disk has room and is writable"


class BackgroundWriter:
    """Runs jobs on one daemon thread, in order, one job of its group's writers at a time; errors
    come back on the caller's thread."""

    def __init__(self, name: str, max_pending: int = 4, group: FailureGroup | None = None) -> None:
        self.group = FailureGroup() if group is None else group
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._told = False
        self.awaited = 0  # worker threads waiting in :meth:`FailureGroup.drain` for this writer
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _OPEN.add(self)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:  # after a failure no later job runs (they would follow a gap)
                    with self.group.turn(self):  # one job of the group's writers at a time
                        job()
            except BaseException as exc:  # noqa: BLE001 - handed to the worker thread by check()
                self._error = exc
            finally:
                self._jobs.task_done()

    def check(self) -> None:
        """Raise what a job raised, on the calling (worker) thread (at every call from then on)."""
        if self._error is not None:
            self.group.raised = True
            self._told = True
            raise self._error

    def submit(self, job: Job) -> None:
        """Queue ``job`` (waits while ``max_pending`` jobs are queued); raises an earlier failure."""
        self.check()
        if not self._thread.is_alive():
            msg = f"archive writer {self._thread.name} is closed"
            raise RuntimeError(msg)
        self._jobs.put(job)

    def join(self) -> None:
        """Wait until every queued job has run (raise nothing: :meth:`check` does)."""
        self._jobs.join()

    def drain(self) -> None:
        """Wait until every queued job has run, its jobs not waiting for their turn meanwhile
        (:meth:`FailureGroup.drain`); raise if one failed."""
        self.group.drain([self])

    def close(self) -> None:
        """Run what is queued, stop the thread, raise if a job failed (unless a writer's failure
        was raised on a worker thread already: then it is logged at INFO, see the module docstring)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        if not self.group.raised:
            self.check()
        elif self._error is not None and not self._told:
            self._told = True  # once (atexit closes it again); a raised failure was told already
            # at INFO, not WARNING (round 30): Python's last-resort handler printed it as a 2nd line
            # before the command's one error line (a read-only disk fails every table's writer)
            log.info("archive writer %s: %s", self._thread.name, self._error)


@atexit.register
def _close_open_writers() -> None:
    """At interpreter exit, write what was handed over: a `twin run` stopped by SIGTERM or Ctrl-C
    ends without Bytewax closing its sinks, and the writer threads are daemons."""
    for writer in list(_OPEN):
        try:
            writer.close()
        except Exception:  # too late to stop anything: say so
            log.exception("archive writer failed at exit")
