"""An output folder that may hold earlier runs: warn that runs will be mixed, or empty it (``--fresh``).

``twin demo`` and ``twin backtest`` append to the archive in ``--out``. The views deduplicate
rows of the same key, but a different run (another seed, other files) adds its own keys: queries
then mix runs. Before a run starts, :func:`prepare_out` counts the earlier runs (from archive file
names, no reads) and warns, or with ``fresh`` deletes what twinflow wrote there before: archive
files, and the named outputs. It never deletes a file it did not write: if a table folder holds
anything else (a symbolic link too, round 33: never followed, never deleted), it refuses and deletes
nothing, and so it does for a symbolic link among the named outputs or on their way (a ``figures``
folder that is a link: round 34, it was deleted, or gone through); the named outputs
(``report.html``, ``demo.png`` ...) go only when a twinflow archive (its ``part-*.parquet`` files)
sits beside them, or when the folder's manifest
(:mod:`flows.app.out_manifest`) lists each of them with the bytes it has now; else it refuses and
deletes nothing (``--out ~/Pictures --fresh`` keeps ``~/Pictures/demo.png``). Beside an archive, a
manifest narrows them to the files it lists (a user's ``figures/holiday.png`` stays).
``_quarantine/`` and unknown files stay.

A run that fails leaves a folder a careful user can trust: one the command created and that
holds no file yet (an input refused before the run) is removed (:func:`missing_top`,
:func:`remove_if_empty`); a run stopped mid-way keeps complete files only and says which are this
run's and which outputs it did not write (:func:`kept_outputs`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.app.out_held import as_given
from flows.app.out_lock import check_lock, remove_stale_temps
from flows.app.out_manifest import Manifest
from flows.archive.files import COMPACTED_NAME, TABLES, linked_table, printable
from flows.archive.layout import replace_synced
from flows.archive.listing import file_kind
from flows.archive.short_paths import short_word
from twin_models.text import and_more, counted

if TYPE_CHECKING:
    from flows.app.archive_runs import NamedFiles

__all__ = ["RunOutputs", "earlier_runs", "kept_on_stop", "kept_outputs", "missing_top", "mixing_line",
           "prepare_out", "remove_if_empty", "replace_file"]

_PART = re.compile(r"^\.?part-(?P<run>.+)-w\d+-\d{6}\.parquet(\.tmp)?$")


@dataclass(frozen=True)
class _Walked:
    """What one walk of the archive's table folders found: its ``files`` (what ``is_file()`` says,
    a link to a file included), its symbolic ``links`` (never followed) and its ``odd`` entries,
    each sorted."""

    files: list[Path]
    links: list[Path]
    odd: list[Path]
    """Neither folder, file nor link: a FIFO, socket or device (refused by ``--fresh``)."""
    folders: list[str] = field(default_factory=list)
    """Every folder listed (the table folders and those below, never a link), deepest first:
    ``--fresh`` removes those its deletions left empty (round 36: it walked them again for that)."""


def _walk_tables(archive: Path) -> _Walked:
    """One walk of the archive's table folders (round 34: ``--fresh`` walked them twice, once for
    the files, once for the links); a table folder that is a symbolic link is refused
    (:func:`flows.archive.files.linked_table`): ``--fresh`` would delete what it points to."""
    for t in TABLES:
        if (linked := linked_table(archive / t)) is not None:
            raise linked
    files, links, odd, listed = [], [], [], []
    folders = [str(archive / t) for t in TABLES]
    while folders:
        try:
            with os.scandir(folder := folders.pop()) as entries:
                found = list(entries)
        except OSError:  # missing, not a folder, unreadable: nothing listed (as rglob did)
            continue
        listed.append(folder)
        for e in found:  # the types from the listing: a stat only for a link
            if e.is_symlink():
                links.append(Path(e.path))
            elif e.is_dir():  # links to folders are listed, not entered
                folders.append(e.path)
            elif not e.is_file():  # a FIFO, socket or device (the listing's type: never opened)
                odd.append(Path(e.path))
            if e.is_file():  # follows a link: a link to a file is among the files too
                files.append(Path(e.path))
    deepest_first = sorted(listed, key=lambda f: -f.count(os.sep))
    # Path's own order, by its parts: sooner than Path.__lt__ (this walk of 5,040 files: ~105 -> ~83 ms)
    return _Walked(sorted(files, key=_parts), sorted(links, key=_parts), sorted(odd, key=_parts),
                   deepest_first)


def _parts(p: Path) -> tuple[str, ...]:
    return p.parts


def _table_files(archive: Path) -> list[Path]:
    """The files of the archive's tables (:func:`_walk_tables`)."""
    return _walk_tables(archive).files


