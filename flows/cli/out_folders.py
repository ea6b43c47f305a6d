"""Where a ``twin`` command may write: the output folder checks of ``--out``, ``--archive`` and
``--recovery-dir`` (round 34: moved out of :mod:`flows.cli.args`, which held them beside the
argument value parsers and had reached its 450-line bound).

:func:`writable_dir` refuses, in one line, an empty path, one too long for the OS
(:mod:`flows.cli.path_limits`), the root, the home folder and the system folders
(:func:`refused_place`), a path that is no folder, a link to nothing at or above it, one inside an
archive's table folder (:func:`archive_table_around`) and one this process cannot write;
:func:`not_another_commands_out` refuses a demo's folder to a backtest and the reverse;
:func:`output_file` a file path no file can be written to (moved here from ``kafka_commands`` at its
450-line bound, round 45).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from flows.app.out_places import SYSTEM_DIRS, archive_table_around, held_place, refused_place
from flows.cli.args import UsageError, refuse_empty

__all__ = ["SYSTEM_DIRS", "archive_table_around", "archive_tables_in", "held_place",
           "not_another_commands_out", "output_file", "refused_place", "writable_dir", "write_json"]


def archive_tables_in(folder: str | Path) -> list[str]:
    """The archive tables whose folder (with a ``date=`` partition) sits right in ``folder``."""
    from flows.archive.files import TABLES

    base = Path(folder)
    return [t for t in TABLES if (base / t).is_dir() and any((base / t).glob("date=*"))]


def not_another_commands_out(command: str, out: str | Path) -> None:
    """Refuse an ``--out`` holding the other command's outputs. A backtest writes its archive to
    ``<out>/archive``, a demo its tables right in ``<out>``, and both (re)write
    ``<out>/dead_letters.jsonl``: before round 23 ``twin backtest --out <a demo's folder>``
    replaced that demo's dead letters with its own (and the reverse)."""
    base = Path(out)
    if command == "backtest" and (tables := archive_tables_in(base)):
        msg = (f"--out {base} holds an archive's tables ({', '.join(tables)}: a `twin demo` or `twin run` "
               f"archive): a backtest writes its own archive to {base / 'archive'} and replaces "
               f"{base / 'dead_letters.jsonl'}; name a folder of its own")
        raise UsageError(msg)
    if command == "demo" and (base / "scores.parquet").exists() and archive_tables_in(base / "archive"):
        msg = (f"--out {base} holds a backtest's outputs ({base / 'archive'}, scores.parquet): a demo writes "
               f"its tables beside them and replaces {base / 'dead_letters.jsonl'}; name a folder of its own")
        raise UsageError(msg)


def writable_dir(flag: str, path: str | Path, tail: str = "") -> Path:
    """``path`` as a folder this process can write, or a UsageError naming it.

    An empty ``path`` is refused (``Path("")`` is the working folder), and so are the root, the
    home folder and the system folders (:func:`refused_place`). Nothing is created: a
    missing folder is checked through its nearest existing parent (the
    command creates it when it first writes), so a command that fails later leaves no trace. Too
    long for the OS with ``tail`` (the deepest file a run writes below it): refused (round 33)."""
    refuse_empty(flag, path)  # `--out "$OUT"` with OUT unset: not the working folder
    p = Path(path)
    try:
        os.stat(p)
    except PermissionError as exc:  # round 45: `[Errno 13] Permission denied: 'P'` (Path.exists raised)
        msg = (f"{flag} {p}: cannot reach it ({exc.strerror}: a folder above it cannot be searched as "
               f"uid {os.geteuid()}); name a folder this user may reach")
        raise UsageError(msg) from None
    except OSError:
        pass  # missing, a loop, a name too long: each said below
    from flows.cli.path_limits import too_long
    if (long := too_long(flag, p, tail)) is not None:
        raise UsageError(long)
    if (what := refused_place(p)) is not None:
        msg = (f"{flag} {p}: refusing {what} ({os.path.realpath(p)}) as an output folder (a run writes "
               f"its tables there, --fresh deletes in it): name a folder of its own, e.g. "
               f"{Path(os.path.realpath(Path.home())) / 'twin-out'}")
        raise UsageError(msg)
    if p.exists() and not p.is_dir():
        msg = f"{flag} {p}: exists and is not a folder"
        raise UsageError(msg)
    if (link := next((a for a in (p, *p.parents) if a.is_symlink() and not a.exists()), None)) is not None:
        # round 44: its making said only "[Errno 17] File exists: ..." (no flag, no reason)
        which = "" if link == p else f"{link} is "
        msg = f"{flag} {p}: {which}a symbolic link to {os.readlink(link)}, which does not exist"
        raise UsageError(msg)
    if (table := archive_table_around(p)) is not None:
        msg = (f"{flag} {p}: inside the archive table folder {table} (a run would write its own files "
               f"among the archive's, which every query then skips as foreign): name a folder outside "
               f"it, e.g. {table.parent.parent / 'twin-out'}")
        raise UsageError(msg)
    base = next((a for a in (p, *p.absolute().parents) if a.exists()), Path("/"))
    if not base.is_dir():
        msg = f"{flag} {p}: cannot write there ({base} is not a folder)"
        raise UsageError(msg)
    try:
        probe = base / f".twin-write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        msg = f"{flag} {p}: cannot write there ({exc.strerror or exc})"
        raise UsageError(msg) from None
    if base == p:  # round 41 (HOSTILE41): a folder it may write in but not list (mode -wx)
        try:
            with os.scandir(p) as entries:
                next(entries, None)
        except OSError as exc:
            msg = (f"{flag} {p}: cannot list it ({exc.strerror or exc}): a run lists its output folder "
                   "(its own left temporary files, --fresh); make it readable for this user")
            raise UsageError(msg) from None
    return p


