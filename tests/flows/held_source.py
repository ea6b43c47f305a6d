"""The tests' in-memory source of wire records, held at a fleet model version on its way.

Bytewax's ``TestingSource`` emits its items whatever the fleet board waits for: with several
workers, a learner's worker lagging the others could let windows past a version's effective time
close before the version reached the board (late: other lineage and fused RUL, round 30's flaky
fleet tests). The demo's and file replays' sources stop at the board's hold
(:class:`flows.dataflow.sources.replayable.ReplayPartition`); this one does the same for a list of
encoded records, so a run's outputs do not depend on the worker threads' timing. A record that
does not decode (a dead-letter test's bytes) has no event time and is never held.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from flows.codec import decode_telemetry
from flows.dataflow.items import RawRecord
from flows.dataflow.sources.replayable import HOLD_POLL

_FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)  # no record is refused as future to read its time


def event_s(record: RawRecord) -> float:
    """The record's event time (epoch seconds) as the decode step will read it; -inf if none."""
    ts = getattr(decode_telemetry(record.payload, now=_FAR_FUTURE), "timestamp", None)
    return ts.timestamp() if isinstance(ts, datetime) else -math.inf


class _HeldPartition(StatefulSourcePartition[RawRecord, int]):
    """``batch`` records at a time, none stamped past ``hold()``; state = records emitted."""

    def __init__(self, records: list[RawRecord], batch: int, hold: Callable[[], float],
                 resume: int | None) -> None:
        self.records, self.batch, self.hold = records, batch, hold
        self.pos = resume or 0
        self.held = False

    def next_batch(self) -> list[RawRecord]:
        if self.pos >= len(self.records):
            raise StopIteration
        end = min(self.pos + self.batch, len(self.records))
        limit = self.hold()
        if limit < math.inf:  # a version is on its way: stop before the first record past it
            end = next((i for i in range(self.pos, end) if event_s(self.records[i]) > limit), end)
        out = self.records[self.pos:end]
        self.held = not out
        self.pos = end
        return out

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + HOLD_POLL if self.held else None

    def snapshot(self) -> int:
        return self.pos


class HeldRecords(FixedPartitionedSource[RawRecord, int]):
    """``records`` as one partition; ``get_flow`` sets ``hold`` to its board's ``FleetBoard.hold_s``."""

    def __init__(self, records: list[RawRecord], *, batch: int = 64) -> None:
        self.records, self.batch = records, batch
        self.hold: Callable[[], float] = lambda: math.inf

    def list_parts(self) -> list[str]:
        return ["records"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _HeldPartition:
        return _HeldPartition(self.records, self.batch, self.hold, resume_state)
