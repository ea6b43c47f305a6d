"""What twinflow wrote into an output folder: ``.twinflow-outputs.json``, so ``--fresh`` can tell.

Why: ``--fresh`` deletes a named output (``report.html``, ``scores.parquet`` ...) only when it
knows twinflow wrote it. Until round 18 the only evidence was a twinflow archive beside it; a
folder whose ``archive/`` had been deleted (or moved to be kept) was refused, though every file in
it was twinflow's. The manifest lists each output a command wrote with its size and SHA-256, so
a file is recognised only while its bytes are still those twinflow wrote: a user's file of the
same name, an edited report or a link put in its place is not, and ``--fresh`` then refuses and
deletes nothing. A manifest twinflow cannot read as its own is never overwritten nor trusted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.app.out_lock import MANIFEST, held, remove_stale_temps

__all__ = ["MANIFEST", "Manifest", "record_written", "unrecognised"]

_KIND = "twinflow-outputs"
MAX_BYTES = 64 * 2**20
"""A larger manifest is not read (so not trusted nor overwritten): twinflow's own grows by ~60 bytes a
run (a million runs: 47 MB, 2.7 s and 590 MB of memory to read; round 36, HOSTILE36: one planted of a
few GB would have been read whole by every demo and backtest into the folder)."""


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _synced(path: Path) -> None:
    """``path``'s bytes on disk before the manifest (itself synced) lists them: round 41, the dead
    letters (appended as the run goes, never synced) could be shorter or empty after a power loss
    while the manifest listed their size and digest ("its content changed since twinflow wrote it":
    ``--fresh`` then refused the folder). The others are synced when written (a second fsync of a
    clean file costs little; the file's name is synced with the manifest's, in the same folder). A
    failed sync is a failed write, naming the file."""
    from flows.archive.layout import WriteFailed, failure_reason, sync_file

    try:
        sync_file(path)
    except OSError as exc:
        raise WriteFailed(exc.errno or errno.EIO, f"cannot write {path}: {failure_reason(exc)}") from exc


def _load(out: Path) -> dict[str, Any] | None:
    """The manifest (``files`` and ``runs`` empty when there is none), or None when ``MANIFEST`` is
    not a regular file of twinflow's format, or is over :data:`MAX_BYTES` (then it is left alone)."""
    path = out / MANIFEST
    if not path.exists() and not path.is_symlink():
        return {"files": {}, "runs": {}}
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: [[[[... (round 36: `twin: internal
        return None  # error`, exit 1, for every demo and backtest into that folder, --fresh too)
    if not isinstance(doc, dict) or doc.get("kind") != _KIND or not isinstance(doc.get("files"), dict):
        return None
    runs = doc.get("runs")
    return {"files": doc["files"], "runs": runs if isinstance(runs, dict) else {}}


def _save(out: Path, files: dict[str, Any], runs: dict[str, Any] | None = None) -> None:
    from flows.app.out_dir import replace_file  # out_dir imports this module

    path = out / MANIFEST
    if not files and not runs:
        path.unlink(missing_ok=True)
        return
    doc: dict[str, Any] = {"kind": _KIND, "files": dict(sorted(files.items()))}
    if runs:
        doc["runs"] = dict(sorted(runs.items()))
    text = json.dumps(doc, indent=1) + "\n"
    replace_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _update(out: Path, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> dict[str, Any] | None:
    """Read the manifest, ``change(files, runs)`` and save it, all under its lock (:func:`held`);
    the manifest as saved, or None (not written) when it is not twinflow's now."""
    with held(out):
        remove_stale_temps(out)  # a kill -9 mid-write left its temporary file
        doc = _load(out)
        if doc is None:
            return None
        change(doc["files"], doc["runs"])
        _save(out, doc["files"], doc["runs"])
        return doc


@dataclass
class Manifest:
    """An output folder's manifest, read once (``--fresh`` asks it several questions and then
    drops what it deleted). ``files`` is None when ``MANIFEST`` is not twinflow's: never trusted
    nor overwritten."""

    out: Path
    files: dict[str, Any] | None
    runs: dict[str, Any] = field(default_factory=dict)
    """Run id -> what the run was (:meth:`record_run`: a ``twin demo``'s fleet and settings)."""

    @classmethod
    def read(cls, out: str | Path) -> Manifest:
        """The manifest of ``out`` as it is now."""
        doc = _load(Path(out))
        return cls(Path(out), None) if doc is None else cls(Path(out), doc["files"], doc["runs"])

    def record_run(self, run_id: str, identity: str) -> None:
        """Note that run ``run_id`` was ``identity`` (a digest of what decides its rows) and save."""
        if self.files is None:
            return
        self._apply(lambda files, runs: runs.__setitem__(run_id, identity))

    def same_runs(self, runs: Iterable[str], identity: str) -> bool:
        """Whether every one of ``runs`` (at least one) is recorded as ``identity``."""
        runs = list(runs)
        return bool(runs) and self.files is not None and all(self.runs.get(r) == identity for r in runs)

    def record(self, paths: Iterable[str | Path]) -> None:
        """Add the files ``paths`` (in ``out``, just written by this command) and save."""
        if self.files is None:  # someone else's file of that name: never overwritten
            return
        entries = {}
        for p in map(Path, paths):
            if p.is_file() and not p.is_symlink():
                _synced(p)
                entries[p.relative_to(self.out).as_posix()] = {"size": p.stat().st_size, "sha256": _digest(p)}
        self._apply(lambda files, runs: files.update(entries))

    def unrecognised(self, paths: Iterable[str | Path]) -> tuple[Path, str] | None:
        """The first of ``paths`` the manifest does not show as twinflow's, with why; None when
        it lists every one as a regular file with the size and SHA-256 it has now."""
        files = self.files or {}
        for p in map(Path, paths):
            entry = files.get(p.relative_to(self.out).as_posix())
            if self.files is None:  # round 36: it said "does not list it", not naming the manifest
                return p, (f"{MANIFEST} is not one twinflow can read as its own (not its JSON, nested too "
                           f"deeply, over {MAX_BYTES // 2**20} MiB, or not a regular file)")
            if not isinstance(entry, dict):
                return p, f"{MANIFEST} does not list it"
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode):
                return p, "it is not the regular file twinflow wrote"
            if st.st_size != entry.get("size") or _digest(p) != entry.get("sha256"):
                return p, f"its content changed since twinflow wrote it ({MANIFEST})"
        return None

    def listed_only(self, paths: list[Path]) -> list[Path]:
        """Of ``paths``, those the manifest lists (whatever their bytes now: a run replaces them
        anyway), when it is twinflow's and has entries; else ``paths`` unchanged (an output folder
        of a twinflow before round 18, or of a ``twin demo`` before round 19, which wrote none).

        With a twinflow archive beside them, ``--fresh`` deletes the named outputs on that
        evidence; with a manifest it need not guess from the names: ``figures/holiday.png`` that a
        user put beside the report matches ``figures/*.png`` but is not listed, so it stays."""
        if not self.files:
            return paths
        return [p for p in paths if p.relative_to(self.out).as_posix() in self.files]

    def forget(self, paths: Iterable[str | Path], *, runs: bool = False) -> None:
        """Drop ``paths`` (deleted by ``--fresh``), and every run when ``runs`` (their archive files
        deleted), and save; the manifest goes with its last entry."""
        if self.files is None:
            return
        names = [p.relative_to(self.out).as_posix() for p in map(Path, paths)]
        if not names and not runs:
            return

        def drop(files: dict[str, Any], kept: dict[str, Any]) -> None:
            for name in names:
                files.pop(name, None)
            if runs:
                kept.clear()

        self._apply(drop)

    def _apply(self, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
        """``change`` the manifest as it is on disk now (another run may have written it since it
        was read: round 37, its entries were lost), save it, and hold what was saved."""
        doc = _update(self.out, change)
        if doc is None:  # replaced meanwhile by one not twinflow's: left alone
            self.files = None
        else:
            self.files, self.runs = doc["files"], doc["runs"]


def record_written(out: str | Path, paths: Iterable[str | Path]) -> None:
    """Add the files ``paths`` (in ``out``, just written by this command) to the manifest."""
    Manifest.read(out).record(paths)


def unrecognised(out: str | Path, paths: Iterable[str | Path]) -> tuple[Path, str] | None:
    """:meth:`Manifest.unrecognised` of ``out``'s manifest."""
    return Manifest.read(out).unrecognised(paths)
