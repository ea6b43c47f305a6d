"""The archive's table and date folders held open from the archive down, never through a link.

Round 49 (DIRFD49) for the sink (:mod:`flows.dataflow.sinks.archive_files`): it looked at a part's
folders and then wrote the part by path, so a folder swapped for a symbolic link between the look and
the write had the part written outside the archive. Round 50 (COMPACT50) for ``twin archive compact``
(:mod:`flows.archive.compact`), which did the same with its merged file, its rename and, worse, the
removal of the files it merged: a date folder swapped for a link to an outside folder had files of
the same names deleted there. Both now open the archive, then each folder below it by name in the one
above it with ``O_DIRECTORY | O_NOFOLLOW``, hold them, and make every file step by name in the folder
so opened (``dir_fd=``): whatever is put at a folder's name afterwards is never written, renamed or
removed through.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flows.archive.files import linked_table
from flows.archive.layout import WriteFailed

if TYPE_CHECKING:
    from flows.archive.synced_renames import SyncedRenames

__all__ = ["HeldFolders"]

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class HeldFolders:
    """Folders below the archive ``root`` held open: the archive (a link at its name is followed: it
    is what the operator names), then each folder below it opened in the one above by name without
    following a link. A link found at a folder's name, even put there between a caller's look and its
    write, is ``refused(errno.ELOOP, line)``, the line ``"<doing>: <folder> is a symbolic link ..."`` (a
    table folder's: :func:`~flows.archive.files.linked_table`'s words). With a ``batch`` (the sink's),
    a missing folder is made and synced in its parent through it (the archive too); without, a missing
    folder is ``FileNotFoundError`` naming it. :meth:`close` closes them all."""

    def __init__(self, root: Path, refused: Callable[[int, str], WriteFailed] = WriteFailed, *,
                 doing: str = "cannot write the archive", batch: SyncedRenames | None = None) -> None:
        self._root = root
        self._refused, self._doing, self._batch = refused, doing, batch
        self._fds: dict[Path, int] = {}  # the folders below the archive
        self._root_fd = -1

    def folder(self, path: Path) -> int:
        """The open folder ``path`` (``<root>/<table>[/date=...[/...]]``, or the archive ``<root>``),
        opened (or made) when not yet."""
        if (fd := self._fds.get(path)) is not None:
            return fd
        parent = path.parent
        if (parent_fd := self._fds.get(parent)) is not None:  # a table folder or one below (the archive's
            return self._opened(path, parent_fd)  # fd is not in _fds): the hot path, a flush's next date
        if path == self._root:
            return self._archive()
        if len(path.parts) <= len(self._root.parts):
            msg = f"{path} is not a folder below the archive {self._root}"
            raise ValueError(msg)
        if parent == self._root:
            if (linked := linked_table(path)) is not None:  # planted mid-run: refused by name
                raise self._refused(errno.ELOOP, f"{self._doing}: {linked}")
            return self._opened(path, self._archive())
        return self._opened(path, self.folder(parent))

    def _archive(self) -> int:
        if self._root_fd < 0:
            if self._batch is not None and not os.path.lexists(self._root):
                self._root.mkdir(parents=True, exist_ok=True)
                self._batch.folder_made(self._root.parent)
            self._root_fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._root_fd

    def _opened(self, path: Path, parent_fd: int) -> int:
        """``path``, a name in the folder open at ``parent_fd``, opened without following a link; made
        when missing (synced in its parent) if there is a batch. A link there: refused naming ``path``;
        another non-folder: ``FileExistsError``, as ``mkdir`` raised before (the write's failure names it)."""
        try:
            fd = os.open(path.name, _FOLDER, dir_fd=parent_fd)
        except FileNotFoundError:
            if self._batch is None:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path)) from None
            try:
                os.mkdir(path.name, dir_fd=parent_fd)
                self._batch.folder_made(path.parent, parent_fd)  # a new folder's name lasts a power loss
            except FileExistsError:  # made meanwhile: opened below as any folder found
                pass
            fd = self._open_found(path, parent_fd)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            fd = self._open_found(path, parent_fd)
        self._fds[path] = fd
        return fd

    def _open_found(self, path: Path, parent_fd: int) -> int:
        """``path`` opened as found after a first open failed; the one-line refusal of a link there."""
        try:
            return os.open(path.name, _FOLDER, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
        is_table = path.parent == self._root
        if stat.S_ISLNK(os.stat(path.name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
            if is_table and (linked := linked_table(path)) is not None:  # the table folder's words
                raise self._refused(errno.ELOOP, f"{self._doing}: {linked}")
            raise self._refused(errno.ELOOP, f"{self._doing}: {path} is a symbolic link (not written "
                                "through; remove it)")
        if not is_table:  # not a folder: mkdir's error, as before
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))

    def moved(self) -> Path | None:
        """The first held folder below the archive no longer at its name in the folder above it (moved
        or removed while a write was in it: its parts went with it; round 50, HOSTILE50)."""
        return next((path for path in self._fds if self._not_at_name(path) is not None), None)

    def _not_at_name(self, folder: Path) -> str | None:
        """What is at the held ``folder``'s name now when it is not that folder ("moved away", "a
        symbolic link", "another folder"); None while the name leads to it (or it is not held)."""
        fd = self._fds.get(folder)
        parent_fd = self._root_fd if folder.parent == self._root else self._fds.get(folder.parent)
        if fd is None or parent_fd is None or parent_fd < 0:
            return None
        try:
            now = os.stat(folder.name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return "moved away"
        held = os.fstat(fd)
        if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            return None
        return "a symbolic link" if stat.S_ISLNK(now.st_mode) else "another folder"

    def opened(self, folder: Path) -> int | None:
        """The open ``folder``, None when not opened (the write failed before)."""
        return self._fds.get(folder)

    def replaced(self, path: Path) -> str | None:
        """How the held folder ``path`` (or one above it, up to its table folder) is no longer at its
        name, the highest first: "<folder> was replaced by a symbolic link" (or moved away, or replaced
        by another folder); None while every name still leads to the folder held."""
        chain = [path]
        while chain[-1].parent != self._root and len(chain[-1].parts) > len(self._root.parts):
            chain.append(chain[-1].parent)
        for folder in reversed(chain):
            if (what := self._not_at_name(folder)) is not None:
                return f"{folder} was {what}" if what == "moved away" else f"{folder} was replaced by {what}"
        return None

    def reading(self, path: Path) -> Path:
        """The file ``path`` as a reader opens it: by name in its folder held (``/proc/self/fd/<fd>/<name>``,
        a name of that very folder whatever is at its name now); by ``path`` without ``/proc``."""
        proc = Path(f"/proc/self/fd/{self.folder(path.parent)}")
        return proc / path.name if proc.is_dir() else path

    def unlink(self, path: Path) -> None:
        """Remove the file ``path`` by name in its folder held (opened when not yet); gone: nothing."""
        fd = self.folder(path.parent)
        try:
            os.unlink(path.name, dir_fd=fd)
        except FileNotFoundError:
            pass

    def __enter__(self) -> HeldFolders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1
