"""``twin run``'s cluster flags checked before anything is read or written (round 28, part
HOSTILE28): ``-a/--addresses`` (``host:port;host:port``, one per process) and ``-i/--process-id``
(this process's index in it).

Before, Bytewax met them after the recovery store was initialised: a bad port or a missing one was
``internal error: RuntimeError: ... failed to initialize networking: invalid port value``, exit 1,
and a ``,`` between addresses a name lookup failure; an address listed twice made the process wait
for a peer that would never come, deaf to SIGTERM; an empty entry (``;;``) was dropped silently, so
a cluster of three ran as one; ``-i 3`` without ``-a`` was accepted as if it were 0.

:func:`not_writable`: the files and folders inside ``--archive`` and ``--recovery-dir`` a run writes
(their own folders are probed by :func:`flows.cli.out_folders.writable_dir`), for a user who is not their
owner: before, a read-only table folder stopped the run at its first archive flush (exit 1, after
reading the input) and a read-only recovery partition was called "damaged or not Bytewax's".

:func:`store_holds_archive`: a fresh recovery folder that is the archive's folder or holds it (round 45).

:func:`archive_moved`: the run's words when its held archive's name leads elsewhere mid-run."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from flows.app.held_watch import Wording
from flows.app.out_held import as_given

__all__ = ["archive_checks", "archive_moved", "cluster_addresses", "not_writable", "store_holds_archive"]


def _problem(address: str) -> str | None:
    """Why ``address`` is no ``host:port`` Bytewax can listen on or connect to (None: it is)."""
    if "," in address:
        return "holds a ',' (addresses are separated by ';')"
    host, sep, port = address.rpartition(":")
    if not sep:
        return "has no port (host:port)"
    if not host or host in ("[]",):
        return "has an empty host"
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        return f"has port {port!r}, not a number in 1-65535"
    return None


def cluster_addresses(addresses: str | None, process_id: int | None) -> tuple[str, ...]:
    """The processes' addresses from ``-a`` (empty: a single process), checked with ``-i``;
    ``ValueError`` naming the first problem (one line, exit 2 in the CLI)."""
    if not addresses:  # unset, or TWIN_ADDRESSES="": a single process
        if process_id not in (None, 0):
            msg = (f"-i {process_id} without -a/--addresses: a single process is index 0 (give every "
                   "process's host:port in -a, this one's at index -i)")
            raise ValueError(msg)
        return ()
    entries = [a.strip() for a in addresses.split(";")]
    if entries and entries[-1] == "" and len(entries) > 1:  # one trailing ';' is harmless
        entries.pop()
    for n, address in enumerate(entries):
        why = "is empty" if not address else _problem(address)
        if why is not None:
            msg = f"-a/--addresses {addresses!r}: address {n} {address!r} {why}"
            raise ValueError(msg)
    seen: dict[str, int] = {}
    for n, address in enumerate(entries):
        first = seen.setdefault(address.lower(), n)
        if first != n:
            msg = (f"-a/--addresses {addresses!r}: {address!r} is listed twice (addresses {first} and {n}): "
                   "each process needs its own host:port")
            raise ValueError(msg)
    if process_id is None:
        msg = "-a/--addresses needs -i/--process-id (this process's index in the list)"
        raise ValueError(msg)
    if not 0 <= process_id < len(entries):
        msg = f"-i {process_id} is not an index of the {len(entries)} addresses in -a (0-{len(entries) - 1})"
        raise ValueError(msg)
    return tuple(entries)


def _owner(path: Path) -> str:
    st = path.stat()
    return f"owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"


def not_writable(archive: Path, tables: tuple[str, ...], store: Path | None, flag: str = "--archive",
                 named: Path | None = None) -> str | None:
    """The first entry a run would write but this user may not (one line naming it, led by ``flag``
    and ``named``: the folder the user gave, by default ``archive`` as given:
    :func:`~flows.app.out_held.as_given`), or None: the archive's existing table and date folders, the
    recovery store's existing files."""
    places: list[tuple[Path, int, str]] = []
    for table in tables:
        folder = archive / table
        if folder.is_dir() and not folder.is_symlink():
            places.append((folder, os.W_OK | os.X_OK, flag))
            places += [(d, os.W_OK | os.X_OK, flag) for d in sorted(folder.glob("date=*"))
                       if d.is_dir() and not d.is_symlink()]
    if store is not None and store.is_dir():
        places += [(f, os.R_OK | os.W_OK, "--recovery-dir") for f in sorted(store.iterdir())
                   if f.is_file() and not f.is_symlink() and not f.name.startswith(".")]
    for path, mode, where in places:
        if not os.access(path, mode):
            what = "folder" if path.is_dir() else "file"
            shown = (named or as_given(archive)) if where == flag else store
            return (f"{where} {shown}: cannot write its {what} {path} "
                    f"as uid {os.geteuid()} ({_owner(path)}); make it writable for this user or run as its "
                    "owner")
    return None


