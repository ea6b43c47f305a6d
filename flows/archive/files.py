"""The archive's files: which ones the views may read, which are unreadable or foreign, quarantine.

A table folder ``<root>/<table>/`` should hold only what :mod:`flows.dataflow.sinks.archive` writes:
``date=YYYY-MM-DD/*.parquet`` files holding an ``asset_id`` column, or, written before issue 10,
``date=YYYY-MM-DD/asset_id=<id>/*.parquet`` files without it (both layouts may be mixed in one
archive, even in one date), whose schemas agree. Anything else (a zero-byte
or truncated file, a CSV named ``.parquet``, a file whose key columns have other types, a stray
file) is reported here and left out of the views, so one bad file never makes the whole archive
unqueryable. The check reads Parquet footers only (no data pages), so it stays cheap; a file whose
footer is intact but whose data pages are corrupt is found by :func:`corrupt_pages` (``twin archive
check --pages``, and ``twin sql`` when a query failed reading a table: it names the file).

Only regular files are read: a symbolic link (to a file or a folder) is reported and never
followed, so one planted in the archive cannot make ``twin sql`` read a file outside it, and a
FIFO or device named ``*.parquet`` is reported, never opened (a FIFO hung the query for ever).
A table folder that is itself a symbolic link (``<archive>/features -> /elsewhere``) is refused
(:class:`LinkedTable`): the reader would read, and the writer write, a whole table outside the
archive (the archive's root folder may be a link: it is what the operator names).
A table folder that is not a folder (a regular file, a FIFO ...) is reported like a foreign file
(``--repair`` moves it into ``_quarantine/<table>/<table>``): the table would be silently missing.

The archive may change while it is read: ``twin archive compact`` (or a ``--repair``) replaces or
moves files between a reader's listing and its reads. :func:`scan_table` lists a table again when
a file it listed is gone by the time its footer is read (the compaction's merged file is then in
the new listing), and raises :class:`ArchiveChanged` if that happens twice in a row.
Hidden files (``.name``: the writer's ``.*.parquet.tmp``, in progress or left by a crash) are
ignored. ``--repair`` moves bad files to ``<root>/_quarantine/``, outside every table folder.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from flows.archive.listing import listing, not_a_folder
from flows.archive.shown_text import first_line, given_word, printable, shell_word
from flows.archive.supersedes import SUPERSEDES, supersedes
from flows.codec.archive_schema import TABLES
from twin_models.text import counted

__all__ = ["CHANGED_EXIT", "COMPACTED_NAME", "COMPACT_PREFIX", "QUARANTINE", "SUPERSEDES", "TABLES",
           "ArchiveChanged", "ArchiveFile", "BadFile", "LinkedTable", "TableFiles", "corrupt_pages",
           "first_line", "given_word", "linked_table", "not_utf8", "printable", "scan_table", "shell_word",
           "vote"]

QUARANTINE = "_quarantine"
COMPACT_PREFIX = "part-compact-"
"""The start of the name of a file ``twin archive compact`` writes (then its run id, ``.parquet``)."""
COMPACTED_NAME = re.compile(r"^\.?part-compact-.+\.parquet(\.tmp)?$")
"""A compacted file's name, or its temporary one while compaction writes it (hidden, ``.tmp``)."""
PARTITION_COLUMNS = ("date", "asset_id")


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


_is_ts: Callable[[pa.DataType], bool] = pa.types.is_timestamp
REQUIRED: dict[str, dict[str, Callable[[pa.DataType], bool]]] = {
    "features": {"window_start": _is_ts},
    "twin_state": {"window_start": _is_ts},
    "alerts": {"alert_id": _is_string, "sequence": pa.types.is_integer},
    "recommendations": {"recommendation_id": _is_string},
    "audit": {"entry_id": _is_string, "timestamp": _is_ts},
    "damage_state": {"timestamp": _is_ts, "life_id": pa.types.is_integer, "d": pa.types.is_list},
    "data_quality": {"timestamp": _is_ts, "channel": _is_string},
}
_DATE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_ASSET = re.compile(r"^asset_id=(.+)$")


