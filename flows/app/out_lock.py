"""The output manifest's lock, and the temporary files a killed write leaves in an output folder.

Round 37 (DURABLE37): ``.twinflow-outputs.json`` was read, changed and rewritten without a lock, so
two runs finishing at once into one ``--out`` could lose one's entries (each rewrote what it had
read). Every change now re-reads it under an ``flock`` on ``.twinflow-outputs.lock`` beside it. The
lock file is removed by its holder once the manifest is written (a waiter that then holds a removed
file's lock sees it is not the one at that name and takes the new one), so a folder keeps no lock
file; one left by a kill -9 is taken and removed by the next write.

A kill -9 during :func:`~flows.app.out_dir.replace_file` leaves its temporary file
(``.<name>.tmp-<pid>-<8 hex><suffix>``): the next manifest write removes the manifest's own such files, and
the next run into the folder those of its outputs (round 40; before, ``--fresh`` only: a backtest
killed while it wrote scores.parquet left a copy as large, kept by every later run), each only when
no process ``<pid>`` is alive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import os
import re
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from flows.app.out_held import where_now
from flows.archive.files import printable
from flows.archive.listing import file_kind

__all__ = ["LOCK", "LOCK_WAIT_S", "MANIFEST", "check_lock", "held", "remove_stale_temps"]

LOCK = ".twinflow-outputs.lock"
LOCK_WAIT_S = 10.0
"""How long a run waits for another's manifest write (milliseconds, for twinflow's own manifests)."""
MANIFEST = ".twinflow-outputs.json"
"""The manifest's name in ``--out`` (hidden: it is bookkeeping, not an output; here, not in
:mod:`flows.app.out_manifest`, which imports this module: one literal for both)."""
_TEMP = re.compile(r"^\.(?P<stem>.+)\.tmp-(?P<pid>\d{1,10})(?:-[0-9a-f]{8})?(?P<suffix>\.[^.]*)?$")
"""``replace_file``'s temporary name: ``.<stem>.tmp-<pid>-<8 hex><suffix>`` (round 42; before,
``.<stem>.tmp-<pid><suffix>``, which a stopped older run may have left: both are swept)."""


_WARNED: set[tuple[Path, str | None]] = set()
"""The locks (and reasons) this process has warned of: each once."""


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # a stderr that is gone: the write goes on
        print(line, file=sys.stderr)


def _open(path: Path) -> int:
    """The lock file's descriptor, created if missing; never through a link, never a FIFO's wait."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        msg = "not a regular file"  # (the warning names the path once: round 39, it said it twice)
        raise OSError(msg)
    return fd


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` is still the file ``fd`` holds (its holder removes it when done)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _take(path: Path, wait_s: float) -> int | None:
    """The descriptor holding ``path``'s lock, or None after ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
            continue
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)  # removed by the holder before us: take the file at that name now


def check_lock(out: Path) -> None:
    """Refuse (ValueError, one line naming it) an ``out`` whose lock name holds something that is not a
    regular file: a symbolic link, a folder, a FIFO ... (checked before a command runs, round 39).

    Until round 39 every run into that folder printed the "lock ... was not taken" warning at its end
    and wrote the manifest without the lock. Twinflow makes no links and never follows nor deletes
    one (``--fresh`` refuses them too), nor deletes what it did not make; a regular file there is a
    killed write's leftover, taken and removed by the next write. So the user is told once, before
    anything is computed, what to remove."""
    path = out / LOCK
    try:
        st = os.lstat(path)
    except OSError:  # none (the usual case), or out is no folder yet
        return
    if stat.S_ISREG(st.st_mode):
        return
    what = file_kind(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            what += f" (to {printable(os.readlink(path))})"
    msg = (f"{printable(str(path))} is {what}, not the lock file twinflow makes there for its output "
           "manifest (it never follows, writes or deletes one): remove it, or choose another --out "
           "(nothing was written)")
    raise ValueError(msg)


_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)
"""Why a lock file could not be made that keeps the manifest from being written as well."""


@contextlib.contextmanager
def held(out: Path, wait_s: float | None = None) -> Iterator[None]:
    """Within the block this process alone changes ``out``'s manifest (among twinflows of round 37
    on). Not taken within ``wait_s`` (:data:`LOCK_WAIT_S`), or not at all (a file system without
    ``flock``, a link or folder planted at its name): one warning, and the manifest is written
    anyway; the run's outputs are whole either way, only the manifest may miss an entry."""
    path = out / LOCK
    wait = LOCK_WAIT_S if wait_s is None else wait_s
    try:
        fd = _take(path, wait)
        why = None if fd is not None else f"another process held it for {wait:g} s"
    except OSError as exc:
        fd, why = None, exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError) and not out.is_dir():  # no folder yet: no manifest in it
            yield
            return
        if exc.errno in _UNWRITABLE:  # round 41 (HOSTILE41): the folder cannot be written (made
            yield  # read-only mid-run): nor can the manifest; its write says so, or the command's
            return  # error does ("updated without it" was a second line, and not true)
    if fd is None:
        if (path, why) not in _WARNED:  # round 39: said at each of a command's 3-4 manifest writes
            _WARNED.add((path, why))
            _say(f"twin: warning: the output manifest's lock {printable(where_now(path))} was not taken "
                 f"({printable(str(why))}); the manifest "
                 "was updated without it: a run finishing at the same moment into this folder may be "
                 "missing from it (--fresh then refuses that run's files instead of deleting them)")
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # still ours (checked when taken): no lock file stays in the folder
        os.close(fd)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # over a pid_t (round 39: `.x.tmp-9999999999.png` made
        return False  # every manifest write, so every demo and backtest into the folder, an internal error)
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_temps(out: Path, outputs: Sequence[str] = ()) -> list[Path]:
    """Remove the temporary files of the manifest's and ``outputs``' (glob patterns relative to
    ``out``) writes whose process is gone (a kill -9 mid-write); the ones removed."""
    patterns = [MANIFEST, *outputs]
    removed = []
    for folder in sorted({os.path.dirname(p) for p in patterns}):
        where = out / folder if folder else out
        try:
            # a link below it is never listed; ``out`` itself is the user's (a demo's may be a link,
            # and a held one is named by its /proc link, round 41)
            names = os.listdir(where) if not (folder and where.is_symlink()) else []
        except OSError:
            continue
        for name in names:
            if (m := _TEMP.match(name)) is None or _alive(int(m["pid"])):
                continue
            final = os.path.join(folder, m["stem"] + (m["suffix"] or ""))
            if any(fnmatch.fnmatchcase(final, p) for p in patterns if os.path.dirname(p) == folder):
                with contextlib.suppress(OSError):
                    (where / name).unlink()
                    removed.append(where / name)
    return removed
