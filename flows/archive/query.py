"""DuckDB read side of the Parquet archive: views ``features``, ``twin_state``, ``alerts``.

**Sandbox.** The archive's files are opened by pyarrow, in Python, and handed to DuckDB as Arrow
datasets; the DuckDB connection itself has no file system at all (``enable_external_access =
false``, its local file system disabled, no temporary directory, no extension loading or
installing, no persistent secrets, no Python replacement scans) and its configuration is
locked. So whatever the SQL — ``COPY ... TO``, ``EXPLAIN ANALYZE COPY``, ``ATTACH``,
``INSTALL``/``LOAD``, ``read_csv``, ``read_blob``, ``glob``, ``SET``/``RESET`` of these settings,
URLs — it can read nothing but the archive's rows and write nothing anywhere, inside the archive
or out. Tables or macros a query creates live in the connection's memory and vanish with it.
The statement-type check below only gives a friendlier message for write statements; not the guard.

**Views.** One per table (:mod:`flows.archive.views`): every readable Parquet file of the table,
both layouts, one row per key, the row of the newest write; so a resumed run, or a demo run again
into the same folder, never shows a window or an alert message twice. Unreadable or foreign files
are left out and reported (see :mod:`flows.archive.files`). A query sees the views and nothing else.

**A compaction meanwhile.** The views read the files listed when they were built. A ``twin archive
compact`` that merges and removes some of them before DuckDB opens them made the query fail as
"bad query: ... Failed to open local file" (exit 2). Such a failure is :class:`ArchiveChanged`
(:func:`query_failed`), and :func:`once_more_if_changed` runs the read once more on a fresh
listing (the merged file holds the removed files' rows); a second change is one line, "run it
again", exit 75 (``flows.archive.files.CHANGED_EXIT``).

>>> import tempfile
>>> try:
...     query(tempfile.mkdtemp(), "SELECT 1")
... except ArchiveError as exc:
...     print(str(exc).split(":")[0])
no archive
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import duckdb

from flows.archive.asset_rows import Bounds, UnreadableRows, add_asset_views
from flows.archive.files import (
    TABLES,
    ArchiveChanged,
    BadFile,
    corrupt_pages,
    first_line,
    given_word,
    printable,
    scan_table,
)
from flows.archive.listing import folder_kind
from flows.archive.short_paths import short_words
from flows.archive.sql_hints import hint, missing_table
from flows.archive.views import add_empty_view, add_view
from twin_models.text import counted, first_few

__all__ = ["SANDBOX", "ArchiveChanged", "ArchiveError", "NoReadableFile", "QueryTimeout", "all_rows",
           "changed_during",
           "check_read_only", "connect", "default_memory_mib", "once_more_if_changed", "query",
           "query_failed", "skipped_warning", "warn_once"]

READ_ONLY = {"SELECT", "EXPLAIN"}
SANDBOX: dict[str, Any] = {
    "enable_external_access": False,
    "temp_directory": "",
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
}
"""Settings every archive connection starts with."""
MIN_MEMORY_MIB = 64
"""The least memory a query may be given (DuckDB needs some for its buffers)."""
MAX_MEMORY_MIB = (1 << 44) - 1
"""DuckDB's largest memory limit (MiB), taken for any larger one (round 49: a larger one was an
internal error, exit 1, ``Parser Error: Memory value out of range``)."""
MEMORY_SHARE = 0.25
"""Default memory limit of a query connection, as a share of the machine's memory. DuckDB's own
default is 80 %: before round 23 one ``GROUP BY`` over a large result could take most of the
memory of a machine whose ``twin run`` pipeline then got killed for the lack of it. With no
temporary directory nothing spills: past the limit the query fails, in one line."""


def default_memory_mib() -> int:
    """:data:`MEMORY_SHARE` of the machine's physical memory, in MiB (1024 if unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 1024
    return max(MIN_MEMORY_MIB, int(total * MEMORY_SHARE) >> 20)


