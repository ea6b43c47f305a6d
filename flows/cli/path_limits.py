"""An output path too long for the OS, refused before any work (round 33, LOOSE33).

``twin demo --out`` (``twin backtest --out``, ``twin run --archive``) of ~4,000 characters was
accepted: the whole simulation ran, then the first archive write failed (``[Errno 36] File name
too long``). :func:`too_long` checks, at the start, the folder's names and the full path of the
deepest file a run writes in it (:data:`ARCHIVE_TAIL`) against the limits the file system itself
reports (``os.pathconf``: ``PC_NAME_MAX`` for one name, ``PC_PATH_MAX`` for a path, its closing
NUL included), asked of the nearest folder that exists.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from flows.codec.archive_schema import TABLES

__all__ = ["ARCHIVE_TAIL", "COMPACT_TAIL", "FIGURE_TAIL", "too_long"]

ARCHIVE_TAIL = (f"{max(TABLES, key=len)}/date=2026-01-01/"
                f".part-{'20260101T000000-0123abcd'}-w000-000000.parquet.tmp")
"""The longest path an archive writes below its folder: a table's partition, a part file's temporary
name (a run id of 24 characters, a worker number of up to three digits)."""
COMPACT_TAIL = (f"{max(TABLES, key=len)}/date=2026-01-01/"
                f".part-compact-{'20260101T000000-0123abcd'}.parquet.tmp")
"""The longest path ``twin archive compact`` writes below the archive's folder: a merged file's
temporary name (round 34: a compaction had no check; its first merged file failed to be written)."""


FIGURE_TAIL = f"figures/.{'x' * (120 + 9)}_envelope.tmp-4194304-0123abcd.png"
"""The longest path a backtest's report writes below ``--out``: a waterfall's temporary name, its asset
and channel cut to ``flows.app.report_html.STEM_BYTES`` (120) bytes with ``-`` and 8 hex digits, and a
pid of up to 7 digits (Linux's largest ``pid_max``) with the write's own 8 hex digits (round 42).
Round 39: a name was the whole asset id (up to 512
bytes of UTF-8) and no tail counted it: a long ``--out`` passed the check and failed at the report."""


def _limits(base: Path) -> tuple[int, int] | None:
    try:
        return os.pathconf(base, "PC_NAME_MAX"), os.pathconf(base, "PC_PATH_MAX")
    except (OSError, ValueError):  # a system without these (or no limit): the write will say
        return None


def _loops(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def too_long(flag: str, path: str | Path, tail: str = "", writer: str = "a run") -> str | None:
    """The one line (led by ``flag`` and ``path``) saying why ``path`` (with ``tail``, the deepest
    file ``writer`` writes below it) is too long for the file system it would be on, or None: a
    name over ``PC_NAME_MAX`` bytes, a path of ``PC_PATH_MAX`` bytes or more; or through a loop of
    symbolic links (``ELOOP``, round 34), which no write below it can pass either."""
    full = Path(os.path.abspath(path))
    base = Path(full.anchor or "/")
    for folder in (full, *full.parents):  # the nearest that exists (Path.exists raises ENAMETOOLONG)
        try:
            os.stat(folder)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # was: "[Errno 40] ... '<path>/features'", no flag named
                link = next(a for a in (*reversed(folder.parents), folder) if _loops(a))  # the first
                return (f"{flag} {path}: {link} is a loop of symbolic links (or too many of them): "
                        f"name another folder")
            continue
        base = folder
        break
    if (limits := _limits(base)) is None:
        return None
    name_max, path_max = limits
    for part in full.parts:
        if (n := len(os.fsencode(part))) > name_max:
            return (f"{flag} {path}: a name in it is {n:,} bytes, over the {name_max:,} this file system "
                    f"allows (PC_NAME_MAX): name a shorter folder")
    deepest = full / tail if tail else full
    if (n := len(os.fsencode(str(deepest)))) >= path_max:
        what = f"the files {writer} writes there would have paths of" if tail else "its path is"
        return (f"{flag} {path}: {what} {n:,} bytes, over the {path_max - 1:,} this OS allows "
                f"(PC_PATH_MAX): name a shorter folder")
    return None
