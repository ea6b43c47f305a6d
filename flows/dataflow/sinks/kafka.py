"""Kafka sinks: alerts, twin state, features and dead letters, keyed by asset_id.

Producers are idempotent with ``acks=all``; every batch is flushed and its delivery reports are
checked, so a batch is only done once the broker has it. While a broker is briefly away the
producer retries (up to ``message.timeout.ms``, 10 minutes by default here) and the flow waits;
a message that still cannot be delivered stops the flow with :class:`DeliveryFailed` instead of
being dropped, and a restart with the same recovery folder produces it again.

The sinks are *partitioned stateful* sinks (the state is empty) on purpose: Bytewax records an
epoch as complete in the recovery store only when every stateful step and sink has finished it,
so a recovery snapshot is never committed while messages of its epoch are still undelivered. (A
stateless sink is not part of that frontier: a crash just after a snapshot could lose what it had
not delivered yet.) Delivery is at-least-once: after a resume, messages of the epochs after the
last snapshot are produced again with the same key and the same alert id/sequence.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import KafkaException, Producer

from flows import codec
from flows.dataflow.items import DeadLetter
from flows.dataflow.metrics import PipelineMetrics
from flows.kafka.errors import close_producer, flush, guarded

__all__ = ["DEAD_LETTER_MAX_BYTES", "DeliveryFailed", "KafkaTopicSink", "dead_letter_message",
           "kafka_attacher", "producer_config"]

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


class DeliveryFailed(KafkaException):
    """Messages could not be delivered within ``message.timeout.ms``: the flow stops here."""

    def __init__(self, topic: str, failures: list[str], timeout_ms: str) -> None:
        self.topic = topic
        self.count = len(failures)
        self.reason = failures[0]
        self.timeout_ms = timeout_ms
        super().__init__(self.summary())

    def summary(self) -> str:
        """One line: how many messages, where, why, and within what timeout."""
        return (f"could not deliver {self.count} messages to Kafka topic {self.topic} within "
                f"message.timeout.ms={self.timeout_ms}: {self.reason}")


class _TopicPartition(StatefulSinkPartition[Message, None]):
    def __init__(self, config: dict[str, Any], topic: str, metrics: PipelineMetrics | None) -> None:
        self.producer = Producer(guarded(config))
        self.config_timeout_ms = config.get("message.timeout.ms")
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
                    # confluent_kafka._types.HeadersType is List[Tuple[str, Union[str, bytes, None]]]: a list
                    # is invariant, so a list[tuple[str, bytes]] (valid: produce only reads it) is refused
                    self.producer.produce(self.topic, value=value, key=key,
                                          headers=headers,  # type: ignore[arg-type]
                                          on_delivery=self._report)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    self.producer.poll(0.1)
            self.producer.poll(0)
        flush(self.producer)
        if self.metrics is not None:
            elapsed = time.perf_counter() - start
            self.metrics.sink_write_seconds.labels(sink=f"kafka_{self.topic}").observe(elapsed)
            self.metrics.sink_batch_size.labels(sink=f"kafka_{self.topic}").observe(len(items))
        self._check()

    def _check(self) -> None:
        if self.failures:
            failures, self.failures = self.failures, []
            raise DeliveryFailed(self.topic, failures, str(self.config_timeout_ms))

    def snapshot(self) -> None:
        """Nothing to resume: the snapshot only marks that this epoch's messages are delivered."""
        return None

    def close(self) -> None:
        close_producer(self.producer)  # after rejected credentials: neither raise again nor wait
        self._check()


class KafkaTopicSink(FixedPartitionedSink[Message, None]):
    """One topic; items are ``(key, (key, value, headers))``; one producer per writer partition.

    ``partitions`` writer partitions (one per worker is right) spread the producers over workers.
    """

    def __init__(self, client_config: Mapping[str, str], topic: str,
                 metrics: PipelineMetrics | None = None, partitions: int = 1) -> None:
        self.config = producer_config(client_config)
        self.topic = topic
        self.metrics = metrics
        self.partitions = partitions

    def list_parts(self) -> list[str]:
        """Writer partitions ``k0``, ``k1`` ..."""
        return [f"k{i}" for i in range(self.partitions)]

    def part_fn(self, item_key: str) -> int:
        """Stable assignment of a key to a writer partition."""
        return zlib.crc32(item_key.encode()) % self.partitions

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TopicPartition:
        """A producer for this writer partition (nothing to resume)."""
        return _TopicPartition(dict(self.config), self.topic, self.metrics)


def record_message(record: Any) -> Message:
    """A record as a message: key = asset_id, value = its JSON contract document."""
    return record.asset_id.encode(), codec.encode_json(record), []


DEAD_LETTER_MAX_BYTES = 512 * 1024
"""The most of a record's bytes a dead letter keeps: half the smallest default message size limit
(broker ``message.max.bytes``, topic ``max.message.bytes`` and librdkafka's producer limit, 1 MB
each). A longer record (a 10 MB value on a topic that allows it) made the dead letter itself
undeliverable, ``MSG_SIZE_TOO_LARGE``, and stopped ``twin run`` on it again at every restart; now
its first bytes are kept, with its full size in ``dlq.truncated`` (the ``source.*`` headers say
where the whole record still is)."""


def dead_letter_message(d: DeadLetter) -> Message:
    """The original bytes as the value (at most :data:`DEAD_LETTER_MAX_BYTES`); reason, detail and
    source coordinates in headers."""
    headers = [("dlq.reason", d.reason.encode()), ("dlq.detail", d.detail.encode()[:4096]),
               ("dlq.source", d.source.encode()), ("dlq.timestamp", d.timestamp.isoformat().encode())]
    headers += [(k, v.encode()) for k, v in d.headers]
    raw = d.raw
    if len(raw) > DEAD_LETTER_MAX_BYTES:
        headers.append(("dlq.truncated", str(len(raw)).encode()))
        raw = raw[:DEAD_LETTER_MAX_BYTES]
    return None, raw, headers


def _route_key(message: Message) -> str:
    """The writer partition key: the message key (asset id), else a hash of the value."""
    key, value, _headers = message
    return key.decode("utf-8", "replace") if key is not None else str(zlib.crc32(value))


def kafka_attacher(
    client_config: Mapping[str, str], topic: str, to_message: Callable[[Any], Message] = record_message,
    metrics: PipelineMetrics | None = None, partitions: int = 1,
) -> Callable[[str, Stream[Any]], None]:
    """A SinkAttacher producing a stream to ``topic`` through ``partitions`` writer partitions."""
    sink = KafkaTopicSink(client_config, topic, metrics, partitions)

    def attach(step_id: str, stream: Stream[Any]) -> None:
        messages = op.map(f"{step_id}_encode", stream, to_message)
        op.output(step_id, op.key_on(f"{step_id}_route", messages, _route_key), sink)

    return attach