def earlier_runs(archive: str | Path) -> set[str]:
    """Run ids of the archive files under ``archive``: from their names, and from the ``run_id``
    column of the files ``twin archive compact`` wrote (named by none of their runs), and a stopped
    run's parts that never completed (hidden ``.tmp`` files: outputs, though they hold no rows)."""
    return _runs_of(_table_files(Path(archive)))


def _runs_of(files: Sequence[Path] | NamedFiles) -> set[str]:
    """:func:`earlier_runs` of the archive's table ``files`` (:func:`_table_files`), or of their
    :func:`~flows.app.archive_runs.files_by_name`."""
    from flows.app.archive_runs import NamedFiles, files_by_name

    named = files if isinstance(files, NamedFiles) else files_by_name(files, _PART)
    return named.runs() | named.unfinished_runs


def mixing_line(where: str, archive: str | Path, remedy: str, named: NamedFiles | None = None) -> str | None:
    """The warning that ``archive`` holds earlier runs' rows (which, for how many assets and dates)
    and that results will be mixed, ending with ``remedy`` (:mod:`flows.app.archive_runs`); None
    when it holds none. ``named``: the archive's table files by name, when the caller listed and
    classified them already (its compacted files' runs, once read, are not read again)."""
    from flows.app.archive_runs import earlier_rows, mixing_warning

    files = _table_files(Path(archive)) if named is None else named
    return mixing_warning(where, earlier_rows(archive, files, _PART), remedy)


def _named_outputs(out: Path, outputs: Sequence[str]) -> list[Path]:
    """The files (or links) in ``out`` that ``outputs`` (glob patterns) name."""
    return [t for pattern in outputs for t in sorted(out.glob(pattern)) if t.is_file() or t.is_symlink()]


def _named_links(out: Path, outputs: Sequence[str], named: Sequence[Path]) -> list[Path]:
    """The symbolic links among the named outputs, or on their way from ``out`` (a ``figures``
    folder that is a link): round 34, ``--fresh`` deleted such a link (or the files behind it).
    A link to nothing is one too (a pattern without wildcards does not glob it)."""
    found = set()
    exact = [out / p for p in outputs if not any(c in p for c in "*?[")]
    for target in (*named, *exact):
        for p in (target, *target.parents):
            if p == out or out not in p.parents:
                break
            if p.is_symlink():
                found.add(p)
    return sorted(found)


def _refuse_links(links: Sequence[Path]) -> None:
    """``--fresh`` refused, one line naming the first of ``links`` (twinflow writes no links)."""
    if links:
        more = and_more(len(links), 1)
        msg = (f"--fresh refused: {links[0]} is a symbolic link (to {os.readlink(links[0])}){more}; twinflow "
               f"writes no links and never follows or deletes one: remove it yourself or choose another "
               f"--out (nothing was deleted)")
        raise ValueError(msg)


def _refuse_odd(odd: Sequence[Path]) -> None:
    """``--fresh`` refused, one line naming the first of ``odd`` (a FIFO, socket or device in a table
    folder: never opened, never deleted; round 34, HOSTILE34: one named like a part stayed silently)."""
    if odd:
        more = and_more(len(odd), 1)
        msg = (f"--fresh refused: {printable(str(odd[0]))} is {_kind(odd[0])}, not a file twinflow "
               f"wrote{more}; move it away or choose another --out (nothing was deleted)")
        raise ValueError(msg)


