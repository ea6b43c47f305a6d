"""What a folder of the archive holds: its regular files, and the entries left out with the reason
(a symbolic link is never followed, a FIFO or a device never opened), and what kind of entry a
``st_mode`` is, in one table (:func:`file_kind`) for every message that names one: the archive's
listing and table folders here, ``twin sql --archive`` (:mod:`flows.archive.query`) and the
telemetry readers (``flows.dataflow.sources.readers.source``). Split from :mod:`flows.archive.files`
in round 31 (LOOSE31), where a second table of kinds sat beside the readers' and the query's.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["FOLDER", "LINK", "file_kind", "folder_kind", "listing", "not_a_folder", "not_regular"]

_KINDS = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in the words every message uses: ``a regular file``, ``a folder``,
    ``a FIFO``, ``a character device`` ... (``a special file`` for a kind not known)."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def listing(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every non-hidden regular file under ``folder`` (hidden folders are skipped too), sorted, and
    the entries that are not regular files or folders, with the reason they are left out: a
    symbolic link (to a file or a folder) is never followed, so a link planted in the archive
    cannot make the views read a file outside it; a FIFO (opening it waits for a writer for ever)
    or a device is never opened. A folder named like a Parquet file (``part-0.parquet/``) is such
    an entry too, not walked into: a query would skip it in silence (round 32, LOOSE32)."""
    out: list[Path] = []
    odd: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        linked = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        odd.extend((Path(dirpath) / d, LINK) for d in linked if not d.startswith("."))
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in linked]
        named = [d for d in dirnames if d.endswith(".parquet")]  # a folder where a file should be
        odd.extend((Path(dirpath) / d, FOLDER) for d in named)
        dirnames[:] = [d for d in dirnames if d not in named]
        for f in filenames:
            if f.startswith("."):
                continue
            path = Path(dirpath) / f
            kind = not_regular(path)
            if kind is None:
                out.append(path)
            else:
                odd.append((path, kind))
    return sorted(out), sorted(odd)


LINK = "foreign file: a symbolic link (not followed)"
"""Why a symbolic link in a table folder is left out."""

FOLDER = "foreign file: not a regular file (a folder)"
"""Why a folder named ``*.parquet`` is left out (the words :func:`not_regular` gives a folder)."""


def not_regular(path: Path) -> str | None:
    """Why the entry at ``path`` is not read (None: a regular file), without following a link."""
    try:
        mode = path.lstat().st_mode
    except OSError as exc:  # gone meanwhile (a compaction's delete)
        return f"unreadable: {exc.strerror or exc}"
    if stat.S_ISLNK(mode):
        return LINK
    if stat.S_ISREG(mode):
        return None
    return f"foreign file: not a regular file ({file_kind(mode)})"


def folder_kind(path: Path) -> str | OSError | None:
    """None for a folder (links followed); else what ``path`` is (:func:`file_kind`), or the
    ``OSError`` its ``stat`` raised (``FileNotFoundError``: there is nothing)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return exc
    return None if stat.S_ISDIR(mode) else file_kind(mode)


def not_a_folder(table_dir: Path) -> str | None:
    """Why ``table_dir`` (not a link: refused before) exists but is not a folder, else None."""
    kind = folder_kind(table_dir)
    if kind is None or isinstance(kind, FileNotFoundError):
        return None  # a folder, or no such table yet: an archive without it
    if isinstance(kind, OSError):
        return f"foreign file: the table folder cannot be read ({kind.strerror or kind})"
    return f"foreign file: the table folder is {kind}, not a folder (the table's rows are missing)"
