"""A file's records converted to Arrow as they arrive, so the write at a flush only sorts and writes.

With a recovery store every recovery snapshot waits until its epoch's rows are on disk
(:mod:`flows.dataflow.sinks.archive`), and that wait is inline on the worker: every window closing
meanwhile waits with it (issue 10: alert latency). The larger part of a ``twin_state`` write was the
conversion of the flow's Python records into Arrow (~10 us a row against ~3 for the Parquet
encode, RESULTS.md ARCH43), all of it done at the snapshot for 30 s of rows (round 46, LAT46:
171-186 ms per epoch end at the benchmark's 50 % load). A :class:`Pending` file converts its
records a chunk at a time as the sink hands them over (on the partition's writer thread, between
the epochs: :class:`~flows.dataflow.sinks.archive._ArchivePartition`), and its write
(:meth:`Pending.files`) converts the last chunk, joins the chunks and sorts them: round 46, part
LAT46B.

The files are the ones :func:`~flows.dataflow.sinks.archive.write_records` writes from the same
records at once (``tests/unit/test_archive_pending.py``): a fixed table's chunks are each date's
columns in arrival order, made as :func:`~.archive_columns.records_columns` makes them, joined and
then sorted by (asset_id, time) with Arrow's stable sort (ties in arrival order, as there); a date
of fewer than :data:`~.archive_columns.SMALL` records is made from its records as before (the
small-file path); the ``features`` chunks are :class:`~.feature_blocks.FeatureBlock` s (a write of
blocks is the write of their windows, :mod:`.archive_features`); a table with open columns other
than ``features`` (none today) is converted at the write, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from flows.archive.layout import ASSET, TIME_COLUMN
from flows.codec.archive_schema import mapping
from flows.codec.record_fields import FEATURE_VECTOR
from flows.dataflow.sinks.archive_columns import (
    SMALL,
    Columns,
    date_groups,
    fixed_arrays,
    fixed_schema,
    key_columns,
    key_order,
    records_file,
)
from flows.dataflow.sinks.archive_features import block_columns
from flows.dataflow.sinks.archive_files import FileData
from flows.dataflow.sinks.feature_blocks import FeatureBlock, feature_blocks

__all__ = ["CHUNK_ROWS", "Pending", "as_blocks", "item_rows"]

CHUNK_ROWS = 256
"""Records handed to the writer thread for conversion at a time: a chunk's fixed cost (one
``pa.array`` per column, a block's arrays) is then a few % of its conversion, and what is left to
convert at a snapshot is at most this many records a table."""

class Pending:
    """One file's worth of records (one flush of a sink partition) as they were converted.

    :meth:`add` converts records (in arrival order, on the writer thread); :meth:`files` gives what
    :func:`~.archive_files.write_tables` takes for the whole file: the same as
    ``write_records``' conversion of all the records at once. Not thread-safe: one thread at a time
    (the writer's jobs run in order)."""

    __slots__ = ("_blocks", "_dates", "_loose", "rows", "table")

    def __init__(self, table: str) -> None:
        self.table = table
        self.rows = 0
        self._blocks: list[FeatureBlock] = []
        self._loose: list[Any] = []  # a table with open columns other than features: converted at the write
        self._dates: dict[str, _Date] = {}

    def add(self, items: Sequence[Any]) -> None:
        """Convert ``items`` (records; for ``features`` FeatureBlocks too) after those added before.
        A fixed table's records are not kept once converted (but a date's first few: :class:`_Date`)."""
        if not items:
            return
        self.rows += item_rows(self.table, items)
        if self.table == FEATURE_VECTOR.table:
            self._blocks.extend(as_blocks(list(items)))
        elif mapping(self.table).open_field is not None:
            self._loose.extend(items)
        else:
            for date, part in date_groups(self.table, items).items():
                if (day := self._dates.get(date)) is None:
                    day = self._dates[date] = _Date()
                day.add(part, _chunk(self.table, part))

    def files(self) -> dict[str, FileData]:
        """Each date's file data (dates in order of first appearance), rows sorted."""
        if self.table == FEATURE_VECTOR.table:
            return dict(block_columns(self._blocks))
        if self._loose:
            groups = date_groups(self.table, self._loose)
            return {date: records_file(self.table, part) for date, part in groups.items()}
        return {date: _sorted(self.table, day.chunks) if day.few is None
                else records_file(self.table, day.few) for date, day in self._dates.items()}


class _Date:
    """One date of a :class:`Pending` fixed table: its converted chunks and, while it has fewer than
    :data:`~.archive_columns.SMALL` records, the records themselves (such a file is made from its
    records, the small-file path). Past that the records are let go: the chunks hold their values.

    Round 47: a flush's records were kept alive until its write (up to ``batch_rows`` twin
    snapshots a table, each a dozen tracked objects), so every young collection of the flow walked
    them again until they were promoted, and the middle collections walked them all (GC47: those
    collections were the worker's longest pauses of its own)."""

    __slots__ = ("chunks", "few")

    def __init__(self) -> None:
        self.chunks: list[list[pa.Array]] = []
        self.few: list[Any] | None = []  # the records while fewer than SMALL, then None

    def add(self, recs: Sequence[Any], chunk: list[pa.Array]) -> None:
        self.chunks.append(chunk)
        if self.few is not None:
            self.few.extend(recs)
            if len(self.few) >= SMALL:
                self.few = None


def _chunk(table: str, recs: Sequence[Any]) -> list[pa.Array]:
    """The fixed table's columns of ``recs`` (one date) in arrival order, each converted as
    :func:`~.archive_columns.records_columns` converts it (asset and time as its sort keys are)."""
    asset, when = key_columns(table, recs)
    return fixed_arrays(table, recs, {ASSET[0]: asset, TIME_COLUMN[table]: when})


def _sorted(table: str, chunks: list[list[pa.Array]]) -> Columns:
    """The chunks' columns joined and sorted by (asset_id, time), ties in arrival order (Arrow's
    sort is stable): the columns :func:`~.archive_columns.records_columns` makes of their records."""
    schema = fixed_schema(table)
    joined = [pa.concat_arrays(list(parts)) if len(chunks) > 1 else parts[0]
              for parts in zip(*chunks, strict=True)]
    at = {name: i for i, name in enumerate(schema.names)}
    order = key_order(joined[at[ASSET[0]]], joined[at[TIME_COLUMN[table]]])
    return [column.take(order) for column in joined], schema


def as_blocks(items: list[Any]) -> list[FeatureBlock]:
    """The items (FeatureBlocks and FeatureVectors) as blocks, in their order."""
    kinds = set(map(type, items))  # one C pass (the flow's flushes are records only)
    if FeatureBlock not in kinds:
        return feature_blocks(items)
    if kinds == {FeatureBlock}:
        return items
    out: list[FeatureBlock] = []
    loose: list[Any] = []
    for item in [*items, None]:
        if type(item) is FeatureBlock or item is None:
            out.extend(feature_blocks(loose))
            loose = []
            if item is not None:
                out.append(item)
        else:
            loose.append(item)
    return out


def item_rows(table: str, items: Sequence[Any]) -> int:
    """How many rows the items are (a FeatureBlock is its windows)."""
    if table != FEATURE_VECTOR.table or FeatureBlock not in set(map(type, items)):  # records (one C pass)
        return len(items)
    return sum(len(item) if type(item) is FeatureBlock else 1 for item in items)
