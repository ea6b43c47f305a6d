"""The Kafka source never makes the worker wait for messages.

Every source partition of a worker is polled by the thread that also closes the windows and runs
the twins and the sinks. librdkafka's ``consume(n, timeout)`` waits the whole timeout unless ``n``
messages come, so a waiting poll per partition (50 ms each, four partitions) held every window
close up to 200 ms (issue 10, part LATENCY3). Polls now take what the fetcher thread already
holds, and a partition that got nothing asks Bytewax to come back later instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flows.dataflow.sources.kafka import KafkaTelemetrySource
from tests.kafka_fakes import FetchedQueue, StampedMessage

TOPICS = ["scalars", "waveforms"]


@dataclass
class _Broker(FetchedQueue):
    """librdkafka's consume(): waits ``timeout`` when fewer than ``n`` messages are fetched
    (the wait is recorded, not slept)."""

    waited_s: list[float] = field(default_factory=list)

    def consume(self, n: int, timeout: float) -> list[StampedMessage]:
        if len(self.queue) < n:
            self.waited_s.append(timeout)
        return super().consume(n, timeout)


def _partitions(n: int, **kw: Any) -> list[tuple[Any, _Broker]]:
    src = KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, TOPICS, **kw)
    out = []
    for p in range(n):
        part = src.build_part("telemetry_in", str(p), None)
        part.consumer.close()
        part.consumer = _Broker()
        out.append((part, part.consumer))
    return out


def test_polling_four_quiet_partitions_never_waits_for_messages() -> None:
    parts = _partitions(4)
    for part, _broker in parts:
        assert part.next_batch() == []
    waited = [w for _part, broker in parts for w in broker.waited_s]
    assert len(waited) == 4
    assert sum(waited) == 0.0  # before: 4 x 50 ms with the worker blocked


def test_a_partition_that_got_nothing_asks_to_be_polled_later() -> None:
    (part, _broker), = _partitions(1, poll_interval_s=0.5)
    before = datetime.now(UTC)
    assert part.next_batch() == []
    awake = part.next_awake()
    assert awake is not None  # not None: Bytewax would call next_batch again in a busy loop
    assert (awake - before).total_seconds() > 0  # at the next multiple of 0.5 s


def test_a_partition_that_got_messages_is_polled_again_at_once() -> None:
    (part, broker), = _partitions(1, poll_interval_s=0.5)
    broker.queue = [StampedMessage("scalars", 0, 1000), StampedMessage("waveforms", 0, 1000)]
    assert part.next_batch() != []
    assert part.next_awake() is None  # more may be fetched already
    assert part.next_batch() == []  # nothing new: wait poll_interval_s
    assert part.next_awake() is not None
