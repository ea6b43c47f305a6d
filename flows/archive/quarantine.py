"""Moving an archive's bad files aside (``twin archive check --repair``): into ``<root>/_quarantine``,
never through a link, never over a file already there. Split from :mod:`flows.archive.files` (round 40,
the 450-line limit); that module finds the bad files, this one moves them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from flows.archive.files import QUARANTINE, BadFile, LinkedTable
from flows.archive.held_folders import HeldFolders
from flows.archive.synced_renames import SyncedRenames

__all__ = ["quarantine"]


def _no_linked_folder(base: Path, folder: Path) -> None:
    """Raise LinkedTable if a folder from ``base``'s quarantine down to ``folder`` is a symbolic
    link, ValueError if one exists but is not a folder (a regular file named ``_quarantine``)."""
    for part in (folder, *folder.parents):
        if part == base:
            return
        if part.is_symlink():
            msg = (f"the archive's quarantine folder {part} is a symbolic link: not followed "
                   "(the archive's files are moved aside inside it; remove the link)")
            raise LinkedTable(msg)
        if part.exists() and not part.is_dir():
            kind = "a regular file" if part.is_file() else "not a folder"
            msg = (f"the archive's quarantine folder {part} is {kind}: --repair moves files aside into "
                   f"it; move it away or rename it (nothing was moved)")
            raise ValueError(msg)


def quarantine(root: str | Path, bad: Iterable[BadFile]) -> list[tuple[Path, Path]]:
    """Move bad files to ``<root>/_quarantine/<table>/<same relative path>``; returns the moves.

    A table "folder" that is not a folder goes to ``<root>/_quarantine/<table>/<table>``.
    Never overwrites: a name already taken in the quarantine gets a numeric suffix. A file gone
    since it was found (a compaction meanwhile) is skipped: nothing left to move aside. A folder of
    the quarantine that is a symbolic link is refused (LinkedTable), as a table folder is: the
    archive's files are never moved through it.
    """
    base = Path(root)
    moves = []
    bad = list(bad)
    targets = []
    for b in bad:
        inside = b.path.relative_to(base / b.table)
        # the table folder itself (a file where the folder should be): _quarantine/<table>/<table>
        targets.append(base / QUARANTINE / b.table / (inside if inside.parts else Path(b.table)))
        _no_linked_folder(base, targets[-1].parent)  # every folder checked before any move
    batch = SyncedRenames()  # the quarantine's new folders synced in their parents
    with (HeldFolders(base, doing=MOVING) as found, HeldFolders(base, doing=MOVING, batch=batch) as aside):
        try:
            for b, target in zip(bad, targets, strict=True):
                if (moved := _moved_aside(b.path, target, found, aside)) is not None:
                    moves.append((b.path, moved))
        finally:
            batch.pending()
    return moves


MOVING = "cannot move the archive's files aside"


def _moved_aside(path: Path, target: Path, found: HeldFolders, aside: HeldFolders) -> Path | None:
    """``path`` renamed to ``target`` (or ``target.N``, the first name free), each by name in its folder
    opened from the archive down (round 50, COMPACT50: by path, a date folder swapped for a link to an
    outside folder had that folder's file of the bad file's name moved into the archive); None when the
    file is gone since it was found."""
    try:
        src = found.folder(path.parent)
    except FileNotFoundError:  # its folder gone with it (a compaction meanwhile)
        return None
    dst = aside.folder(target.parent)
    n, final = 1, target
    while _taken(final.name, dst):
        final = target.with_name(f"{target.name}.{n}")
        n += 1
    try:
        os.replace(path.name, final.name, src_dir_fd=src, dst_dir_fd=dst)
    except FileNotFoundError:
        if _taken(path.name, src):
            raise
        return None
    return final


def _taken(name: str, dir_fd: int) -> bool:
    """Whether something (a link included) is at ``name`` in the folder open at ``dir_fd``."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
