"""The Kafka source's per-topic merge buffer: how a fetched message joins its topic's buffer; and how
long a topic at the end of its partition still holds the merge (:class:`EndHolds`).

Each topic of a source partition keeps a buffer of entries (:mod:`flows.dataflow.sources.kafka_entries`:
``(merge key, offset, value, arrival, key)``) in offset order; the merge (:mod:`flows.dataflow.sources.kafka`)
takes the lowest head. A message's merge key is its
event time, except that it is never higher than a key behind it in its topic (a topic's messages
leave in their order): :func:`buffer_message` lowers a closed run of one asset's keys stamped ahead.
Kept apart from the source so the rule can be read and tested without a consumer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from operator import le
from typing import Any

from flows.dataflow.sources.kafka_entries import KEY, MERGE_KEY, merge_keys

__all__ = ["EndHolds", "buffer_entries", "buffer_message"]


class EndHolds:
    """How long a topic at the end of its partition still holds the merge back: ``wait_s`` of the
    source's polling clock from the first time another topic's message waits on it, until it delivers
    again (as Kafka Streams' ``max.task.idle.ms``; after the wait the merge goes on without it). The end
    is only where the broker's log stood: a producer writing the topics at once sends each topic's
    batches on their own (``linger.ms``, requests in flight), so a topic's older records can land a
    moment after another topic's newer ones (a backfill published faster than real time: hours of
    event time in milliseconds). Going on at once made those late (``benchmarks/RESULTS.md``, round
    24, part merge24). ``wait_s`` 0: no wait (before)."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self.until: dict[str, float] = {}  # topic -> when its wait ends

    def delivered(self, topic: str) -> None:
        """``topic`` delivered messages: its next end starts a new wait."""
        self.until.pop(topic, None)

    def waiting(self, topic: str, now: float) -> bool:
        """``topic`` (at its end, nothing buffered) holds the merge now; its wait starts here if not yet."""
        until = self.until.get(topic)
        if until is None:
            if not self.wait_s:
                return False
            until = self.until[topic] = now + self.wait_s
        return now < until

    def holding(self, topic: str, now: float) -> bool:
        """``topic``'s wait has started and not ended (starts none)."""
        return now < self.until.get(topic, now)


def buffer_entries(buf: deque[Any], entries: Sequence[Any], floor: float, *, keyed: bool = True) -> None:
    """Append a poll's entries of one topic to its buffer, as :func:`buffer_message` one by one would.
    Merge keys in order from the buffer's last one on (the rule) change nothing, and go in at once."""
    if not entries:
        return
    ks = list(map(merge_keys, entries))
    if (not buf or buf[-1][MERGE_KEY] <= ks[0]) and all(map(le, ks, ks[1:])):
        buf.extend(entries)
        return
    for entry in entries:
        buffer_message(buf, entry, floor, keyed=keyed)


def buffer_message(buf: deque[Any], entry: Any, floor: float, *, keyed: bool = True) -> None:
    """Append a message's entry (``key``, its merge key, first) to its topic's buffer. The messages of one
    topic leave in their order, so none can be merged later than one behind it: when ``key`` closes a run
    of higher keys that a lower-or-equal one opened (in the buffer, or ``floor``, the key of the topic's
    last emitted message), the run's keys are lowered to ``key``. A record whose clock jumped ahead
    (``twin.event_time_ms`` hours past the records around it) then does not stall its topic while the
    other topics run hours ahead (which made the other assets' records late); the clock check judges it
    (:mod:`flows.dataflow.clock_gate`). Only a run of ONE asset's records is lowered; with no message
    emitted yet (``floor`` inf) a run at the head is left. A record stamped BEHIND the ones before it
    lowers nothing (it is merged early, behind: the window step judges it). Keys in order (the rule) are
    left as they are. A run is one asset's only by its Kafka keys: with ``keyed`` False
    (``kafka.partitioning = "any"``: keys are not asset ids) none is lowered."""
    key = entry[MERGE_KEY]
    i = len(buf) - 1
    while i >= 0 and buf[i][0] > key:
        i -= 1
    if i < len(buf) - 1 and (i >= 0 or floor <= key) and keyed and _one_asset(buf, i + 1):
        for k in range(i + 1, len(buf)):  # a run of one asset's records ahead, closed
            buf[k] = (key, *buf[k][1:])
    buf.append(entry)


def _one_asset(buf: deque[Any], start: int) -> bool:
    """The messages ``buf[start:]`` are of one asset (one Kafka key, not null nor empty): its clock (or a
    channel's) is ahead. Records of several assets between two of one asset stamped BEHIND look the same by
    their keys alone: those are left in place (with one asset per partition they cannot be told apart). A
    null or empty key names no asset: null-keyed records of several assets looked like one asset, and a run
    of them was lowered (released ahead of the other topics' older records, which then came after them and
    could be late for their window); such a run is left in place."""
    asset = buf[start][KEY]
    return bool(asset) and all(buf[k][KEY] == asset for k in range(start + 1, len(buf)))