@dataclass(frozen=True)
class ArchiveFile:
    """A readable archive file and the partition values its path gives.

    ``asset_id`` is None for a file of the current layout (the file holds an ``asset_id`` column)."""

    path: Path
    date: date
    asset_id: str | None
    schema: pa.Schema


@dataclass(frozen=True)
class BadFile:
    """A file in a table folder that the views leave out, and why."""

    path: Path
    table: str
    reason: str


@dataclass
class TableFiles:
    """One table's readable files (sorted by path), their united schema, the files left out, and
    the files a compacted file supersedes (left out too: their rows are in the compacted file)."""

    table: str
    files: list[ArchiveFile] = field(default_factory=list)
    schema: pa.Schema | None = None
    bad: list[BadFile] = field(default_factory=list)
    superseded: list[Path] = field(default_factory=list)
    outvoted: list[ArchiveFile] = field(default_factory=list)
    """The files of :attr:`bad` that fit the table but not the other files' column types (:func:`vote`)."""


class LinkedTable(ValueError):
    """A table folder of the archive is a symbolic link: neither read nor written through."""


CHANGED_EXIT = 75
"""Exit status of a command stopped by :class:`ArchiveChanged` (sysexits' EX_TEMPFAIL: run it
again), distinct from 2, a bad query or argument."""


class ArchiveChanged(ValueError):
    """A file the reader had listed was gone when it was read: a ``twin archive compact`` (or a
    ``--repair``) replaced or moved it meanwhile. Nothing is wrong with the query or the archive."""

    exit_status = CHANGED_EXIT

    def __init__(self, path: str | Path, rows_written: int = 0) -> None:
        are = "is" if rows_written == 1 else "are"
        partial = f"; the {counted(rows_written, 'row')} written above {are} only part of the result"
        super().__init__(f"the archive changed during the query: {path} was removed meanwhile (a `twin "
                         f"archive compact` or `--repair` replaces or moves files)"
                         f"{partial if rows_written else ''}; run it again")
        self.path = Path(path)
        self.rows_written = rows_written

    def after_rows(self, rows_written: int) -> ArchiveChanged:
        """The same change, found after ``rows_written`` rows of the result were already written
        out (the message says they are only part of the result)."""
        return ArchiveChanged(self.path, rows_written)


def not_utf8(root: Path) -> str | None:
    """Why the archive folder ``root`` cannot be used: its name is not UTF-8 (None: it is). On the name
    as given: a held archive (round 42) is read through ``/proc/self/fd``, which hides the name."""
    try:
        str(root).encode("utf-8")
    except UnicodeEncodeError:
        return (f"the archive's folder {printable(str(root))} has a name that is not UTF-8: Parquet files "
                "cannot be opened there (rename the folder)")
    return None


def linked_table(table_dir: Path) -> LinkedTable | None:
    """The refusal of ``table_dir`` (``<root>/<table>``) if it is a symbolic link, else None.
    Refused rather than reported and skipped as a linked partition folder is: a whole table would
    silently be missing from the views, or the writer would write it outside the archive. So is a path
    that is not UTF-8 (:func:`not_utf8`: Arrow opened no file there, ``--repair`` moved all aside)."""
    if (problem := not_utf8(table_dir.parent)) is not None:
        return LinkedTable(problem)
    if not table_dir.is_symlink():
        return None
    try:
        target = f" (to {os.readlink(table_dir)})"
    except OSError:
        target = ""
    return LinkedTable(f"the archive's table folder {table_dir} is a symbolic link{target}: not followed "
                       "(a table folder must be a folder inside the archive; remove the link)")


_NOT_PARTITION = "not in a date=YYYY-MM-DD/ (or older date=YYYY-MM-DD/asset_id=<id>/) folder"


