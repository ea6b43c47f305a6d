"""Where an output folder must never be (round 42: from :mod:`flows.cli.out_folders`, so that the
commands holding their folder, :mod:`flows.app.demo`, :mod:`flows.app.backtest` and ``twin run``, check
the folder they hold, not only its name before: :func:`held_place`)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SYSTEM_DIRS", "archive_table_around", "held_place", "refused_place"]


SYSTEM_DIRS = ("/etc", "/usr", "/bin", "/sbin", "/var", "/boot", "/proc", "/sys", "/dev")
"""Folders of the operating system refused as an output folder (so are ``/lib*`` and ``/``): a
command writes its tables there and ``--fresh`` deletes in it. Their subfolders are fine
(``/var/lib/twinflow``), except under the kernel's own ``/proc`` and ``/sys``."""
_PSEUDO_DIRS = ("/proc", "/sys")


def _top_names() -> list[str]:
    try:
        return os.listdir("/")
    except OSError:
        return []


def refused_place(path: str | Path) -> str | None:
    """What ``path`` is, if it must never be an output folder: the file system's root, the home
    folder or a system folder (:data:`SYSTEM_DIRS`), after ``..`` and symbolic links are
    resolved; None for any other folder."""
    where = Path(os.path.realpath(path))
    if where == Path(where.anchor):
        return "the file system's root"
    homes = {Path(os.path.realpath(h)) for h in (os.environ.get("HOME", ""), Path.home()) if str(h)}
    if where in homes:
        return "the home folder"
    libs = [f"/{n}" for n in _top_names() if n.startswith("lib")]  # /lib, /lib64 ... (often links)
    named = (*SYSTEM_DIRS, *libs)
    system = {Path(d) for d in named} | {Path(os.path.realpath(d)) for d in named}
    top_lib = where.parent == Path(where.anchor) and where.name.startswith("lib")
    if where in system or top_lib or any(where.is_relative_to(d) for d in _PSEUDO_DIRS):
        return "a system folder"
    return None


def archive_table_around(path: str | Path) -> Path | None:
    """The archive table folder ``path`` is in or is (links and ``..`` resolved), or None: a folder
    named as a table (``features``, ``alerts`` ...; in ``_quarantine/`` too) that holds a ``date=``
    partition folder, or any folder below such a partition. Before round 23 ``twin backtest
    --out ARCHIVE/features`` wrote its scores, alerts and dead letters among the archive's files."""
    from flows.archive.files import TABLES

    where = Path(os.path.realpath(path))
    for folder in (where, *where.parents):
        if folder.name.startswith("date=") and folder.parent.name in TABLES:
            return folder.parent
        if folder.name in TABLES and folder.is_dir() and any(folder.glob("date=*")):
            return folder
    return None


def held_place(flag: str, path: str | Path, held: str | Path) -> None:
    """:func:`writable_dir`'s checks of where the folder is, again on the folder ``held`` (the
    :func:`~flows.app.out_held.held_folder` of ``path``, by its real path now): they looked at ``path``
    by name, and a link put there between them and the hold (followed: ``--out`` and ``--archive``
    may be links) had the command write and ``--fresh`` delete in a system folder or among an
    archive table's files (round 42, HOLD42). A ValueError (one line) naming ``path`` and where it
    now leads."""
    where = os.path.realpath(held)
    if (what := refused_place(where)) is not None:
        msg = (f"{flag} {path}: now leads to {what} ({where}), not written there: replaced since it was "
               "checked; name a folder of its own")
        raise ValueError(msg)
    if (table := archive_table_around(where)) is not None:
        msg = (f"{flag} {path}: now leads inside the archive table folder {table}, not written there: "
               "replaced since it was checked; name a folder outside it")
        raise ValueError(msg)
