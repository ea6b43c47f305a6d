"""A resumable Bytewax source partition over a deterministic stream of records.

Used by the simulator and the file replay: each record is handed on inside a RawRecord
(``record``), and the decode step judges it exactly as it would judge its wire encoding
(binary waveform frames, JSON scalars and events, as producers put them on Kafka), so the
decode step and dead letters behave the same; scalars and events are not serialised to JSON
and parsed back (:func:`flows.codec.decode_record`): that was a quarter of a scalar
backtest's time. The state is the number of records emitted; the stream is
deterministic, so a resume regenerates it and skips that many (read, not encoded).

Holds: with ``hold`` (the process's fleet board's :meth:`~flows.dataflow.fleet_models.FleetBoard.hold_s`,
set by the flow), a record stamped past the hold waits (not emitted, not counted in the state) until
the fleet model version the hold waits for is published: windows it applies to cannot close before.

Digital thread: each record carries its origin (``file:<name>`` or, for the simulator,
``sim:seed=<n>``) and its ordinal among that origin's records (a piece: its first sample's,
and its samples' positions as an array), counted again over the skipped records on a resume.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from bytewax.inputs import StatefulSourcePartition

from flows import codec
from flows.dataflow.items import RawRecord, ScalarColumns
from twin_models.records import Telemetry

__all__ = ["HOLD_POLL", "HeldSource", "ReplayPartition", "encode_record"]

HOLD_POLL = timedelta(milliseconds=5)
"""How soon a held partition asks again (not a busy loop taking the CPU from the learner)."""


@runtime_checkable
class HeldSource(Protocol):
    """An in-process source that waits at the fleet board's hold: the flow sets ``hold`` to its
    board's :meth:`~flows.dataflow.fleet_models.FleetBoard.hold_s` (the simulator, file replays)."""

    hold: Callable[[], float] | None

log = logging.getLogger(__name__)

encode_record = codec.encode_telemetry
"""Wire encoding of a telemetry record (kept under this name for its importers)."""


class ReplayPartition(StatefulSourcePartition[RawRecord, int]):
    """``(source name, record)`` pairs as RawRecords, ``batch`` records at a time; state = records
    emitted. A record may be a :class:`ScalarColumns` piece (a file replay's scalars): it counts as
    its samples, and a resume that ends inside one skips its first samples.

    A piece is cut where the batch is full, the rest going first into the next batch: the reader's
    pieces hold up to ~40,000 rows (:data:`~flows.dataflow.sources.readers.pieces.PIECE_ROWS` and
    up to a chunk more), and every step of the flow takes what reached it at once, so an uncut
    piece of a one-asset table with a window per row was ~38,000 windows in each step together:
    their features, twin snapshots and archive rows all alive at once (``benchmarks/RESULTS.md``,
    round 39, part BULK39). Cut, at most ``batch`` samples go in at a time."""

    def __init__(self, items: Iterator[tuple[str, Telemetry | ScalarColumns]], resume: int | None,
                 batch: int, progress: Callable[[int], None] | None,
                 origin: Callable[[str], str] = lambda name: f"file:{name}",
                 hold: Callable[[], float] | None = None) -> None:
        self.items = items
        self.hold = hold  # the event time (s) not to emit past (see the module docstring)
        self.held = False
        self.emitted = resume or 0
        self.origin = origin
        self.next_pos: dict[str, int] = {}  # source name -> ordinal of its next record
        self.pending: list[tuple[str, Telemetry | ScalarColumns]] = []
        if self.emitted:
            self._skip(self.emitted)
        self.batch = batch
        self.progress = progress

    def _skip(self, n: int) -> None:
        """Skip the first ``n`` records of the stream (a piece may be cut)."""
        skipped = 0
        for name, rec in self.items:
            size = len(rec) if type(rec) is ScalarColumns else 1
            if skipped + size > n:  # only a piece can straddle the resume point
                assert isinstance(rec, ScalarColumns)
                self.next_pos[name] = self.next_pos.get(name, 0) + n - skipped
                self.pending.append((name, rec.take(n - skipped, size)))
                skipped = n
                break
            self.next_pos[name] = self.next_pos.get(name, 0) + size
            skipped += size
            if skipped == n:
                break
        if skipped < n:
            log.warning("resumed after %d records but the stream holds only %d: did it change?", n, skipped)

    def next_batch(self) -> list[RawRecord]:
        """The next ``batch`` records (decoded by the decode step as if from their wire encoding)."""
        limit = self.hold() if self.hold is not None else math.inf
        out: list[RawRecord] = []
        n = 0
        self.held = False
        while n < self.batch:  # the pending records first, then the stream's until the batch is full
            if self.pending:
                name, rec = self.pending.pop(0)
            elif (nxt := next(self.items, None)) is None:
                break
            else:
                name, rec = nxt
            if type(rec) is ScalarColumns and n + len(rec) > self.batch:  # cut: the rest is the next batch's
                rec, rest = rec.take(0, self.batch - n), rec.take(self.batch - n, len(rec))
                self.pending.insert(0, (name, rest))
            if limit < math.inf and rec.timestamp.timestamp() > limit:  # held: waits for the version
                self.pending.insert(0, (name, rec))
                self.held = True
                break
            out.append(self._raw(name, rec))
            n += len(rec) if type(rec) is ScalarColumns else 1
        if not out:
            if self.held:
                return out
            raise StopIteration
        self.emitted += n
        if self.progress is not None:
            self.progress(n)
        return out

    def _raw(self, name: str, rec: Telemetry | ScalarColumns) -> RawRecord:
        """The record as a RawRecord at its position in its origin."""
        pos = self.next_pos.get(name, 0)
        origin = self.origin(name)
        if type(rec) is ScalarColumns:
            self.next_pos[name] = pos + len(rec)
            return RawRecord(name, b"", (), rec.located(origin, pos))
        self.next_pos[name] = pos + 1
        return RawRecord(name, b"", (), rec, origin, pos)

    def next_awake(self) -> datetime | None:
        """Held: ask again shortly; else at once."""
        return datetime.now(UTC) + HOLD_POLL if self.held else None

    def snapshot(self) -> int:
        """Records emitted so far."""
        return self.emitted
