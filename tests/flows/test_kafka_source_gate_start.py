"""The Kafka source's partitions join the event-time gate before their first batch (round 20).

Before, a partition counted in the gate only from its first report: the first partition of a
resume to poll (an old one, its buffer filled at once) saw no other position and emitted its whole
buffer, a day of one asset, while the partitions added to the topics had not polled yet; a fleet
model version of a life they closed later came late (benchmarks/RESULTS.md, part kafka20)."""

from __future__ import annotations

from typing import Any

import pytest

from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.sources import kafka as kafka_source
from tests.flows.test_kafka_source_idle import TOPICS
from tests.kafka_fakes import FetchedQueue, StampedMessage

H = 3_600_000


def _parts(gate: EventTimeGate, *parts: int) -> list[tuple[Any, FetchedQueue]]:
    src = kafka_source.KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, TOPICS, max_idle_s=30.0,
                                            gate=gate)
    out = []
    for p in parts:
        part = src.build_part("telemetry_in", str(p), None)
        part.consumer.close()
        part.consumer = FetchedQueue()
        for topic in TOPICS[1:]:
            part.eof[topic] = True
        out.append((part, part.consumer))
    return out


def _emitted(batch: list[Any]) -> int:
    return sum(len(x.offsets) if hasattr(x, "offsets") else 1 for x in batch)


def test_the_first_partition_to_poll_waits_for_one_that_has_not_polled_yet() -> None:
    gate = EventTimeGate(budget_s=3 * 3600.0, timeout_s=600.0)
    (first, q0), (late, q1) = _parts(gate, 0, 1)
    q0.queue = [StampedMessage(TOPICS[0], k, k * H) for k in range(24)]  # a day of one asset
    assert _emitted(first.next_batch()) == 0  # partition 1 may still emit anything: held (before: 24)
    assert first.held
    q1.queue = [StampedMessage(TOPICS[0], 0, 0)]
    assert _emitted(late.next_batch()) == 1  # the slowest is never held
    first.next_awake()
    assert _emitted(first.next_batch()) == 4  # 0..3 h: within the budget of partition 1's position


def test_one_process_joins_every_partition_when_it_lists_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """One process: every partition is built here, by any of its workers (threads): all of them
    count from the listing on, before a worker builds its own."""
    monkeypatch.setattr(kafka_source, "partition_count", lambda *_a: 4)
    gate = EventTimeGate(budget_s=3600.0)
    src = kafka_source.KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, TOPICS, gate=gate)
    assert src.list_parts() == ["0", "1", "2", "3"]
    gate.report(2, 5 * H)
    assert gate.local_position_ms() == float("-inf") and not gate.allows(2, 5 * H)
    for p in (0, 1, 3):
        gate.report(p, 5 * H)
    assert gate.allows(2, 6 * H)
    several = EventTimeGate(budget_s=3600.0, processes=2)
    kafka_source.KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, TOPICS, gate=several).list_parts()
    assert several.local_position_ms() is None  # several processes: only the partitions built here join
