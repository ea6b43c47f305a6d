"""The folders held open now (``/proc/self/fd/<fd>``, :func:`flows.app.out_held.held_folder`) and the
names they were given: any line naming a held path names the folder as the command was given it.

Here, below :mod:`flows.app`, so that the archive's own lines can do it too (round 43, HOSTILE43): a
compaction holds its archive, and the command its warning tells the user to paste (``twin archive check
--archive X``) was built from the hold's path, quoted (it needs none), and only then given its name
back: an archive named with a space came out as two words (:func:`given_word`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = ["as_given", "holding"]

_HELD: list[tuple[str, str]] = []
"""The holds open now, outermost first: each one's ``/proc/self/fd`` path and the folder it holds as
named (:func:`as_given`)."""


@contextlib.contextmanager
def holding(proc: str, folder: str) -> Iterator[None]:
    """``proc`` (a hold's ``/proc/self/fd`` path) named ``folder`` by :func:`as_given` while inside."""
    held = (proc, folder)
    _HELD.append(held)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            _HELD.remove(held)


def as_given(text: str | Path) -> str:
    """``text`` (a line, or a path) naming each folder held now as the command was given it where it
    names the hold's ``/proc/self/fd`` path, which means nothing to a user: the one place a line printed
    while a hold is open (the error lines, :func:`flows.cli.args.print_error`; a warning; a folder's name
    in a line built for it) and an exception leaving a hold get the name back (round 43: each command did
    it by hand with the name it was given, passed down as ``shown``). The innermost hold first: its folder
    may be named below an outer hold's path (``twin backtest``'s ``archive/`` below its held ``--out``)."""
    text = str(text)
    for proc, folder in reversed(_HELD):
        if proc in text:  # not /proc/self/fd/31 for /proc/self/fd/3
            text = folder.join(re.split(re.escape(proc) + r"(?![0-9])", text))
    return text
