"""A multi-process run waiting for its other processes can be stopped (round 28).

``twin run -i I -a ADDRESSES`` hands the engine the cluster's addresses; the engine then connects the
processes before it builds the flow. While it connects it runs no Python code on the main thread, so
Python's handler for SIGTERM and Ctrl-C (:mod:`flows.app.stop_signals`) never ran: a process whose
peers never started waited for ever, and only ``kill -9`` ended it (HOSTILE28 found it; systemd and
Kubernetes stop with SIGTERM first). The engine releases the GIL while it connects, so a thread can
act: Python's C-level handler writes each signal's number to a wakeup pipe
(:func:`signal.set_wakeup_fd`), and :class:`PeerWait`'s thread reads it. A signal that comes before
the engine has asked the Kafka source for its partitions (``PARTS_LISTED``, set by the source's
``list_parts``: the first thing a process does once its peers are connected) ends the process with
one line, exit 0 (a stop, as a running ``twin run`` stopped by SIGTERM): nothing was read, written
or snapshotted yet (the watcher decides holding ``LISTING``, the lock ``list_parts`` marks the listing
with, so a signal as the engine starts is either acted on before anything is read or left to the
engine; round 29). After that the engine checks for signals itself, and the thread only drains the
pipe, but for a repeated signal after ``REPEAT_IGNORED_S`` (:func:`~flows.app.stop_signals.repeat_off_main`:
a process stopped once connected waits in the engine for its peers to hang up, deaf to Python's
handler; round 29). A process still waiting after :data:`SAY_WAITING_S` says once what it waits for;
so does one still stopping that long after a stop signal (it waits for its peers to stop too; round 30).

A peer that ended once connected (``kill -9``, its own error, its machine gone) stopped the others with
``twin: internal error: PanicException: Send thread panic: Any { .. }``, exit 1 (round 29):
:func:`peer_lost` names it instead.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import TracebackType

from flows.app.stop_signals import SIGNALS, exit_now, repeat_off_main
from flows.dataflow.sources.kafka_offsets import LISTING
from flows.dataflow.sources.kafka_offsets import PARTS_LISTED as ENGINE_STARTED

__all__ = ["ENGINE_STARTED", "SAY_WAITING_S", "PeerWait", "peer_lost"]

SAY_WAITING_S = 5.0
"""A process not connected to its peers after this long says what it waits for (once)."""


_LINK_PANICS = ("Send thread panic", "Recv thread panic")
"""How the engine's threads that carry data between a cluster's processes end when a peer went away."""


def peer_lost(exc: BaseException, addresses: Sequence[str], process_id: int | None) -> str | None:
    """What to say when ``exc`` is the engine's panic for a lost link to another process of the
    cluster (the engine's ``PanicException`` is a BaseException); None otherwise."""
    if len(addresses) < 2 or type(exc).__name__ != "PanicException":
        return None
    if not str(exc).startswith(_LINK_PANICS):
        return None
    others = ", ".join(a for i, a in enumerate(addresses) if i != (process_id or 0))
    return (f"lost the connection to the cluster's other processes ({others}): one of them ended (its "
            "own error, a kill, its machine or the network gone)")


class PeerWait:
    """Context manager around the engine's run: a stop signal before :data:`ENGINE_STARTED` ends the
    process at once with one line (exit 0). Does nothing for a one-process run or off the main thread
    (only the main thread may set the wakeup pipe)."""

    def __init__(self, addresses: Sequence[str], process_id: int | None) -> None:
        self.addresses = tuple(addresses)
        self.process_id = process_id or 0
        self._fds: tuple[int, int] | None = None
        self._before = -1
        self._done = threading.Event()
        self._stopping = False  # a stop signal came once the engine ran: its note is under way

    def __enter__(self) -> PeerWait:
        ENGINE_STARTED.clear()
        if len(self.addresses) < 2 or threading.current_thread() is not threading.main_thread():
            return self
        read, write = os.pipe()
        os.set_blocking(write, False)  # the C handler must never block
        self._fds = (read, write)
        self._before = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="twin-peer-wait", daemon=True).start()
        threading.Thread(target=self._say_waiting, name="twin-peer-wait-note", daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        if self._fds is None:
            return
        signal.set_wakeup_fd(self._before)
        os.close(self._fds[1])  # the watching thread reads end-of-file and returns
        self._fds = None

    def _others(self) -> str:
        return ", ".join(a for i, a in enumerate(self.addresses) if i != self.process_id)

    def _watch(self) -> None:
        assert self._fds is not None
        read = self._fds[0]
        try:  # reads until the run ends (a pipe without a reader would make the C handler complain)
            while got := os.read(read, 64):  # b"": the run ended, the write end is closed
                signums = [n for n in got if n in SIGNALS]  # SIGHUP too (round 35)
                if signums and not ENGINE_STARTED.is_set() and not self._done.is_set():
                    with LISTING:  # the source's list_parts waits for this decision (round 29)
                        if not ENGINE_STARTED.is_set():
                            name = signal.Signals(signums[0]).name
                            print(f"twin run: stopped by {name} while waiting for the cluster's other "
                                  f"processes ({self._others()}) to connect; nothing was read or written",
                                  file=sys.stderr, flush=True)
                            exit_now(0)
                    # listed meanwhile: the signal is the engine's, as below
                if signums and ENGINE_STARTED.is_set():  # the engine's; a late repeat ends at once
                    repeat_off_main(signums[-1])
                    if not self._stopping:
                        self._stopping = True
                        threading.Thread(target=self._say_stopping, name="twin-peer-wait-stopping",
                                         daemon=True).start()
        finally:
            os.close(read)

    def _say_stopping(self) -> None:
        """A process of a cluster stopped alone waits for the others to stop too; it said nothing, and
        looked hung (round 30): after :data:`SAY_WAITING_S` it says so, once."""
        if self._done.wait(SAY_WAITING_S):
            return
        print(f"twin run: process {self.process_id} still stopping after {SAY_WAITING_S:g} s: it waits for "
              f"the cluster's other processes ({self._others()}) to stop as well (stop them too), or for a "
              "slow flush; a repeated SIGTERM or Ctrl-C ends it at once (rows not yet written are lost)",
              file=sys.stderr, flush=True)

    def _say_waiting(self) -> None:
        if ENGINE_STARTED.wait(SAY_WAITING_S) or self._done.is_set():
            return
        print(f"twin run: process {self.process_id} waiting for the cluster's other processes "
              f"({self._others()}) to connect (Ctrl-C or SIGTERM stops it)", file=sys.stderr, flush=True)