LOCK = ("SET disabled_filesystems = 'LocalFileSystem'", "SET enable_progress_bar = false",
        "SET TimeZone = 'UTC'", "SET lock_configuration = true")
"""Set once the connection is up (DuckDB refuses them at start-up). DuckDB always allows the
database's own paths, even for ``:memory:`` (``<cwd>/:memory:.wal`` ...): disabling its local file
system closes that door too. DuckDB's progress bar, drawn on the process's stdout once a query runs
past ~2 s, came before `twin sql --format json|csv`'s rows and `twin explain/whatif --json`'s
document (round 42). Times are in UTC, as written and as the ``date`` folders are cut (round 50:
the machine's zone, ``hour()``/``::DATE`` local). The lock comes last and makes every setting final."""

SkipHandler = Callable[[Sequence[BadFile]], None]
Deadline = tuple[float, float]
"""A ``time.monotonic()`` instant and the seconds it was set for (for the message)."""


class ArchiveError(ValueError):
    """The archive or a query against it is unusable; the message says why."""


class NoReadableFile(ArchiveError):
    """A query read a table whose every file is left out; the message names them and why."""


def skipped_warning(root: str | Path, bad: Sequence[BadFile]) -> str:
    """One line naming the files a query left out (the first few) and how many; a long path (or an
    OS error quoting one) keeps its two ends, as an error line's (:mod:`flows.archive.short_paths`)."""
    base = Path(root)
    # escaped first: a newline in a file name stays ``\n``, not a space where the words are split
    return short_words(f"twin: warning: skipped {counted(len(bad), 'unreadable or foreign archive file')}: "
                       f"{_named(base, bad)} "
                       f"(see `twin archive check --archive {given_word(base)}`)")


def _named(base: Path, bad: Sequence[BadFile]) -> str:
    """The first few files left out, each with its reason, escaped for a terminal, and how many more."""
    return first_few(bad, 3, sep="; ", show=lambda b: printable(f"{b.path.relative_to(base)} ({b.reason})"))


def warn_once(root: str | Path) -> SkipHandler:
    """A handler printing :func:`skipped_warning` on stderr the first time only: a read that lists
    the archive again (:func:`once_more_if_changed`) would otherwise warn about the same files twice."""
    said: list[bool] = []

    def warn(bad: Sequence[BadFile]) -> None:
        if not said:
            said.append(True)
            print(skipped_warning(root, bad), file=sys.stderr)

    return warn


_READ_FAILED = re.compile(r"reading the Arrow source failed|registered as '[a-z_]+' failed")
"""DuckDB's words when the Arrow scan of a view's files failed (its message names no table)."""
_QUOTED_FILE = re.compile(r"'([^']+\.parquet)'")
_OPEN_FAILED = re.compile(r"Failed to open local file '(.+?\.parquet)'\. Detail", re.DOTALL)
"""Arrow's words for a file it could not open: the whole name, quotes and line breaks in it too
(round 41, HOSTILE41: :data:`_QUOTED_FILE` cut ``a.parquet'; b.parquet`` to ``a.parquet``, and the
line named a file that never was)."""
T = TypeVar("T")


def changed_during(exc: BaseException) -> ArchiveChanged | None:
    """:class:`ArchiveChanged` when DuckDB's error names an archive file that no longer exists (the
    dataset listed it; a compaction merged and removed it before DuckDB opened it), else None.

    Only a failed read of a view's Arrow dataset counts: a query naming a file itself
    (``read_parquet('/no/such.parquet')``) is refused by the sandbox, and that refusal is a bad
    query, not an archive that changed (before round 23 it said "run it again", exit 75)."""
    text = str(exc)
    if _READ_FAILED.search(text) is None:
        return None
    named = [m.group(1) for pattern in (_OPEN_FAILED, _QUOTED_FILE) for m in pattern.finditer(text)]
    for name in named:
        if not os.path.lexists(name):
            return ArchiveChanged(name)
    return None


