"""Hostile records on the fleet model topic, over a real broker (round 34, HOSTILE34).

A producer writes to ``twin.fleet.models.v1`` what twinflow never would: voids for a kind with no
hold, of a NaN, infinite, huge or boolean effective time, the same void again, a void before its
version and one at the time of a held version, a tombstone (null value) on a kind's key and one with
the ``twin.progress`` header, a version whose effective-time header is 512 KB of garbage. The
consumer must refuse the bad ones as dead letters (``bad_fleet_model``, ``bad_progress``), take the
valid voids, and still load every good version after them. Before: the null progress message raised
``TypeError`` in the consumer's thread, which ended: no version after it was loaded.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from flows.app.fleet_topic import FleetModelConsumer, model_message
from flows.app.gate_link import EFFECTIVE_HEADER, PROGRESS_HEADER, VOID_HEADER
from flows.config.pipeline import KafkaConfig
from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.metrics import PipelineMetrics
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.trend import FleetRul

pytestmark = pytest.mark.integration

EFF, EARLY = 1_767_907_088.401855, 1_767_800_000.25


def _wait_for(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def _void(kind: object, eff: str) -> bytes:
    return f'{{"kind": {json.dumps(kind)}, "effective_from_s": {eff}}}'.encode()


@pytest.fixture
def kafka(topic_sets: Callable[..., tuple[KafkaConfig, ...]]) -> KafkaConfig:
    return topic_sets("fmh", 1, count=1)[0]


def test_hostile_records_are_dead_letters_and_good_versions_still_load(kafka: KafkaConfig) -> None:
    gate = EventTimeGate(3600.0, process_id=0, processes=2)
    board, metrics = FleetBoard(on_expect=gate.hold), PipelineMetrics()
    board.expect("pump", EFF)
    gate.remote_report(1, math.inf)
    gate.report(0, math.inf)
    topic = kafka.topic("fleet_models")
    consumer = FleetModelConsumer(kafka, topic, board, metrics, gate=gate)  # messages from now on count
    void, progress = [(VOID_HEADER, b"1")], [(PROGRESS_HEADER, b"1")]
    bad_voids = [_void("pump", x) for x in ("NaN", "Infinity", "-Infinity", "-1e300", "1e400", "9" * 400,
                                            "true")]
    good = [FleetModel("pump", v, eff, 1, FleetRul(), 1, (3600.0,), None, True, 0.8)
            for v, eff in ((1, EARLY), (2, EFF))]
    messages: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = [
        (b"twin.progress/1", None, progress),  # a tombstone with the progress header
        (b"pump", None, []),  # a tombstone on a kind's key
        (b"twin.void/ghost/5", _void("ghost", "5.0"), void),  # a kind with no hold, three times
        (b"twin.void/ghost/5", _void("ghost", "5.0"), void),
        (b"twin.void/ghost/5", _void("ghost", "5.0"), void),
        (b"twin.void/ghost/-5", _void("ghost", "-5"), void),
        *((b"twin.void/pump/x", value, void) for value in bad_voids),
        (b"pump", b"\x80\x05garbage", [(EFFECTIVE_HEADER, b"\xff" * 512 * 1024)]),
        (b"twin.void/pump/early", _void("pump", repr(EARLY)), void),  # a void before its version
        model_message(good[0]),
        (b"twin.void/pump/eff", _void("pump", repr(EFF)), void),  # a void and a version of one time
        model_message(good[1]),
    ]
    producer = Producer({"bootstrap.servers": kafka.brokers, "message.max.bytes": str(4 << 20)})
    for key, value, headers in messages:
        producer.produce(topic, value, key, headers=headers)
    assert producer.flush(20) == 0
    consumer.start()
    try:
        _wait_for(lambda: consumer.loaded >= 2, 30)
        alive = consumer.thread.is_alive()
    finally:
        consumer.stop()
    assert alive
    assert (consumer.loaded, consumer.voids) == (2, 6)
    assert metrics.value("twin_dead_letters_total", {"reason": "bad_progress"}) == 1
    assert metrics.value("twin_dead_letters_total", {"reason": "bad_fleet_model"}) == 1 + len(bad_voids) + 1
    got = [board.model_at("pump", t) for t in (EARLY, EFF)]
    assert [(m.version, m.effective_from_s) for m in got if m is not None] == [(1, EARLY), (2, EFF)]
    assert board.hold_s() == math.inf and gate.limit_ms() == math.inf
