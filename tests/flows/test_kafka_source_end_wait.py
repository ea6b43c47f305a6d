"""The Kafka source's merge waits a bounded time for a topic that reached the end of its partition.

A producer writing every telemetry topic at once (``twin simulate`` into a running ``twin run``)
sends each topic's batches on their own: a topic's older records can land after another topic's
newer ones. The end of a partition is only where the broker's log stood; going on at once made
those older records late (thousands of ``late_record`` in a clean backfill read while written,
benchmarks/RESULTS.md, round 24, part merge24). ``end_wait_s`` holds the merge back that long after
the end was seen (as Kafka Streams' ``max.task.idle.ms``), then goes on without the topic.
"""

from __future__ import annotations

import random
import time
from typing import Any

from confluent_kafka import KafkaError

from flows.dataflow.sources.kafka import KafkaTelemetrySource
from tests.flows.test_kafka_source_idle import _topics as emitted
from tests.kafka_fakes import FakeMessage, FetchedQueue, StampedMessage

TOPICS = ["scalars", "waveforms"]


class _Err:
    def code(self) -> int:
        return KafkaError._PARTITION_EOF


def _eof(topic: str, offset: int) -> FakeMessage:
    return FakeMessage(topic, offset, None, error_=_Err())


def _partition(end_wait_s: float, *, tail: bool = True) -> tuple[Any, FetchedQueue]:
    """Partition 0 of the two topics over a stub consumer."""
    src = KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, TOPICS, tail=tail, end_wait_s=end_wait_s)
    part = src.build_part("telemetry_in", "0", None)
    part.consumer.close()
    part.consumer = FetchedQueue()
    return part, part.consumer


def _topics(batch: list[Any]) -> list[tuple[str, int]]:
    """(topic, offset) of each message emitted, a run's messages one by one."""
    return [(topic, int(offset)) for topic, offset in emitted(batch)]


def test_older_records_landing_after_the_end_of_their_topic_are_merged_first() -> None:
    part, broker = _partition(end_wait_s=2.0)
    # the scalar topic is at its end; the waveform topic's newer frame landed first
    broker.queue = [_eof("scalars", 0), StampedMessage("waveforms", 0, 7_200_000)]
    assert part.next_batch() == []  # the frame waits: the scalar topic reached its end just now
    broker.queue = [StampedMessage("scalars", k, 600_000 * k) for k in range(3)]
    broker.queue.append(_eof("scalars", 3))
    out = part.next_batch()
    assert _topics(out) == [("scalars", 0), ("scalars", 1), ("scalars", 2)]  # older, first
    assert part.next_batch() == []  # the scalar topic is at its end again: the frame still waits
    broker.queue = [StampedMessage("scalars", 3, 7_500_000)]
    assert _topics(part.next_batch()) == [("waveforms", 0)]  # merged where its time says, as before


def test_the_wait_is_bounded_then_the_merge_goes_on_without_the_topic() -> None:
    part, broker = _partition(end_wait_s=0.2)
    broker.queue = [_eof("scalars", 0), StampedMessage("waveforms", 0, 7_200_000)]
    assert part.next_batch() == []
    emitted: list[Any] = []
    deadline = time.monotonic() + 5
    while not emitted and time.monotonic() < deadline:  # the source keeps polling; nothing comes
        emitted = part.next_batch()
        time.sleep(0.02)
    assert _topics(emitted) == [("waveforms", 0)]
    broker.queue = [StampedMessage("waveforms", 1, 9_000_000)]  # the scalar topic stays at its end
    assert _topics(part.next_batch()) == [("waveforms", 1)]  # no new wait: its end was not seen again


def test_without_the_wait_the_frame_goes_first_and_its_older_scalars_after_it() -> None:
    """What the wait mends (the order before round 24, still the source's default)."""
    part, broker = _partition(end_wait_s=0.0)
    broker.queue = [_eof("scalars", 0), StampedMessage("waveforms", 0, 7_200_000)]
    assert _topics(part.next_batch()) == [("waveforms", 0)]
    broker.queue = [StampedMessage("scalars", 0, 0), _eof("waveforms", 1)]
    assert _topics(part.next_batch()) == [("scalars", 0)]  # after the frame: late for its window


def _drain(part: Any, broker: FetchedQueue, msgs: list[Any], rng: random.Random) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    while True:
        if msgs:
            k = rng.randint(1, 5)
            broker.queue.extend(msgs[:k])
            del msgs[:k]
        try:
            out += _topics(part.next_batch())
        except StopIteration:
            return out


def test_a_complete_input_is_merged_in_the_same_order_with_and_without_the_wait() -> None:
    """Where every topic was complete before the run (a backfill), the wait changes no order."""
    rng = random.Random(24)
    scal = sorted(rng.sample(range(0, 10_000_000), 60))
    wave = sorted(rng.sample(range(0, 10_000_000), 15))

    def fetched() -> list[Any]:
        s = [StampedMessage("scalars", k, t) for k, t in enumerate(scal)] + [_eof("scalars", len(scal))]
        w = [StampedMessage("waveforms", k, t) for k, t in enumerate(wave)] + [_eof("waveforms", len(wave))]
        merged: list[Any] = []
        while s or w:  # as two fetchers interleave them: each topic in its order
            src = s if (s and (not w or rng.random() < 0.7)) else w
            k = rng.randint(1, 4)
            merged.extend(src[:k])
            del src[:k]
        return merged

    orders = []
    for wait in (0.0, 0.05):
        part, broker = _partition(end_wait_s=wait, tail=False)
        orders.append(_drain(part, broker, fetched(), random.Random(7)))
    assert len(orders[0]) == len(scal) + len(wave)
    assert orders[0] == orders[1]
