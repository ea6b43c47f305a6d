"""A folder below ``--out`` held open while a command writes its files: never a link put at its name
meanwhile.

Round 40 (HOSTILE40): ``figures/`` is refused as a link before a backtest and again before its
report (:func:`~flows.app.out_dir.refuse_linked_folders`, round 39), but then each plot was written
by path: ``figures/`` swapped for a link while the report drew (10,000 assets: minutes) had the
remaining plots written, and files of those names replaced, in the folder it pointed to, outside
``--out``. Now the folder is opened once, without following a link (``O_NOFOLLOW``: the check and
the open are one step), and the plots are written through ``/proc/self/fd/<fd>``, a name of that
very folder whatever is put at ``figures`` later (without ``/proc``: by path, as before).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from flows.archive.layout import WriteFailed

__all__ = ["held_folder"]


@contextlib.contextmanager
def held_folder(folder: Path, refuse: Callable[[], None]) -> Iterator[Path]:
    """``folder`` (made if missing) held open: yields the path to write its files by. ``refuse``
    raises the command's one-line error for a link or non-folder at its name (called when the
    open finds one). A :class:`WriteFailed` raised within names ``folder``, not the ``/proc`` path."""
    refuse()
    folder.mkdir(exist_ok=True)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # ELOOP, ENOTDIR: put there since the check
        refuse()
        raise
    try:
        proc = Path(f"/proc/self/fd/{fd}")
        if not proc.is_dir():
            yield folder
            return
        try:
            yield proc
        except WriteFailed as exc:
            shown = str(exc).replace(f"{proc}/", f"{folder}/")
            raise WriteFailed(exc.errno or 0, shown) from exc
    finally:
        os.close(fd)
