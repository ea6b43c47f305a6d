"""A resumable Bytewax source partition over a deterministic stream of records.

Used by the simulator and the file replay: each record is handed on inside a RawRecord
(``record``), and the decode step judges it exactly as it would judge its wire encoding
(binary waveform frames, JSON scalars and events, as producers put them on Kafka), so the
decode step and dead letters behave the same; scalars and events are not serialised to JSON
and parsed back (:func:`flows.codec.decode_record`): that was a quarter of a scalar
backtest's time. The state is the number of records emitted; the stream is
deterministic, so a resume regenerates it and skips that many (read, not encoded).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator

from bytewax.inputs import StatefulSourcePartition

from flows import codec
from flows.dataflow.items import RawRecord
from twin_models.records import Telemetry

__all__ = ["ReplayPartition", "encode_record"]

log = logging.getLogger(__name__)

encode_record = codec.encode_telemetry
"""Wire encoding of a telemetry record (kept under this name for its importers)."""


class ReplayPartition(StatefulSourcePartition[RawRecord, int]):
    """``(source name, record)`` pairs as RawRecords, ``batch`` at a time; state = records emitted."""

    def __init__(self, items: Iterator[tuple[str, Telemetry]], resume: int | None, batch: int,
                 progress: Callable[[int], None] | None) -> None:
        self.items = items
        self.emitted = resume or 0
        if self.emitted:
            skipped = sum(1 for _ in itertools.islice(self.items, self.emitted))
            if skipped < self.emitted:
                log.warning("resumed after %d records but the stream holds only %d: did it change?",
                            self.emitted, skipped)
        self.batch = batch
        self.progress = progress

    def next_batch(self) -> list[RawRecord]:
        """The next ``batch`` records (decoded by the decode step as if from their wire encoding)."""
        out = [RawRecord(name, b"", (), rec) for name, rec in itertools.islice(self.items, self.batch)]
        if not out:
            raise StopIteration
        self.emitted += len(out)
        if self.progress is not None:
            self.progress(len(out))
        return out

    def snapshot(self) -> int:
        """Records emitted so far."""
        return self.emitted