def once_more_if_changed(read: Callable[[], T]) -> T:
    """``read()`` (which lists the archive's files and reads them), run once more on a fresh listing
    when a file it listed was removed meanwhile; a second :class:`ArchiveChanged` is raised."""
    try:
        return read()
    except ArchiveChanged:
        return read()


def query_failed(root: str | Path, exc: duckdb.Error, tables: Iterable[str] = TABLES,
                 ) -> ArchiveError | ArchiveChanged:
    """A failed query as one line. When DuckDB failed reading a table's files (a file whose footer
    is intact but whose data pages are corrupt: its message names neither file nor table), the
    files of ``tables`` (those the query's views read) are read page by page to name the first bad
    one, with the command that moves it aside. A file gone since the views listed it is
    :class:`ArchiveChanged` (the query is fine)."""
    if (changed := changed_during(exc)) is not None:
        return changed
    first = first_line(exc)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return ArchiveError(f"bad query: {first} (the query's memory limit: --memory-limit MIB, env "
                            f"TWIN_SQL_MEMORY_MIB; nothing spills to disk)")
    if (unreadable := _no_readable_file(root, first, tables)) is not None:
        return unreadable
    if _READ_FAILED.search(first) is not None:
        for table in (t for t in TABLES if t in set(tables)):
            bad = corrupt_pages(scan_table(root, table), first_only=True)
            if bad:
                command = f"twin archive check --archive {given_word(root)} --pages --repair"
                return ArchiveError(f"the archive file {bad[0].path} cannot be read ({bad[0].reason}): "
                                    f"move it aside with `{command}`")
    return ArchiveError(f"bad query: {first}{hint(first)}")


def _no_readable_file(root: str | Path, first: str, tables: Iterable[str]) -> NoReadableFile | None:
    """A query of a table whose every file is left out (:func:`connect` builds no view for it: 0 rows
    would be an answer) as one line naming the files and why (round 40: "bad query: Catalog Error:
    Table with name audit does not exist!", after the warning, for `twin commands list --archive`)."""
    if (name := missing_table(first)) is None or (table := name.lower()) not in set(tables):
        return None
    base = Path(root)
    tf = scan_table(base, table)
    if tf.files or not tf.bad:
        return None
    return NoReadableFile(short_words(
        f"the archive's {table} table has no readable file: {len(tf.bad)} left out: {_named(base, tf.bad)} "
        f"(see `twin archive check --archive {given_word(base)}`; --repair moves them into "
        "_quarantine/)"))


def _writers() -> str:
    """The commands that write an archive, said to whoever found none (round 34, USER34: only
    ``twin demo --out D`` was named, also where D was meant for ``twin run`` or ``twin backtest``;
    the path is not repeated: a long one is in the line once)."""
    return ("an archive is what `twin demo --out DIR` or `twin run --archive DIR` writes, or "
            "`twin backtest --out OUT` into OUT/archive")


def folder_problem(base: Path) -> str | None:
    """Why ``base`` is no archive folder (one line: missing, unreadable, or a file, a FIFO, a
    device...), or None for a folder."""
    kind = folder_kind(base)
    if isinstance(kind, FileNotFoundError):
        return f"no archive: {base} does not exist ({_writers()})"
    if isinstance(kind, OSError):
        return f"no archive: {base} cannot be read ({kind.strerror or type(kind).__name__})"
    if kind is None:
        return None
    return f"no archive: {base} is {kind}, not a folder ({_writers()})"


def no_tables(base: Path) -> str:
    """Why the folder ``base``, holding no table's Parquet file, is no archive (one line; round 25:
    it told to run `twin demo --out /etc`, a hint left for empty folders and table folders)."""
    try:
        names = {p.name for p in base.iterdir()}
    except OSError as exc:
        return f"no archive: {base} cannot be read ({exc.strerror or type(exc).__name__})"
    if not names or names & {*TABLES, "_quarantine"}:
        return f"no archive: {base} has no Parquet tables yet ({_writers()})"
    return (f"no archive: {base} holds no twinflow archive tables (no folder {', '.join(TABLES)}; "
            f"{_writers()})")


