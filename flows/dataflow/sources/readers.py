"""Historical telemetry files -> records, for ``twin replay`` and ``twin backtest``.

Four formats, told apart by their columns (or named with ``fmt``):

- ``nab``: a single-series CSV ``timestamp,value`` (the Numenta Anomaly Benchmark layout); the
  asset is the file stem, the channel ``value``.
- ``scalar_table`` (CSV or Parquet): ``timestamp, [asset_id,] <one column per channel>``; one
  :class:`ScalarSample` per row and channel with a finite value (empty cells and NaN/inf are skipped
  and counted in :class:`ReadStats`). Non-numeric cells are refused unless their column is listed in
  ``ignore_columns``.
- ``waveform`` (Parquet): ``timestamp, [asset_id,] sample_rate_hz, [shaft_speed_hz,] <one
  list<float> column per channel>`` (the layout of the FEMTO files); one :class:`WaveformFrame` per
  row and list column, the channel being the column name.
- ``events`` (CSV or Parquet): ``timestamp, [asset_id,] event, [note]`` with event ``install``,
  ``maintenance`` or ``failure``.

Detection: a Parquet file with a list column is ``waveform``; columns within ``timestamp, asset_id,
event, note`` that include ``event`` are ``events``; exactly ``timestamp, value`` is ``nab``;
anything else with a ``timestamp`` column is a ``scalar_table``. Reserved column names are matched
case-insensitively; a file without an ``asset_id`` column belongs to the asset named by the
``asset_id`` argument, else to the file stem (``pump-1.csv.gz`` -> ``pump-1``).

Timestamps: ISO 8601 text (``2014-02-14 14:30:00``, ``...T14:30:00Z``, ``...+01:00``), numeric epoch
seconds, or Parquet timestamp/date columns. **A timestamp without a zone (NAB's, a Parquet timestamp
without tz) is taken as UTC.** Sub-microsecond digits are dropped.

Order: CSV and table files are small enough to load, so their records are sorted by event time
(stably: ties keep row then column order). Waveform files are streamed in row batches and never
held in memory; each asset's frames must already be in time order (checked up front, from the
small timestamp column, with an error naming the row). A multi-asset file made of per-asset
blocks is merged back into event-time order.

Readers are lazy, but every format error is raised before the first record is yielded.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import logging
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from flows.codec.show import show_value
from twin_models.records import (
    EPOCH,
    EVENT_KINDS,
    MAX_ID_CHARS,
    MAX_NOTE_CHARS,
    AssetEvent,
    ScalarSample,
    Telemetry,
    WaveformFrame,
)

__all__ = ["FORMATS", "FileFormatError", "ReadStats", "estimate_records", "read_records"]

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("nab", "scalar_table", "waveform", "events")

MIN_TS = datetime(1678, 1, 1, tzinfo=UTC)  # the wire carries int64 nanoseconds
MAX_TS = datetime(2262, 1, 1, tzinfo=UTC)
_MIN_US = (MIN_TS - EPOCH) // timedelta(microseconds=1)
_MAX_US = (MAX_TS - EPOCH) // timedelta(microseconds=1)
_MAX_EPOCH_S = 1e11  # larger "epoch seconds" are almost surely milliseconds
BATCH_ROWS = 256  # waveform rows decoded at a time
MAX_RUNS = 64  # time-ordered blocks a waveform file may be made of
_PARQUET_MAGIC = b"PAR1"
_SEPARATORS = (",", ";", "\t", "|")
_US_PER_UNIT = {"s": 1_000_000, "ms": 1000, "us": 1, "ns": 1}
_ROLES = {  # reserved columns of each format, besides its channels
    "nab": ("timestamp",),
    "scalar_table": ("timestamp", "asset_id"),
    "waveform": ("timestamp", "asset_id", "sample_rate_hz", "shaft_speed_hz"),
    "events": ("timestamp", "asset_id", "event", "note"),
}
_ROLE_NAMES = frozenset(r for roles in _ROLES.values() for r in roles)


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
    or empty sample list), ``non_finite_frame`` (a frame with NaN/inf samples). ``reordered`` says
    that the file was not in event-time order and its records were sorted.
    """

    rows: int = 0
    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    reordered: bool = False


