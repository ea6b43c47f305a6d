"""A waveform frame the clock gate rejects, through `twin run --exit-at-end` on a REAL broker
(round 23, part CLEAN23): its dead letter names the message it came from (``source.topic``,
``source.partition``, ``source.offset``) and carries the message's bytes, so a user can find it and
replay it. Before, a frame's ``clock_unconfirmed`` dead letter had neither (a scalar's had both).
A late frame's ``late_record`` names its message too (before: no ``source.*`` headers).

The press reports three scalar channels every 10 s and a vibration frame every minute; its frame
channel's clock then jumps an hour ahead for its last frames: held, never confirmed, they come out
as dead letters when the topics end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

from flows.codec import encode_waveform
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from flows.dataflow.sources.replayable import encode_record
from tests.integration.test_kafka_clock_gate_end import run_to_the_end
from twin_models.records import AssetEvent, ScalarSample, WaveformFrame

pytestmark = pytest.mark.integration

ASSET = "press-02"
CHANNELS = (("temperature", "degC", 40.0), ("current", "A", 20.0), ("speed", "Hz", 25.0))
T0 = datetime(2026, 2, 1, tzinfo=UTC)
STEP_S, STEPS = 10.0, 120  # 20 minutes of three channels
FRAME_EVERY = 6  # a frame a minute
JUMPED = 3  # then the frame channel alone, its clock an hour ahead
SHIFT = timedelta(hours=1)
CONFIG = "[pipeline]\nwindow_s = 300.0\nallowed_lateness_s = 0.0\n"  # the gate's limit: 60 s


def _frame(t: datetime, k: int) -> WaveformFrame:
    rng = np.random.default_rng(k)
    return WaveformFrame(ASSET, "vib", t, 5_000.0, rng.normal(0.0, 0.1, 1024).astype(np.float32), 25.0, "g")


@pytest.fixture
def kafka(topic_sets: Callable[..., tuple[KafkaConfig, ...]]) -> KafkaConfig:
    """One fresh set of topics, one partition each (deleted after the test: conftest's topic_sets)."""
    return topic_sets("cf", 1, count=1)[0]


def _send(producer: Producer, topic: str, value: bytes, t: datetime) -> None:
    producer.produce(topic, value=value, key=ASSET.encode(),
                     headers=[(EVENT_TIME_HEADER, str(int(t.timestamp() * 1000)).encode())])


def _stream(producer: Producer, kafka: KafkaConfig, scalars: str = "scalars") -> list[bytes]:
    """The press's 20 minutes (scalars and frames); the frames' bytes in their topic's order.
    ``scalars``: the role of the scalars' topic."""
    frames: list[bytes] = []
    for k in range(STEPS):
        t = T0 + timedelta(seconds=k * STEP_S)
        for channel, unit, level in CHANNELS:
            sample = ScalarSample(ASSET, channel, t, level, unit)
            _send(producer, kafka.topic(scalars), encode_record(sample), t)
        if k % FRAME_EVERY == 0:
            frames.append(encode_waveform(_frame(t, k)))
            _send(producer, kafka.topic("waveforms"), frames[-1], t)
    return frames


def test_a_jumped_frame_dead_letter_names_its_message_and_keeps_its_bytes(
        kafka: KafkaConfig, tmp_path: Path) -> None:
    producer = Producer({"bootstrap.servers": kafka.brokers})
    frames = _stream(producer, kafka)
    for j in range(JUMPED):
        t = T0 + SHIFT + timedelta(seconds=(STEPS + j * FRAME_EVERY) * STEP_S)
        frames.append(encode_waveform(_frame(t, STEPS + j)))
        _send(producer, kafka.topic("waveforms"), frames[-1], t)
    assert producer.flush(30) == 0
    dead, stderr = run_to_the_end(kafka, tmp_path, CONFIG)
    headers = [{k: v.decode() for k, v in m.headers()} for m in dead]
    # exactly the jumped frames, each with its message's topic, partition, offset and bytes
    assert [h["dlq.reason"] for h in headers] == ["clock_unconfirmed"] * JUMPED, (headers, stderr[-2000:])
    first = len(frames) - JUMPED
    assert [(h["source.topic"], h["source.partition"], int(h["source.offset"])) for h in headers] == [
        (kafka.topic("waveforms"), "0", first + j) for j in range(JUMPED)]
    assert [m.value() for m in dead] == frames[first:]
    assert all("WaveformFrame" in h["dlq.detail"] and "'vib'" in h["dlq.detail"] for h in headers), headers
    assert "dead letters: 3" in stderr, stderr[-2000:]


def test_a_late_frame_dead_letter_names_its_message(kafka: KafkaConfig, tmp_path: Path) -> None:
    """A frame stamped 15 minutes back, sent after the others: its window closed (allowed lateness
    0), so the window step dead-letters it as ``late_record``, with its message's offset. The
    stream is all on one topic, in time order (across two topics, the source may hand one topic's
    records on well ahead of the other's: then scalars would be late too)."""
    producer = Producer({"bootstrap.servers": kafka.brokers})
    _stream(producer, kafka, scalars="waveforms")
    _send(producer, kafka.topic("waveforms"), encode_waveform(_frame(T0 + timedelta(minutes=4), 999)),
          T0 + timedelta(minutes=4))
    assert producer.flush(30) == 0
    dead, stderr = run_to_the_end(kafka, tmp_path, CONFIG)
    headers = [{k: v.decode() for k, v in m.headers()} for m in dead]
    assert [h["dlq.reason"] for h in headers] == ["late_record"], (
        [(h["dlq.detail"][:90], h.get("source.topic"), h.get("source.offset")) for h in headers[:12]],
        stderr[-2000:])
    assert "FrameFeatures" in headers[0]["dlq.detail"] and "00:04:00" in headers[0]["dlq.detail"]
    last = STEPS * len(CHANNELS) + -(-STEPS // FRAME_EVERY)  # the offset after the stream's messages
    assert (headers[0]["source.topic"], headers[0]["source.partition"], headers[0]["source.offset"]) == (
        kafka.topic("waveforms"), "0", str(last))


def test_a_late_event_dead_letter_names_its_message(kafka: KafkaConfig, tmp_path: Path) -> None:
    """Round 24 (part CLEAN24): an asset event stamped 15 minutes back, sent after the others, is a
    ``late_record`` with its message's offset and its JSON (before: no ``source.*`` headers)."""
    producer = Producer({"bootstrap.servers": kafka.brokers})
    _stream(producer, kafka, scalars="waveforms")
    event = encode_record(AssetEvent(ASSET, T0 + timedelta(minutes=4), "maintenance", "late note"))
    _send(producer, kafka.topic("waveforms"), event, T0 + timedelta(minutes=4))
    assert producer.flush(30) == 0
    dead, stderr = run_to_the_end(kafka, tmp_path, CONFIG)
    headers = [{k: v.decode() for k, v in m.headers()} for m in dead]
    assert [h["dlq.reason"] for h in headers] == ["late_record"], ([h["dlq.detail"][:90] for h in headers],
                                                                   stderr[-2000:])
    assert headers[0]["dlq.detail"].startswith("AssetEvent of asset 'press-02' at 2026-02-01T00:04:00")
    last = STEPS * len(CHANNELS) + -(-STEPS // FRAME_EVERY)  # the offset after the stream's messages
    assert (headers[0]["source.topic"], headers[0]["source.partition"], headers[0]["source.offset"]) == (
        kafka.topic("waveforms"), "0", str(last))
    assert dead[0].value() == event