def connect(root: str | Path, tables: Iterable[str] = TABLES,
            on_skip: SkipHandler | None = None, memory_mib: int | None = None,
            asset: str | None = None, columns: Mapping[str, Iterable[str]] | None = None,
            bounds: Bounds | None = None) -> duckdb.DuckDBPyConnection:
    """A sandboxed in-memory DuckDB connection with one view per archive table under ``root`` (an
    empty one, with the table's declared columns, for a table with no file written yet).

    ``tables`` limits which views are built (each costs a footer read per file); files left out
    are passed to ``on_skip`` (default: one warning line on stderr). ``memory_mib``: the
    connection's memory limit (default :func:`default_memory_mib`). ``asset``: the views of the
    tables keyed by asset (:data:`flows.archive.asset_rows.ASSET_TABLES`) hold that asset's rows
    only, read while listing (no query reads their files again: `twin explain`, `twin whatif`);
    ``columns`` names, of a table, the columns its view needs hold (the keys are added; default all);
    ``bounds``: of a table, the rows its view holds (:mod:`flows.archive.asset_bounds`; default all).
    """
    base = Path(root)
    problem = folder_problem(base)
    if problem is not None:
        raise ArchiveError(problem)
    wanted = set(tables)
    limit = default_memory_mib() if memory_mib is None else max(MIN_MEMORY_MIB, memory_mib)
    con = duckdb.connect(":memory:", config={**SANDBOX, "memory_limit": f"{min(limit, MAX_MEMORY_MIB)}MiB"})
    try:
        for statement in LOCK:
            con.execute(statement)
        try:
            own = [] if asset is None else add_asset_views(con, base, wanted, asset, columns, bounds)
        except UnreadableRows as exc:
            raise ArchiveError(str(exc)) from None
        scans = [scan_table(base, t) for t in TABLES if t in wanted and t not in {s.table for s in own}]
        bad = [b for s in (*own, *scans) for b in s.bad]
        if bad:
            (on_skip or warn_once(base))(sorted(bad, key=lambda b: TABLES.index(b.table)))
        if not any(s.files for s in (*own, *scans)) \
                and not any(next((base / t).glob("**/*.parquet"), None) for t in TABLES):
            raise ArchiveError(no_tables(base))
        for s in scans:
            if s.files:
                add_view(con, s)
            elif not s.bad:  # not written yet: an empty view (a table whose every file is bad stays
                add_empty_view(con, s.table)  # missing: 0 rows would be an answer, not the warning's gap)
    except BaseException:
        con.close()
        raise
    return con


def tables_named(sql: str) -> list[str]:
    """The archive tables whose name appears in ``sql`` (only their views need building)."""
    low = sql.lower()
    return [t for t in TABLES if t in low]


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse all but one SELECT/EXPLAIN statement with a clear message (the sandbox is the guard)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        msg = f"bad query: {first_line(exc)}"
        raise ArchiveError(msg) from None
    if not statements:
        msg = "empty query"
        raise ArchiveError(msg)
    for st in statements:
        kind = st.type.name
        if kind == "MULTI":  # round 49: said "MULTI statements are refused", naming no statement
            msg = ("the archive is read-only: a PIVOT without an IN list is refused (DuckDB first creates "
                   "a type for its values); name them: PIVOT t ON col IN ('a', 'b') USING count(*)")
            raise ArchiveError(msg)
        if kind not in READ_ONLY:
            msg = f"the archive is read-only: {kind} statements are refused (use SELECT)"
            raise ArchiveError(msg)
    if len(statements) > 1:
        msg = f"one statement at a time: the query holds {len(statements)}"
        raise ArchiveError(msg)


class QueryTimeout(ArchiveError):
    """The query ran past its deadline (``twin sql --timeout``) and was stopped."""


def _timeout_message(deadline: Deadline) -> str:
    return f"query stopped after {deadline[1]:g} s (--timeout SECONDS, env TWIN_SQL_TIMEOUT; 0 = no limit)"