def _partition(table_dir: Path, path: Path) -> tuple[date, str | None] | str:
    """The (date, asset_id) of a file's folders (asset None: the file's column gives it), or the
    reason they are not a partition."""
    parts = path.relative_to(table_dir).parts
    if not path.name.endswith(".parquet"):
        return "not a Parquet file name"
    if len(parts) not in (2, 3):
        return _NOT_PARTITION
    d = _DATE.match(parts[0])
    a = _ASSET.match(parts[1]) if len(parts) == 3 else None
    if d is None or (len(parts) == 3 and a is None):
        return _NOT_PARTITION
    try:
        return date.fromisoformat(d.group(1)), None if a is None else unquote(a.group(1))
    except ValueError:
        return f"bad partition date {d.group(1)!r}"


def _read_schema(path: Path, rows: RowHook | None = None) -> pa.Schema | str:
    """The file's schema from its footer, or the reason it cannot be read; ``rows`` (:data:`RowHook`)
    given the file in the same opening."""
    try:
        if rows is None:
            return pq.read_schema(path)
        with _LOCAL.open_input_file(str(path)) as raw, pq.ParquetFile(raw) as pf:
            schema = pf.schema_arrow  # as pq.read_schema (to_arrow_schema() held ~5 KB a file more)
            rows(path, pf)
            return schema
    except (OSError, pa.ArrowException, ValueError) as exc:
        return "its name is not UTF-8" if isinstance(exc, UnicodeError) else (
            f"unreadable Parquet: {first_line(exc)}")


FOOTERS_AT_ONCE = 1024
"""Footers asked of the reading threads at a time (each a ``Future`` until its schema is taken)."""


_LOCAL = pafs.LocalFileSystem()
RowHook = Callable[[Path, pq.ParquetFile], None]
"""Called with each file opened by a listing (in its reading thread), the footer read already: a reader
that wants some of the file's rows takes them in the same opening (:mod:`flows.archive.asset_rows`)."""


def _footers(paths: list[Path], threads: int, rows: RowHook | None = None) -> Iterator[pa.Schema | str]:
    """Each file's :func:`_read_schema`, in order, read in ``threads`` threads :data:`FOOTERS_AT_ONCE`
    files at a time: ``pool.map`` of every path made a future per file at once, which held its schema
    until taken (80,000 parts: ~150 MB more at the peak than after). ``rows``: see :data:`RowHook`."""
    read = _read_schema if rows is None else (lambda p: _read_schema(p, rows))
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(paths)))) as pool:
        for lo in range(0, len(paths), FOOTERS_AT_ONCE):
            yield from pool.map(read, paths[lo:lo + FOOTERS_AT_ONCE])


def _shared(schemas: Iterable[pa.Schema | str]) -> list[pa.Schema | str]:
    """``schemas`` (as read, in order), each equal one (metadata included) the same object: a table's
    files repeat a few schemas (one per feature-name set), and each schema read is ~6-9 KB of Arrow
    objects, so keeping one per file grew a listing by ~9 KB a file (round 40, QUERY40: 20,000 parts
    of ``twin_state``, 175 MB). The key is the schema's IPC bytes (~30 us, exact, metadata included)."""
    seen: dict[bytes, pa.Schema] = {}
    return [s if isinstance(s, str) else seen.setdefault(s.serialize().to_pybytes(), s) for s in schemas]


RANK_COLUMN = "__twin_file_rank"
"""The column the views give each file's rank by (:mod:`flows.archive.views`): a file holding one of
that name is foreign (round 41, HOSTILE41: every query of its table failed, "Multiple matches for
FieldRef.Name(__twin_file_rank)")."""


def _layout_problem(schema: pa.Schema, asset_folder: bool) -> str | None:
    """Old layout: the folders give date and asset_id; current layout: the folder gives the date,
    the file its own string ``asset_id``."""
    if RANK_COLUMN in schema.names:
        return f"foreign schema: holds a {RANK_COLUMN!r} column (the name the views rank files by)"
    from_folders = PARTITION_COLUMNS if asset_folder else PARTITION_COLUMNS[:1]
    for name in from_folders:
        if name in schema.names:
            return f"foreign schema: holds its own {name!r} column (the folder gives it)"
    if asset_folder:
        return None
    if "asset_id" not in schema.names:
        return "foreign schema: no 'asset_id' column (and not in an asset_id=<id>/ folder)"
    if not _is_string(schema.field("asset_id").type):
        return f"incompatible schema: 'asset_id' is {schema.field('asset_id').type}"
    return None


