"""Publish telemetry into Kafka: the simulator (``twin simulate``) and history files (``twin replay``).

Every record goes to its topic (scalars, waveform frames, events) with key = asset_id, so an asset's
records stay ordered in one partition, and with its event time in the ``twin.event_time_ms`` header
(the pipeline's source merges topics by it). The Kafka timestamp stays the time of production, so
the broker's time-based retention does not delete replayed history as soon as it lands.
``speed`` paces publishing: event time advances ``speed`` times faster than wall-clock time
(1 = real time); ``speed = 0`` publishes as fast as the broker accepts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import Producer

from flows.config.pipeline import KafkaConfig
from flows.dataflow.sinks.kafka import producer_config
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from flows.dataflow.sources.replayable import encode_record
from flows.kafka.clients import (
    KafkaSetupError,
    admin_client,
    producer_client,
    wait_for_brokers,
    wait_for_leaders,
)
from flows.kafka.errors import flush
from twin_models.records import (
    Telemetry,
    telemetry_kind,
)

__all__ = ["PublishReport", "publish", "topic_role"]

_ROLES = {"waveform": "waveforms", "scalar": "scalars", "event": "events"}


def topic_role(record: Telemetry) -> str:
    """Which topic role a record belongs to."""
    return _ROLES[telemetry_kind(record)]


@dataclass
class PublishReport:
    """What a publishing run did."""

    records: int = 0
    bytes: int = 0
    failed: int = 0
    seconds: float = 0.0


class _Pacer:
    """Sleeps so that event time advances ``speed`` x wall time from the first record."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.t0_event: float | None = None
        self.t0_wall = time.monotonic()

    def wait_for(self, event_s: float) -> None:
        if self.speed <= 0:
            return
        if self.t0_event is None:
            self.t0_event = event_s
            return
        due = self.t0_wall + (event_s - self.t0_event) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def publish(
    records: Iterable[Telemetry],
    cfg: KafkaConfig,
    *,
    speed: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> PublishReport:
    """Produce ``records`` (in event-time order) to their topics; raises if any delivery failed.

    Waits at most ``cfg.connect_timeout_s`` for the brokers before the first record (a
    KafkaSetupError naming them otherwise), instead of queueing for ``message.timeout.ms``; then
    as long again for every partition of the three topics to have a leader serving it (topics
    created just before: an idempotent producer's first batch to a partition its leader has not
    applied yet can be lost on brokers without KAFKA-15591's fix).
    """
    producer, client_errors = producer_client(cfg, producer_config(cfg.client_config()))
    wait_for_brokers(producer, client_errors, cfg)
    topics = {role: cfg.topic(role) for role in ("scalars", "waveforms", "events")}
    admin, admin_errors = admin_client(cfg)
    wait_for_brokers(admin, admin_errors, cfg)
    wait_for_leaders(admin, list(topics.values()), cfg)
    report = PublishReport()
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    pacer = _Pacer(speed)
    start = time.monotonic()
    for rec in records:
        ts = rec.timestamp.timestamp()
        pacer.wait_for(ts)
        value = encode_record(rec)
        _produce(producer, topics[topic_role(rec)], rec.asset_id.encode(), value,
                 [(EVENT_TIME_HEADER, str(int(ts * 1000)).encode())], on_delivery)
        report.records += 1
        report.bytes += len(value)
        if progress is not None:
            progress(1)
    flush(producer)
    report.seconds = time.monotonic() - start
    report.failed = len(errors)
    if errors:
        msg = f"{len(errors)} of {report.records} records were not delivered to {cfg.brokers}: {errors[0]}"
        raise KafkaSetupError(msg)
    return report


def _produce(producer: Producer, topic: str, key: bytes, value: bytes,
             headers: list[tuple[str, bytes]], on_delivery: Callable[[object, object], None]) -> None:
    while True:
        try:
            # headers: confluent_kafka's HeadersType is a List of Union tuples, invariant (see sinks.kafka)
            producer.produce(topic, value=value, key=key, headers=headers,  # type: ignore[arg-type]
                             on_delivery=on_delivery)
            break
        except BufferError:  # local queue full: wait for deliveries
            producer.poll(0.1)
    producer.poll(0)
