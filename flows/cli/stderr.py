"""Keep the engine's Rust panic text off the terminal; find the Python error behind an engine error.

When a dataflow step or connector raises, Bytewax (Rust) prints ``thread '...' panicked at
src/...`` (with a stack backtrace when ``RUST_BACKTRACE`` is set) straight to file descriptor 2,
then raises a chain of ``BytewaxRuntimeError`` whose innermost cause is the Python error. The CLI
reports that cause in one line; :func:`engine_panics_hidden` routes fd 2 through a filter that
passes everything (progress bars, warnings) except those panic blocks. ``TWIN_DEBUG=1`` shows all.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["STDERR_LOST", "PanicFilter", "QuietStderr", "engine_cause", "engine_panics_hidden", "lost_reset",
           "lost_status", "stderr_on_terminal"]

_PANIC_START = re.compile(r"^thread '.*' panicked at ")
_PANIC_IN_LINE = re.compile(r"thread '[^']*' panicked at ")
"""A panic that starts inside a line: after a progress bar, drawn without a newline (round 32)."""


class PanicFilter:
    """Line filter dropping Rust panic blocks: from ``thread '..' panicked at`` to the ``note:``
    line that ends every panic message (the backtrace, if any, lies between), and the empty lines
    right after it (a step's error printed an empty line before the command's one error line)."""

    def __init__(self) -> None:
        self.in_panic = False
        self.after_panic = False  # blank lines right after a panic block belong to it
        self.partial = ""
        self.mid_line = False  # the text shown last ended inside a line (print's "\n" comes apart)

    def feed(self, text: str) -> str:
        """What of ``text`` to show; an unfinished last line is held only while it might start a panic."""
        text, self.partial = self.partial + text, ""
        out = []
        lines = text.split("\n")
        for line in lines[:-1]:
            if not self.in_panic and (m := _PANIC_IN_LINE.search(line)) and (m.start() or self.mid_line):
                # round 32: a step failing while a bar was drawn: the panic ran on from the bar's
                # text, unrecognised, and its lines showed; the bar's line is ended, the panic dropped
                out.append(line[:m.start()] + "\n")
                line, self.mid_line = line[m.start():], False
            if self.mid_line:  # the end of a line shown in part: no blank line (round 28: a `twin run`
                out.append(line + "\n")  # error's newline, written apart, was dropped as one)
                self.mid_line = False
                continue
            out.append(self._line(line + "\n"))
        last = lines[-1]
        cut = -1 if self.in_panic else last.find("thread '")
        if self.in_panic or "thread '".startswith(last[:8]) and "\r" not in last:
            self.partial = last  # might be the start of a panic line: wait for its end
        elif cut > 0:  # a bar's text, then what may start a panic: the text shown, the rest held
            out.append(last[:cut])
            self.partial, self.mid_line, self.after_panic = last[cut:], True, False
        else:
            out.append(last)
            if last:
                self.mid_line, self.after_panic = True, False
        return "".join(out)

    def _line(self, line: str) -> str:
        if not self.in_panic and _PANIC_START.match(line):
            self.in_panic = True
        if self.in_panic:
            if line.startswith("note: "):
                self.in_panic, self.after_panic = False, True
            return ""
        if self.after_panic and not line.strip():  # the engine's empty line after a panic (round 26)
            return ""
        self.after_panic = False
        return line

    def flush(self) -> str:
        """The held partial line (at the end of the output)."""
        rest, self.partial = ("" if self.in_panic else self.partial), ""
        return rest


_GONE = (errno.EIO, errno.EPIPE)
"""A write error that means the reader is gone (a hung-up terminal, a closed pipe)."""
STDERR_LOST = 74
"""The exit status of a command that did its work but whose stderr lines could not all be written for
a reason other than a gone reader (a full disk under ``2> file``): sysexits' EX_IOERR."""
_lost: list[str] = []
"""Why a stderr write failed, not for a gone reader (the first reason; the pump thread adds too)."""


def _note_lost(exc: OSError) -> None:
    if exc.errno not in _GONE and not _lost:
        _lost.append(os.strerror(exc.errno) if exc.errno else str(exc))


