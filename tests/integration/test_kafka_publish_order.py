"""The publisher of the integration tests and benchmarks that compare runs across partitionings
(``benchmarks.resume_repartition.publish``) keeps every partition in event-time order, also on
topics created and partitions added just before (round 19, part late).

Why: the "late records in clean multi-partition runs" (RESULTS.md, part resume19: 348 in a clean
4-partition run, 45 and 90 after a growth, 60 in a 2-partition run) were in the input. A plain
producer (``linger.ms`` only: up to a million requests in flight, retries on) writing right after
``create_topics`` / ``create_partitions`` got "Not leader for partition" for its first batches
(the broker had not applied the new partitions yet) and sent them again after later batches were
appended: an asset's first hours came behind its later records, real ``late_record`` dead letters.
With twinflow's producer settings (idempotent, ``acks=all``) the order is kept.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewPartitions

from benchmarks.resume_repartition import publish
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=4, days=4.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
TELEMETRY = ("scalars", "waveforms", "events")


def _event_times(cfg: KafkaConfig, partitions: int) -> dict[tuple[str, int], list[int]]:
    """Per telemetry topic and partition, the event times of its messages in offset order."""
    consumer = Consumer({"bootstrap.servers": cfg.brokers, "group.id": "publish-order",
                         "enable.auto.commit": "false", "enable.partition.eof": "true"})
    parts = [TopicPartition(cfg.topic(r), p, 0) for r in TELEMETRY for p in range(partitions)]
    consumer.assign(parts)
    times: dict[tuple[str, int], list[int]] = {(t.topic, t.partition): [] for t in parts}
    ended: set[tuple[str, int]] = set()
    try:
        while len(ended) < len(parts):
            msg = consumer.poll(10)
            assert msg is not None, f"no end of partition after {sum(map(len, times.values()))} messages"
            if msg.error():
                ended.add((msg.topic(), msg.partition()))
                continue
            times[msg.topic(), msg.partition()].append(int(dict(msg.headers() or [])[EVENT_TIME_HEADER]))
    finally:
        consumer.close()
    return times


def _out_of_order(times: dict[tuple[str, int], list[int]]) -> dict[str, int]:
    """Per topic partition with any: how many messages came after a newer one of that partition."""
    found = {}
    for (topic, part), ts in times.items():
        behind = sum(t < top for t, top in zip(ts[1:], _running_max(ts), strict=False))
        if behind:
            found[f"{topic}[{part}]"] = behind
    return found


def _running_max(ts: list[int]) -> list[int]:
    out, top = [], -1
    for t in ts:
        top = max(top, t)
        out.append(top)
    return out


def test_publish_keeps_every_partition_in_event_time_order(topic_sets: Any, kafka_admin: Any) -> None:
    records = list(simulate_fleet(FLEET))
    assets = sorted({r.asset_id for r in records})
    split = records[0].timestamp.timestamp() + FLEET.days / 2 * 86_400
    fresh = topic_sets("po", 4, count=3)
    for cfg in fresh:  # published right after the topics were created
        publish(cfg, records, assets, 4)
    (grown,) = topic_sets("pg", 2, count=1)
    publish(grown, [r for r in records if r.timestamp.timestamp() < split], assets, 2)
    futures = kafka_admin.create_partitions([NewPartitions(grown.topic(t), 4) for t in TELEMETRY])
    for fut in futures.values():
        fut.result(timeout=30)
    publish(grown, [r for r in records if r.timestamp.timestamp() >= split], assets, 4)  # to the new ones
    for cfg in (*fresh, grown):
        times = _event_times(cfg, 4)
        assert sum(map(len, times.values())) == len(records)
        assert _out_of_order(times) == {}, cfg.topic_prefix
