"""Kafka sinks: alerts, twin state, features and dead letters, keyed by asset_id.

Producers are idempotent with ``acks=all``; every batch is flushed and its delivery reports are
checked, so a batch is only done once the broker has it. While a broker is briefly away the
producer retries (up to ``message.timeout.ms``, 10 minutes by default here) and the flow waits;
a message that still cannot be delivered stops the flow instead of being dropped, and Bytewax's
recovery resumes from the last snapshot. Delivery is at-least-once: after a resume, messages
around the resume point are produced again with the same key and the same alert id/sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaException, Producer

from flows import serde
from flows.kafka_errors import close_producer, flush, guarded
from flows.metrics import PipelineMetrics
from flows.operators import DeadLetter

__all__ = ["KafkaTopicSink", "dead_letter_message", "kafka_attacher", "producer_config"]

Message = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def producer_config(client_config: Mapping[str, str]) -> dict[str, Any]:
    """Safe producer defaults; anything in ``client_config`` wins."""
    return {
        "acks": "all",
        "enable.idempotence": "true",
        "linger.ms": "20",
        "compression.type": "lz4",
        "message.timeout.ms": "600000",
        **client_config,
    }


class _TopicPartition(StatelessSinkPartition[Message]):
    def __init__(self, config: dict[str, Any], topic: str, metrics: PipelineMetrics | None) -> None:
        self.producer = Producer(guarded(config))
        self.topic = topic
        self.metrics = metrics
        self.failures: list[str] = []

    def _report(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failures.append(str(err))

    def write_batch(self, items: list[Message]) -> None:
        start = time.perf_counter()
        for key, value, headers in items:
            while True:
                try:
                    self.producer.produce(self.topic, value=value, key=key, headers=headers,
                                          on_delivery=self._report)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    self.producer.poll(0.1)
            self.producer.poll(0)
        flush(self.producer)
        if self.metrics is not None:
            self.metrics.sink_seconds.labels(sink=f"kafka_{self.topic}").observe(time.perf_counter() - start)
            self.metrics.sink_batch.labels(sink=f"kafka_{self.topic}").observe(len(items))
        if self.failures:
            msg = f"could not deliver {len(self.failures)} messages to {self.topic}: {self.failures[0]}"
            self.failures = []
            raise KafkaException(msg)

    def close(self) -> None:
        close_producer(self.producer)


class KafkaTopicSink(DynamicSink[Message]):
    """One topic; items are ``(key, value, headers)``; each worker has its own producer."""

    def __init__(self, client_config: Mapping[str, str], topic: str,
                 metrics: PipelineMetrics | None = None) -> None:
        self.config = producer_config(client_config)
        self.topic = topic
        self.metrics = metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TopicPartition:
        """A producer for this worker."""
        return _TopicPartition(dict(self.config), self.topic, self.metrics)


def record_message(record: Any) -> Message:
    """A record as a message: key = asset_id, value = its JSON contract document."""
    return record.asset_id.encode(), serde.encode_json(record), []


def dead_letter_message(d: DeadLetter) -> Message:
    """The original bytes as the value; reason, detail and source coordinates in headers."""
    headers = [("dlq.reason", d.reason.encode()), ("dlq.detail", d.detail.encode()[:4096]),
               ("dlq.source", d.source.encode()), ("dlq.timestamp", d.timestamp.isoformat().encode())]
    headers += [(k, v.encode()) for k, v in d.headers]
    return None, d.raw, headers


def kafka_attacher(
    client_config: Mapping[str, str], topic: str, to_message: Callable[[Any], Message] = record_message,
    metrics: PipelineMetrics | None = None,
) -> Callable[[str, Stream[Any]], None]:
    """A SinkAttacher producing a stream to ``topic``."""
    sink = KafkaTopicSink(client_config, topic, metrics)

    def attach(step_id: str, stream: Stream[Any]) -> None:
        op.output(step_id, op.map(f"{step_id}_encode", stream, to_message), sink)

    return attach
