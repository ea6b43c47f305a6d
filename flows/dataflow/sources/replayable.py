"""A resumable Bytewax source partition over a deterministic stream of records.

Used by the simulator and the file replay: the records are wire-encoded (binary waveform frames,
JSON scalars and events) exactly as producers put them on Kafka, so the dataflow's decode step
and dead letters behave the same. The state is the number of records emitted; the stream is
deterministic, so a resume regenerates it and skips that many (read, not encoded).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator

from bytewax.inputs import StatefulSourcePartition

from flows import codec
from flows.dataflow.items import RawRecord
from twin_models.records import (
    Telemetry,
    telemetry_kind,
)

__all__ = ["ReplayPartition", "encode_record"]

log = logging.getLogger(__name__)

_ENCODERS = {"waveform": codec.encode_waveform, "scalar": codec.encode_scalar, "event": codec.encode_event}


def encode_record(rec: Telemetry) -> bytes:
    """Wire encoding of a telemetry record."""
    return _ENCODERS[telemetry_kind(rec)](rec)  # type: ignore[operator]


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
        """The next ``batch`` records, encoded."""
        out = [RawRecord(name, encode_record(rec)) for name, rec in itertools.islice(self.items, self.batch)]
        if not out:
            raise StopIteration
        self.emitted += len(out)
        if self.progress is not None:
            self.progress(len(out))
        return out

    def snapshot(self) -> int:
        """Records emitted so far."""
        return self.emitted