# --------------------------------------------------------------------------- sources and layout


@dataclass(frozen=True)
class _Source:
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


def _is_parquet(path: Path) -> bool:
    """Parquet files start with the ``PAR1`` magic, whatever their name."""
    with path.open("rb") as f:
        return f.read(4) == _PARQUET_MAGIC


def _open_binary(path: Path) -> IO[bytes]:
    """A file's bytes, decompressed if it is named ``*.gz``."""
    raw = gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")
    return cast(IO[bytes], raw)


_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
"""What a truncated or corrupt ``*.gz`` file raises while it is read."""


def _gzip_problem(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated gzip file (it ends before the end of the compressed data)"
    return f"corrupt gzip file ({exc})"


def _open_text(path: Path) -> IO[str]:
    """A CSV file as text: UTF-8 (a BOM is dropped), gzip-compressed if named ``*.gz``."""
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="")


def _sniff(header: str, path: Path) -> str:
    """The separator of a header line: the most frequent of , ; TAB | (``,`` if none)."""
    if path.name.lower().removesuffix(".gz").endswith(".tsv"):
        return "\t"
    counts = [(header.count(s), s) for s in _SEPARATORS]
    best = max(counts, key=lambda c: c[0])
    return best[1] if best[0] else ","


def _csv_source(path: Path, sep: str | None) -> _Source:
    """Read a CSV header (line 1) and settle the separator."""
    try:
        with _open_text(path) as f:
            header = f.readline()
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text ({exc.reason} at byte {exc.start}); is it a CSV file?"
        raise FileFormatError(msg, path=path) from None
    except _GZIP_ERRORS as exc:
        raise FileFormatError(_gzip_problem(exc), path=path) from None
    if sep is not None and len(sep) != 1:
        msg = f"the CSV separator must be one character, got {sep!r}"
        raise FileFormatError(msg, path=path)
    if not header.strip():
        msg = "no header: a CSV file starts with a header line (timestamp,...)"
        raise FileFormatError(msg, path=path, line=1)
    sep = sep or _sniff(header, path)
    names = next(csv.reader([header], delimiter=sep))
    return _Source(path, tuple(n.strip() for n in names), frozenset(), parquet=False, sep=sep)


def _parquet_source(path: Path) -> _Source:
    """Read a Parquet schema."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        msg = f"is not a readable Parquet file: {exc}"
        raise FileFormatError(msg, path=path) from None
    lists = frozenset(f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)
                      or pa.types.is_fixed_size_list(f.type))
    nested = frozenset(f.name for f in schema if f.name in lists and not (
        pa.types.is_integer(f.type.value_type) or pa.types.is_floating(f.type.value_type)))
    return _Source(path, tuple(schema.names), lists, parquet=True, nested=nested)


def _open_source(path: Path, sep: str | None) -> _Source:
    """The header of a CSV or Parquet file (Parquet is recognised by its magic bytes)."""
    return _parquet_source(path) if _is_parquet(path) else _csv_source(path, sep)


@dataclass(frozen=True)
class _Layout:
    """How a file's columns map to records: the format, reserved columns and channels."""

    fmt: str
    roles: dict[str, str]  # reserved role -> column name in the file
    channels: tuple[str, ...]
    default_asset: str

    def needed(self) -> list[str]:
        """Columns to read, in the order the record builders expect them."""
        own = [self.roles[r] for r in _ROLES[self.fmt] if r in self.roles]
        return own + list(self.channels)


