"""Records written to two topics at once, read by a running `twin run` on a REAL broker (round 24,
part merge24): a topic's older records that land a moment after another topic's newer ones are
merged before them, not judged late.

A producer writing every telemetry topic at once sends each topic's batches on their own, so the
broker can append a newer frame before the older scalars written with it (a backfill published
faster than real time: hours of event time in milliseconds). The source's merge used to take the
scalar topic's end of partition as "nothing older will come" and emit the frame at once: the
scalars that landed a moment later were behind the asset's watermark, ``late_record`` dead letters
(all 450 here). It now waits ``kafka.end_wait_s`` (1 s) for a topic at its end before going on."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest
from confluent_kafka import Producer

from benchmarks.free_ports import free_port
from benchmarks.metrics_read import ScrapeFailed, read_metrics
from flows.app.run import TELEMETRY_ROLES
from flows.codec import encode_waveform
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sinks.kafka import producer_config
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from flows.dataflow.sources.replayable import encode_record
from tests.integration.conftest import stopped
from tests.integration.test_kafka_clock_frame import kafka  # noqa: F401 (the fixture: fresh topics)
from tests.integration.test_kafka_pipeline import consume_all
from twin_models.records import ScalarSample, WaveformFrame

pytestmark = pytest.mark.integration

ASSET = "press-03"
CHANNELS = (("temperature", "degC", 40.0), ("current", "A", 20.0), ("speed", "Hz", 25.0))
T0 = datetime(2026, 3, 1, tzinfo=UTC)
STEP_S, STEPS = 10.0, 150  # 25 minutes of three channels: 450 scalars
FRAME_AT = T0 + timedelta(minutes=30)
CONFIG = "[pipeline]\nwindow_s = 300.0\nallowed_lateness_s = 60.0\n"


def _send(producer: Producer, topic: str, value: bytes, t: datetime) -> None:
    stamp = str(int(t.timestamp() * 1000)).encode()
    producer.produce(topic, value=value, key=ASSET.encode(), headers=[(EVENT_TIME_HEADER, stamp)])


def _write_frame_then_older_scalars(cfg: KafkaConfig) -> None:
    """The frame at 00:30 lands first; the scalars of 00:00-00:25 (each topic in event-time order)
    200 ms later, as a producer's batches of two topics can."""
    producer = Producer(producer_config({"bootstrap.servers": cfg.brokers}))
    samples = np.random.default_rng(3).normal(0.0, 0.1, 1024).astype(np.float32)
    frame = WaveformFrame(ASSET, "vib", FRAME_AT, 5_000.0, samples, 25.0, "g")
    _send(producer, cfg.topic("waveforms"), encode_waveform(frame), FRAME_AT)
    producer.flush(30)
    time.sleep(0.2)
    for k in range(STEPS):
        t = T0 + timedelta(seconds=k * STEP_S)
        for channel, unit, level in CHANNELS:
            sample = ScalarSample(ASSET, channel, t, level, unit)
            _send(producer, cfg.topic("scalars"), encode_record(sample), t)
    producer.flush(30)


def _at_every_end(port: int, topics: list[str]) -> bool:
    """The run's lag gauge (``/metrics``) has a series at 0 for each of ``topics``: each partition
    was fetched, and is read up to its end (empty topics)."""
    try:
        text = read_metrics(port, timeout=5, tries=1)
    except ScrapeFailed:  # not serving yet, or a read cut off (IncompleteRead): the caller tries again
        return False
    at_end = {line.split('topic="', 1)[1].split('"', 1)[0] for line in text.splitlines()
              if line.startswith("twin_kafka_consumer_lag_messages{") and float(line.rsplit(" ", 1)[1]) == 0}
    return set(topics) <= at_end


def _reading(proc: subprocess.Popen[str], port: int, cfg: KafkaConfig) -> bool:
    """Wait until the run reads every telemetry topic at its end (round 32: it was a fixed 10 s
    sleep); False if it ended, or did not within 120 s."""
    topics = [cfg.topic(role) for role in TELEMETRY_ROLES]
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _at_every_end(port, topics):
            return True
        time.sleep(0.2)
    return False


def test_older_scalars_landing_just_after_a_newer_frame_are_not_late(
        kafka: KafkaConfig, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "windows.toml"
    config.write_text(CONFIG)
    err = tmp_path / "run.err"
    cmd = [sys.executable, "-m", "flows.cli.main", "run", "--brokers", kafka.brokers, "--topic-prefix",
           kafka.topic_prefix, "--archive", str(tmp_path / "archive"), "--config", str(config),
           "--clock", "data", "--metrics-port", str(port := free_port()), "--metrics-address", "127.0.0.1"]
    with err.open("w") as sink:
        proc = subprocess.Popen(cmd, stderr=sink, text=True)
        try:
            assert _reading(proc, port, kafka), err.read_text()  # reading: every topic at its end
            _write_frame_then_older_scalars(kafka)
            # the four windows of 00:00-00:20 closed: their twin states are on the state topic (not a
            # fixed 6 s, which a loaded machine could take to read the scalars; round 31)
            states = consume_all(kafka, "state", timeout_s=180.0, expected=4)
            assert len(states) >= 4, (len(states), err.read_text()[-2000:])
        finally:
            code = stopped(proc, signal.SIGTERM)
    text = err.read_text()
    assert code == 0, text[-3000:]
    dead = consume_all(kafka, "dead_letters")
    reasons = [dict(m.headers() or [])["dlq.reason"].decode() for m in dead]
    assert reasons == [], (reasons[:3], len(reasons), text[-2000:])
    features = ds.dataset(tmp_path / "archive" / "features", partitioning="hive").to_table()
    # the windows of 00:00-00:20 closed with every scalar (the frame, 5 min ahead of them, is held by
    # the clock check: the scalars' own times close the windows up to theirs minus the lateness)
    assert sorted(features["n_records"].to_pylist()) == [len(CHANNELS) * 30] * 4
