"""Kafka telemetry source: co-partitioned topics read together, merged in event-time order.

Telemetry arrives on several topics (scalars, waveform frames, events), all keyed by asset_id (or, with
``kafka.partitioning = "any"``, by any key, e.g. a gateway's id: the keys are then not passed on) and with
the same number of partitions, so partition ``p`` of every topic holds the same assets. One Bytewax
source partition reads partition ``p`` of every telemetry topic and emits their messages merged by event
time (the ``twin.event_time_ms`` header that twinflow's producers set; the Kafka timestamp for messages
without it): a topic that is read faster than another cannot push an asset's watermark ahead and make
the other topic's records late, and the order the dataflow sees does not depend on fetch timing. A topic
whose partition has nothing buffered holds the merge back until it delivers, reaches its end, or stays
silent for ``max_idle_s`` while the other topics deliver (then the merge goes on without it; while the
broker is unreachable every topic is silent, and the merge waits). A topic that reached the end of its
partition never holds the merge back, so ``max_idle_s`` is a safety net for a partition whose data
exists but cannot be fetched; keep it well above fetch latencies under load. Idle time is counted while
the source polls, not while the dataflow is busy elsewhere (see ``_tick``).

Memory stays bounded under a backlog: the merge can only emit as far as the slowest topic, and a fetch
brings far more small scalar messages than large waveform frames, so without a limit the buffer of the
topic that is ahead would grow with the backlog (the whole scalar topic, under overload). A topic whose
buffer reaches ``max_buffered`` messages is paused (librdkafka stops fetching it and drops what it
prefetched; on resume it fetches again from the next message not yet consumed, so nothing is lost or
read twice) until the merge has drained it to half; the topics it waits for keep fetching. librdkafka's
own prefetch queue is bounded by ``queued.max.messages.kbytes`` (:data:`PREFETCH`).

With an event-time gate (``gate``, :mod:`flows.dataflow.event_time_gate`; `twin run` sets one), each
partition reports a lower bound on what it will still emit (:meth:`.kafka_merge.TopicMerge.position_ms`) and
holds its next message back, buffered, while that is more than the gate's budget of event time ahead of
the slowest partition of the cluster: partitions with less data per hour of event time then cannot run
days ahead of the others in a replay (what made fleet model versions arrive late).

Polling never blocks the worker: every source partition of a worker is polled in turn by the same thread
that runs the windows, the twins and the sinks, and a poll that waits for messages (``consume(n,
timeout)`` waits the whole timeout unless ``n`` messages come) stalls all of them; with 4 partitions and
a 50-ms wait, a window closed up to 200 ms late. So a poll takes what librdkafka has already fetched
(its fetcher thread keeps fetching in the background), and a partition whose poll brought nothing asks
to be polled again after ``poll_interval_s`` (:meth:`_AlignedPartition.next_awake`), leaving the worker
to the other steps meanwhile.

Offsets live in Bytewax's recovery snapshots (``{topic: next offset}`` of what was *emitted*), not in
Kafka consumer groups: ``group.id`` is unused, auto-commit off. A resumed offset that retention has
deleted meanwhile restarts at the oldest message kept (``auto.offset.reset`` earliest by default; an
operator's ``latest`` or ``error`` is honoured: :mod:`flows.dataflow.sources.kafka_offsets`), the gap
logged and counted (``twin_source_errors_total{code="offsets_deleted"}``). Transient client errors (a
broker restarting) are counted and retried by librdkafka; fatal ones stop the flow.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    TopicPartition,
)

from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.items import RawRecord, RawRun, source_headers
from flows.dataflow.sources import kafka_entries as ent
from flows.dataflow.sources import kafka_offsets as gone
from flows.dataflow.sources.kafka_entries import EVENT_TIME_HEADER, arrival_ms, event_time_ms
from flows.dataflow.sources.kafka_merge import EndHolds, TopicMerge, buffer_entries
from flows.dataflow.sources.kafka_offsets import mark_parts_listed, partition_count
from flows.kafka.errors import close_consumer, guarded

__all__ = ["EVENT_TIME_HEADER", "KafkaTelemetrySource", "arrival_ms", "event_time_ms", "partition_count"]

GATE_RECHECK = timedelta(milliseconds=20)
"""How soon a partition held back by the event-time gate is asked again."""


log = logging.getLogger(__name__)

Offsets = dict[str, int]
POLL_GAP_S = 0.1  # the most a pause between two polls adds to the idle clocks (see _tick)

PREFETCH = {"queued.max.messages.kbytes": "16384"}
"""librdkafka's prefetch queue per source partition: 16 MiB (default 64 MiB) is several seconds of
telemetry at full speed; ``[pipeline.kafka.librdkafka]`` overrides it."""


class _AlignedPartition(TopicMerge, StatefulSourcePartition[RawRecord | RawRun, Offsets]):
    """Partition ``p`` of every topic, merged in timestamp order (:class:`~.kafka_merge.TopicMerge`)."""

    def __init__(self, src: KafkaTelemetrySource, part: int, resume: Offsets | None) -> None:
        self.src = src
        self.part = part
        self.offsets: Offsets = dict(resume or {})
        self.reset = gone.reset_policy(src.client_config)[0]  # where a deleted resumed offset continues
        conf = {**PREFETCH, gone.RESET_KEY: self.reset, **src.client_config, "group.id": "twinflow-unused",
                "enable.auto.commit": "0", "enable.partition.eof": "1", "statistics.interval.ms": "0"}
        self.resumed = dict(self.offsets)  # checked against the first message fetched (_resumed_at)
        self.consumer = Consumer(guarded(conf, self._on_log))  # a rejected password raises from consume()
        if src.starting_offset == OFFSET_END:
            self._pin_end_offsets()
        start = src.starting_offset
        self.consumer.assign([TopicPartition(t, part, self.offsets.get(t, start)) for t in src.topics])
        self.buffers: dict[str, deque[ent.Entry]] = {t: deque() for t in src.topics}  # see kafka_entries
        self.eof: dict[str, bool] = {t: False for t in src.topics}
        self.end_holds = EndHolds(src.end_wait_s)  # topics at their end still holding the merge
        # idle clocks start when the first message of any topic arrives (connecting and the first
        # fetches can take seconds, and must not make a slow topic count as idle)
        self.last_seen: dict[str, float] = dict.fromkeys(src.topics, float("inf"))
        self.last_activity = float("-inf")
        self.lag_at = float("-inf")
        self.clock = 0.0  # see _tick
        self.ticked_at: float | None = None
        self.paused: set[str] = set()  # topics held back by _hold_back
        self.emitted_ms = -math.inf  # event time of the last emitted message (event-time gate)
        self.emitted_key: dict[str, float] = {}  # topic -> merge key of its last emitted message
        self.held = self.held_before = False  # the gate held the last batch back
        self.polled = 0  # messages the last poll brought (see next_awake)

    def _pin_end_offsets(self) -> None:
        """``--from-end``: the current end of each topic without a resumed offset, as a concrete
        offset in the snapshot. Left symbolic, a restart would start from the *new* end and skip
        what arrived meanwhile on a topic that had delivered nothing before the crash."""
        for topic in self.src.topics:
            if topic not in self.offsets:
                _lo, hi = self.consumer.get_watermark_offsets(TopicPartition(topic, self.part),
                                                              timeout=self.src.metadata_timeout_s)
                self.offsets[topic] = hi

    def _tick(self) -> float:
        """The polling clock: real time, except that a gap between two polls counts for at most
        ``POLL_GAP_S``. While the dataflow is busy with a large epoch (Bytewax does not call
        ``next_batch`` until the epoch is through, which can take longer than ``max_idle_s`` on a loaded
        machine), nothing is consumed: a topic must not count as idle for that, or the merge runs ahead
        of it and its records arrive late (dead letters, windows without them)."""
        real = time.monotonic()
        if self.ticked_at is not None:
            self.clock += min(real - self.ticked_at, POLL_GAP_S)
        self.ticked_at = real
        return self.clock

    def _poll(self) -> tuple[int, int]:
        """Take what librdkafka has fetched (at most ``batch_size``; waits at most
        ``poll_timeout_s``, 0 by default: see the module docstring); returns how many messages and
        their bytes. The polling clock is read once per poll (the messages of one poll came together).
        The messages are read in one pass (:mod:`~flows.dataflow.sources.kafka_entries`) up to each
        error event, which is handled after the messages before it (the end and idle flags follow)."""
        msgs = self.consumer.consume(self.src.batch_size, self.src.poll_timeout_s)
        now = self._tick()
        start = 0
        while True:
            by_topic, stop = ent.read_poll(msgs, EVENT_TIME_HEADER, start)
            self._buffer(by_topic, now)
            if stop >= len(msgs):
                return len(msgs), sum(map(len, msgs))
            event = msgs[stop]
            # (a client-level error event names no topic nor offset: '?' and 0 then, shown in its log line;
            # only a partition's end and an offset reset act on them, and those name both)
            self._on_error(event.error(), event.topic() or "?", now, event.offset() or 0)
            start = stop + 1

    def _buffer(self, by_topic: dict[str, list[ent.Entry]], now: float) -> None:
        """A poll's messages join their topics' buffers; the topics' end and idle flags follow."""
        if not by_topic:
            return
        if now - self.last_activity >= self.src.max_idle_s:
            # first message after start-up or after an outage: every topic's idle clock
            # restarts now, so none counts as idle just because the broker was away
            self.last_seen = dict.fromkeys(self.last_seen, now)
        for topic, entries in by_topic.items():
            if topic in self.resumed:
                self._resumed_at(topic, entries[0][ent.OFFSET])
            buffer_entries(self.buffers[topic], entries, self.emitted_key.get(topic, math.inf),
                           keyed=self.src.asset_keys)
            self.eof[topic] = False
            self.end_holds.delivered(topic)
            self.last_seen[topic] = now
        self.last_activity = now

    def _resumed_at(self, topic: str, offset: int) -> None:
        """The first message (or end of partition) after a resume is past the snapshot's offset: retention
        deleted some, and ``auto.offset.reset`` moved the position (the oldest kept, or the end)."""
        if offset > (want := self.resumed.pop(topic)):
            self.src.on_error("offsets_deleted")
            log.warning("%s", gone.gap_text(self.reset, topic, self.part, want, offset))

    def _on_log(self, fac: str, text: str) -> None:
        """A librdkafka line (served by ``consume``): a deleted topic is only told there (kafka_offsets)."""
        topic = gone.deleted_topic(fac, text)
        if topic is not None and topic in self.eof:
            self.eof[topic] = True  # delivers nothing more; a message (topic created again) clears it
            self.src.topic_deleted(topic)

    def _on_error(self, err: Any, topic: str, now: float, err_offset: int) -> None:
        """An error event of a poll: the end of a partition, a transient error (counted, retried
        by librdkafka), or a fatal one (stops the flow)."""
        if err.code() == KafkaError._PARTITION_EOF:
            if topic in self.resumed:
                self._resumed_at(topic, err_offset)
            self.eof[topic] = True
            self.last_activity = now
            return
        if err.code() == KafkaError._AUTO_OFFSET_RESET:  # the offset is gone and the policy is error
            self.src.on_error("offsets_deleted")
            raise gone.OffsetsDeletedError(gone.stop_text(topic, self.part, self.resumed.get(topic)))
        if err.fatal():
            msg_ = f"fatal Kafka error on {topic}[{self.part}]: {err}"
            raise RuntimeError(msg_)
        self.src.on_error(str(err.name()))
        log.warning("Kafka error on %s[%s] (retrying): %s", topic, self.part, err)

    def _report_lag(self) -> None:
        """Consumer lag per topic-partition from the watermarks cached by fetches (no broker call)."""
        now = time.monotonic()
        if self.src.on_lag is None or now - self.lag_at < self.src.lag_every_s:
            return
        self.lag_at = now
        for topic in self.src.topics:
            lo, hi = self.consumer.get_watermark_offsets(TopicPartition(topic, self.part), cached=True)
            if hi >= 0:
                position = self.offsets.get(topic, max(lo, 0))
                self.src.on_lag(topic, self.part, max(hi - position, 0))

    def next_batch(self) -> list[RawRecord | RawRun]:
        """Poll, buffer and merge; again while polls come back full of small messages (a backlog, see
        :data:`~flows.dataflow.sources.kafka_entries.BATCH_POLLS`), each merged and held back first.
        A topic's run goes on across the polls of the batch (one run per stretch of a topic)."""
        gate = self.src.gate
        self.held = False
        if gate is not None and self._gate_holds(gate):
            self.held = True  # no poll while held: nothing new could be emitted
            return []
        runs: list[tuple[str, list[ent.Entry]]] = []  # the merged messages, as runs of one topic
        self.polled = size = 0
        for _ in range(ent.BATCH_POLLS):
            n, nbytes = self._poll()
            self.polled += n
            size += nbytes
            self._report_lag()
            now = self._tick()
            if gate is not None and self.emitted_ms == -math.inf:  # joined as -inf: would hold its own
                gate.report(self.part, self.position_ms(now))  # first message; what it buffered bounds it
            self._merge(now, gate, runs)
            if not runs and not self.src.tail and all(self.eof.values()) \
                    and not any(self.buffers.values()):
                if gate is not None:
                    gate.report(self.part, math.inf)
                raise StopIteration
            if gate is not None:
                gate.report(self.part, self.position_ms(now))
            self._hold_back()
            if n < self.src.batch_size or size >= ent.BATCH_BYTES or self.held or self.paused:
                break
        return [self._item(topic, msgs) for topic, msgs in runs]

    def _item(self, topic: str, entries: list[ent.Entry]) -> RawRecord | RawRun:
        """One message as a RawRecord; several consecutive ones of a topic as one RawRun."""
        if len(entries) == 1:
            return self._raw(topic, entries[0])
        return RawRun(topic, self.part, tuple(map(ent.offsets, entries)), tuple(map(ent.values, entries)),
                      tuple(map(ent.arrivals, entries)),
                      tuple(map(ent.keys, entries)) if self.src.asset_keys else ())

    def _hold_back(self) -> None:
        """Pause a topic whose buffer is full, resume it once drained to half (module docstring)."""
        cap = self.src.max_buffered
        for topic, buf in self.buffers.items():
            if topic not in self.paused and len(buf) >= cap:
                self.consumer.pause([TopicPartition(topic, self.part)])
                self.paused.add(topic)
            elif topic in self.paused and len(buf) <= cap // 2:
                self.consumer.resume([TopicPartition(topic, self.part)])
                self.paused.discard(topic)

    def _raw(self, topic: str, entry: ent.Entry) -> RawRecord:
        _merge, offset, value, arrival, key = entry
        return RawRecord(topic, value, source_headers(topic, self.part, offset),
                         arrival_ms=arrival, key=key if self.src.asset_keys else None)

    def next_awake(self) -> Any:
        """When Bytewax should call :meth:`next_batch` again: at once after a poll that brought
        messages (more may be fetched), else at the next multiple of ``poll_interval_s`` (polls
        do not wait: see the module docstring), or after :data:`GATE_RECHECK` while held back by
        the event-time gate."""
        self.held_before = self.held
        # held back by the event-time gate: ask again shortly instead of at once (other partitions
        # of the worker get the time)
        if self.held:
            return datetime.now(UTC) + GATE_RECHECK
        if self.polled:
            return None
        # on the next multiple of the interval: a worker's quiet partitions wake together, so an
        # idle worker wakes once per interval, not once per partition
        interval = self.src.poll_interval_s
        return datetime.fromtimestamp((math.floor(time.time() / interval) + 1) * interval, UTC)

    def snapshot(self) -> Offsets:
        return dict(self.offsets)

    def close(self) -> None:
        close_consumer(self.consumer)