def _stem(path: Path) -> str:
    """``data/pump-1.csv.gz`` -> ``pump-1``."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return Path(name).stem or name


def _roles(src: _Source) -> dict[str, str]:
    """Reserved column names present (case-insensitive) -> their spelling; no duplicates."""
    seen: dict[str, str] = {}
    for name in src.columns:
        if not name:
            msg = "the header has a column without a name"
            raise src.error(msg, 1 if not src.parquet else None)
        key = name.lower()
        if key in seen:
            msg = f"column {name!r} appears twice (as {seen[key]!r})"
            raise src.error(msg, 1 if not src.parquet else None)
        seen[key] = name
    return {k: v for k, v in seen.items() if k in _ROLE_NAMES}


def _detect(src: _Source, ignore: frozenset[str]) -> str:
    """The format a file's columns say it has (see the module docstring)."""
    kept = {c.lower() for c in src.columns if c not in ignore}
    if src.list_columns - ignore:
        return "waveform"
    if "event" in kept and kept <= set(_ROLES["events"]):
        return "events"
    if kept == {"timestamp", "value"}:
        return "nab"
    return "scalar_table"


def _layout(src: _Source, fmt: str | None, ignore: frozenset[str], asset_id: str | None) -> _Layout:
    """Check the columns against the format (given or detected); name the channels."""
    roles = _roles(src)
    if "timestamp" not in roles:
        msg = f"has no 'timestamp' column (columns: {', '.join(src.columns)})"
        raise src.error(msg)
    fmt = fmt or _detect(src, ignore)
    if fmt not in FORMATS:
        msg = f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        raise src.error(msg)
    roles = {r: c for r, c in roles.items() if r in _ROLES[fmt] and (r == "timestamp" or c not in ignore)}
    if asset_id is not None and "asset_id" in roles:
        msg = "has an asset_id column: drop the asset_id argument (it names the asset of files without one)"
        raise src.error(msg)
    extra = tuple(c for c in src.columns if c not in roles.values() and c not in ignore)
    _check_channels(src, fmt, roles, extra)
    return _Layout(fmt, roles, extra if fmt != "events" else (), asset_id or _stem(src.path))


def _check_channels(src: _Source, fmt: str, roles: dict[str, str], extra: tuple[str, ...]) -> None:
    """The non-reserved columns must be what the format allows."""
    lists = [c for c in extra if c in src.list_columns]
    flat = [c for c in extra if c not in src.list_columns]
    problem = ""
    if fmt == "nab" and extra != ("value",):
        problem = "the nab format has exactly the columns timestamp,value"
    elif fmt == "events" and "event" not in roles:
        problem = "an events file needs an 'event' column"
    elif fmt == "events" and extra:
        problem = f"unexpected column(s) {', '.join(extra)} in an events file (see ignore_columns)"
    elif fmt == "waveform" and (not src.parquet or "sample_rate_hz" not in roles or not lists or flat):
        problem = ("a waveform file is Parquet with sample_rate_hz and list<float> channel columns"
                   + (f"; not a list column: {', '.join(flat)} (see ignore_columns)" if flat else ""))
    elif fmt in ("scalar_table", "nab") and (lists or not flat):
        problem = (f"list column(s) {', '.join(lists)} in a scalar table (a waveform file?)" if lists
                   else "a scalar table needs at least one channel column besides timestamp/asset_id")
    if problem:
        msg = f"{problem}; columns: {', '.join(src.columns)}"
        raise src.error(msg)
    for name in lists:
        if name in src.nested:
            msg = "a waveform channel is a list of numbers (list<float>), not of lists or text"
            raise src.error(msg, column=name)
    for name in extra:
        if len(name) > MAX_ID_CHARS:
            msg = f"a channel name has at most {MAX_ID_CHARS} characters, this one {len(name)}"
            raise src.error(msg, column=name)


# --------------------------------------------------------------------------- cells


def _epoch(seconds: float) -> datetime:
    """Epoch seconds -> aware UTC datetime (refuses NaN and millisecond-looking values)."""
    if not math.isfinite(seconds) or abs(seconds) > _MAX_EPOCH_S:
        msg = f"epoch seconds {seconds!r} out of range (milliseconds?)"
        raise ValueError(msg)
    return EPOCH + timedelta(seconds=seconds)


