"""A learner job run ahead in a worker thread, handed over at a unit the caller chooses.

:class:`JobThread` runs a job generator (:class:`~twin_models.rul.regression_learner.RegressionLearner`'s
refit or catch-up: it yields once per unit of work and returns the fitted model) to its end in a
daemon thread, as fast as it can, counting the units done. The caller keeps its own quota of units
and asks :meth:`JobThread.advance` for the job's state at that quota: the job's result once the
quota passes the job's last unit (waiting for the thread if it is not there yet), else nothing.
So what the caller sees, and when, depends on the quota only, never on the thread's speed: the
job ends at the same call as when the caller advanced the generator itself. What the thread wins
is wall time: most of a fit is LightGBM's C code, which runs without the GIL beside the caller
(~91 % of the learner's time in C-MAPSS FD001: RESULTS.md, round 20, part fleetbg).

An exception raised by the job is raised by :meth:`advance` at the quota the job raised at, as the
caller's own ``next()`` would have raised it. :meth:`cancel` stops the thread between two units
(the job's result is dropped); at interpreter exit every running thread is cancelled and joined
(each unit is a few ms), so no thread runs LightGBM while the process tears down.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable, Generator
from typing import Any

__all__ = ["JobThread"]

EXIT_JOIN_S = 5.0
"""How long the exit hook waits for a cancelled thread (it stops at its next unit: ms)."""

_live: weakref.WeakSet[JobThread] = weakref.WeakSet()


class JobThread:
    """Runs ``job`` in a daemon thread; :meth:`advance` hands its result over at a chosen unit.

    ``pace`` (tests) is called in the thread after every unit with the units done."""

    def __init__(self, job: Generator[int, None, Any], *, name: str = "twin-job",
                 pace: Callable[[int], None] | None = None) -> None:
        self._job: Generator[int, None, Any] | None = job
        self._pace = pace
        self._cond = threading.Condition()
        self.done = 0  # units the thread has finished
        self.finished = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        _live.add(self)
        self._thread.start()

    def _run(self) -> None:
        job = self._job
        self._job = None  # the thread's frame holds the generator; nothing else does
        try:
            while job is not None:
                with self._cond:
                    if self._cancelled:
                        job.close()
                        return
                try:
                    next(job)
                except StopIteration as end:
                    with self._cond:
                        self._value = end.value
                    return
                with self._cond:
                    self.done += 1
                    self._cond.notify_all()
                if self._pace is not None:
                    self._pace(self.done)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by advance()
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self.finished = True
                self._cond.notify_all()

    def advance(self, units: int) -> tuple[bool, Any]:
        """The job's state once the caller's quota is ``units`` units: ``(True, result)`` when
        the job ended within them (its ``units + 1``-th ``next()`` would have returned), else
        ``(False, None)``; waits for the thread until it has done ``units`` units or ended.
        Raises the job's exception if it raised within them."""
        with self._cond:
            while self.done < units and not self.finished:
                self._cond.wait()
            if self.done >= units:
                return False, None
            if self._error is not None:
                raise self._error
            if self._cancelled:
                msg = "the job was cancelled"
                raise RuntimeError(msg)
            return True, self._value

    def cancel(self) -> None:
        """Stop the thread at its next unit (its result is dropped)."""
        with self._cond:
            self._cancelled = True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


@atexit.register
def _stop_all() -> None:
    """Cancel and join the running job threads before the interpreter tears down."""
    threads = list(_live)
    for job in threads:
        job.cancel()
    for job in threads:
        job.join(EXIT_JOIN_S)
