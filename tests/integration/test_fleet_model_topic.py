"""Fleet model versions through the compacted topic ``twin.fleet.models.v1`` on a real broker.

Before: ``twin run`` fused the fleet RUL in one step keyed by kind, so with several processes the
fused RUL depended on the arrival order at that one worker, and no topic carried fleet models.
Now the learner's versions are produced to the topic and every process reads them into its board;
a message that is not a fleet model (a poisoned pickle) is refused and counted, never unpickled.
"""

from __future__ import annotations

import logging
import math
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from benchmarks.free_ports import free_ports
from flows.app.fleet_topic import FleetModelConsumer, load_model, model_message
from flows.app.produce import publish
from flows.archive.query import query
from flows.config.pipeline import KafkaConfig
from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.metrics import PipelineMetrics
from tests.integration.conftest import ended_well
from tests.integration.test_kafka_pipeline import consume_all
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.trend import FleetRul
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

def _wait_for(done: Callable[[], bool], seconds: float) -> None:
    """Poll ``done`` until it holds or ``seconds`` pass (the test's assertions then say which)."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


FLEET = FleetConfig(n_assets=4, days=8.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


@pytest.fixture
def kafka(topic_sets: Callable[..., tuple[KafkaConfig, ...]]) -> KafkaConfig:
    """One fresh set of topics, 4 partitions each (deleted after the test: conftest's topic_sets)."""
    return topic_sets("fm", 4, count=1)[0]


def _run_cmd(cfg: KafkaConfig, archive: Path, meta: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli.main", "run", "--brokers", cfg.brokers, "--topic-prefix",
            cfg.topic_prefix, "--archive", str(archive), "--metadata", str(meta), "--clock", "data",
            "--exit-at-end", *extra]


def _state(archive: Path) -> list[Any]:
    return query(archive, "SELECT asset_id, window_start, round(rul_s, 6), round(rul_lower_s, 6), "
                          "round(rul_upper_s, 6), rul_source FROM twin_state ORDER BY 1, 2")[1]


def test_two_processes_fuse_the_same_fleet_rul_as_one(kafka: KafkaConfig, tmp_path: Path) -> None:
    from flows.cli.kafka_commands import write_fleet_metadata

    meta = tmp_path / "meta.json"
    write_fleet_metadata(FLEET, str(meta))
    publish(simulate_fleet(FLEET), kafka)
    one = tmp_path / "one"
    res = subprocess.run(_run_cmd(kafka, one, meta), capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    models = consume_all(kafka, "fleet_models")
    assert models, "no fleet model version reached the topic"
    loaded = [load_model(m.key(), m.value()) for m in models]
    assert all(isinstance(x, FleetModel) for x in loaded), loaded
    two = tmp_path / "two"
    addresses = ";".join(f"127.0.0.1:{p}" for p in free_ports(2))
    procs = [subprocess.Popen(_run_cmd(kafka, two, meta, "-i", str(i), "-a", addresses),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    ended_well(procs, 300)
    a, b = _state(one), _state(two)
    assert any("fleet" in row[-1] for row in a), "no fleet-fused window: the comparison would be empty"
    assert a == b


def test_a_poisoned_model_message_is_refused_and_counted(kafka: KafkaConfig) -> None:
    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (exec, ("raise SystemExit('unpickled')",))

    good = FleetModel("pump", 1, 0.0, 1, FleetRul(), 1, (3600.0,), None, True, 0.8)
    producer = Producer({"bootstrap.servers": kafka.brokers})
    topic = kafka.topic("fleet_models")
    producer.produce(topic, pickle.dumps(Evil()), b"pump")
    producer.produce(topic, b"\x80\x05garbage", b"pump")
    key, value, _headers = model_message(good)
    producer.produce(topic, value, key)
    producer.flush(10)
    metrics, board = PipelineMetrics(), FleetBoard()
    consumer = FleetModelConsumer(kafka, topic, board, metrics).start()
    try:
        _wait_for(lambda: consumer.loaded + consumer.refused >= 3, 30)
    finally:
        consumer.stop()
    assert (consumer.loaded, consumer.refused) == (1, 2)
    assert metrics.value("twin_dead_letters_total", {"reason": "bad_fleet_model"}) == 2
    latest = board.latest("pump")
    assert latest is not None and latest.version == 1 and latest.life_lengths == (3600.0,)


def test_the_versions_on_the_topic_are_on_the_board_when_the_consumer_has_started(kafka: KafkaConfig) -> None:
    """Round 49: a run resumed after kill -9 holds its learner's lives in the restored state, so the
    versions its earlier execution published come from the topic only; read in the background, a
    version reached the board after windows it applied to (1 late of 3 kills, those windows' fleet
    RUL missing). ``start`` now returns once the topic is read to its end as of the start."""
    good = FleetModel("pump", 1, 0.0, 1, FleetRul(), 1, (3600.0,), None, True, 0.8)
    topic = kafka.topic("fleet_models")
    key, value, headers = model_message(good)
    producer = Producer({"bootstrap.servers": kafka.brokers})
    producer.produce(topic, value, key, headers=headers)
    producer.flush(10)
    board = FleetBoard()
    consumer = FleetModelConsumer(kafka, topic, board, PipelineMetrics()).start()
    try:
        latest = board.latest("pump")  # no wait: on the board before the flow's first window
    finally:
        consumer.stop()
    assert latest is not None and latest.version == 1


def test_a_refused_version_ends_its_hold_in_every_process(kafka: KafkaConfig) -> None:
    """Round 33: a version every consumer refuses (here a class outside the allow-list in it) will
    not come; its message's plain-text header names its effective time, so the consumer ends the
    board's and the event-time gate's hold (was: they held until the gate's 60 s timeout) and
    still counts the dead letter."""
    eff = 1_767_907_088.401855
    gate = EventTimeGate(3600.0, process_id=0, processes=2)
    board, metrics = FleetBoard(on_expect=gate.hold), PipelineMetrics()
    board.expect("pump", eff)
    gate.remote_report(1, math.inf)
    gate.report(0, math.inf)
    assert gate.limit_ms() == round(eff * 1000)
    good = FleetModel("pump", 1, eff, 1, FleetRul(), 1, (3600.0,), None, True, 0.8)
    topic = kafka.topic("fleet_models")
    consumer = FleetModelConsumer(kafka, topic, board, metrics, gate=gate)  # messages from now on count
    key, value, headers = model_message(replace(good, regression=Fraction(1, 3)))
    producer = Producer({"bootstrap.servers": kafka.brokers})
    producer.produce(topic, value, key, headers=headers)
    producer.flush(10)
    consumer.start()
    try:
        _wait_for(lambda: consumer.refused >= 1, 30)
    finally:
        consumer.stop()
    assert (consumer.loaded, consumer.refused, consumer.voids) == (0, 1, 1)
    assert metrics.value("twin_dead_letters_total", {"reason": "bad_fleet_model"}) == 1
    assert board.hold_s() == math.inf and gate.limit_ms() == math.inf


class _Lines(logging.Handler):
    """librdkafka's debug lines (routed to ``flows.librdkafka`` by the shared client helpers)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def librdkafka_lines() -> Iterator[list[str]]:
    log = logging.getLogger("flows.librdkafka")
    handler, level = _Lines(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield handler.lines
    log.removeHandler(handler)
    log.setLevel(level)


def _metadata_requests(lines: list[str]) -> list[str]:
    return [line for line in lines if "Request metadata for" in line and "application requested" in line]


def test_the_fleet_model_consumer_asks_for_its_topic_s_metadata_only(kafka: KafkaConfig,
                                                                       librdkafka_lines: list[str]) -> None:
    """On a shared cluster the metadata of every topic is slow to list and may be refused by ACLs:
    the consumer asks for the one topic it reads (was: ``list_topics()`` of all topics), and still
    reads it from every partition (a version on partition 3 of 4 is loaded)."""
    topic = kafka.topic("fleet_models")
    good = FleetModel("pump", 1, 0.0, 1, FleetRul(), 1, (3600.0,), None, True, 0.8)
    key, value, headers = model_message(good)
    producer = Producer({"bootstrap.servers": kafka.brokers})
    producer.produce(topic, value, key, partition=3, headers=headers)
    producer.flush(10)
    debug = replace(kafka, librdkafka={"debug": "metadata"})
    board = FleetBoard()
    consumer = FleetModelConsumer(debug, topic, board, PipelineMetrics()).start()
    try:
        _wait_for(lambda: consumer.loaded >= 1, 30)
    finally:
        consumer.stop()
    assert consumer.loaded == 1 and board.latest("pump") is not None
    asked = _metadata_requests(librdkafka_lines)
    assert asked, librdkafka_lines[:20]
    assert all("for 1 topic(s)" in line for line in asked), asked
    assert not any("all topics" in line for line in librdkafka_lines)


def test_the_progress_publisher_is_made_by_the_shared_client_helpers(kafka: KafkaConfig,
                                                                      librdkafka_lines: list[str]) -> None:
    """The event-time gate's progress producer goes through ``producer_client`` and
    ``wait_for_brokers`` like every other client: its librdkafka lines go to ``flows.librdkafka``
    (was: a bare Producer, whose log lines went to stderr) and it asks for its topic's metadata only."""
    from flows.app.gate_link import ProgressPublisher
    from flows.dataflow.event_time_gate import EventTimeGate

    topic = kafka.topic("fleet_models")
    debug = replace(kafka, librdkafka={"debug": "metadata"})
    gate = EventTimeGate(60.0, process_id=0, processes=2)
    gate.start()
    gate.report(0, 5000.0)
    publisher = ProgressPublisher(debug, topic, gate, 0).start()
    try:
        _wait_for(lambda: publisher.sent >= 1, 10)
    finally:
        publisher.stop()
    assert publisher.sent >= 1
    assert any("rdkafka#producer" in line for line in librdkafka_lines)
    asked = [line for line in _metadata_requests(librdkafka_lines) if "rdkafka#producer" in line]
    assert asked and all("for 1 topic(s)" in line for line in asked), asked