def _parse_time_text(text: str) -> datetime:
    """ISO 8601 text (naive = UTC) or epoch seconds -> aware UTC datetime."""
    s = text.strip()
    if not s:
        msg = "empty timestamp"
        raise ValueError(msg)
    try:
        ts = datetime.fromisoformat(s)
    except ValueError:
        try:
            seconds = float(s)
        except ValueError:
            msg = f"{show_value(text)} is not an ISO 8601 time or epoch seconds"
            raise ValueError(msg) from None
        return _epoch(seconds)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def to_utc(value: object) -> datetime:
    """A timestamp cell (text, epoch seconds, datetime; naive = UTC) -> aware UTC datetime.

    Raises ``ValueError`` for anything else, and for times the wire cannot carry (outside
    1678..2261).
    """
    if isinstance(value, str):
        ts = _parse_time_text(value)
    elif isinstance(value, datetime):
        ts = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        ts = _epoch(float(value))
    else:
        msg = "empty timestamp" if value is None else f"{show_value(value)} is not a timestamp"
        raise ValueError(msg)
    if not MIN_TS <= ts < MAX_TS:
        msg = f"timestamp {ts.isoformat()} is outside 1678..2261 (int64 nanoseconds on the wire)"
        raise ValueError(msg)
    return ts


def _cell_time(src: _Source, n: int, column: str, value: object) -> datetime:
    """A timestamp cell, or a FileFormatError naming its place."""
    try:
        return to_utc(value)
    except (ValueError, OverflowError) as exc:
        raise src.error(str(exc), n, column) from None


def _cell_number(src: _Source, n: int, column: str, value: object) -> float | None:
    """A numeric cell -> float (NaN/inf included); ``None`` for an empty or null cell."""
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            msg = f"{show_value(value)} is not a number (a text column? list it in ignore_columns to skip it)"
            raise src.error(msg, n, column) from None
    if value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    msg = f"{show_value(value)} ({type(value).__name__}) is not a number (see ignore_columns)"
    raise src.error(msg, n, column)


def _cell_asset(src: _Source, n: int, column: str, value: object) -> str:
    """An asset_id cell: text (or an integer) of 1..128 characters."""
    text = value.strip() if isinstance(value, str) else str(value) if type(value) is int else ""
    if not 1 <= len(text) <= MAX_ID_CHARS:
        msg = f"asset_id must be text of 1..{MAX_ID_CHARS} characters, got {show_value(value)}"
        raise src.error(msg, n, column)
    return text


def _cell_kind(src: _Source, n: int, column: str, value: object) -> str:
    """An event cell: install | maintenance | failure (case and spaces ignored)."""
    kind = value.strip().lower() if isinstance(value, str) else None
    if kind not in EVENT_KINDS:
        msg = f"{show_value(value)} is not an event kind ({' | '.join(EVENT_KINDS)})"
        raise src.error(msg, n, column)
    return kind


def _cell_note(src: _Source, n: int, column: str, value: object) -> str:
    """An optional note cell: text of at most 4096 characters."""
    text = "" if value is None else str(value)
    if len(text) > MAX_NOTE_CHARS:
        msg = f"a note has at most {MAX_NOTE_CHARS} characters, this one {len(text)}"
        raise src.error(msg, n, column)
    return text


# --------------------------------------------------------------------------- rows of a table


