"""The Kafka source's event-time merge does not run ahead of a topic while the dataflow is busy.

Bytewax calls ``next_batch`` only when the previous epoch is through; on a loaded machine a large
epoch takes longer than ``max_idle_s``. That pause is not silence of a topic: counting it as idle
let the merge emit newer records of one topic before older ones of another, which then arrived
late (dead letters, windows without their vibration frames), even in a clean run.
"""

from __future__ import annotations

import time
from typing import Any

from flows.dataflow.items import RawRun
from flows.dataflow.sources.kafka import KafkaTelemetrySource
from tests.kafka_fakes import FetchedQueue, StampedMessage

TOPICS = ["scalars", "waveforms"]


def _partition(max_idle_s: float) -> tuple[Any, FetchedQueue]:
    src = KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, TOPICS, max_idle_s=max_idle_s)
    part = src.build_part("telemetry_in", "0", None)
    part.consumer.close()
    stub = FetchedQueue()
    part.consumer = stub
    return part, stub


def _topics(batch: list[Any]) -> list[tuple[str, str]]:
    """(topic, offset) of each message emitted, a run's messages one by one."""
    records = [rec for r in batch for rec in (r.records() if isinstance(r, RawRun) else [r])]
    return [(dict(r.headers)["source.topic"], dict(r.headers)["source.offset"]) for r in records]


def test_a_busy_dataflow_does_not_make_a_topic_idle() -> None:
    part, broker = _partition(max_idle_s=1.0)
    broker.queue = [StampedMessage("scalars", 0, 1000), StampedMessage("waveforms", 0, 2000)]
    assert _topics(part.next_batch()) == [("scalars", "0")]  # waveform@2000 waits for scalars
    time.sleep(0.6)  # the dataflow works through an epoch: next_batch is not called
    broker.queue = [StampedMessage("scalars", 1, 3000)]
    assert _topics(part.next_batch()) == [("waveforms", "0")]
    time.sleep(0.6)  # another long epoch; waveforms was last polled 1.2 s ago, scalars 0.6 s ago
    broker.queue = [StampedMessage("scalars", 2, 4000)]  # the next waveform (t=2500) is not fetched yet
    assert part.next_batch() == []  # held back: waveforms was not silent, the flow was busy
    broker.queue = [StampedMessage("waveforms", 1, 2500), StampedMessage("waveforms", 2, 4500)]
    assert _topics(part.next_batch()) == [("waveforms", "1"), ("scalars", "1"), ("scalars", "2")]


def test_a_topic_silent_while_the_source_polls_still_counts_as_idle() -> None:
    part, broker = _partition(max_idle_s=0.3)
    broker.queue = [StampedMessage("scalars", 0, 1000), StampedMessage("waveforms", 0, 500)]
    part.next_batch()
    emitted: list[Any] = []
    deadline = time.monotonic() + 5
    while not emitted and time.monotonic() < deadline:  # the source keeps polling; waveforms is silent
        broker.queue = [StampedMessage("scalars", len(emitted) + 1, 2000)]
        emitted = part.next_batch()
        time.sleep(0.02)
    assert emitted, "a topic silent for max_idle_s of polling must stop holding the merge back"