def lost_status(status: int) -> int:
    """``status``, or :data:`STDERR_LOST` for a command that succeeded (0) while some of its stderr
    lines (warnings, notes) were lost to a write error other than a gone reader.

    Round 37 (DURABLE37): with ``2>/dev/full`` a demo's warnings vanished and it exited 0 (the stderr
    filter's pump dropped every failed write), or, under ``TWIN_DEBUG=1`` (no pump), its first warning
    raised ENOSPC and stopped it before it ran (exit 1, nothing written). Now the run goes on and keeps
    its outputs, and its exit status says that what it had to say was lost; a failing command keeps its
    own status. Stdout is not written to: it may be a result a program reads (``--json``, ``--format``)."""
    return STDERR_LOST if status == 0 and _lost else status


def lost_reset() -> None:
    """Forget earlier losses (a command's own start: tests run several in one process)."""
    _lost.clear()


class QuietStderr:
    """``sys.stderr`` whose failed writes are dropped: round 35, a `twin run` stopped by SIGHUP when its
    ssh session dropped raised OSError from the line saying it stopped (exit 1, a traceback to nowhere).
    A reader gone (a terminal hung up: EIO; a pipe's reader: EPIPE) is silence; any other error (a full
    disk under ``2> file``) is silence too, from then on, but noted: :func:`lost_status`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._gone(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError as exc:
                self._gone(exc)

    def _gone(self, exc: OSError) -> None:
        """From now on, silence: the descriptor pointed at /dev/null too, so that what is still in the
        stream's buffer (flushed at the interpreter's exit) and the engine's own writes do not fail.
        A reason other than a gone reader is noted for the exit status (:func:`lost_status`)."""
        _note_lost(exc)
        self.gone = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError):  # no descriptor (a test's capture): dropping is enough
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _pump(read_fd: int, write_fd: int) -> None:
    flt = PanicFilter()
    gone = False  # the real stderr cannot be written (a hung-up terminal): read on, show nothing
    while chunk := os.read(read_fd, 65536):
        shown = flt.feed(chunk.decode("utf-8", "replace"))
        gone = gone or not _shown(write_fd, shown)
    if (rest := flt.flush()) and not gone:
        _shown(write_fd, rest)
    os.close(read_fd)


def _shown(fd: int, text: str) -> bool:
    """``text`` written to ``fd``; False if it cannot be (round 35: the pump thread died of EIO after a
    SIGHUP, and the pipe, unread, would have blocked every later write to descriptor 2 once full). A
    reason other than a gone reader is noted (:func:`lost_status`; round 37: it was dropped unsaid)."""
    data = memoryview(text.encode())
    try:
        while data:  # a write cut short (a disk filling up) is finished or fails
            data = data[os.write(fd, data):]
    except OSError as exc:
        _note_lost(exc)
        return False
    return True


_PIPED_FROM_TERMINAL: list[bool] = []  # per engine_panics_hidden block: was fd 2 a terminal


def stderr_on_terminal() -> bool:
    """Whether the process's stderr is a terminal, also inside :func:`engine_panics_hidden`, whose
    pipe stands in for it (``twin run``'s start line is for a terminal only)."""
    if _PIPED_FROM_TERMINAL:
        return _PIPED_FROM_TERMINAL[-1]
    try:
        return os.isatty(2)
    except OSError:
        return False


@contextmanager
def engine_panics_hidden(enabled: bool = True) -> Iterator[None]:
    """Within the block, fd 2 goes through :class:`PanicFilter` to the real stderr."""
    if not enabled:
        yield
        return
    import sys

    sys.stderr.flush()
    on_terminal = stderr_on_terminal()
    saved = os.dup(2)
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        os.close(saved)
        raise
    _PIPED_FROM_TERMINAL.append(on_terminal)  # pushed once nothing can fail before the finally below
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, saved), daemon=True, name="twin-stderr")
    pump.start()

    def drain() -> None:  # the process ends at once (exit_now): forward what was printed first
        os.close(2)  # the pipe's last write end: the pump sees EOF
        pump.join(timeout=5.0)

    from flows.app.stop_signals import on_exit_now

    off = on_exit_now(drain)
    try:
        yield
    finally:
        off()
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        pump.join(timeout=5.0)
        os.close(saved)
        _PIPED_FROM_TERMINAL.pop()


def engine_cause(exc: BaseException) -> BaseException:
    """The innermost cause of a Bytewax engine error (the step's own exception); else ``exc``.

    A context the step's code suppressed (``raise ... from None``) is not followed: that exception
    is the one it meant (round 49: a waveform file's damaged page, read within the engine, was told
    by Arrow's text under the reader's ``FileFormatError`` naming the file)."""
    if not type(exc).__module__.startswith("bytewax"):
        return exc
    seen = exc
    while (nxt := seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)) is not None:
        seen = nxt
    return seen
