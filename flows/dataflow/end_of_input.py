"""The end of the input, made visible to the decode step (issue 13: the clock gate loses no record).

Why: the clock gate (:mod:`flows.dataflow.clock_gate`) holds a record stamped ahead of its peers
until a later record confirms or contradicts it. It runs inside the stateless ``decode`` step,
which Bytewax never tells that the input ended (only stateful steps get an end-of-input call).
So a record still held when a backtest, a file replay or ``twin run --exit-at-end`` ends would
vanish without a dead letter. :class:`EndMarked` wraps the flow's telemetry source: when the
last of the partitions this process reads ends, that partition hands on one more batch,
``[END_OF_INPUT]``, before its own end. The decode step passes the marker to the clock gate,
which judges what it still holds and drops the marker.

Why the LAST partition of the process: the gate is one object per process (every worker thread
of the process calls the same step), holding records of every partition read there; an asset's
records all come through one partition, but the gate does not note which one, and a held record
judged at the end of ANOTHER partition could still have been confirmed by its own. A partition
that ends early keeps its held records until the others end (in a replay or an ``--exit-at-end``
run they all end within the last batches). Partitions built after that end (a worker that
starts late) get a marker of their own at their end.

The wrapper passes everything else through untouched: the partitions' names, their recovery
state (the inner partition's snapshot, so stores written before it resume unchanged), wake-ups
and close. A partition that stops by abort (a crash, ``TestingSource.ABORT``) gives no marker:
nothing ended.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bytewax.inputs import FixedPartitionedSource, Source, StatefulSourcePartition

from flows.dataflow.items import END_OF_INPUT

__all__ = ["EndMarked", "end_marked"]


class EndMarked(FixedPartitionedSource[Any, Any]):
    """``inner`` whose process's last ending partition hands on ``[END_OF_INPUT]`` first."""

    def __init__(self, inner: FixedPartitionedSource[Any, Any]) -> None:
        self.inner = inner
        self.running = 0  # partitions of this process built and not ended (in-process count)
        self.lock = threading.Lock()  # the process's worker threads build and end partitions

    def list_parts(self) -> list[str]:
        """The inner source's partitions."""
        return list(self.inner.list_parts())

    def build_part(self, step_id: str, for_part: str, resume_state: Any | None) -> _EndMarkedPartition:
        """The inner partition, counted until it ends."""
        part = self.inner.build_part(step_id, for_part, resume_state)
        with self.lock:
            self.running += 1
        return _EndMarkedPartition(part, self)


class _EndMarkedPartition(StatefulSourcePartition[Any, Any]):
    """One inner partition; at its end, ``[END_OF_INPUT]`` if it is the process's last."""

    def __init__(self, inner: StatefulSourcePartition[Any, Any], src: EndMarked) -> None:
        self.inner = inner
        self.src = src
        self.done = False

    def next_batch(self) -> Iterable[Any]:
        if self.done:
            raise StopIteration
        try:
            return self.inner.next_batch()
        except StopIteration:
            self.done = True
            with self.src.lock:
                self.src.running -= 1
                last = self.src.running == 0
            if not last:  # another partition of this process still reads
                raise
            return [END_OF_INPUT]

    def next_awake(self) -> datetime | None:
        return None if self.done else self.inner.next_awake()

    def snapshot(self) -> Any:
        return self.inner.snapshot()

    def close(self) -> None:
        self.inner.close()


def end_marked(source: Source[Any]) -> Source[Any]:
    """``source`` with its end marked (a source of fixed partitions; any other as it is)."""
    if isinstance(source, FixedPartitionedSource) and not isinstance(source, EndMarked):
        return EndMarked(source)
    return source
