"""Which of one asset's rows a command's queries can reach, by event time (round 42, SCAN42).

:mod:`flows.archive.asset_rows` keeps the asset's rows of each file as the listing opens it, so that no
query opens a file again (round 41, SCAN41b). Kept whole, that is the asset's history of the columns
used (a year of one-minute windows: ~0.5 M rows, with ``twin_state``'s ``top_features``/``lineage``
text and ``features``' ``inputs``), where the file views streamed them. A :class:`Bound`, derived by
the command from what it read before the listing, keeps only the rows its queries can reach:

- rows whose time column lies in ``[low, high]`` (a null time is kept: a query may still reach it);
- of the rows before ``whole_from``, only the ``narrow`` columns (the others null: no query reads them);
- ``life``: only that life's rows; ``newest``: only the rows at the newest time (the others dropped as a
  newer file comes, so at most one time's writes are held).

**Why only key columns.** A view keeps the newest write of each key (:mod:`flows.archive.views`). A
filter on a column outside the key could drop a key's newest write and keep an older one, and the view
would show the older row. The time column (and ``life_id``) must therefore be part of the table's key
(:data:`flows.archive.views.KEYS`): every write of a key is kept or dropped together, so the view's rows
inside the bound are the file views' rows there. ``twin_state`` and ``features`` are bounded on
``window_start``; their queries ask ``timestamp <= t`` / ``window_end <= t``, which bounds
``window_start <= t`` because a window starts before it ends (the writer's rule: a row of another
writer breaking it, its start after its end, may be left out). ``damage_state``'s key holds its
``timestamp`` and ``life_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flows.archive.views import KEYS

__all__ = ["Bound", "at_time", "bounded", "may_reach", "newest_time", "reaches_whole"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Bound:
    """The rows of a table a command's queries can reach (see the module's docstring)."""

    column: str = "window_start"
    low: datetime | None = None
    high: datetime | None = None
    whole_from: datetime | None = None
    narrow: tuple[str, ...] = ()
    life: int | None = None
    newest: bool = False
    none: bool = False
    """No row at all (the command will not query the table: e.g. whatif's asset has no snapshot)."""

    def check(self, table: str) -> None:
        """``ValueError`` when the bound would filter on a column outside ``table``'s key."""
        key = KEYS[table].replace(" ", "").split(",")
        if self.column not in key or (self.life is not None and "life_id" not in key):
            msg = f"a bound of {table} on {self.column!r} (life {self.life}) is outside its key {key}"
            raise ValueError(msg)


def _micros(when: datetime) -> int:
    """``when`` in microseconds since 1970 (a naive time read as UTC)."""
    return ((when if when.tzinfo else when.replace(tzinfo=UTC)) - _EPOCH) // _US


def _times(table: pa.Table, column: str) -> pa.ChunkedArray | None:
    """``column`` as microseconds since 1970 (None: not a time column: another writer's, kept whole)."""
    if column not in table.column_names or not pa.types.is_timestamp(table.schema.field(column).type):
        return None
    col = table[column]
    return col.cast(pa.timestamp("us", col.type.tz), safe=False).cast(pa.int64())


def may_reach(bound: Bound | None, stats: pq.Statistics | None) -> bool:
    """Whether a row group whose ``bound.column`` statistics are ``stats`` may hold rows inside the
    time bound (no statistics, or not of times: it may)."""
    if bound is None or (bound.low is None and bound.high is None):
        return not (bound is not None and bound.none)
    if bound.none:
        return False
    try:
        if stats is None or not stats.has_min_max or stats.null_count:
            return True
        low, high = stats.min, stats.max
    except (ValueError, OverflowError, pa.ArrowException):  # a time pyarrow cannot make a datetime of
        return True
    if not isinstance(low, datetime) or not isinstance(high, datetime):
        return True
    return not ((bound.high is not None and _micros(low) > _micros(bound.high))
                or (bound.low is not None and _micros(high) < _micros(bound.low)))


def _mask(table: pa.Table, bound: Bound) -> pa.ChunkedArray | pa.Array | None:
    """The rows inside ``bound``'s time and life (a null time or life kept; None: every row)."""
    keep = None
    times = _times(table, bound.column)
    if times is not None:
        for edge, op in ((bound.low, pc.greater_equal), (bound.high, pc.less_equal)):
            if edge is not None:
                got = pc.fill_null(op(times, _micros(edge)), fill_value=True)
                keep = got if keep is None else pc.and_(keep, got)
    if bound.life is not None and "life_id" in table.column_names \
            and pa.types.is_integer(table.schema.field("life_id").type):
        got = pc.fill_null(pc.equal(table["life_id"], bound.life), fill_value=True)
        keep = got if keep is None else pc.and_(keep, got)
    return keep


def bounded(table: pa.Table, bound: Bound | None, kept: frozenset[str]) -> list[pa.Table]:
    """``table``'s rows inside ``bound``: the rows from ``whole_from`` on (or without a time) with every
    column, those before it with the ``narrow`` columns and ``kept`` (the key and bookkeeping) only."""
    if bound is None:
        return [table]
    if bound.none:
        return []
    if (keep := _mask(table, bound)) is not None and not pc.all(keep).as_py():
        table = table.filter(keep)
    if not table.num_rows:
        return []
    times = _times(table, bound.column)
    if bound.whole_from is None or times is None:
        return [table]
    early = pc.fill_null(pc.less(times, _micros(bound.whole_from)), fill_value=False)
    before, after = table.filter(early), table.filter(pc.invert(early))
    narrow = [n for n in before.column_names if n in kept or n in bound.narrow]
    return [t for t in (before.select(narrow), after) if t.num_rows]


def reaches_whole(table: pa.Table, bound: Bound) -> bool:
    """Whether ``table`` holds a row inside ``bound`` from its ``whole_from`` on (or without a time)."""
    times = _times(table, bound.column)
    if times is None or bound.whole_from is None:
        return True
    keep = pc.fill_null(pc.greater_equal(times, _micros(bound.whole_from)), fill_value=True)
    if bound.high is not None:
        keep = pc.and_(keep, pc.fill_null(pc.less_equal(times, _micros(bound.high)), fill_value=True))
    return bool(pc.any(keep).as_py())


def newest_time(table: pa.Table, column: str) -> int | None:
    """The newest time of ``column`` in ``table`` (microseconds; None: none, or not times)."""
    times = _times(table, column)
    if times is None or not len(times):
        return None
    top = pc.max(times).as_py()
    return int(top) if top is not None else None


def at_time(table: pa.Table, column: str, when: int) -> pa.Table:
    """``table``'s rows at ``when`` (microseconds) in ``column``."""
    times = _times(table, column)
    return table if times is None else table.filter(pc.equal(times, when))