def write_json(flag: str, path: str, doc: Any) -> None:
    """``doc`` as indented JSON at ``path`` through :func:`~flows.app.out_dir.replace_file`: a failure
    midway (a full disk) leaves the earlier file or none, never a torn one, and a link planted at the
    temporary name is not written through. Round 41: ``--write-truth`` wrote in place and
    ``--write-metadata`` had a second temporary-and-rename of its own (its name not cleared first)."""
    from flows.app.out_dir import replace_file
    from flows.app.out_held import held_parent
    from flows.archive.layout import failure_reason

    text = json.dumps(doc, indent=2) + "\n"
    try:  # round 42: its folder held (swapped mid-write, the temporary was left in the moved folder)
        with held_parent(path) as at:
            replace_file(at, lambda tmp: tmp.write_text(text))
    except OSError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        msg = f"{flag} {path}: cannot write it ({failure_reason(cause)})"
        raise ValueError(msg) from None


def output_file(flag: str, path: str) -> None:
    """Refuse, in one line naming ``flag``, a ``path`` no file can be written to: empty, a folder
    (``/`` included) or in a missing folder. Before round 23 ``--write-metadata /`` said
    "PosixPath('/') has an empty name" and a folder "[Errno 21] Is a directory: '.x.123.tmp' ->
    'x'", naming neither the flag nor the path given."""
    from flows.cli.input_files import not_a_file

    if not path.strip():
        msg = f"{flag} {path!r}: an empty path (name a file)"
        raise ValueError(msg)
    if os.path.isdir(path) or path.endswith(os.sep):
        msg = f"{flag} {path}: is a folder (name a file, e.g. {os.path.join(path, 'assets.json')})"
        raise ValueError(msg)
    # round 30: a FIFO nobody reads blocked --write-truth for ever; --write-metadata /dev/null
    # replaced the device by a file (its temporary file is renamed over the path)
    if os.path.exists(path) and (kind := not_a_file(os.stat(path).st_mode)) is not None:
        msg = f"{flag} {path}: {kind}: name a file"
        raise ValueError(msg)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.stat(parent)
    except PermissionError as exc:  # round 45: a folder, called "not a folder"
        msg = (f"{flag} {path}: cannot write there ({exc.strerror}: {parent} cannot be reached as uid "
               f"{os.geteuid()})")
        raise ValueError(msg) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # round 46: "P is not a folder" of a loop of symbolic links
            msg = f"{flag} {path}: cannot write there ({parent} is a loop of symbolic links)"
            raise ValueError(msg) from None
    if not os.path.isdir(parent):
        msg = f"{flag} {path}: cannot write there ({parent} is not a folder)"
        raise ValueError(msg)
