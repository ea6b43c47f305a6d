"""A resumable Bytewax source partition over a deterministic stream of records.

Used by the simulator and the file replay: each record is handed on inside a RawRecord
(``record``), and the decode step judges it exactly as it would judge its wire encoding
(binary waveform frames, JSON scalars and events, as producers put them on Kafka), so the
decode step and dead letters behave the same; scalars and events are not serialised to JSON
and parsed back (:func:`flows.codec.decode_record`): that was a quarter of a scalar
backtest's time. The state is the number of records emitted; the stream is
deterministic, so a resume regenerates it and skips that many (read, not encoded).

Digital thread: each record carries its origin (``file:<name>`` or, for the simulator,
``sim:seed=<n>``) and its ordinal among that origin's records (a piece: its first sample's,
and its samples' positions as an array), counted again over the skipped records on a resume.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from bytewax.inputs import StatefulSourcePartition

from flows import codec
from flows.dataflow.items import RawRecord, ScalarColumns
from twin_models.records import Telemetry

__all__ = ["ReplayPartition", "encode_record"]

log = logging.getLogger(__name__)

encode_record = codec.encode_telemetry
"""Wire encoding of a telemetry record (kept under this name for its importers)."""


class ReplayPartition(StatefulSourcePartition[RawRecord, int]):
    """``(source name, record)`` pairs as RawRecords, ``batch`` records at a time; state = records
    emitted. A record may be a :class:`ScalarColumns` piece (a file replay's scalars): it counts as
    its samples, and a resume that ends inside one skips its first samples."""

    def __init__(self, items: Iterator[tuple[str, Telemetry | ScalarColumns]], resume: int | None,
                 batch: int, progress: Callable[[int], None] | None,
                 origin: Callable[[str], str] = lambda name: f"file:{name}") -> None:
        self.items = items
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
        out = [self._raw(name, rec) for name, rec in self.pending]
        n = sum(len(rec) if type(rec) is ScalarColumns else 1 for _, rec in self.pending)
        self.pending = []
        for name, rec in self.items:
            out.append(self._raw(name, rec))
            n += len(rec) if type(rec) is ScalarColumns else 1
            if n >= self.batch:
                break
        if not out:
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

    def snapshot(self) -> int:
        """Records emitted so far."""
        return self.emitted
