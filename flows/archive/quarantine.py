"""Moving an archive's bad files aside (``twin archive check --repair``): into ``<root>/_quarantine``,
never through a link, never over a file already there. Split from :mod:`flows.archive.files` (round 40,
the 450-line limit); that module finds the bad files, this one moves them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from flows.archive.files import QUARANTINE, BadFile, LinkedTable

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
    for b, target in zip(bad, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        n, final = 1, target
        while final.exists():
            final = target.with_name(f"{target.name}.{n}")
            n += 1
        try:
            os.replace(b.path, final)
        except FileNotFoundError:
            if os.path.lexists(b.path):
                raise
            continue
        moves.append((b.path, final))
    return moves
