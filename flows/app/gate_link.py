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

Voids (round 32): when the learner of a kind fails on a life, or gets it incomplete, no version
will come for it (:meth:`~flows.dataflow.fleet_models.FleetBoard.void`); the twin that closed the
life, and so the gate's hold, may be in another process, which waited for the gate's 60 s timeout.
The learner's process publishes a *void* (:meth:`ProgressPublisher.publish_void`): header
``twin.void``, key ``twin.void/<kind>/<effective ms>`` (never a kind's key, so compaction erases
neither a version nor another void, and each void is kept once), value JSON ``{"kind": ...,
"effective_from_s": ...}`` (the float exactly: the board knows a version by it). Every process's
consumer hands it to :func:`take_void`: the board's hold ends and the gate releases it. A void ends
holds only: a version of the same kind and effective time published later still applies. Like
progress, a void written before this process started is skipped (an earlier run's, kept by
compaction: a resumed run that replays the life's close replays its learning too, so its learner
voids again); a malformed one is refused.

A refused version (round 33): every version message carries its effective time in the plain-text
header ``fleet.effective_from_s``; a version that the consumers refuse (``bad_fleet_model``: over
the size cap, a class outside the allow-list; the same checks in every process) will not come, so
the consumer ends the hold that header and the message's key (the kind) name, as a void does
(:func:`refused_model_void`), and still counts the dead letter.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from typing import Any

from flows.config.pipeline import KafkaConfig
from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.fleet_models import FleetBoard
from flows.kafka.clients import producer_client, wait_for_brokers

__all__ = ["EFFECTIVE_HEADER", "PROGRESS_HEADER", "VOID_HEADER", "ProgressPublisher", "is_progress",
           "is_void", "refused_model_void", "take_progress", "take_void", "void_message"]

log = logging.getLogger(__name__)

PROGRESS_HEADER = "twin.progress"
VOID_HEADER = "twin.void"
EFFECTIVE_HEADER = "fleet.effective_from_s"
"""A version message's header: its effective time as text (``repr`` of the float), readable
without unpickling the value (round 33: a refused version ends its hold)."""
MAX_VOID_S = 1e12
"""Largest effective time (event s, either sign: ~31,700 years) a void may name."""
_EFFECTIVE_TEXT = re.compile(rb"-?[0-9]{1,13}(?:\.[0-9]{1,24})?(?:e[+-]?[0-9]{1,3})?")
"""What :func:`model_message` writes in ``fleet.effective_from_s`` (``repr`` of a float within
:data:`MAX_VOID_S`): ASCII digits, a point, an exponent. ``float()`` takes more (``" 12 "``,
``1_7``, ``nan``, Unicode digits, any length): such a header names no hold (round 34)."""


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
        return f"progress message {(value or b'')[:60]!r} is not '<process> <position ms>': {exc}"
    if pid < 0 or math.isnan(pos):
        return f"progress message with process {pid} and position {pos}"
    gate.remote_report(pid, pos)
    return None


def is_void(headers: list[tuple[str, bytes]] | None) -> bool:
    """Whether a message of the fleet model topic is a void (by its header)."""
    return any(k == VOID_HEADER for k, _ in headers or ())


def void_message(kind: str, effective_from_s: float) -> tuple[bytes, bytes]:
    """The key and value of the void of ``kind``'s version effective from ``effective_from_s``
    (the value keeps the float exactly: the board knows a version by it, the gate by its ms)."""
    value = json.dumps({"kind": kind, "effective_from_s": effective_from_s}, ensure_ascii=False)
    return f"{VOID_HEADER}/{kind}/{round(effective_from_s * 1000.0)}".encode(), value.encode()


def take_void(board: FleetBoard, gate: EventTimeGate | None, value: bytes | None, timestamp_ms: int,
              since_ms: int) -> str | None:
    """End the hold a void names, on the board and the gate; the reason it was refused, or None.
    Voids from before ``since_ms`` (an earlier run's) are skipped, not refused."""
    if timestamp_ms < since_ms:
        return None
    try:
        got = json.loads(value or b"")
        kind, eff = got["kind"], got["effective_from_s"]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:  # RecursionError: [[[[... (round 34)
        return f"fleet model void {(value or b'')[:60]!r} is not {{kind, effective_from_s}}: {exc}"
    if type(kind) is not str or type(eff) not in (int, float) or not abs(eff) <= MAX_VOID_S:
        return f"fleet model void of kind {kind!r} and effective time {eff!r}"[:500]
    _end_hold(board, gate, kind, eff)
    return None


def refused_model_void(board: FleetBoard, gate: EventTimeGate | None, key: bytes | None,
                       headers: list[tuple[str, bytes]] | None, timestamp_ms: int, since_ms: int) -> bool:
    """A version every consumer refuses (``bad_fleet_model``: the same checks in every process)
    will not come either: end the hold its plain-text header ``fleet.effective_from_s`` names for
    the kind of its key, as a void does; whether a hold was named. Nothing ends for an earlier
    run's message, one without that header (written before round 33) or with an unreadable one
    (the gate's timeout, as before)."""
    raw = next((v for k, v in headers or () if k == EFFECTIVE_HEADER), None)
    if timestamp_ms < since_ms or type(raw) is not bytes or not key or not _EFFECTIVE_TEXT.fullmatch(raw):
        return False
    try:
        kind, eff = key.decode("utf-8"), float(raw)
    except (UnicodeDecodeError, ValueError):
        return False
    if not abs(eff) <= MAX_VOID_S:
        return False
    _end_hold(board, gate, kind, eff)
    return True


def _end_hold(board: FleetBoard, gate: EventTimeGate | None, kind: str, eff: float) -> None:
    board.voided(kind, eff)
    if gate is not None:
        gate.release(kind, eff)


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

    def publish_void(self, kind: str, effective_from_s: float) -> None:
        """Tell every process that ``kind``'s version effective from ``effective_from_s`` will not
        come (a worker thread's learner step calls it). A full local queue (broker away): the
        holding process waits for the gate's timeout, as before voids existed; logged."""
        key, value = void_message(kind, effective_from_s)
        try:
            self.producer.produce(self.topic, value, key, headers=[(VOID_HEADER, b"1")],
                                  on_delivery=_log_failure)
        except BufferError:
            log.warning("twin: fleet model void of kind %r not sent (the producer's queue is full)", kind)
            return
        self.producer.poll(0)

    def stop(self) -> None:
        """Stop the thread; what is queued gets a short chance to go out."""
        self._stop.set()
        self.gate.wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5.0)
        self.producer.flush(2.0)


def _log_failure(err: Any, _msg: Any) -> None:
    if err is not None:
        log.warning("twin: event-time gate message (progress or void) not delivered: %s", err)
