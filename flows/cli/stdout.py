"""Standard output for a command's result, whose failure is one line naming it (round 28, part
HOSTILE28): ``twin whatif ... > FILE`` (and ``explain``, ``commands list``, ``archive check``...)
on a full disk said ``twin: error: [Errno 28] No space left on device`` alone, and ``twin whatif
... | head -c 10`` ``[Errno 32] Broken pipe``, exit 2. ``main`` writes every command's stdout
through :class:`NamedStdout` and flushes it after the command (``twin sql`` has its own)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["NamedStdout", "StdoutFailed", "named_stdout"]


class StdoutFailed(OSError):
    """Standard output cannot be written (a full disk): ``str()`` is the one line naming it,
    ``strerror`` the system's words."""

    def __str__(self) -> str:
        return f"cannot write the result to standard output: {self.strerror}"


@contextmanager
def named_stdout() -> Iterator[None]:
    """Within the block, ``sys.stdout`` is a :class:`NamedStdout`, flushed at the end; a reader that
    stopped reading ends the block quietly (the caller goes on after it: exit 0)."""
    real = sys.stdout
    if real is None:
        yield
        return
    sys.stdout = NamedStdout(real)
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:  # `twin ... | head`: the reader has what it wanted
        pass
    finally:
        sys.stdout = real


class NamedStdout:
    """``stream`` (the command's stdout) whose failed writes raise :class:`StdoutFailed`; a reader
    that stopped reading (``| head``) raises ``BrokenPipeError`` as before (``main``: exit 0).
    Either way stdout is then pointed at /dev/null, so the interpreter's exit does not fail again."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        """The stream itself (``twin sql`` streams millions of rows with its own failure lines)."""
        return self._stream

    def _failed(self, exc: OSError) -> BaseException:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError):  # no file descriptor (a test's capture): nothing to point away
            pass
        if isinstance(exc, BrokenPipeError | StdoutFailed):
            return exc
        return StdoutFailed(exc.errno, exc.strerror or str(exc))

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