class KafkaTelemetrySource(FixedPartitionedSource[RawRecord | RawRun, Offsets]):
    """Bytewax source over co-partitioned telemetry topics (see the module docstring)."""

    def __init__(
        self,
        client_config: Mapping[str, str],
        topics: Sequence[str],
        *,
        tail: bool = True,
        from_end: bool = False,
        batch_size: int = 1000,
        poll_timeout_s: float = 0.0,
        poll_interval_s: float = 0.01,
        max_idle_s: float = 30.0,
        end_wait_s: float = 0.0,
        on_error: Callable[[str], None] = lambda code: None,
        on_lag: Callable[[str, int, int], None] | None = None,
        lag_every_s: float = 2.0,
        metadata_timeout_s: float = 30.0,
        max_buffered: int = 2000,
        gate: EventTimeGate | None = None,
        asset_keys: bool = True,
    ) -> None:
        self.client_config = dict(client_config)
        self.topics = list(topics)
        self.tail = tail
        self.starting_offset = OFFSET_END if from_end else OFFSET_BEGINNING
        # 1000 (was 500): a backlog's poll is one run, decoded as one columns piece per asset; half
        # the pieces through decode, block builder and windows cost ~5 % less CPU on a scalar fleet
        # (benchmarks/RESULTS.md, SCALAR5); max_buffered // 2, so one poll alone never pauses a topic
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s  # how long a poll may wait for messages (see _poll)
        self.poll_interval_s = poll_interval_s  # the pause after a poll that brought nothing
        self.max_idle_s = max_idle_s
        self.end_wait_s = end_wait_s  # how long a topic at its end still holds the merge (_waiting)
        self.on_error = on_error
        self.on_lag = on_lag
        self.lag_every_s = lag_every_s
        self.metadata_timeout_s = metadata_timeout_s
        self.max_buffered = max_buffered
        self.gate = gate  # see flows.dataflow.event_time_gate: None = no cross-partition bound
        self.asset_keys = asset_keys  # False (kafka.partitioning any): keys are not asset ids, not passed on
        self.topic_deleted = gone.DeletedTopics(on_error)  # said and counted once per topic
        gone.say_policy(self.client_config)

    def list_parts(self) -> list[str]:
        """One part per partition index shared by all topics."""
        mark_parts_listed()  # the engine runs the flow: a cluster's processes are connected (peer_wait)
        count = partition_count(self.client_config, self.topics)
        if self.gate is not None:
            self.gate.start(range(count))
        return [str(p) for p in range(count)]

    def build_part(self, step_id: str, for_part: str, resume_state: Offsets | None) -> _AlignedPartition:
        """Assign partition ``for_part`` of every topic, at the resumed offsets if any."""
        if self.gate is not None:  # it counts in the gate from now on (-inf until its first report)
            self.gate.join([int(for_part)])
        return _AlignedPartition(self, int(for_part), resume_state)
