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
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

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
from twin_models.text import counted

__all__ = ["DeliveryError", "DeliveryFailures", "PublishReport", "publish", "topic_role"]

QUEUE_KBYTES = 65536
"""The producer's local queue (``queue.buffering.max.kbytes``) while publishing: 64 MiB instead of
librdkafka's 1 GiB, so a broker slower than the file holds at most ~64 MiB of records in memory
(a full queue makes ``produce`` wait for deliveries); the replay rate is the same (RESULTS, round
39). A ``[pipeline.kafka.librdkafka]`` setting of it wins."""

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
    failures: dict[str, int] = field(default_factory=dict)
    """Failed deliveries by reason (librdkafka's error name)."""

    def published(self, brokers: str) -> str:
        """The line `twin replay|simulate` ends with (round 50: ``1 record``, not ``1 records``)."""
        return (f"published {counted(self.records, 'record')} ({self.bytes / 1e6:.1f} MB) to {brokers} in "
                f"{self.seconds:.1f} s")


class DeliveryFailures:
    """A producer's ``on_delivery``: failed deliveries counted by reason (librdkafka's error name,
    e.g. ``MSG_SIZE_TOO_LARGE``), with the first :data:`TEXTS` distinct texts of each. Bounded
    whatever fails: at most :data:`REASONS` reasons are named, the rest counted as ``other``
    (round 39; one text per failed record was kept until the end before)."""

    TEXTS = 3
    REASONS = 16

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.texts: dict[str, list[str]] = {}

    def __call__(self, err: Any, _msg: object) -> None:
        if err is None:
            return
        name = err.name() if hasattr(err, "name") else type(err).__name__
        if name not in self.counts and len(self.counts) >= self.REASONS:
            name = "other"
        self.counts[name] += 1
        text = (err.str() if hasattr(err, "str") else "") or str(err)
        kept = self.texts.setdefault(name, [])
        if len(kept) < self.TEXTS and text not in kept:
            kept.append(text[:500])

    @property
    def total(self) -> int:
        """Failed deliveries so far."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """``N NAME (text; text)`` per reason, the most frequent first."""
        return "; ".join(f"{n} {name} ({'; '.join(self.texts.get(name, []))})"
                         for name, n in self.counts.most_common())


MAX_SLEEP_S = 3600.0
"""The longest single sleep of the pacer; a longer wait is several (round 49: ``--speed 1e-9`` of
minute data asked ``time.sleep`` for 6e10 s, beyond what it takes: ``twin: internal error:
OverflowError: timestamp out of range for platform time_t``, exit 1)."""


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
        while (delay := due - time.monotonic()) > 0:
            time.sleep(min(delay, MAX_SLEEP_S))


def publish(
    records: Iterable[Telemetry],
    cfg: KafkaConfig,
    *,
    speed: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> PublishReport:
    """Produce ``records`` (in event-time order) to their topics; raises :class:`DeliveryError`
    (a KafkaSetupError: one line, exit 2) if any delivery failed, counting them by reason.

    Waits at most ``cfg.connect_timeout_s`` for the brokers before the first record (a
    KafkaSetupError naming them otherwise), instead of queueing for ``message.timeout.ms``; then
    as long again for every partition of the three topics to have a leader serving it (topics
    created just before: an idempotent producer's first batch to a partition its leader has not
    applied yet can be lost on brokers without KAFKA-15591's fix).
    """
    config = {"queue.buffering.max.kbytes": str(QUEUE_KBYTES), **producer_config(cfg.client_config())}
    producer, client_errors = producer_client(cfg, config)
    wait_for_brokers(producer, client_errors, cfg)
    topics = {role: cfg.topic(role) for role in ("scalars", "waveforms", "events")}
    admin, admin_errors = admin_client(cfg)
    wait_for_brokers(admin, admin_errors, cfg)
    wait_for_leaders(admin, list(topics.values()), cfg)
    report = PublishReport()
    on_delivery = DeliveryFailures()

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
    report.failed, report.failures = on_delivery.total, dict(on_delivery.counts.most_common())
    if report.failed:
        msg = (f"{report.failed} of {report.records} records were not delivered to {cfg.brokers}: "
               f"{on_delivery.summary()}")
        raise DeliveryError(msg, report)
    return report


class DeliveryError(KafkaSetupError):
    """Some records were not delivered; ``report`` says how many of how many and why."""

    def __init__(self, msg: str, report: PublishReport) -> None:
        super().__init__(msg)
        self.report = report


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
