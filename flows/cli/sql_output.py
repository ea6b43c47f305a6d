"""Stream a query's rows out as an aligned table, CSV or JSON lines, at most ``max_rows`` of them.

Rows are fetched in batches (never the whole result), so ``SELECT * FROM range(1000000000)``
prints its first ``max_rows`` rows at once with bounded memory. Every DuckDB value type has a
JSON form (``to_json``): DECIMAL and HUGEINT as numbers, NaN and infinities as null, dates and
times as ISO 8601 text, INTERVAL as an ISO 8601 duration, BLOB as base64, UUID and ENUM as text,
LIST/ARRAY as arrays, STRUCT and MAP as objects (non-text map keys as their JSON text).

Two columns of one name (``SELECT 1 AS a, 2 AS a``) are two keys in JSON lines: the later ones are
renamed as DuckDB names them in a subquery (``a_1``, ...; :func:`unique_names`), where one key
used to keep the last value only. The table format is for a terminal: a character that is not
printable (an escape sequence, which drives the terminal, a newline, which forges a row, a
bidirectional override) is shown as its Python escape (``\\x1b``, ``\\n``, ``\\u202e``;
:func:`printable`); CSV and JSON keep the exact text.

>>> to_json([Decimal("1.50"), float("nan"), b"ab", timedelta(days=1, seconds=3.5)])
[1.5, None, 'YWI=', 'P1DT3.5S']
>>> unique_names(["a", "a", "a_1"]), printable("x\\x1b[2J\\ny")
(['a', 'a_1', 'a_1_1'], 'x\\\\x1b[2J\\\\ny')
"""

from __future__ import annotations

import base64
import csv
import json
import math
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol, TextIO

from flows.archive.files import printable
from twin_models.text import counted

__all__ = ["DEFAULT_MAX_ROWS", "DEFAULT_TIMEOUT_S", "iso_duration", "printable", "stream_rows", "to_json",
           "to_text", "unique_names", "write_result"]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_TIMEOUT_S = 300.0
"""``twin sql --timeout``: a query (fetching included) is stopped after 5 minutes unless told
otherwise, so a runaway query (a recursive CTE without end, a cross join of every window) does
not hold a core of a shared machine for ever."""
BATCH = 1000


class Cursor(Protocol):
    """What is needed of a DuckDB connection holding a result."""

    @property
    def description(self) -> Any: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...


def iso_duration(td: timedelta) -> str:
    """``timedelta`` as an ISO 8601 duration (``P1DT2H3M4.5S``; negative with a leading ``-``)."""
    if td < timedelta(0):
        return "-" + iso_duration(-td)
    hours, rest = divmod(td.seconds, 3600)
    minutes, secs = divmod(rest, 60)
    s = f"{secs + td.microseconds / 1e6:.6f}".rstrip("0").rstrip(".")
    clock = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (s, "S")) if v not in (0, "0"))
    if td.days:
        return f"P{td.days}D" + (f"T{clock}" if clock else "")
    return f"PT{clock or '0S'}"


def to_json(v: Any) -> Any:
    """A value DuckDB returned, as something ``json.dumps(..., allow_nan=False)`` accepts."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Decimal):
        return float(v) if v.is_finite() else None
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, timedelta):
        return iso_duration(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, list | tuple):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {(k if isinstance(k, str) else json.dumps(to_json(k))): to_json(x) for k, x in v.items()}
    return str(v)


def to_text(v: Any) -> str:
    """A value as one CSV/table cell: empty for NULL, JSON text for nested values."""
    if v is None:
        return ""
    if isinstance(v, list | tuple | dict):
        return json.dumps(to_json(v), allow_nan=False)
    if isinstance(v, bytes | bytearray | memoryview | timedelta | Decimal):
        return str(to_json(v))
    if isinstance(v, datetime | date | time):
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    return str(v)


def unique_names(cols: list[str]) -> list[str]:
    """Column names made unique as DuckDB does in a subquery: a repeated name gets ``_1`` (then
    ``_1_1`` ...) until it is free."""
    seen: set[str] = set()
    out = []
    for c in cols:
        while c in seen:
            c = f"{c}_1"
        seen.add(c)
        out.append(c)
    return out


Fetch = Callable[[int], list[tuple[Any, ...]]]


def stream_rows(fetch: Fetch, max_rows: int) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of rows, at most ``max_rows`` in all (0 = no limit); raises ``Truncated`` when cut."""
    sent = 0
    while True:
        want = BATCH if max_rows == 0 else min(BATCH, max_rows - sent)
        if want == 0:
            if fetch(1):
                raise Truncated(sent)
            return
        rows = fetch(want)
        if not rows:
            return
        sent += len(rows)
        yield rows


class Truncated(Exception):
    """The result had more rows than ``max_rows``; ``shown`` were written."""

    def __init__(self, shown: int) -> None:
        super().__init__(shown)
        self.shown = shown


def _table(cols: list[str], batches: Iterator[list[tuple[Any, ...]]], out: TextIO) -> int:
    """Aligned columns; widths from the first batch (later rows stay left-aligned under them)."""
    cols = [printable(c) for c in cols]
    n, widths = 0, [len(c) for c in cols]
    for i, rows in enumerate(batches):
        cells = [[printable(to_text(v)) for v in r] for r in rows]
        if i == 0:
            widths = [max([w] + [len(r[j]) for r in cells]) for j, w in enumerate(widths)]
            out.write("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + "\n")
            out.write("  ".join("-" * w for w in widths) + "\n")
        out.writelines("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + "\n"
                       for r in cells)
        n += len(rows)
    if n == 0:
        out.write("  ".join(cols) + "\n" + "  ".join("-" * len(c) for c in cols) + "\n")
    return n


def write_result(cur: Cursor, fmt: str, max_rows: int, out: TextIO,
                 fetch: Fetch | None = None) -> tuple[int, bool]:
    """Write the result in ``fmt``; returns (rows written, whether rows were cut).

    ``fetch(n)`` gets the next rows (default ``cur.fetchmany``).
    """
    cols = [d[0] for d in cur.description] if cur.description else []
    batches = stream_rows(fetch or cur.fetchmany, max_rows)
    n = 0
    try:
        if fmt == "table":
            n = _table(cols, batches, out)
        elif fmt == "csv":
            w = csv.writer(out)
            w.writerow(cols)
            for rows in batches:
                w.writerows([to_text(v) for v in r] for r in rows)
                n += len(rows)
        else:
            keys = unique_names(cols)
            for rows in batches:
                out.writelines(json.dumps(dict(zip(keys, to_json(list(r)), strict=True)),
                                          allow_nan=False) + "\n" for r in rows)
                n += len(rows)
        cut = False
    except Truncated as t:
        n, cut = t.shown, True
    if fmt == "table":
        out.write(f"({counted(n, 'row')}{', more not shown' if cut else ''})\n")
    return n, cut
