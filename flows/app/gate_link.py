"""The event-time gate across the processes of a `twin run` cluster, through the fleet model topic.

Each process publishes its partitions' lowest position (:class:`ProgressPublisher`, a background
thread, every ``every_s``) to the fleet model topic under the key ``twin.progress/<process id>``
with the header ``twin.progress``; every process's
:class:`~flows.app.fleet_topic.FleetModelConsumer` already reads that topic and hands such
messages to :func:`take_progress` instead of the model loader. The topic is compacted and read
from the beginning, so it still holds the last position of an earlier run: a progress message
written before this process started is ignored (the processes of one cluster publish only once
their dataflow runs, after all of them have started). Positions are event times in ms, written as
text (``inf`` once a process's partitions are all at their end).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from flows.config.pipeline import KafkaConfig
from flows.dataflow.event_time_gate import EventTimeGate
from flows.kafka.clients import producer_client, wait_for_brokers

__all__ = ["PROGRESS_HEADER", "ProgressPublisher", "is_progress", "take_progress"]

log = logging.getLogger(__name__)

PROGRESS_HEADER = "twin.progress"


def is_progress(headers: list[tuple[str, bytes]] | None) -> bool:
    """Whether a message of the fleet model topic is a progress message (by its header)."""
    return any(k == PROGRESS_HEADER for k, _ in headers or ())


def take_progress(gate: EventTimeGate, value: bytes | None, timestamp_ms: int, since_ms: int) -> str | None:
    """Hand a progress message to the gate; the reason it was refused, or None. Messages from
    before ``since_ms`` (an earlier run's, kept by compaction) are skipped, not refused."""
    if timestamp_ms < since_ms:
        return None
    try:
        process, position = (value or b"").decode("ascii").split()
        pid, pos = int(process), float(position)
    except (UnicodeDecodeError, ValueError) as exc:
        return f"progress message {value[:60]!r} is not '<process> <position ms>': {exc}"
    if pid < 0 or math.isnan(pos):
        return f"progress message with process {pid} and position {pos}"
    gate.remote_report(pid, pos)
    return None


class ProgressPublisher:
    """Background thread: this process's lowest position, to the fleet model topic, every ``every_s``.

    Its producer is made by the shared client helpers (:mod:`flows.kafka.clients`), as every Kafka
    client of the engine: the same settings and security config, a refused setting is one
    ``KafkaSetupError`` line, librdkafka's log lines go to ``flows.librdkafka``."""

    def __init__(self, kafka: KafkaConfig, topic: str, gate: EventTimeGate, process_id: int,
                 *, every_s: float = 0.25) -> None:
        self.kafka = kafka
        self.topic = topic
        self.gate = gate
        self.process_id = process_id
        self.every_s = every_s
        self.sent = 0
        self._stop = threading.Event()
        # progress is sent at once (linger 0), whatever the shared settings say
        self.producer, self._errors = producer_client(kafka, {**kafka.client_config(), "linger.ms": "0"})
        self.thread = threading.Thread(target=self._run, name="event-time-gate-publisher", daemon=True)

    def start(self) -> ProgressPublisher:
        """Wait for the brokers (up to ``kafka.connect_timeout_s``, then a ``KafkaSetupError`` names
        the problem in one line, as every command) and start publishing."""
        wait_for_brokers(self.producer, self._errors, self.kafka, topic=self.topic)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.gate.wake.wait(self.every_s)  # at once after a hold or release, else every every_s
            self.gate.wake.clear()
            if not self._stop.is_set():
                self.publish_once()

    def publish_once(self) -> bool:
        """Publish the current position if known; whether something was sent."""
        position = self.gate.take_position()
        if position is None:
            return False
        try:
            self.producer.produce(self.topic, f"{self.process_id} {position}".encode(),
                                  f"{PROGRESS_HEADER}/{self.process_id}".encode(),
                                  headers=[(PROGRESS_HEADER, b"1")], on_delivery=_log_failure)
        except BufferError:  # the local queue is full (broker away): the next round sends again
            return False
        self.producer.poll(0)
        self.sent += 1
        return True

    def stop(self) -> None:
        """Stop the thread; what is queued gets a short chance to go out."""
        self._stop.set()
        self.gate.wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5.0)
        self.producer.flush(2.0)


def _log_failure(err: Any, _msg: Any) -> None:
    if err is not None:
        log.warning("twin: event-time gate progress not delivered: %s", err)