def _kind(p: Path) -> str:
    """What ``p`` is in the words every message uses (:func:`flows.archive.listing.file_kind`)."""
    try:
        return file_kind(p.lstat().st_mode)
    except OSError:  # gone meanwhile
        return "not a regular file"


def refuse_linked_folders(out: Path, names: Sequence[str], flag: str = "--out") -> None:
    """Refused before any work, one line: a folder a command writes below ``out`` (``archive``,
    ``figures``, ``followed``) that is a symbolic link or not a folder. Round 39 (HOSTILE39): a
    backtest's ``archive`` linked to another output folder's archive had ``--fresh`` delete that
    folder's files, and the run wrote its own there; ``figures`` linked elsewhere had the plots
    overwrite files of the same name there; ``figures`` a file failed the run at its end."""
    for name in names:
        p = out / name
        if p.is_symlink():
            to = ""
            with contextlib.suppress(OSError):
                to = f" (to {printable(os.readlink(p))})"
            msg = (f"{flag} {printable(str(out))}: {name} is a symbolic link{to}; twinflow writes its {name} "
                   "folder there and never writes or deletes through a link: remove it or choose another "
                   f"{flag}")
            raise ValueError(msg)
        if p.exists() and not p.is_dir():
            msg = (f"{flag} {printable(str(out))}: {name} is {_kind(p)}, not a folder; twinflow writes its "
                   f"{name} folder there: move it away or choose another {flag}")
            raise ValueError(msg)


def _empty(out: Path, archive: Path, outputs: Sequence[str]) -> None:
    walked = _walk_tables(archive)
    files = walked.files
    _refuse_links(walked.links)
    _refuse_odd(walked.odd)
    foreign = [p for p in files if not (_PART.match(p.name) or COMPACTED_NAME.match(p.name))]
    if foreign:
        more = and_more(len(foreign), 1)
        msg = (f"--fresh refused: {foreign[0]}{more} was not written by twinflow; move it away "
               f"or choose another --out (nothing was deleted)")
        raise ValueError(msg)
    named = _named_outputs(out, outputs)
    _refuse_links(_named_links(out, outputs, named))
    manifest = Manifest.read(out)  # once: asked below, then told what was deleted
    if files:  # beside a twinflow archive: what its manifest lists, when there is one (else all)
        named = manifest.listed_only(named)
    # no twinflow archive beside them (a report.html of someone else's?): each must be a file the
    # manifest shows as twinflow's, bytes unchanged (an earlier run's outputs, its archive removed)
    if named and not files and (odd := manifest.unrecognised(named)) is not None:
        first, why = odd
        more = and_more(len(named), 1)
        msg = (f"--fresh refused: {first}{more} has no twinflow archive beside it ({archive} holds no "
               f"part-*.parquet) and {why}, so it may not be twinflow's; move it away or choose "
               f"another --out (nothing was deleted)")
        raise ValueError(msg)
    _delete(out, files, walked.folders, named)
    remove_stale_temps(out, outputs)  # round 37: a write killed mid-way (kill -9) left its temporary
    manifest.forget(named, runs=True)


def _delete(out: Path, files: Sequence[Path], folders: Sequence[str], named: Sequence[Path]) -> None:
    """Delete the archive's ``files``, its emptied partition ``folders`` (deepest first, from the one
    walk), then the ``named`` outputs.

    Round 36 (HOSTILE36): a file or folder gone meanwhile (another ``--fresh`` into the same folder)
    stopped it with ``[Errno 2] No such file or directory: ...``; it is what was to be done. One
    stopped mid-way (Ctrl-C, SIGTERM, a file that cannot be deleted) said ``twin: interrupted`` only,
    though the earlier runs' files were partly gone: its line now says how far it got."""
    done, total = 0, len(files) + len(named)
    try:
        for p in files:
            p.unlink(missing_ok=True)
            done += 1
        for folder in folders:  # the now empty partition folders, deepest first (from the one walk)
            try:
                os.rmdir(folder)
            except OSError as exc:  # not empty (a hidden .tmp, a folder not listed) or gone: it stays
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise
        for target in named:
            target.unlink(missing_ok=True)
            done += 1
            with contextlib.suppress(FileNotFoundError):
                if target.parent != out and not any(target.parent.iterdir()):
                    target.parent.rmdir()
    except BaseException as exc:
        exc.add_note(f"--fresh stopped after deleting {done} of the {total} files of earlier runs in "
                     f"{printable(str(out))} (this run wrote nothing): run it again with --fresh to finish")
        raise