def _schema_problem(table: str, schema: pa.Schema, asset_folder: bool) -> str | None:
    if (problem := _layout_problem(schema, asset_folder)) is not None:
        return problem
    for name, ok in REQUIRED[table].items():
        if name not in schema.names:
            return f"foreign schema: no {name!r} column"
        if not ok(schema.field(name).type):
            return f"incompatible schema: {name!r} is {schema.field(name).type}"
    if "_write_seq" in schema.names and not pa.types.is_integer(t := schema.field("_write_seq").type):
        return f"incompatible schema: '_write_seq' is {t}"  # orders the writes (a float failed each query)
    if (wide := next((f.name for f in schema if pa.types.is_uint64(f.type)), None)) is not None:
        # united with the writer's int64, a value past 2**63-1 failed every query reading it (round 44)
        return f"incompatible schema: {wide!r} is uint64 (the archive's integers are int64)"
    return None


def _unite(tf: TableFiles, candidates: Sequence[tuple[Path, date, str | None, pa.Schema]]) -> None:
    """Add the files :func:`vote` keeps; the others are incompatible (:attr:`TableFiles.outvoted`)."""
    bad, files, tf.schema = _vote(tf.table, candidates)
    tf.bad.extend(bad)
    tf.files.extend(sorted(files, key=lambda f: f.path))
    out = {b.path for b in bad}
    tf.outvoted.extend(ArchiveFile(*c) for c in candidates if c[0] in out)


def vote(table: str, files: Sequence[ArchiveFile]) -> set[Path]:
    """The files of ``files`` (each fitting the table) that the views leave out as incompatible with
    the others, as :func:`scan_table` decides it (``twin archive compact`` asks it what a compaction
    would change, round 40)."""
    return {b.path for b in _vote(table, [(f.path, f.date, f.asset_id, f.schema) for f in files])[0]}


def _vote(table: str, candidates: Sequence[tuple[Path, date, str | None, pa.Schema]]
          ) -> tuple[list[BadFile], list[ArchiveFile], pa.Schema | None]:
    """The files whose schema agrees with the ones before them (path order); the others are
    incompatible. If some are: again, the files giving each column its most common type first (a
    planted ``a.parquet`` whose ``vib.rms`` is text left every good file out before round 24)."""
    got = _greedy(table, candidates)
    if got[0]:  # the vote only when needed; counted per distinct schema (:func:`_shared`), each file a vote
        files_of = Counter(id(schema) for *_, schema in candidates)
        distinct = {id(schema): schema for *_, schema in candidates}
        votes: dict[str, Counter[pa.DataType]] = defaultdict(Counter)
        for key, schema in distinct.items():
            for f in schema:
                votes[f.name][f.type] += files_of[key]
        top = {name: max(v.values()) for name, v in votes.items()}
        minority = {key: sum(votes[f.name][f.type] < top[f.name] for f in schema)
                    for key, schema in distinct.items()}
        got = _greedy(table, sorted(candidates, key=lambda c: (minority[id(c[3])], c[0])))
    return got


def _greedy(table: str, candidates: Iterable[tuple[Path, date, str | None, pa.Schema]]
            ) -> tuple[list[BadFile], list[ArchiveFile], pa.Schema | None]:
    bad: list[BadFile] = []
    files: list[ArchiveFile] = []
    united: pa.Schema | None = None
    fitted: set[int] = set()  # schemas (shared objects) already in ``united``: it would not change
    for path, d, asset, schema in candidates:
        try:  # united changes only when the file fits
            if id(schema) not in fitted:
                united = schema if united is None else pa.unify_schemas([united, schema],
                                                                        promote_options="permissive")
                fitted.add(id(schema))
            files.append(ArchiveFile(path, d, asset, schema))
        except (pa.ArrowException, TypeError) as exc:
            bad.append(BadFile(path, table, f"incompatible schema: {first_line(exc)}"))
    return bad, files, united


