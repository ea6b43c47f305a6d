"""The Kafka source's buffers stay bounded under a backlog, and pausing loses nothing.

Under overload the merge of scalar and waveform topics can only go as far as the slower topic,
while a fetch brings thousands of small scalar messages for every few dozen frames: without
backpressure between topics the scalar buffer grew with the backlog (benchmarks/bench_overload.py).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from flows.app.produce import publish
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from flows.dataflow.items import RawRun
from flows.dataflow.sources.kafka import KafkaTelemetrySource
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

BACKLOG = FleetConfig(n_assets=16, days=3.0, seed=7)  # ~28k records: ~25k scalars, 2.3k frames
TELEMETRY = ("scalars", "waveforms", "events")


@pytest.fixture
def backlog(kafka_brokers: str, kafka_admin: Any) -> Iterator[KafkaConfig]:
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"bp-{uuid.uuid4().hex[:8]}.", partitions=1)
    create_topics(cfg)
    publish(simulate_fleet(BACKLOG), cfg)
    yield cfg
    kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def _high_watermarks(cfg: KafkaConfig) -> dict[str, int]:
    c = Consumer({"bootstrap.servers": cfg.brokers, "group.id": "bp-test"})
    try:
        return {cfg.topic(r): c.get_watermark_offsets(TopicPartition(cfg.topic(r), 0), timeout=10)[1]
                for r in TELEMETRY}
    finally:
        c.close()


def test_buffers_stay_bounded_and_every_message_is_read_once(backlog: KafkaConfig) -> None:
    src = KafkaTelemetrySource(backlog.client_config(), [backlog.topic(r) for r in TELEMETRY],
                               tail=False)
    part = src.build_part("telemetry_in", "0", None)
    seen: Counter[tuple[str, int]] = Counter()
    peak: Counter[str] = Counter()
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            try:
                batch = part.next_batch()
            except StopIteration:
                break
            for rec in (one for r in batch for one in (r.records() if isinstance(r, RawRun) else [r])):
                h = dict(rec.headers)
                seen[(h["source.topic"], int(h["source.offset"]))] += 1
            for topic, buf in part.buffers.items():
                peak[topic] = max(peak[topic], len(buf))
        else:
            pytest.fail("the source did not reach the end of the backlog in 180 s")
    finally:
        part.close()
    # a topic is paused once it holds max_buffered; one more consume() may land before that
    assert max(peak.values()) <= src.max_buffered + src.batch_size, dict(peak)
    expected = {(t, o) for t, hw in _high_watermarks(backlog).items() for o in range(hw)}
    assert set(seen) == expected  # nothing lost, across pauses and resumes
    assert max(seen.values()) == 1  # nothing read twice
