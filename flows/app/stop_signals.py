"""Ctrl-C, SIGTERM and SIGHUP stop a command once: a repeated signal does not abort the stop under way.

Round 35: SIGHUP (the terminal or the ssh session went away) killed the command (exit -1: the
archive writer's last rows lost, a recovery snapshot cut short); it now stops it as SIGTERM does
(exit 130, ``twin run`` 0), and a ``twin`` started under ``nohup`` (SIGHUP ignored) keeps ignoring it.
What the stop then says goes to a terminal that may be gone: :class:`flows.cli.stderr.QuietStderr`.

The first SIGINT or SIGTERM raises KeyboardInterrupt: the dataflow engine unwinds, its sinks flush and
close (the archive writer's last files), the command says what it kept and exits 130. A second one that
arrived while the engine was unwinding raised KeyboardInterrupt again inside a sink's close, called from
the engine's destructors: Rust aborted the process ("panic in a destructor during cleanup", SIGABRT,
nothing said, the rows not flushed lost). Pressing Ctrl-C twice is a reflex, so a repeat within
:data:`REPEAT_IGNORED_S` of the first is ignored; a later one (a stop that hangs, e.g. a flush to a
broker that went away) ends the process at once with one line, exit 130 (the archive holds only
complete files: its temporary files are hidden, never read). Once the command has returned after such a
stop, both signals are ignored (:func:`restore`): Python resets its handlers to the default action while
the interpreter shuts down, and a repeat then killed the process (exit -2 instead of 130). SIGINT ignored
when the process started (a background job of a script) stays ignored.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: typing is ~3-11 ms of the window before the handler (round 36)
    from collections.abc import Callable
    from typing import Any, NoReturn

__all__ = ["REPEAT_IGNORED_S", "StopOnce", "exit_now", "on_exit_now", "repeat_off_main", "restore",
           "stop_once", "stopped_by"]

REPEAT_IGNORED_S = 3.0
"""A repeated stop signal this soon after the first is ignored (a double Ctrl-C); a later one ends at once."""
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
KEPT_IGNORED = (signal.SIGINT, signal.SIGHUP)
"""Ignored when the process started, these stay ignored: SIGINT for a script's background job (the
terminal's Ctrl-C is not for it), SIGHUP under ``nohup`` (the terminal going away is not for it)."""


class StopOnce:
    """The SIGINT/SIGTERM handler: KeyboardInterrupt once, then ignore, then end at once."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.signum: int | None = None  # the first signal's number (what stopped the command)
        self.raised: KeyboardInterrupt | None = None  # the one raised (see :func:`_lost_stop`)

    def __call__(self, signum: int, _frame: object) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first, self.signum = now, signum
            self.raised = KeyboardInterrupt()
            raise self.raised
        if now - self.first < REPEAT_IGNORED_S:
            return  # stopping already: raising again would abort the engine's teardown
        self.end_at_once()

    def end_at_once(self) -> None:
        """The repeat's line, then :func:`exit_now` (130); once, whichever thread comes first."""
        if not _ENDING.acquire(blocking=False):
            return  # the other thread (main or flows.app.peer_wait's) is ending the process
        print(f"{_after_bar()}twin: stopped at once (signalled again while stopping): rows not yet written "
              "are lost; the archive keeps its complete files", file=sys.stderr, flush=True)
        exit_now(130)


_ENDING = threading.Lock()


def _after_bar() -> str:
    """A newline when a progress bar (tqdm's, drawn on stderr without one until it closes) is open, so
    the next line starts on its own line rather than at the end of the bar's (round 30); else ""."""
    module = sys.modules.get("tqdm")  # never imported: no bar was drawn
    if module is None:
        return ""
    try:
        bars = list(module.tqdm._instances)  # the bars not closed yet; a disabled bar is never listed
    except (AttributeError, RuntimeError):  # another thread opened or closed one meanwhile
        return ""
    return "\n" if any(not getattr(bar, "disable", True) for bar in bars) else ""


def repeat_off_main(signum: int) -> None:
    """A stop signal seen by a thread (:mod:`flows.app.peer_wait`'s, which reads every signal's number
    off the wakeup pipe): a repeat after :data:`REPEAT_IGNORED_S` ends the process at once, as
    :class:`StopOnce` would, though the main thread runs no Python. Round 29: a cluster process
    stopped once its peers had connected waits in the engine for the others to hang up, and a
    repeated SIGTERM or Ctrl-C never reached Python's handler (only ``kill -9`` ended it)."""
    handler = signal.getsignal(signum)
    if isinstance(handler, StopOnce) and handler.first is not None and (
            time.monotonic() - handler.first >= REPEAT_IGNORED_S):
        handler.end_at_once()