def scan_table(root: str | Path, table: str, *, threads: int = 8, rows: RowHook | None = None) -> TableFiles:
    """Classify every file of ``<root>/<table>/`` (footers read in parallel threads; ``rows``: see
    :data:`RowHook`).

    A file listed but gone when its footer is read (a compaction merged it meanwhile) makes the
    table listed again, once: :class:`ArchiveChanged` when it happens again."""
    tf, gone = _scan_once(Path(root), table, threads, rows)
    if gone is None:
        return tf
    tf, gone = _scan_once(Path(root), table, threads, rows)
    if gone is not None:
        raise ArchiveChanged(gone)
    return tf


def _scan_once(root: Path, table: str, threads: int, rows: RowHook | None) -> tuple[TableFiles, Path | None]:
    """:func:`scan_table`'s one listing, and the first listed file found gone (None: none)."""
    table_dir = root / table
    tf = TableFiles(table)
    if (linked := linked_table(table_dir)) is not None:
        raise linked
    if (odd_folder := not_a_folder(table_dir)) is not None:
        tf.bad.append(BadFile(table_dir, table, odd_folder))
        return tf, None
    if not table_dir.is_dir():
        return tf, None
    located: list[tuple[Path, date, str | None]] = []
    listed, odd = listing(table_dir)
    if (gone := next((path for path, _ in odd if not os.path.lexists(path)), None)) is not None:
        return tf, gone
    tf.bad.extend(BadFile(path, table, reason) for path, reason in odd)
    for path in listed:
        where = _partition(table_dir, path)
        if isinstance(where, str):
            tf.bad.append(BadFile(path, table, f"foreign file: {where}"))
        else:
            located.append((path, *where))
    schemas = _shared(_footers([p for p, _, _ in located], threads, rows))
    vanished = next((p for (p, _, _), schema in zip(located, schemas, strict=True)
                     if isinstance(schema, str) and not os.path.lexists(p)), None)
    if vanished is not None:
        return tf, vanished
    def problem_of(i: int) -> str | None:
        schema, asset = schemas[i], located[i][2]
        return schema if isinstance(schema, str) else _schema_problem(table, schema, asset is not None)

    merged, refused = supersedes(table_dir, [p for p, _, _ in located], schemas,
                                 lambda i: problem_of(i) is None)
    candidates = []
    for i, ((path, d, asset), schema) in enumerate(zip(located, schemas, strict=True)):
        if path in merged:
            tf.superseded.append(path)
            continue
        problem = refused.get(path) or problem_of(i)
        if problem is not None:
            tf.bad.append(BadFile(path, table, problem))
        else:
            candidates.append((path, d, asset, schema))
    _unite(tf, candidates)
    tf.bad.sort(key=lambda b: b.path)
    return tf, None


def _page_problem(path: Path) -> str | None:
    """Why a file's data pages cannot be read (every column, every row group, decoded), or None (also
    for a file gone since the scan: a ``twin archive compact`` meanwhile merged and removed it)."""
    try:
        reader = pq.ParquetFile(path)
        for _ in reader.iter_batches(batch_size=65536):
            pass
    except (OSError, pa.ArrowException, ValueError) as exc:
        if not os.path.lexists(path):
            return None
        return f"corrupt data pages: {first_line(exc)}"
    return None


def corrupt_pages(tf: TableFiles, *, first_only: bool = False) -> list[BadFile]:
    """The readable files of ``tf`` (footer intact) whose data pages cannot be read, in path order
    (``first_only``: stop at the first). Reads every page of the table: for ``twin archive check
    --pages`` and the diagnosis of a query that failed, never for a query that works."""
    out = []
    for f in sorted(tf.files, key=lambda f: f.path):
        if (problem := _page_problem(f.path)) is not None:
            out.append(BadFile(f.path, tf.table, problem))
            if first_only:
                break
    return out
