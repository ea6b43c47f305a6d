"""Which archive files a compacted file supersedes, checked before they are left out or deleted.

A compacted file names, in its Parquet metadata (:data:`SUPERSEDES`), the files it merged; the
readers leave those out and the next ``twin archive compact`` deletes them (a compaction stopped
between its rename and its deletes). The claim is anyone's text in a file planted in a table
folder, so it is honoured only when it can be what ``twin archive compact`` wrote:

- the claiming file fits the table (a foreign or unreadable file's claim is ignored);
- the claim is a JSON list of file names of the claiming file's own date folder (``compact_date``
  merges one date folder), never itself;
- the claiming file holds every row of the named files still present, counted per write
  (``run_id``, ``_write_seq``: read only when a named file is still there, which after a finished
  compaction none is).

A claim breaking one of these makes the claiming file a bad file (left out, listed by ``twin
archive check``, moved aside by ``--repair``) and the files it names stay as they are. Before
round 24 a planted file naming the good files hid their rows from every query and made the next
compaction delete them; a claim that was not a list stopped every reader with a traceback.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["SUPERSEDES", "supersedes"]

SUPERSEDES = b"twin.compacted_from"
"""Key of a compacted file's Parquet metadata: JSON list of the files (relative to the table
folder) whose rows it holds; the readers skip those files (they are left behind when a
compaction stopped between its rename and its deletes), so no row is ever read twice."""

_NOT_A_LIST = ("foreign file: its compaction metadata (twin.compacted_from) is not a list of the "
               "files of its date folder")


def _writes(path: Path) -> Counter[tuple[object, object]] | None:
    """How many rows of each write (``run_id``, ``_write_seq``) the file holds; None when it cannot
    tell (gone or unreadable meanwhile, or no such columns: nothing is then superseded)."""
    try:
        data = pq.read_table(path, columns=["run_id", "_write_seq"])
    except (OSError, pa.ArrowException, ValueError, KeyError):
        return None
    return Counter(zip(data.column("run_id").to_pylist(), data.column("_write_seq").to_pylist(), strict=True))


def _named(table_dir: Path, path: Path, meta: bytes) -> list[Path] | None:
    """The files a claim names (None: not a list of files of the claimer's date folder)."""
    try:
        names = json.loads(meta)
    except (ValueError, RecursionError):
        return None
    own = path.relative_to(table_dir)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    out = []
    for name in names:
        rel = PurePosixPath(name)
        if (rel.is_absolute() or ".." in rel.parts or len(rel.parts) not in (2, 3)
                or rel.parts[0] != own.parts[0] or Path(rel) == own):
            return None
        out.append(table_dir / rel)
    return out


def supersedes(table_dir: Path, paths: Sequence[Path], schemas: Sequence[pa.Schema | str],
               fits: Callable[[int], bool]) -> tuple[set[Path], dict[Path, str]]:
    """The listed files that compacted files supersede, and the claiming files refused (with why).

    ``paths[i]`` has footer schema ``schemas[i]`` (a str: unreadable); ``fits(i)`` says whether
    file ``i``'s schema suits the table."""
    readable = {p for p, s in zip(paths, schemas, strict=True) if not isinstance(s, str)}
    merged: set[Path] = set()
    refused: dict[Path, str] = {}
    for i, (path, schema) in enumerate(zip(paths, schemas, strict=True)):
        meta = None if isinstance(schema, str) else schema.metadata
        if not meta or SUPERSEDES not in meta or not fits(i):
            continue
        named = _named(table_dir, path, meta[SUPERSEDES])
        if named is None:
            refused[path] = _NOT_A_LIST
            continue
        present = [p for p in named if p in readable]
        if not present:
            continue
        own, named_rows = _writes(path), Counter[tuple[object, object]]()
        for p in present:
            if (rows := _writes(p)) is None:
                break
            named_rows.update(rows)
        else:
            if own is None or (missing := (named_rows - own).total()):
                lacks = "no run_id/_write_seq columns" if own is None else f"{missing} of their rows"
                refused[path] = (f"foreign file: names {len(present)} files as merged into it but lacks "
                                 f"{lacks} (not written by twin archive compact)")
            else:
                merged.update(present)
    return merged, refused
