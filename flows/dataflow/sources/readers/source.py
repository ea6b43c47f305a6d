"""Opening a history file: its errors and stats, CSV/Parquet recognition, the header and its separator.

Everything that looks at a file before its rows: a :class:`_Source` is the header (column names,
which hold lists, the CSV separator), and the place every :class:`FileFormatError` is built, so
that all messages read ``<file> line N, column 'c': ...`` (``row N`` for Parquet).
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import stat
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import pyarrow as pa
import pyarrow.parquet as pq

from flows.archive.listing import file_kind

FORMATS: tuple[str, ...] = ("nab", "scalar_table", "waveform", "events")

_PARQUET_MAGIC = b"PAR1"
_SEPARATORS = (",", ";", "\t", "|")
ROLES = {  # reserved columns of each format, besides its channels
    "nab": ("timestamp",),
    "scalar_table": ("timestamp", "asset_id"),
    "waveform": ("timestamp", "asset_id", "sample_rate_hz", "shaft_speed_hz"),
    "events": ("timestamp", "asset_id", "event", "note"),
}
ROLE_NAMES = frozenset(r for roles in ROLES.values() for r in roles)


class FileFormatError(ValueError):
    """A file that cannot be read as telemetry; the message names the file, line/row and column.

    ``line`` is the line number in a text file (the header is line 1), ``row`` the 1-based row of a
    Parquet file; both, and ``column``, are ``None`` when the problem is the file as a whole.
    """

    def __init__(self, detail: str, *, path: str | Path | None = None, line: int | None = None,
                 row: int | None = None, column: str | None = None) -> None:
        """Build ``<file> line N, column 'c': detail`` from its parts."""
        where = "" if path is None else str(path)
        if line is not None:
            where += f" line {line}"
        elif row is not None:
            where += f" row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where.strip()}: {detail}" if where else detail)
        self.path, self.line, self.row, self.column, self.detail = path, line, row, column, detail


@dataclass
class ReadStats:
    """What reading a file did: data rows seen, records produced, skipped cells/frames by reason.

    Reasons: ``empty`` (empty or null cell), ``non_finite`` (NaN/inf value), ``empty_frame`` (null
    or empty sample list), ``null_frame`` (a frame whose every sample is null), ``non_finite_frame``
    (a frame with NaN/inf or some null samples). ``reordered`` says
    that the file was not in event-time order and its records were sorted. ``frames``: a waveform
    file's frames yielded per (asset, channel) (what the backtest report's waterfalls sample from,
    so it need not count them in a pass of its own).
    """

    rows: int = 0
    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    reordered: bool = False
    frames: Counter[tuple[str, str]] = field(default_factory=Counter)


@dataclass(frozen=True)
class Source:
    """An opened file's header: its columns, which of them hold lists, and how to read it."""

    path: Path
    columns: tuple[str, ...]
    list_columns: frozenset[str]
    parquet: bool
    sep: str = ","
    nested: frozenset[str] = frozenset()  # list columns whose items are not numbers (list<list<...>>)

    def error(self, detail: str, n: int | None = None, column: str | None = None) -> FileFormatError:
        """A FileFormatError at data position ``n`` (a line of a CSV, a row of a Parquet file)."""
        if self.parquet:
            return FileFormatError(detail, path=self.path, row=n, column=column)
        return FileFormatError(detail, path=self.path, line=n, column=column)

    def unreadable(self, exc: BaseException, rows: int) -> FileFormatError:
        """Arrow's error reading a Parquet file's pages after ``rows`` rows (:data:`PARQUET_READ_ERRORS`:
        a damaged page, a file cut short while it was read) as a FileFormatError naming the file
        (round 49: ``twin: error: Couldn't deserialize thrift: ...`` named none, nor said what)."""
        why = too_many_open(exc) or f"is not a readable Parquet file past row {rows:,}: {exc}"
        return FileFormatError(why, path=self.path)


PARQUET_READ_ERRORS = (pa.ArrowException, OSError)
"""What reading a Parquet file's pages raises on a damaged file (:meth:`Source.unreadable`)."""


def not_a_file(mode: int) -> str | None:
    """``not a regular file (a FIFO)`` (a folder, a device ...) for a ``st_mode`` that is not a
    regular file's, else None (also the CLI's file flags: :mod:`flows.cli.input_files`)."""
    if stat.S_ISREG(mode):
        return None
    return f"not a regular file ({file_kind(mode)})"


