"""Cells and timestamps: the rules for one value, shared by the vectorised column readers and waveforms.

Each ``as_*`` function takes one cell (text from a CSV, a Python value from Parquet) and returns
the value or raises ``ValueError`` with the reason; the column readers call them only where the
vectorised Arrow path cannot decide (and to word the error of the first bad cell), so the rules
live here once. Timestamps: ISO 8601 text, numeric epoch seconds, or Arrow timestamp/date values;
**a time without a zone is UTC**; sub-microsecond digits are dropped; the wire carries int64
nanoseconds, so times outside 1678..2261 are refused.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from flows.codec.show import show_value
from flows.dataflow.sources.readers.source import Source
from twin_models.records import EPOCH, EVENT_KINDS, MAX_ID_CHARS, MAX_NOTE_CHARS

MIN_TS = datetime(1678, 1, 1, tzinfo=UTC)  # the wire carries int64 nanoseconds
MAX_TS = datetime(2262, 1, 1, tzinfo=UTC)
MIN_US = (MIN_TS - EPOCH) // timedelta(microseconds=1)
MAX_US = (MAX_TS - EPOCH) // timedelta(microseconds=1)
_MAX_EPOCH_S = 1e11  # larger "epoch seconds" are almost surely milliseconds
_US_PER_UNIT = {"s": 1_000_000, "ms": 1000, "us": 1, "ns": 1}
ONE_US = timedelta(microseconds=1)


def _epoch(seconds: float) -> datetime:
    """Epoch seconds -> aware UTC datetime (refuses NaN and millisecond-looking values)."""
    if not math.isfinite(seconds) or abs(seconds) > _MAX_EPOCH_S:
        msg = f"epoch seconds {seconds!r} out of range (milliseconds?)"
        raise ValueError(msg)
    return EPOCH + timedelta(seconds=seconds)


def _parse_time_text(text: str) -> datetime:
    """ISO 8601 text or epoch seconds -> aware UTC datetime."""
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


def as_time_us(value: object) -> int:
    """A timestamp cell -> microseconds since the epoch (see :func:`to_utc`)."""
    try:
        return (to_utc(value) - EPOCH) // ONE_US
    except OverflowError as exc:
        raise ValueError(str(exc)) from None


def as_number(value: object) -> float | None:
    """A numeric cell -> float (NaN/inf included); ``None`` for an empty or null cell."""
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            msg = f"{show_value(value)} is not a number (a text column? list it in ignore_columns to skip it)"
            raise ValueError(msg) from None
    if value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    msg = f"{show_value(value)} ({type(value).__name__}) is not a number (see ignore_columns)"
    raise ValueError(msg)


def as_asset(value: object) -> str:
    """An asset_id cell: text (or an integer) of 1..128 characters."""
    text = value.strip() if isinstance(value, str) else str(value) if type(value) is int else ""
    if not 1 <= len(text) <= MAX_ID_CHARS:
        msg = f"asset_id must be text of 1..{MAX_ID_CHARS} characters, got {show_value(value)}"
        raise ValueError(msg)
    return text


def as_kind(value: object) -> str:
    """An event cell: install | maintenance | failure (case and spaces ignored)."""
    kind = value.strip().lower() if isinstance(value, str) else None
    if kind not in EVENT_KINDS:
        msg = f"{show_value(value)} is not an event kind ({' | '.join(EVENT_KINDS)})"
        raise ValueError(msg)
    return kind


def as_note(value: object) -> str:
    """An optional note cell: text of at most 4096 characters."""
    text = "" if value is None else str(value)
    if len(text) > MAX_NOTE_CHARS:
        msg = f"a note has at most {MAX_NOTE_CHARS} characters, this one {len(text)}"
        raise ValueError(msg)
    return text


def from_us(us: int) -> datetime:
    """Microseconds since the epoch -> aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def arrow_us(src: Source, column: str, arr: pa.Array | pa.ChunkedArray,
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
    bad = np.flatnonzero(valid & ((us < MIN_US) | (us >= MAX_US)))
    if bad.size:
        msg = f"timestamp {ints[bad[0]]} {unit} after 1970 is outside 1678..2261 (int64 ns on the wire)"
        raise src.error(msg, first_row + int(bad[0]) + 1, column)
    return us, valid


def cell_time(src: Source, n: int, column: str, value: object) -> datetime:
    """A timestamp cell, or a FileFormatError naming its place."""
    try:
        return to_utc(value)
    except (ValueError, OverflowError) as exc:
        raise src.error(str(exc), n, column) from None


def cell_asset(src: Source, n: int, column: str, value: object) -> str:
    """An asset_id cell, or a FileFormatError naming its place."""
    try:
        return as_asset(value)
    except ValueError as exc:
        raise src.error(str(exc), n, column) from None
