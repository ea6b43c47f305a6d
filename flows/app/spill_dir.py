"""The temporary folder of a backtest's spilled score runs (:mod:`flows.app.scores_file`), and the
removal of the ones a killed backtest left behind.

Round 40 (HOSTILE40): the runs went to a :class:`tempfile.TemporaryDirectory`, removed when the
backtest ended, but never by anyone after a ``kill -9``, an OOM kill or an abort: its runs (~3 MB per
50,000 windows) stayed in TMPDIR for good, on the disk that had perhaps just filled. Now the folder
(``twin-scores-*`` in :func:`tempfile.gettempdir`, mode 0700 as before) holds a file ``lock``
that its backtest keeps locked (``flock``) while it runs: the kernel releases the lock when the
process dies however it dies, so a folder whose lock can be taken is a dead backtest's, and the next
backtest (:func:`remove_stale`) deletes it. The lock is taken on a file of another name and then
renamed to ``lock``: a folder is never seen with an untaken ``lock``. A folder without a ``lock``
(made before round 40, or not twinflow's), a link, or another user's is never touched.

Round 41 (HOSTILE41): a folder is deleted lock last (:func:`_delete`): one whose other files could not
all be deleted (a file made immutable, a mount inside it) kept or lost its ``lock`` by the order
``rmtree`` met the names, and once lost it was never taken for stale again, yet was reported deleted.
Now it keeps its ``lock`` (the next backtest tries again) and is not reported.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["PREFIX", "SpillFolder", "remove_stale"]

PREFIX = "twin-scores-"
LOCK = "lock"


class SpillFolder:
    """A new ``twin-scores-*`` folder in TMPDIR, locked as its backtest's until :meth:`close`."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX))
        self._open = True
        taking = self.path / f".{LOCK}-{os.getpid()}"
        try:
            self._fd = os.open(taking, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                               0o600)
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # a new file: nobody else holds it
        except OSError:  # a file system without flock: no lock file, so never taken for stale (as before)
            os.close(self._fd)
            self._fd = -1
            taking.unlink(missing_ok=True)
        else:
            os.rename(taking, self.path / LOCK)

    def close(self) -> None:
        """Delete the folder (then release its lock)."""
        if self._open:
            self._open = False
            _delete(self.path)
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def remove_stale(root: str | Path | None = None) -> list[Path]:
    """Delete the spill folders in ``root`` (default: TMPDIR) of backtests no longer running (their
    ``lock`` can be taken); the ones deleted. Never raises (an unreadable TMPDIR: none)."""
    where = Path(tempfile.gettempdir() if root is None else root)
    removed = []
    try:
        names = [n for n in os.listdir(where) if n.startswith(PREFIX)]
    except OSError:
        return []
    for name in sorted(names):
        folder = where / name
        try:
            st = folder.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            fd = os.open(folder / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # gone, no lock (before round 40, or not ours), a link at the lock's name
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its backtest runs
            os.close(fd)
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.fstat(fd).st_mode) and _delete(folder):
                removed.append(folder)
        os.close(fd)
    return removed


def _delete(folder: Path) -> bool:
    """Delete what ``folder`` holds but its ``lock``, then, once nothing else is left, the ``lock`` and
    the folder; whether the folder is gone. Never raises."""
    try:
        names = os.listdir(folder)
    except OSError:
        return not os.path.lexists(folder)
    for name in names:
        if name != LOCK:
            inside = folder / name
            with contextlib.suppress(OSError):
                if inside.is_dir() and not inside.is_symlink():
                    shutil.rmtree(inside)
                else:
                    inside.unlink()
    with contextlib.suppress(OSError):
        if set(os.listdir(folder)) <= {LOCK}:
            (folder / LOCK).unlink(missing_ok=True)
            folder.rmdir()
    return not os.path.lexists(folder)
