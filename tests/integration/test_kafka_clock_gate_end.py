"""The clock gate at the end of the input through `twin run --exit-at-end` on a REAL broker.

A channel stamped ahead of its asset's other channels is held until a peer confirms or
contradicts it; when the topic ends first (the jumped channel was the last to report), `twin run
--exit-at-end` ends the input and the decode step hands the held records on as ``clock_unconfirmed``
dead letters. GATE12 tested that through the testing source only; here the records come from
Kafka (partition marks, the event-time merge, the end of each partition found by the Kafka
source) and the dead letters go to the dead-letter topic with the record's bytes and reason."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from flows.config.pipeline import KafkaConfig
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from flows.dataflow.sources.replayable import encode_record
from tests.integration.test_kafka_pipeline import consume_all
from twin_models.records import ScalarSample

pytestmark = pytest.mark.integration

ASSET = "press-01"
CHANNELS = (("temperature", "degC", 40.0), ("current", "A", 20.0), ("speed", "Hz", 25.0))
T0 = datetime(2026, 2, 1, tzinfo=UTC)
STEP_S, STEPS = 10.0, 120  # 20 minutes of three channels
HELD = 3  # then the temperature channel alone, its clock an hour ahead: held, never confirmed
SHIFT = timedelta(hours=1)
CONFIG = "[pipeline]\nwindow_s = 60.0\nallowed_lateness_s = 0.0\n"  # the gate's limit: 60 s


def _records() -> tuple[list[ScalarSample], list[ScalarSample]]:
    """The stream in publishing order, and its last HELD records (the jumped ones)."""
    out = [ScalarSample(ASSET, channel, T0 + timedelta(seconds=k * STEP_S), level + 0.01 * (k % 7), unit)
           for k in range(STEPS) for channel, unit, level in CHANNELS]
    jumped = [ScalarSample(ASSET, "temperature", T0 + SHIFT + timedelta(seconds=(STEPS + k) * STEP_S),
                           40.0 + 0.01 * k, "degC") for k in range(HELD)]
    return out + jumped, jumped


@pytest.fixture
def kafka(topic_sets: Callable[..., tuple[KafkaConfig, ...]]) -> KafkaConfig:
    """One fresh set of topics, 1 partition each (deleted after the test: conftest's topic_sets)."""
    return topic_sets("ge", 1, count=1)[0]


def test_a_record_held_at_the_end_of_the_topic_is_a_clock_unconfirmed_dead_letter(
        kafka: KafkaConfig, tmp_path: Path) -> None:
    records, jumped = _records()
    producer = Producer({"bootstrap.servers": kafka.brokers})
    for r in records:
        ts = str(int(r.timestamp.timestamp() * 1000)).encode()
        producer.produce(kafka.topic("scalars"), value=encode_record(r), key=r.asset_id.encode(),
                         headers=[(EVENT_TIME_HEADER, ts)])
    assert producer.flush(30) == 0
    dead, stderr = run_to_the_end(kafka, tmp_path, CONFIG)
    headers = [{k: v.decode() for k, v in m.headers()} for m in dead]
    # exactly the held records, in order, with their bytes and the reason; nothing else refused
    assert [h["dlq.reason"] for h in headers] == ["clock_unconfirmed"] * HELD, (headers, stderr[-2000:])
    assert [m.value() for m in dead] == [encode_record(r) for r in jumped]
    assert all("end of the input" in h["dlq.detail"] and ASSET in h["dlq.detail"]
               and "'temperature'" in h["dlq.detail"] for h in headers), headers
    assert "dead letters: 3" in stderr, stderr[-2000:]


def run_to_the_end(kafka: KafkaConfig, tmp_path: Path, config_text: str) -> tuple[list[Any], str]:
    """``twin run --exit-at-end --clock data`` over the topics with this config: the dead-letter
    topic's messages, and the run's stderr."""
    config = tmp_path / "windows.toml"
    config.write_text(config_text)
    cmd = [sys.executable, "-m", "flows.cli.main", "run", "--brokers", kafka.brokers, "--topic-prefix",
           kafka.topic_prefix, "--archive", str(tmp_path / "archive"), "--config", str(config),
           "--clock", "data", "--exit-at-end"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    return consume_all(kafka, "dead_letters"), res.stderr
