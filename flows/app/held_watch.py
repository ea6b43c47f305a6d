"""A long-lived command's held folder watched for its name leading elsewhere (round 42, part HOLD42).

``twin run`` holds its archive (:func:`~flows.app.out_held.held_folder`) for days: a folder moved on
purpose (``mv twin-data twin-data.2026-11``, a rotation) keeps getting the run's parts, the folder it
started with, until a restart. :class:`NameWatch` says so, once per change, in one warning line: a
thread compares what the name leads to (one ``stat``) with the held folder every ``every_s`` seconds,
off the flush path. ``--recovery-dir`` is watched the same way (round 43b): removed, the run is stopped
(``on_removed``): its snapshots go into deleted files, which nothing would notice.

The watch knows no caller: each gives its own words (:data:`Wording`) and its thread's name (round 44,
TIDY44: the archive's words and thread name were this module's, the recovery folder's chosen by its flag)."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["WATCH_EVERY_S", "NameWatch", "Wording", "moved_line", "removed"]

WATCH_EVERY_S = 30.0
"""How often ``twin run`` looks at its archive's and recovery folder's names (one ``stat`` and one
``fstat`` each)."""

Wording = Callable[[str, str], str]
"""A caller's warning line, given what its folder's name leads to now (``"leads to another folder"``,
``"leads to no folder"`` or ``"leads to a file, not a folder,"``: :func:`_what_is`) and where the
held folder is now (its real path)."""


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def removed(held: str | Path) -> bool:
    """Whether the folder ``held`` (a hold's ``/proc/self/fd`` path) was removed: no name leads to it
    any more (its link count is 0), or it cannot be looked at (``twin run``'s last flush, round 42)."""
    try:
        return os.stat(held).st_nlink == 0
    except OSError:
        return True


def _what_is(name: Path) -> str:
    """What ``name`` now leads to, in the warning's words (round 44: a file was "another folder")."""
    try:
        mode = os.stat(name).st_mode
    except OSError:
        return "leads to no folder"
    if stat.S_ISDIR(mode):
        return "leads to another folder"
    kind = "a file" if stat.S_ISREG(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "something"
    return f"leads to {kind}, not a folder,"


def moved_line(name: Path, held: Path, wording: Wording) -> str | None:
    """The warning in ``wording`` when ``name`` no longer leads to the folder ``held`` (its
    ``/proc/self/fd`` path), else None."""
    mine, now = _identity(held), _identity(name)
    if mine is None or now == mine:
        return None
    if removed(held):
        return None  # the caller's own line: the archive's next flush, the recovery folder's ``on_removed``
    what = "leads to no folder" if now is None else _what_is(name)
    return wording(what, os.path.realpath(held))


class NameWatch:
    """A daemon thread named ``thread`` printing :func:`moved_line` in ``wording`` through ``say`` once
    per change of what ``name`` is; ``on_removed`` called once when the held folder is removed (None: the
    caller says it otherwise). ``every_s`` None: :data:`WATCH_EVERY_S` as it is when the watch starts."""

    def __init__(self, name: Path, held: Path, wording: Wording, say: Callable[[str], None], *, thread: str,
                 every_s: float | None = None, on_removed: Callable[[], None] | None = None) -> None:
        self._args = (name, held, wording)
        self._say, self._every = say, WATCH_EVERY_S if every_s is None else every_s
        self._on_removed = on_removed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=thread, daemon=True)
        self._said: str | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            if self._on_removed is not None and removed(self._args[1]):
                self._on_removed()
                return
            with contextlib.suppress(OSError):
                line = moved_line(*self._args)
                if line is not None and line != self._said:
                    self._say(line)
                self._said = line

    def __enter__(self) -> NameWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