def regular_file(path: Path) -> None:
    """Refuse what is not a regular file (symlinks followed) before it is opened: a FIFO nobody
    writes blocks ``open`` for ever, ``/dev/zero`` is a header line without end that fills the
    memory, and a pipe (``<(zcat ...)``) cannot be read twice (header, then rows). A missing file
    is left to ``open`` (its error names it); a symbolic link loop is named here (``open`` would
    say ``[Errno 40]``, and ``Path.resolve`` raises a RuntimeError)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            msg = "a loop of symbolic links (it names no file)"
            raise FileFormatError(msg, path=path) from None
        return
    if (why := not_a_file(mode)) is not None:
        raise FileFormatError(why, path=path)


def _is_parquet(path: Path) -> bool:
    """Parquet files start with the ``PAR1`` magic, whatever their name."""
    try:
        with path.open("rb") as f:
            return f.read(4) == _PARQUET_MAGIC
    except OSError as exc:
        if (why := too_many_open(exc)) is not None:
            raise FileFormatError(why, path=path) from None
        raise


def too_many_open(exc: BaseException) -> str | None:
    """What to do when the process may open no more files (EMFILE), else None. Round 49: 1,100
    waveform files (streamed side by side, one open file each) said ``twin: error: [Errno 24] Too
    many open files: 'w924.parquet'``, as if that file were at fault."""
    if not (isinstance(exc, OSError) and exc.errno == errno.EMFILE):
        return None
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return (f"cannot be opened: too many files open at once ({soft:,} allowed, `ulimit -n`); waveform "
            "files are read side by side, one open file each: give fewer at a time, or raise the limit")


def open_binary(path: Path) -> IO[bytes]:
    """A file's bytes, decompressed if it is named ``*.gz``."""
    raw = gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")
    return cast(IO[bytes], raw)


GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
"""What a truncated or corrupt ``*.gz`` file raises while it is read."""


def gzip_problem(exc: BaseException) -> str:
    """The one-line reason of a gzip error."""
    if isinstance(exc, EOFError):
        return "truncated gzip file (it ends before the end of the compressed data)"
    return f"corrupt gzip file ({exc})"


def open_text(path: Path) -> IO[str]:
    """A CSV file as text: UTF-8 (a BOM is dropped), gzip-compressed if named ``*.gz``."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="")


MAX_LINE_CHARS = 1 << 24
"""The longest line a CSV may have (16 Mi characters, far above a header of
:data:`~flows.dataflow.sources.readers.layout.MAX_CHANNELS` names of 128 characters, 0.5 Mi, so
that a too-wide header is named as such). A longer line (a binary file, a file of NUL bytes, a
JSON document on one line) is refused when it is reached, having read at most this much of it:
a 2 GiB line used to be read whole (4.4 GB of memory; as the header, then an internal error)."""


def long_line(limit: int = MAX_LINE_CHARS) -> str:
    """The reason given for a line longer than ``limit`` characters."""
    return f"a line longer than {limit:,} characters; is it a CSV file?"


def _sniff(header: str, path: Path) -> str:
    """The separator of a header line: the most frequent of , ; TAB | (``,`` if none)."""
    if path.name.lower().removesuffix(".gz").endswith(".tsv"):
        return "\t"
    counts = [(header.count(s), s) for s in _SEPARATORS]
    best = max(counts, key=lambda c: c[0])
    return best[1] if best[0] else ","


def _csv_source(path: Path, sep: str | None) -> Source:
    """Read a CSV header (line 1) and settle the separator."""
    try:
        with open_text(path) as f:
            header = f.readline(MAX_LINE_CHARS + 1)
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text ({exc.reason} at byte {exc.start}); is it a CSV file?"
        raise FileFormatError(msg, path=path) from None
    except GZIP_ERRORS as exc:
        raise FileFormatError(gzip_problem(exc), path=path) from None
    if sep is not None and len(sep) != 1:
        msg = f"the CSV separator must be one character, got {sep!r}"
        raise FileFormatError(msg, path=path)
    if len(header) > MAX_LINE_CHARS:
        raise FileFormatError(long_line(), path=path, line=1)
    if not header.strip():
        msg = "no header: a CSV file starts with a header line (timestamp,...)"
        raise FileFormatError(msg, path=path, line=1)
    sep = sep or _sniff(header, path)
    try:
        names = next(csv.reader([header], delimiter=sep))
    except csv.Error as exc:
        msg = f"malformed CSV header: {exc}"
        raise FileFormatError(msg, path=path, line=1) from None
    return Source(path, tuple(n.strip() for n in names), frozenset(), parquet=False, sep=sep)


def _parquet_source(path: Path) -> Source:
    """Read a Parquet schema."""
    try:
        schema = pq.read_schema(path)
    except PARQUET_READ_ERRORS as exc:
        msg = too_many_open(exc) or f"is not a readable Parquet file: {exc}"
        raise FileFormatError(msg, path=path) from None
    lists = frozenset(f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)
                      or pa.types.is_fixed_size_list(f.type))
    nested = frozenset(f.name for f in schema if f.name in lists and not (
        pa.types.is_integer(f.type.value_type) or pa.types.is_floating(f.type.value_type)))
    return Source(path, tuple(schema.names), lists, parquet=True, nested=nested)


def open_source(path: Path, sep: str | None) -> Source:
    """The header of a CSV or Parquet file (Parquet is recognised by its magic bytes)."""
    regular_file(path)
    if _is_parquet(path):
        return _parquet_source(path)
    if path.suffix.lower() == ".parquet" and path.stat().st_size == 0:  # round 50: was "no header: a CSV"
        msg = "an empty Parquet file (0 bytes: no schema, no rows)"
        raise FileFormatError(msg, path=path)
    return _csv_source(path, sep)