def interruptible(con: duckdb.DuckDBPyConnection, call: Callable[[], Any],
                  deadline: Deadline | None = None) -> Any:
    """``call()`` (a DuckDB call on ``con``) in a helper thread, so Ctrl-C always stops it.

    DuckDB does not reliably notice SIGINT while it computes in the main thread; here the main
    thread only waits, gets the KeyboardInterrupt, and interrupts the query itself. Past
    ``deadline`` (a ``time.monotonic()`` instant and its seconds, for the message) the query is
    interrupted the same way and :class:`QueryTimeout` raised.
    """
    if deadline is not None and time.monotonic() > deadline[0]:  # rows fetched in quick batches
        raise QueryTimeout(_timeout_message(deadline))
    box: dict[str, Any] = {}
    done = threading.Event()  # not join(): a broken join returned early, the query still running (exit 134)

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    try:
        while not done.wait(0.1):
            if deadline is not None and time.monotonic() > deadline[0]:
                con.interrupt()
                done.wait()
                raise QueryTimeout(_timeout_message(deadline))
    except KeyboardInterrupt:
        con.interrupt()
        done.wait()
        raise
    if "error" in box:
        raise box["error"]
    return box.get("value")


def execute(root: str | Path, sql: str, on_skip: SkipHandler | None = None,
            deadline: Deadline | None = None, memory_mib: int | None = None) -> duckdb.DuckDBPyConnection:
    """Start a read-only query; fetch its rows from the returned connection (it streams them).

    ``deadline``: see :func:`interruptible` (fetch the rows with the same one); ``memory_mib``:
    see :func:`connect`."""
    tables = tables_named(sql)
    con = connect(root, tables, on_skip, memory_mib)
    try:
        check_read_only(con, sql)
        interruptible(con, lambda: con.execute(sql), deadline)
    except duckdb.InterruptException:
        con.close()
        raise KeyboardInterrupt from None
    except duckdb.Error as exc:
        con.close()
        raise query_failed(root, exc, tables) from None
    except RuntimeError as exc:  # DuckDB reports Ctrl-C during execute() as "Query interrupted"
        con.close()
        if "interrupt" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise
    except (ArchiveError, ArchiveChanged):
        con.close()
        raise
    except KeyboardInterrupt:
        with contextlib.suppress(duckdb.Error):  # DuckDB may still call it busy for a moment
            con.close()
        raise
    return con


Rows = tuple[list[str], list[tuple[Any, ...]]]


def all_rows(con: duckdb.DuckDBPyConnection) -> Rows:
    """A started query's column names and ALL its rows (:func:`query`'s default consumer)."""
    return ([d[0] for d in con.description] if con.description else []), con.fetchall()


@overload
def query(root: str | Path, sql: str, on_skip: SkipHandler | None = None) -> Rows: ...
@overload
def query(root: str | Path, sql: str, on_skip: SkipHandler | None = None, *,
          consume: Callable[[duckdb.DuckDBPyConnection], T]) -> T: ...
def query(root: str | Path, sql: str, on_skip: SkipHandler | None = None, *,
          consume: Callable[[duckdb.DuckDBPyConnection], Any] = all_rows) -> Any:
    """Run a read-only query against the archive; returns ``consume(con)`` of the started query's
    connection: by default its column names and ALL rows (small results); a consumer may stream
    them (``con.fetchmany``) and keep what it folds. A DuckDB error while it fetches is one line
    (:func:`query_failed`); the connection is closed after it. Run once more on a fresh listing if a
    compaction removed a file meanwhile: ``consume`` is then called again, from the first row."""

    skipped = on_skip or warn_once(root)

    def read() -> Any:
        con = execute(root, sql, skipped)
        try:
            return consume(con)
        except duckdb.Error as exc:
            raise query_failed(root, exc, tables_named(sql)) from None
        finally:
            con.close()

    return once_more_if_changed(read)
