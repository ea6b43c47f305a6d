"""A folder below ``--out`` held open while a command writes its files: never a link put at its name
meanwhile.

Round 40 (HOSTILE40): ``figures/`` is refused as a link before a backtest and again before its
report (:func:`~flows.app.out_dir.refuse_linked_folders`, round 39), but then each plot was written
by path: ``figures/`` swapped for a link while the report drew (10,000 assets: minutes) had the
remaining plots written, and files of those names replaced, in the folder it pointed to, outside
``--out``. Now the folder is opened once, without following a link (``O_NOFOLLOW``: the check and
the open are one step), and the plots are written through ``/proc/self/fd/<fd>``, a name of that
very folder whatever is put at ``figures`` later (without ``/proc``: by path, as before).
The backtest's ``archive/`` (HOSTILE40b), ``twin demo``'s archive (``--out`` itself) and its
``followed/`` (HOSTILE40c) are held the same way while their flows run.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from flows.archive.given_names import as_given, holding
from flows.archive.layout import WriteFailed

__all__ = ["as_given", "held_folder", "held_parent", "where_now"]


@contextlib.contextmanager
def held_folder(folder: Path, refuse: Callable[[], None], *, follow: bool = False,
                parents: bool = False) -> Iterator[Path]:
    """``folder`` (made if missing) held open: yields the path to write its files by. ``refuse``
    raises the command's one-line error for a link or non-folder at its name (called when the
    open finds one). An exception raised within, or a ``WriteFailed`` behind it (a flow's sink
    failing on its writer thread: the engine's error), names ``folder``, not the ``/proc`` path
    (:func:`_logical`). A folder made here and still empty when an exception ends the block goes again.
    ``follow``: a link at ``folder``'s name when the block starts is followed, the folder it points
    to held (``twin demo``'s ``--out``, the user's own, may be one; round 40, HOSTILE40c).
    ``parents``: missing folders above it made too (``twin run --archive a/b``, round 42), and
    removed again with it when still empty."""
    refuse()
    if parents:
        made = _made_down_to(folder)
    else:
        made = [folder] if not os.path.lexists(folder) else []
        folder.mkdir(exist_ok=True)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW))
    except OSError as exc:  # ELOOP, ENOTDIR: put there since the check
        _removed(made)  # round 49: `new/../afile` (a file) left `new` made on the way
        refuse()
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise
        # round 41 (HOSTILE41): made unreadable since the check ("[Errno 13] Permission denied: ...")
        raise WriteFailed(exc.errno or errno.EIO, f"cannot open {folder} to write in it: "
                          f"{exc.strerror or exc}") from None
    try:
        proc = Path(f"/proc/self/fd/{fd}")
        if not proc.is_dir():
            yield folder
            return
        with holding(str(proc), str(folder)):
            try:
                yield proc
            except BaseException as exc:
                _logical(exc)
                _removed(made)
                raise
    finally:
        os.close(fd)


def _made_down_to(folder: Path) -> list[Path]:
    """``folder`` and the missing folders above it made, from the top down; returns those made here,
    innermost first (what an exception ending the hold removes again when still empty).

    Round 48 (HOSTILE48): the list was the names of ``folder`` and its lexical parents missing BEFORE
    anything was made, and ``mkdir(parents=True)`` made them: through a ``..`` (``--recovery-dir
    new/../keep``) the folder ``keep`` that existed, seen through the missing ``new``, was counted as
    made, so a refused or failed ``twin run`` removed the user's empty ``keep`` (``ARCHIVE/_quarantine``
    with ``ARCHIVE/new/../_quarantine``) and left ``new`` behind. Each name is now looked at once the
    folder above it exists, as the system resolves it."""
    made: list[Path] = []
    at = Path(folder.anchor)
    try:
        for part in folder.parts[1 if folder.anchor else 0:]:
            at /= part
            if part in (".", "..") or os.path.lexists(at):
                continue
            try:
                at.mkdir()
            except FileExistsError:  # made meanwhile by someone else: not ours to remove
                continue
            made.append(at)
    except BaseException:  # round 49: a file on the way (`new/../afile/sub`): those made go again
        _removed(made[::-1])
        raise
    if not made:
        folder.mkdir(exist_ok=True)  # a non-folder at the name: FileExistsError, as before
    return made[::-1]


def _removed(made: list[Path]) -> None:
    """The folders ``made`` (innermost first) removed while empty: a hold that failed or ended in an
    exception leaves no folder of its own making (a link or file put there since: kept)."""
    for new in made:
        try:
            new.rmdir()  # only if empty (a link put there since: ENOTDIR, kept)
        except OSError:
            break


def _logical(exc: BaseException) -> None:
    """Every exception in ``exc``'s chain (causes and contexts) made to name each held folder as
    named where it names the hold's path (:func:`as_given`): an ``OSError``'s reason and file names (a
    :class:`~flows.archive.layout.WriteFailed`'s message is its reason), the text of an exception
    raised with text only (a ``ValueError``'s one line: ``--fresh refused: ...``), and the notes
    added on its way out (a stopped run's "--out ... keeps ..."). Round 41: the whole ``--out`` is
    held while a command writes in it, so any of its lines may be built from the hold's path."""
    seen: BaseException | None = exc
    ids: set[int] = set()
    while seen is not None and id(seen) not in ids:
        ids.add(id(seen))
        if isinstance(seen, OSError):
            for attr in ("strerror", "filename", "filename2"):
                if isinstance(getattr(seen, attr), str):  # (a None set again would be shown)
                    setattr(seen, attr, as_given(getattr(seen, attr)))
        elif seen.args and all(isinstance(a, str) for a in seen.args):
            seen.args = tuple(map(as_given, seen.args))
        notes = getattr(seen, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [as_given(n) if isinstance(n, str) else n for n in notes]
        seen = seen.__cause__ or seen.__context__


@contextlib.contextmanager
def held_parent(path: str | Path) -> Iterator[Path]:
    """The file ``path`` named below its folder held open (``/proc/self/fd/<fd>/<name>``; by name
    without ``/proc``): a write's temporary file and its rename stay in one folder whatever is put at
    the folder's name meanwhile (``twin simulate --write-metadata/--write-truth``, round 42: swapped
    between the two, the rename failed and the temporary stayed in the moved folder)."""
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        proc = Path(f"/proc/self/fd/{fd}")
        yield proc / os.path.basename(path) if proc.is_dir() else Path(path)
    finally:
        os.close(fd)


def where_now(path: Path) -> str:
    """``path`` as a line may show it: below a held folder (``/proc/self/fd/N/...``, which means
    nothing to a user), the folder's real path now, as the kernel names it (a warning printed
    while the hold is open, not an exception: :func:`_logical` cannot reach it)."""
    text = str(path)
    return os.path.realpath(text) if text.startswith("/proc/self/fd/") else text
