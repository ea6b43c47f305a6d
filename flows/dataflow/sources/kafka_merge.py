"""The Kafka source's per-topic merge buffer: how a fetched message joins its topic's buffer; how
long a topic at the end of its partition still holds the merge (:class:`EndHolds`); and the merge
of a source partition's buffers itself (:class:`TopicMerge`).

Each topic of a source partition keeps a buffer of entries (:mod:`flows.dataflow.sources.kafka_entries`:
``(merge key, offset, value, arrival, key)``) in offset order; the merge (:class:`TopicMerge`, of
:mod:`flows.dataflow.sources.kafka`'s partitions) takes the lowest head. A message's merge key is its
event time, except that it is never higher than a key behind it in its topic (a topic's messages
leave in their order): :func:`buffer_message` lowers a closed run of one asset's keys stamped ahead.
Kept apart from the source so the rule can be read and tested without a consumer.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from operator import le
from typing import TYPE_CHECKING, Any

from flows.dataflow.sources import kafka_entries as ent
from flows.dataflow.sources.kafka_entries import KEY, MERGE_KEY, merge_keys

if TYPE_CHECKING:
    from flows.dataflow.event_time_gate import EventTimeGate

__all__ = ["EndHolds", "TopicMerge", "buffer_entries", "buffer_message"]


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


class TopicMerge:
    """The merge of a source partition's topic buffers (:class:`~flows.dataflow.sources.kafka.
    _AlignedPartition`'s, which sets the state below): buffered messages leave in event-time order
    while no topic may still deliver something older, as far as the event-time gate allows; and the
    lower bound on what the partition will still emit, for the gate."""

    src: Any  # the source (KafkaTelemetrySource): max_idle_s
    part: int
    buffers: dict[str, deque[ent.Entry]]
    eof: dict[str, bool]
    end_holds: EndHolds
    last_seen: dict[str, float]
    last_activity: float
    paused: set[str]
    offsets: dict[str, int]
    emitted_ms: float
    emitted_key: dict[str, float]
    held: bool
    held_before: bool

    def _idle(self, topic: str, now: float) -> bool:
        """Silent for ``max_idle_s`` while the others deliver (a broker outage silences all: then
        nothing counts as idle and the merge waits)."""
        quiet = now - self.last_seen[topic] >= self.src.max_idle_s
        # a paused topic is delivering, only held back: it counts as activity
        return quiet and (now - self.last_activity < self.src.max_idle_s or bool(self.paused))

    def _blocking(self, now: float) -> bool:
        """Some topic may still deliver something older than what is buffered elsewhere: one with
        nothing buffered that has not reached its end, or still waits there (``end_wait_s``,
        :class:`~flows.dataflow.sources.kafka_merge.EndHolds`), and is not idle. Asked only while
        another topic has messages buffered."""
        holds = self.end_holds
        return any(not buf and (not self.eof[t] or holds.waiting(t, now)) and not self._idle(t, now)
                   for t, buf in self.buffers.items())

    def _merge(self, now: float, gate: EventTimeGate | None, runs: list[tuple[str, list[ent.Entry]]]) -> None:
        """Take buffered messages in event-time order while no topic may still deliver something
        older (and the gate allows), as runs of consecutive messages of one topic. While only one
        topic has messages buffered, its buffer goes in one run, as far as the gate allows."""
        buffers = self.buffers
        while True:
            filled = [t for t, b in buffers.items() if b]
            if not filled or self._blocking(now):
                return
            if len(filled) == 1:
                topic = filled[0]
                take, held = self._allowed(buffers[topic], gate)
            else:
                topic = min(filled, key=lambda t: buffers[t][0][0])
                held = gate is not None and not gate.allows(self.part, buffers[topic][0][0])
                take = 0 if held else 1
            if take:
                buf = buffers[topic]
                if take == len(buf):  # the whole buffer at once
                    taken = list(buf)
                    buf.clear()
                else:
                    taken = [buf.popleft() for _ in range(take)]
                self._emit(topic, taken, runs)
            if held:  # ahead of the cluster's slowest partition by more than the budget
                self.held = True
                return

    def _allowed(self, items: deque[ent.Entry], gate: EventTimeGate | None) -> tuple[int, bool]:
        """How many of a buffer's first messages the gate allows now (all without a gate), and
        whether it held the next one back: :meth:`EventTimeGate.allows` of the first message of
        each stretch, then its limit for the rest (the limit only rises meanwhile)."""
        n = len(items)
        if gate is None:
            return n, False
        keys = list(map(ent.merge_keys, items))
        k = 0
        while k < n:
            if not gate.allows(self.part, keys[k]):
                return k, True
            limit = gate.limit_ms()
            k += 1
            if k == 1 and max(keys) <= limit:  # the usual case: the whole buffer within the limit
                return n, False
            while k < n and keys[k] <= limit:
                k += 1
        return n, False

    def _emit(self, topic: str, entries: list[ent.Entry], runs: list[tuple[str, list[ent.Entry]]]) -> None:
        """Messages leave the buffer: the offsets and the last emitted event time follow them."""
        self.offsets[topic] = entries[-1][ent.OFFSET] + 1
        self.emitted_ms = self.emitted_key[topic] = entries[-1][ent.MERGE_KEY]
        if runs and runs[-1][0] == topic:
            runs[-1][1].extend(entries)
        else:
            runs.append((topic, entries))

    def _gate_holds(self, gate: EventTimeGate) -> bool:
        """The merge's next message is (still) beyond the gate's limit."""
        heads = [buf[0][0] for buf in self.buffers.values() if buf]
        return bool(heads) and self.held_before and not gate.allows(self.part, min(heads))

    def position_ms(self, now: float) -> float:
        """A lower bound on the event time of what this partition will still emit (for the event-time gate):
        the oldest buffered message of each topic, or, for a topic with nothing buffered, nothing (``inf``)
        once it reached its end (and holds the merge no more, ``end_wait_s``) or went idle (the merge goes
        on without it too), else the last emitted time (``-inf`` before the first)."""
        bounds = [buf[0][0] if buf else (math.inf if (self.eof[t] and not self.end_holds.holding(t, now))
                                         or self._idle(t, now) else self.emitted_ms)
                  for t, buf in self.buffers.items()]
        return min(bounds, default=math.inf)