def prepare_out(out: str | Path, archive: str | Path, outputs: Sequence[str] = (), *,
                fresh: bool = False, warn: Callable[[str], None] | None = None,
                identity: str | None = None) -> None:
    """Warn if ``archive`` holds earlier runs, or (``fresh``) delete what twinflow wrote in ``out``.

    ``outputs`` are glob patterns (relative to ``out``) of the other files the command writes.
    ``identity``: what decides this run's rows (``twin demo``: its fleet and settings); when the
    manifest records every earlier run as the same, this run rewrites their rows: nothing is mixed,
    a note says so (round 34, USER34: ``make demo`` twice warned "results will be mixed").
    Its lines name ``out`` as the command was given it (:func:`~flows.app.out_held.as_given`: ``out``
    may be a held folder's path, round 41).
    """
    out, archive = Path(out), Path(archive)
    name = as_given(out)
    check_lock(out)  # round 39: a link or folder planted at the manifest's lock name, said once, first
    if fresh:
        _empty(out, archive, outputs)
        return
    # round 40: only --fresh did; a backtest killed while it wrote scores.parquet left a hidden copy
    remove_stale_temps(out, outputs)  # as large, kept by every later run
    say = warn or (lambda s: print(s, file=sys.stderr))
    from flows.app.archive_runs import files_by_name

    # one walk and one read of the compacted files' run ids for the note's check and the warning
    named = files_by_name(_table_files(archive), _PART)
    manifest = Manifest.read(out) if identity is not None else None
    if manifest is not None and manifest.runs and manifest.same_runs(runs := _runs_of(named), identity or ""):
        say(f"twin: note: {printable(short_word(name))} holds the rows of "
            f"{counted(len(runs), 'earlier run')} of this same command (same fleet, seed and settings): "
            f"this run writes the same rows again, nothing is mixed (--fresh drops the earlier files)")
        return
    line = mixing_line(name, archive, "use --fresh to start empty, or another --out to keep runs apart",
                       named)
    if line is not None:
        say(line)