def _arrow_us(src: _Source, column: str, arr: pa.Array | pa.ChunkedArray,
              first_row: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]] | None:
    """A timestamp/date column -> (microseconds since the epoch, valid mask); ``None`` for others.

    Times without a zone are taken as UTC; nanoseconds are floored to microseconds.
    """
    typ = arr.type
    if pa.types.is_timestamp(typ):
        raw, per_us, div = arr.cast(pa.int64()), _US_PER_UNIT[typ.unit], 1000 if typ.unit == "ns" else 1
        unit = typ.unit
    elif pa.types.is_date32(typ):
        raw, per_us, div, unit = arr.cast(pa.int32()).cast(pa.int64()), 86_400_000_000, 1, "days"
    elif pa.types.is_date64(typ):
        raw, per_us, div, unit = arr.cast(pa.int64()), 1000, 1, "ms"
    else:
        return None
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    ints = np.asarray(raw.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    limit = np.iinfo(np.int64).max // per_us
    us = np.clip(ints, -limit, limit) * per_us // div
    bad = np.flatnonzero(valid & ((us < _MIN_US) | (us >= _MAX_US)))
    if bad.size:
        msg = f"timestamp {ints[bad[0]]} {unit} after 1970 is outside 1678..2261 (int64 ns on the wire)"
        raise src.error(msg, first_row + int(bad[0]) + 1, column)
    return us, valid


def _from_us(us: int) -> datetime:
    """Microseconds since the epoch -> aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def _arrow_cells(src: _Source, column: str, arr: pa.Array, first_row: int) -> list[object]:
    """One Parquet column of a batch as Python values (timestamps as aware UTC datetimes)."""
    times = _arrow_us(src, column, arr, first_row)
    if times is None:
        return arr.to_pylist()
    us, valid = times
    return [_from_us(int(u)) if v else None for u, v in zip(us.tolist(), valid.tolist(), strict=True)]


def _parquet_rows(src: _Source, names: list[str]) -> Iterator[tuple[int, Sequence[object]]]:
    """(1-based row, cells of ``names``) of a Parquet table, batch by batch."""
    n = 0
    with pq.ParquetFile(src.path) as pf:
        for batch in pf.iter_batches(batch_size=8192, columns=names):
            cols = [_arrow_cells(src, name, batch.column(name), n) for name in names]
            for cells in zip(*cols, strict=True):
                n += 1
                yield n, cells


def _csv_rows(src: _Source, names: list[str]) -> Iterator[tuple[int, Sequence[object]]]:
    """(line number, cells of ``names``) of a CSV file; blank rows are skipped."""
    pick, width, line = [src.columns.index(c) for c in names], len(src.columns), 1
    try:
        with _open_text(src.path) as f:
            reader = csv.reader(f, delimiter=src.sep)
            next(reader, None)
            line = reader.line_num
            for cells in reader:
                n, line = line + 1, reader.line_num
                if not any(cells):
                    continue
                if len(cells) != width:
                    msg = f"has {len(cells)} fields, the header has {width} (separator {src.sep!r})"
                    raise src.error(msg, n)
                yield n, [cells[i] for i in pick]
    except csv.Error as exc:
        msg = f"malformed CSV: {exc}"
        raise src.error(msg, line + 1) from None
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text ({exc.reason})"
        raise src.error(msg, line + 1) from None
    except _GZIP_ERRORS as exc:
        raise src.error(_gzip_problem(exc), line + 1) from None


def _table_rows(src: _Source, names: list[str]) -> Iterator[tuple[int, Sequence[object]]]:
    """(line or row number, cells of ``names``) of a CSV or Parquet table."""
    return _parquet_rows(src, names) if src.parquet else _csv_rows(src, names)


def _scalars(src: _Source, lay: _Layout, stats: ReadStats) -> list[ScalarSample]:
    """Every finite (row, channel) cell of a scalar table as a ScalarSample."""
    tcol, acol = lay.roles["timestamp"], lay.roles.get("asset_id")
    first = 1 if acol is None else 2
    chans = list(enumerate(lay.channels, start=first))
    out: list[ScalarSample] = []
    for n, cells in _table_rows(src, lay.needed()):
        ts = _cell_time(src, n, tcol, cells[0])
        asset = lay.default_asset if acol is None else _cell_asset(src, n, acol, cells[1])
        stats.rows += 1
        for i, name in chans:
            value = _cell_number(src, n, name, cells[i])
            if value is None:
                stats.skipped["empty"] += 1
            elif not math.isfinite(value):
                stats.skipped["non_finite"] += 1
            else:
                out.append(ScalarSample(asset, name, ts, value))
    return out


def _events(src: _Source, lay: _Layout, stats: ReadStats) -> list[AssetEvent]:
    """Every row of an events file as an AssetEvent."""
    names = lay.needed()
    pos = {r: names.index(c) for r, c in lay.roles.items()}
    out: list[AssetEvent] = []
    for n, cells in _table_rows(src, names):
        ts = _cell_time(src, n, lay.roles["timestamp"], cells[0])
        asset = (lay.default_asset if "asset_id" not in pos
                 else _cell_asset(src, n, lay.roles["asset_id"], cells[pos["asset_id"]]))
        kind = _cell_kind(src, n, lay.roles["event"], cells[pos["event"]])
        note = "" if "note" not in pos else _cell_note(src, n, lay.roles["note"], cells[pos["note"]])
        stats.rows += 1
        out.append(AssetEvent(asset, ts, kind, note))  # type: ignore[arg-type]
    return out


def _sort_by_time(records: list[Any]) -> bool:
    """Sort records by timestamp in place (stable); True if they were not in order."""
    if all(a.timestamp <= b.timestamp for a, b in zip(records, records[1:], strict=False)):
        return False
    records.sort(key=lambda r: r.timestamp)
    return True


def _read_table(src: _Source, lay: _Layout, stats: ReadStats) -> list[Telemetry]:
    """A whole scalar or events table, sorted by event time."""
    records: list[Any] = _events(src, lay, stats) if lay.fmt == "events" else _scalars(src, lay, stats)
    stats.reordered = _sort_by_time(records)
    return records


# --------------------------------------------------------------------------- waveform files


@dataclass(frozen=True)
class _WaveIndex:
    """The small per-row columns of a waveform file, read and checked before any samples."""

    times_us: npt.NDArray[np.int64]
    assets: list[str]
    rates: list[float]
    shafts: list[float | None]


def _numeric_column(src: _Source, column: str, arr: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """A numeric Parquet column as float64 (null -> NaN)."""
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        msg = f"must be numeric, is {arr.type}"
        raise src.error(msg, column=column)
    return np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _wave_times(src: _Source, column: str, arr: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """The timestamp column as microseconds since the epoch; no nulls."""
    times = _arrow_us(src, column, arr)
    if times is None:  # ISO text or epoch seconds
        one_us = timedelta(microseconds=1)
        cells = enumerate(arr.to_pylist(), start=1)
        return np.array([(_cell_time(src, n, column, v) - EPOCH) // one_us for n, v in cells], dtype=np.int64)
    us, valid = times
    if not valid.all():
        msg = "empty timestamp"
        raise src.error(msg, int(np.argmin(valid)) + 1, column)
    return us


def _wave_rates(src: _Source, column: str, arr: pa.ChunkedArray) -> list[float]:
    """Sample rates, each in [1, 1e6] Hz."""
    rates = _numeric_column(src, column, arr)
    bad = np.flatnonzero(~((rates >= 1.0) & (rates <= 1e6)))
    if bad.size:
        msg = f"sample rate {show_value(arr[int(bad[0])].as_py())} is not in [1, 1e6] Hz"
        raise src.error(msg, int(bad[0]) + 1, column)
    return rates.tolist()


def _wave_shafts(src: _Source, column: str, arr: pa.ChunkedArray) -> list[float | None]:
    """Shaft speeds (null or NaN = not measured -> None), each finite and >= 0."""
    speeds = _numeric_column(src, column, arr)
    bad = np.flatnonzero((speeds < 0) | np.isinf(speeds))
    if bad.size:
        msg = f"shaft speed {show_value(float(speeds[bad[0]]))} must be a finite number >= 0 Hz"
        raise src.error(msg, int(bad[0]) + 1, column)
    return [None if math.isnan(v) else v for v in speeds.tolist()]


def _check_order(src: _Source, column: str, times: npt.NDArray[np.int64], assets: list[str]) -> None:
    """Each asset's frames must be in time order (checked on the timestamps alone)."""
    ids: dict[str, int] = {}
    codes = np.fromiter((ids.setdefault(a, len(ids)) for a in assets), dtype=np.int64, count=len(assets))
    order = np.argsort(codes, kind="stable")
    t, c = times[order], codes[order]
    bad = np.flatnonzero((t[1:] < t[:-1]) & (c[1:] == c[:-1]))
    if bad.size:
        k = int(bad[0])
        before, after = int(order[k]), int(order[k + 1])
        msg = (f"frames of asset {assets[after]!r} are out of time order: "
               f"{_from_us(int(t[k + 1])).isoformat()} comes after {_from_us(int(t[k])).isoformat()} "
               f"(row {before + 1}); waveform files are streamed, not sorted: sort it by timestamp first")
        raise src.error(msg, after + 1, column)


def _runs(src: _Source, times: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """The file as time-ordered blocks of rows ``[lo, hi)`` (one block for a sorted file)."""
    breaks = (np.flatnonzero(times[1:] < times[:-1]) + 1).tolist()
    bounds = [0, *breaks, len(times)]
    if len(bounds) - 1 > MAX_RUNS:
        msg = (f"is not in time order across assets ({len(bounds) - 1} time-ordered blocks, at most "
               f"{MAX_RUNS} are merged while streaming): sort it by timestamp first")
        raise src.error(msg)
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]


def _wave_index(src: _Source, lay: _Layout) -> _WaveIndex:
    """Read and check every column of a waveform file except the samples."""
    r = lay.roles
    cols = [c for c in (r["timestamp"], r.get("asset_id"), r["sample_rate_hz"], r.get("shaft_speed_hz")) if c]
    with pq.ParquetFile(src.path) as pf:
        table = pf.read(columns=cols)
    times = _wave_times(src, r["timestamp"], table.column(r["timestamp"]))
    if "asset_id" in r:
        cells = enumerate(table.column(r["asset_id"]).to_pylist(), start=1)
        assets = [_cell_asset(src, n, r["asset_id"], v) for n, v in cells]
    else:
        assets = [lay.default_asset] * table.num_rows
    _check_order(src, r["timestamp"], times, assets)
    rates = _wave_rates(src, r["sample_rate_hz"], table.column(r["sample_rate_hz"]))
    shafts: list[float | None] = [None] * table.num_rows
    if "shaft_speed_hz" in r:
        shafts = _wave_shafts(src, r["shaft_speed_hz"], table.column(r["shaft_speed_hz"]))
    return _WaveIndex(times, assets, rates, shafts)


def _row_batches(path: Path, columns: list[str], lo: int, hi: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first row, batch) covering rows ``[lo, hi)``, decoding only the row groups that hold them."""
    with pq.ParquetFile(path) as pf:
        end = 0
        for g in range(pf.metadata.num_row_groups):
            start, end = end, end + pf.metadata.row_group(g).num_rows
            if end <= lo or start >= hi:
                continue
            pos = start
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], columns=columns):
                a, b = max(pos, lo), min(pos + batch.num_rows, hi)
                if a < b:
                    yield a, batch.slice(a - pos, b - a)
                pos += batch.num_rows
                if pos >= hi:
                    return


_ListParts = tuple[npt.NDArray[Any], npt.NDArray[np.float32], npt.NDArray[Any] | None, bool]


def _list_parts(arr: pa.Array) -> _ListParts:
    """A list column of a batch -> (offsets, float32 values, valid mask or None, all finite)."""
    if not (pa.types.is_list(arr.type) and arr.type.value_type == pa.float32()):
        arr = arr.cast(pa.list_(pa.float32()), safe=False)
    offsets = arr.offsets.to_numpy()
    values = np.asarray(arr.values.to_numpy(zero_copy_only=False), dtype=np.float32)
    valid = None if arr.null_count == 0 else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
    return offsets, values, valid, bool(np.isfinite(values).all())


def _batch_frames(lay: _Layout, index: _WaveIndex, first: int, batch: pa.RecordBatch,
                  stats: ReadStats) -> Iterator[WaveformFrame]:
    """One WaveformFrame per row and channel of a batch (null, empty or non-finite frames skipped)."""
    parts = [(name, *_list_parts(batch.column(name))) for name in lay.channels]
    times = index.times_us[first:first + batch.num_rows].tolist()
    for i, us in enumerate(times):
        r = first + i
        ts, asset, rate, shaft = _from_us(us), index.assets[r], index.rates[r], index.shafts[r]
        for name, offsets, values, valid, finite in parts:
            a, b = offsets[i], offsets[i + 1]
            if a == b or (valid is not None and not valid[i]):
                stats.skipped["empty_frame"] += 1
                continue
            samples = values[a:b]
            if not finite and not np.isfinite(samples).all():
                stats.skipped["non_finite_frame"] += 1
                continue
            yield WaveformFrame(asset, name, ts, rate, samples.copy(), shaft)


def _run_frames(src: _Source, lay: _Layout, index: _WaveIndex, lo: int, hi: int,
                stats: ReadStats) -> Iterator[WaveformFrame]:
    """The frames of rows ``[lo, hi)``, in row order."""
    for first, batch in _row_batches(src.path, list(lay.channels), lo, hi):
        yield from _batch_frames(lay, index, first, batch, stats)


def _read_waveforms(src: _Source, lay: _Layout, stats: ReadStats) -> Iterable[WaveformFrame]:
    """A waveform file's frames in event-time order, streamed (the checks run first)."""
    index = _wave_index(src, lay)
    stats.rows = len(index.assets)
    runs = _runs(src, index.times_us)
    streams = [_run_frames(src, lay, index, lo, hi, stats) for lo, hi in runs]
    stats.reordered = len(streams) > 1
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda f: f.timestamp)