_DRAINS: list[Callable[[], None]] = []


def on_exit_now(drain: Callable[[], None]) -> Callable[[], None]:
    """Run ``drain`` before :func:`exit_now` ends the process (the CLI's stderr filter forwards the
    lines already printed); returns the function that takes it off again."""
    _DRAINS.append(drain)
    return lambda: _DRAINS.remove(drain) if drain in _DRAINS else None


def exit_now(code: int) -> NoReturn:
    """End the process at once (``os._exit``: no engine teardown), after the registered drains: a line
    printed just before would otherwise be lost in the stderr filter's pipe."""
    sys.stderr.flush()
    for drain in reversed(_DRAINS):
        try:
            drain()
        except Exception:  # noqa: BLE001,S110 -- ending anyway: nothing else to do with it
            pass
    os._exit(code)


_LOST_MAX = 1000
"""Re-deliveries of a swallowed stop at most (each one is a few bytecodes later than the last)."""
_lost = 0


def _lost_stop(unraisable: Any) -> None:
    """``sys.unraisablehook`` while :func:`stop_once`'s handler is installed: the KeyboardInterrupt
    that handler raised, swallowed where Python cannot raise (round 41, HOSTILE41: a Ctrl-C in
    ``twin``'s first ~30 ms landed in importlib's module-lock weakref callback, ``cb``, printed
    "Exception ignored in: <function _get_module_lock.<locals>.cb>" and its traceback, and the
    command ran on as if never stopped, a second Ctrl-C within :data:`REPEAT_IGNORED_S` ignored) is
    delivered again, the stop not yet counted: :func:`_thread.interrupt_main` from a thread a
    millisecond later (called here, the handler would run at once, inside this hook, and be swallowed
    again), so the handler runs anew at the main thread's next bytecode after that; anything else goes
    to the hook that was there."""
    global _lost
    handler = signal.getsignal(signal.SIGTERM)
    if (isinstance(handler, StopOnce) and handler.raised is not None
            and unraisable.exc_value is handler.raised and handler.signum is not None and _lost < _LOST_MAX):
        _lost += 1
        signum = handler.signum
        handler.first = handler.signum = handler.raised = None
        later = threading.Timer(0.001, _thread.interrupt_main, (signum,))
        later.daemon = True
        later.start()
        return
    (_HOOKED[0] or sys.__unraisablehook__)(unraisable)


_HOOKED: list[Callable[[Any], object] | None] = [None]  # the hook :func:`_lost_stop` replaced


def stop_once() -> dict[int, Any] | None:
    """Install one :class:`StopOnce` for SIGINT, SIGTERM and SIGHUP (kept if one is installed already;
    an ignored SIGINT or SIGHUP stays ignored); returns the handlers it replaced (to put back with
    :func:`restore`), or None off the main thread (handlers are set there only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    current = signal.getsignal(signal.SIGTERM)
    handler = current if isinstance(current, StopOnce) else StopOnce()
    if sys.unraisablehook is not _lost_stop:
        _HOOKED[0], sys.unraisablehook = sys.unraisablehook, _lost_stop
    return {s: signal.signal(s, handler) for s in SIGNALS
            if s not in KEPT_IGNORED or signal.getsignal(s) is not signal.SIG_IGN}


def stopped_by() -> str:
    """The name of the signal that stopped the command (``SIGTERM``, ``SIGINT``), as far as the installed
    :class:`StopOnce` saw it; ``a signal`` when it saw none (a KeyboardInterrupt raised otherwise)."""
    handler = signal.getsignal(signal.SIGTERM)
    if isinstance(handler, StopOnce) and handler.signum is not None:
        return signal.Signals(handler.signum).name
    return "a signal"


def restore(before: dict[int, Any] | None, *, exiting: bool) -> None:
    """After the command: the handlers :func:`stop_once` replaced, or, if a signal stopped it and the
    process is about to exit (the console script, not a caller of ``main``), both signals ignored."""
    if before is None:
        return
    stopped = exiting and any(isinstance(h, StopOnce) and h.first is not None
                              for h in map(signal.getsignal, before))
    for signum, handler in before.items():
        signal.signal(signum, signal.SIG_IGN if stopped else handler)
    if not stopped and sys.unraisablehook is _lost_stop:
        sys.unraisablehook, _HOOKED[0] = _HOOKED[0] or sys.__unraisablehook__, None