def replace_file(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` a sibling temporary file (``.<stem>.tmp-<pid>-<8 hex><suffix>``), then rename it
    onto ``path``.

    The rename replaces whatever ``path`` was, a symlink included, never what a symlink points
    to: a link planted in the output folder (``scores.parquet -> ~/.bashrc``, or at the temporary
    name, which the pid makes guessable) is not written through. A reader never sees a
    half-written file, and a failed write leaves none behind.
    The temporary name keeps the suffix (matplotlib picks the image format from it). A failed
    write (a full disk) raises :class:`~flows.archive.layout.WriteFailed` naming ``path`` (it
    said Arrow's or matplotlib's words only: ``[Errno 28] Error writing bytes to file``)."""
    target = Path(path)
    # round 42 (HOLD42): ``.tmp-<pid>`` alone was shared by two writers of one pid (two containers on one
    # volume, two hosts on NFS): one renamed the other's half-written file onto ``path`` (a torn file
    # read), the other's rename then failed; 8 random hex digits make each write's name its own
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")
    try:
        tmp.unlink(missing_ok=True)  # round 39: a link planted at this name (then pid-guessable) was written
        write(tmp)  # through (outside --out) and renamed onto ``path``
        replace_synced(tmp, target)  # round 37: on disk before the rename (a power loss: no empty file)
    except OSError as exc:
        from flows.archive.layout import WriteFailed, failure_reason

        raise WriteFailed(exc.errno or errno.EIO, f"cannot write {target}: {failure_reason(exc)}") from exc
    finally:
        with contextlib.suppress(OSError):  # a disk turned read-only: it is hidden, never read
            tmp.unlink(missing_ok=True)
    return target


def missing_top(folder: str | Path) -> Path | None:
    """The outermost folder of ``folder`` (itself or a parent) that does not exist yet: what a
    ``mkdir(parents=True)`` would create, hence what the command may remove again; None if it exists."""
    top = None
    for p in (Path(folder), *Path(folder).absolute().parents):
        if p.exists():
            break
        top = p
    return top


def remove_if_empty(made: Path) -> bool:
    """Remove ``made`` (a folder this command created) if it holds folders only, no file: an
    early refusal leaves no trace. Never deletes a file; whether it was removed."""
    if any(p.is_file() or p.is_symlink() for p in made.rglob("*")):
        return False
    for dirpath, _, _ in sorted(os.walk(made), key=lambda w: -len(w[0])):
        os.rmdir(dirpath)
    return True


def kept_outputs(out: Path, archive: Path, run_id: str, written: Sequence[str], expected: Sequence[str],
                 logs: Sequence[str] = ()) -> str:
    """What a run stopped mid-way left in ``out``, in one line: this run's archive files (each
    complete: written to a temporary name, then renamed), its ``logs`` (complete lines so far),
    the outputs it ``written`` and those of ``expected`` it did not write (naming an earlier
    run's file of that name, which is NOT this run's)."""
    ours = sum(1 for p in _table_files(archive) if (m := _PART.match(p.name)) and m.group("run") == run_id
               and not p.name.startswith("."))
    where = "its archive" if archive == out else f"{archive.name}/"  # twin demo: --out is the archive
    kept = [f"{where} ({counted(ours, 'file')} of this run, each complete)"]
    kept += [f"{name} (this run's, complete lines so far)" for name in logs if (out / name).exists()]
    kept += list(written)
    missing = [name for name in expected if name not in written]
    stale = [name for name in missing if (out / name).exists()]
    line = f"--out {out} keeps {', '.join(kept)}"
    if missing:
        line += f"; not written: {', '.join(missing)}"
    if stale:
        line += f" ({', '.join(stale)} in it {'are' if len(stale) > 1 else 'is'} an earlier run's)"
    return line


@dataclass
class RunOutputs:
    """How far a command's run got, for :func:`kept_on_stop`: its run id (its archive files'
    names), whether the flow started, the outputs it has written so far."""

    run_id: str
    started: bool = False
    written: list[str] = field(default_factory=list)


@contextmanager
def kept_on_stop(out: Path, archive: Path, run: RunOutputs, expected: Sequence[str], *,
                 logs: Sequence[str] = (), made: Path | None = None) -> Iterator[None]:
    """Whatever stops the block (Ctrl-C, SIGTERM, a full disk) leaves a note on its exception: what
    the run kept (:func:`kept_outputs`), once its flow started; refused before that, ``made`` (the
    folder the command created, if any) is removed when it holds no file."""
    try:
        yield
    except BaseException as exc:
        if not (made is not None and remove_if_empty(made)) and run.started:
            exc.add_note(kept_outputs(out, archive, run.run_id, run.written, expected, logs=logs))
            _record_logs(out, logs)
        raise


def _record_logs(out: Path, logs: Sequence[str]) -> None:
    """A stopped run's logs (each worker's: ``dead_letters.jsonl``, ``dead_letters-w1.jsonl`` ...) in
    the manifest, as a finished run's are: stopped before its first archive file, a ``--fresh`` run
    refused the folder (round 32, LOOSE32: "dead_letters.jsonl has no twinflow archive beside it").
    Best effort: a full disk (what may have stopped the run) leaves the manifest as it was."""
    from flows.dataflow.sinks.jsonl import worker_path

    files = []
    for name in logs:
        k = 0
        while (path := worker_path(out / name, k)).is_file():
            files.append(path)
            k += 1
    with contextlib.suppress(OSError):
        Manifest.read(out).record(files)
