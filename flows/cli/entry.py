"""The ``twin`` console script's entry: the stop signals' handler first, then the command line.

Round 32 (LOOSE32): :func:`flows.cli.main.main` installs the SIGINT/SIGTERM handler
(:func:`flows.app.stop_signals.stop_once`), but only once ``flows.cli.main`` and what it imports
(argparse, numpy, the config tree: ~0.2 s on the dev VM, more under load) are loaded. A SIGTERM in
that window killed the process with no word (exit -15) and a Ctrl-C printed Python's traceback
(exit -2). Here the handler is installed before anything else of twinflow is imported, and a stop
before the command has begun is the usual one line, ``twin: interrupted``, exit 130 (README
"Stopping"). What is left of the window is the interpreter's own start and this package's
``__init__`` (a few ms: ``benchmarks/signal_window.py``); round 36: nothing imported before the
handler loads ``typing`` or ``importlib.abc`` (the old module paths' finder did: ~17 ms), so it is
set about when a bare interpreter setting one first thing would set it. Round 41 (HOSTILE41): before
that, from ``flows/__init__.py``'s first line, a stop signal is noted (:mod:`flows._early_stop`) and
:func:`run` stops as for one seen after."""

from __future__ import annotations

import os
import signal
import sys

from flows._early_stop import EARLY, NOTED, note

__all__ = ["run"]

INTERRUPTED = 130


def run() -> int:
    """``twin``: the handler, then :func:`flows.cli.main.main` (which keeps it: one handler)."""
    before = None
    try:
        from flows.app.stop_signals import StopOnce, restore, stop_once

        before = stop_once()
        if before is not None:  # what restore() puts back: the handlers before _note
            before = {s: NOTED.get(s, h) if h is note else h for s, h in before.items()}
        handler = signal.getsignal(signal.SIGTERM)
        if EARLY and isinstance(handler, StopOnce):  # a stop noted while twinflow's modules loaded
            handler(EARLY[0], None)  # its KeyboardInterrupt, as for a stop seen from now on
        _closed_streams_to_devnull()
        from flows.cli.stderr import QuietStderr

        sys.stderr = QuietStderr(sys.stderr)  # a hung-up terminal's EIO: silence (round 35, SIGHUP)
        from flows.cli.main import main

        return main()
    except KeyboardInterrupt:  # a stop before main's own guard (it reports the ones after)
        print("twin: interrupted", file=sys.stderr)
        return INTERRUPTED
    finally:
        # main's own restore has run unless it was not reached: after a stop it leaves the signals
        # ignored (the interpreter's shutdown), which must stay so; else back to what they were
        if before is not None and isinstance(signal.getsignal(signal.SIGTERM), StopOnce):
            restore(before, exiting=True)


def _closed_streams_to_devnull() -> None:
    """A standard stream the caller closed (``twin sql ... >&-``, ``2>&-``, ``<&-``): /dev/null in its
    place (round 34, HOSTILE34). Python had made it None, and the first write (a result, a warning,
    the stderr filter's flush) raised AttributeError: ``twin: internal error``, exit 1, printed on
    stdout when stderr was the closed one, as the filter's pipe then took descriptor 2; and a closed
    descriptor's number went to the next file opened (an archive file as descriptor 1 or 2)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        got = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)  # the lowest free: fd
        if got != fd:
            os.dup2(got, fd)
            os.close(got)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", encoding="utf-8", closefd=False))  # noqa: SIM115
