"""Reading a whole topic back, for the Kafka benchmarks and the integration tests (one copy).

A benchmark or test that has run ``twin run`` against a broker reads what it wrote (alerts, dead
letters, state ...) with :func:`consume_all`: every partition from the beginning up to its end
(``enable.partition.eof``), under a fresh consumer group, with a deadline so that a missing
topic or a stuck broker ends the read instead of hanging it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from flows.config.pipeline import KafkaConfig

__all__ = ["consume_all"]


def consume_all(cfg: KafkaConfig, role: str, timeout_s: float = 20.0,
                settings: Mapping[str, Any] | None = None, expected: int = 0) -> list[Any]:
    """Every message of the topic of ``role`` (all partitions, from the beginning), read until each
    partition's end and at least ``expected`` messages, or until ``timeout_s``; ``settings`` adds
    client settings (TLS/SASL)."""
    c = Consumer({"bootstrap.servers": cfg.brokers, **(settings or {}), "group.id": uuid.uuid4().hex,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    topic = cfg.topic(role)
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out: list[Any] = []
    eof: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while (len(eof) < len(parts) or len(out) < expected) and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            if m.error():
                eof.add(m.partition())
            else:
                out.append(m)
    c.close()
    return out