def archive_checks(opts: Any) -> None:
    """The archive's table folders and the recovery store checked before the brokers are asked
    (round 26), in the held archive (round 42: by name before, a swap after them went unseen)."""
    from flows.dataflow.sinks.archive import TABLES
    from flows.dataflow.sinks.archive_files import check_table_folder

    for table in TABLES:
        check_table_folder(opts.archive_dir, table)
    problem = not_writable(opts.archive_dir, TABLES, opts.recovery_dir)
    if problem is not None:
        raise ValueError(problem)


def _same(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` are one folder (``os.path.samefile``); False when either cannot be
    looked at (a parent this user cannot search: not the other)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def store_holds_archive(archive: Path, store: Path | None, names: tuple[str, Path, Path]) -> str | None:
    """The line refusing a recovery folder ``store`` (held) that is the archive ``archive`` (held), a
    folder above it or an archive table's folder (or one inside it), when it holds no partitions yet;
    ``names``: the archive's flag and both names as given.

    Round 45: the same folder was accepted, and the run's flock on its recovery folder (round 44) then kept
    ``twin archive compact`` out of the archive while the run lived (a service: always); an archive inside
    it was called "not empty but holds no recovery partitions" (the run's own archive, made first). A
    folder that holds partitions already (a setup of an earlier round) resumes as before.

    Round 46 (HOSTILE46): ``--recovery-dir ARCHIVE/alerts`` before the archive had alerts was accepted
    (``writable_dir`` refuses only a table folder holding ``date=`` partitions): the run then wrote the
    table's partitions beside its recovery files, ``twin archive check --repair`` moved those into
    ``_quarantine/`` as foreign files, and the run's own restart was refused (its recovery folder now
    "inside the archive table folder").

    Round 47: ``--recovery-dir ARCHIVE/_quarantine`` (or a folder in it that is not a table's) was
    accepted (HOSTILE47's noticed item): the quarantine is where ``--repair`` puts what it moves
    aside and what a user empties to purge it, with the recovery partitions then."""
    from flows.archive.files import QUARANTINE, TABLES
    from flows.dataflow.recovery_store import PART_GLOB

    if store is None or any(p.is_file() for p in store.glob(PART_GLOB)):
        return None
    flag, given, store_given = names
    real = Path(os.path.realpath(archive))
    for up, folder in enumerate((real, *real.parents)):
        if _same(folder, store):  # a parent that cannot be looked at: not the store
            if up:
                return (f"{flag} {given}: inside --recovery-dir {store_given}, which holds the recovery "
                        "partitions alone: give the archive a folder outside it")
            return (f"--recovery-dir {store_given}: the same folder as {flag} {given}: give the recovery "
                    "partitions a folder of their own, outside the archive (a run holds its recovery "
                    "folder locked, which keeps `twin archive compact` out of the archive while it runs)")
    where = Path(os.path.realpath(store))
    for folder in (where, *where.parents):
        top = folder.parent.parent if folder.parent.name == QUARANTINE else folder.parent
        if folder.name in TABLES and _same(top, archive):
            return (f"--recovery-dir {store_given}: inside the archive table folder {folder} ({flag} "
                    f"{given}): the table's files would go among the recovery partitions and `twin archive "
                    "check --repair` would move the partitions out as foreign files; give them a folder "
                    "outside the archive's tables")
        if folder.name == QUARANTINE and _same(folder.parent, archive):
            return (f"--recovery-dir {store_given}: inside the archive's quarantine folder {folder} "
                    f"({flag} {given}): `twin archive check --repair` moves unreadable and foreign files "
                    "there, and emptying it is how they are purged; give the recovery partitions a folder "
                    "outside it")
    return None


def archive_moved(flag: str, name: Path, resumable: bool) -> Wording:
    """The warning when ``twin run``'s archive ``name`` (given as ``flag``) leads elsewhere mid-run
    (:class:`~flows.app.held_watch.NameWatch`'s wording); ``resumable``: a ``--recovery-dir`` was given.
    The folders it names where the run writes are shell words to paste (round 46, HOSTILE46)."""
    from flows.archive.shown_text import shell_word

    how = ("the same --recovery-dir resumes it" if resumable
           else "no --recovery-dir: a restart reads the topics again")

    def line(what: str, where: str) -> str:  # round 46: the paths as shell words to paste (spaces quoted)
        return (f"twin run: warning: {flag} {name} {what} now; this run goes on writing into the folder it "
                f"started with, now at {shell_word(where)}, until it is restarted ({how}, writing at "
                f"{shell_word(str(name))})")
    return line
