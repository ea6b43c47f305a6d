"""The ``flock`` a single-process ``twin run`` holds on its recovery folder itself (round 44), beside
the lock file of :func:`flows.dataflow.recovery_store.lock_store` (split from that module at its
450-line bound, round 45): renamed mid-run, the folder stays locked under its new name. A refusal
names the holder from ``/proc/locks`` (round 45: a ``twin archive check`` or ``compact`` of an
archive in the folder was called "a `twin run` started with it")."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from flows.dataflow.recovery_store import RecoveryStoreError, named

__all__ = ["lock_folder"]

_FOLDER_LOCKS: list[int] = []


def lock_folder(store: Path) -> None:
    """``flock`` the folder itself, or refuse in one line (round 44: a folder renamed mid-run was locked
    again by a second run given the new name, its lock file being beside the name: two on one store)."""
    with contextlib.suppress(OSError):
        fd = os.open(store, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecoveryStoreError(_in_use(store, fd)) from None
        except OSError:  # no flock here: the lock file alone
            os.close(fd)
            return
        _FOLDER_LOCKS.append(fd)  # held for the life of the process


def _in_use(store: Path, fd: int) -> str:
    """The line refusing ``store`` (open as ``fd``) whose ``flock`` another process holds, naming it
    when ``/proc/locks`` tells (round 45: a `twin archive check` or `compact` of an archive in the
    folder was said to be "a `twin run` started with it", and no process was named)."""
    from flows.archive.compact import lock_holders, shown_command

    try:
        holders = lock_holders(fd, "WRITE") + lock_holders(fd, "READ")
    finally:
        os.close(fd)
    pid, argv = holders[0] if holders else (0, [])
    if not any(a == "archive" and b in ("check", "compact") for a, b in zip(argv, argv[1:], strict=False)):
        who = f"process {pid} ({shown_command(argv)})" if holders else "another process"
        return (f"--recovery-dir {named(store)} is in use by {who} (it holds the folder locked: a `twin run` "
                "started with it, perhaps under another name before a rename): one `twin run` per recovery "
                "folder")
    return (f"--recovery-dir {named(store)} is in use by process {pid} ({shown_command(argv)}), which holds "
            "the folder locked (an flock): start the run once that process has ended")