# --------------------------------------------------------------------------- public API


def _prepare(path: str | Path, fmt: str | None, sep: str | None, ignore_columns: Iterable[str],
             asset_id: str | None) -> tuple[_Source, _Layout]:
    """Open a file's header and settle its layout."""
    ignore = frozenset([ignore_columns] if isinstance(ignore_columns, str) else ignore_columns)
    src = _open_source(Path(path), sep)
    return src, _layout(src, fmt, ignore, asset_id)


def read_records(path: str | Path, *, fmt: str | None = None, sep: str | None = None,
                 ignore_columns: Iterable[str] = (), asset_id: str | None = None,
                 stats: ReadStats | None = None) -> Iterator[Telemetry]:
    """One file's records in event-time order (see the module docstring for formats and rules).

    ``fmt`` forces a format (``nab``, ``scalar_table``, ``waveform``, ``events``) instead of
    detecting it; ``sep`` is the CSV separator (default: the most frequent of ``, ; TAB |`` in the
    header; TAB for ``*.tsv``); ``ignore_columns`` are columns to skip (text columns of a scalar
    table, extra columns); ``asset_id`` names the asset of a file without an ``asset_id`` column
    (default: the file stem). ``stats``, if given, is filled in while reading.

    Lazy: nothing is read until the first record is requested; a :class:`FileFormatError` naming the
    file, line/row and column is raised before the first record is yielded.
    """
    st = stats if stats is not None else ReadStats()
    src, lay = _prepare(path, fmt, sep, ignore_columns, asset_id)
    records: Iterable[Telemetry] = (_read_waveforms(src, lay, st) if lay.fmt == "waveform"
                                    else _read_table(src, lay, st))
    for rec in records:
        st.records += 1
        yield rec
    level = logging.INFO if st.skipped or st.reordered else logging.DEBUG
    log.log(level, "%s (%s): %d rows, %d records, skipped %s%s", src.path, lay.fmt, st.rows, st.records,
            dict(st.skipped) or "nothing", ", sorted by time" if st.reordered else "")


def _count_lines(path: Path) -> int:
    """Lines of a (possibly gzipped) text file, counting a last line without a newline."""
    n, last = 0, b"\n"
    try:
        with _open_binary(path) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                n += chunk.count(b"\n")
                last = chunk[-1:]
    except _GZIP_ERRORS as exc:
        raise FileFormatError(_gzip_problem(exc), path=path) from None
    return n + (last != b"\n")


def estimate_records(path: str | Path, *, fmt: str | None = None, sep: str | None = None,
                     ignore_columns: Iterable[str] = (), asset_id: str | None = None) -> int:
    """Records a file holds at most, cheaply: rows x channels from Parquet metadata or line counts.

    Empty cells and blank lines are counted, so this is an upper bound (exact for complete files).
    """
    src, lay = _prepare(path, fmt, sep, ignore_columns, asset_id)
    per_row = 1 if lay.fmt == "events" else len(lay.channels)
    if src.parquet:
        rows = pq.read_metadata(src.path).num_rows
    else:
        rows = _count_lines(src.path) - 1
    return max(rows, 0) * per_row
