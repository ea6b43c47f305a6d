"""A whole asset's clock jumping in a REAL-TIME stream on a real broker (issue 13).

`twin run` judges every record's event time against its arrival (the Kafka timestamp) and the
other assets of its partition, where the arrival time is a clock: records produced at the pace
of their event time. The test paces the producer itself (5 assets, 3 scalars at 5 Hz, ~16 s of
wall time): one asset's clock jumps an hour ahead for 4 s, another's an hour behind. The ahead
one's records are ``clock_skew`` dead letters naming the reason, the behind one's are late (its
window closed an hour ago), both get ``clock`` sensor alerts on every channel, and the three
healthy assets' archived features are those of the same stream without the jumps, which itself
has no dead letter and no sensor alert. (A replay published faster than real time, where the
check is off, is what tests/integration/test_kafka_pipeline.py runs.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer

from flows.archive.query import query
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from flows.dataflow.sources.replayable import encode_record
from tests.integration.test_kafka_pipeline import consume_all
from twin_models.records import ScalarSample

pytestmark = pytest.mark.integration

ASSETS = [f"pump-00{i}" for i in range(1, 6)]
AHEAD, BEHIND = "pump-002", "pump-004"
CHANNELS = (("temperature", "degC", 40.0), ("current", "A", 20.0), ("speed", "Hz", 25.0))
STEP_S = 0.2  # 5 Hz
STEPS = 80  # 16 s
JUMP = range(40, 60)  # seconds 8 to 12: after the pace is measured (5 s), before the end
SHIFT = timedelta(hours=1)
T0 = datetime(2026, 1, 5, tzinfo=UTC)  # event time: any clock offset, as long as it runs in real time
CONFIG = "[pipeline]\nwindow_s = 1.0\nallowed_lateness_s = 0.0\n"


def _stream(jumps: bool) -> list[list[ScalarSample]]:
    """Per step, the readings of every asset (the same values with and without the jumps)."""
    rng = np.random.default_rng(7)
    out = []
    for k in range(STEPS):
        t = T0 + timedelta(seconds=k * STEP_S)
        step = []
        for asset in ASSETS:
            at = t
            if jumps and k in JUMP and asset in (AHEAD, BEHIND):
                at = t + SHIFT if asset == AHEAD else t - SHIFT
            for channel, unit, level in CHANNELS:
                step.append(ScalarSample(asset, channel, at, level + float(rng.normal(0.0, 1.0)), unit))
        out.append(step)
    return out


def _publish_paced(cfgs: list[tuple[KafkaConfig, list[list[ScalarSample]]]]) -> None:
    """Each step's readings when their (true) time comes: the Kafka timestamps run with event time."""
    producers = [(Producer({"bootstrap.servers": cfg.brokers}), cfg.topic("scalars"), steps)
                 for cfg, steps in cfgs]
    start, start_ms = time.monotonic(), int(time.time() * 1000)
    for k in range(STEPS):
        delay = start + k * STEP_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        # the step's arrival time, exactly: a loaded machine's late wake-up here must not bend the
        # stream's pace (round 31); the producer still writes when the step's time comes
        arrival_ms = start_ms + round(k * STEP_S * 1000)
        for producer, topic, steps in producers:
            for r in steps[k]:
                ts = str(int(r.timestamp.timestamp() * 1000)).encode()
                producer.produce(topic, value=encode_record(r), key=r.asset_id.encode(),
                                 headers=[(EVENT_TIME_HEADER, ts)], timestamp=arrival_ms)
            producer.poll(0)
    for producer, _topic, _steps in producers:
        assert producer.flush(30) == 0


@pytest.fixture
def topics(topic_sets: Callable[..., tuple[KafkaConfig, ...]]) -> tuple[KafkaConfig, KafkaConfig]:
    """Two fresh sets of topics, one partition each (deleted after the test: conftest's topic_sets)."""
    return topic_sets("it", 1)  # type: ignore[return-value]


def _run(cfg: KafkaConfig, archive: Path, config: Path) -> str:
    cmd = [sys.executable, "-m", "flows.cli.main", "run", "--brokers", cfg.brokers, "--topic-prefix",
           cfg.topic_prefix, "--archive", str(archive), "--config", str(config), "--clock", "data",
           "--exit-at-end"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stderr


def _features(archive: Path, where: str) -> list[Any]:
    return query(archive, "SELECT asset_id, window_start, n_records, round(\"temperature.mean\", 9), "
                          f"round(\"current.mean\", 9) FROM features WHERE {where} ORDER BY 1, 2")[1]


def _sensor_alerts(cfg: KafkaConfig) -> set[tuple[str, str, str]]:
    alerts = [json.loads(m.value()) for m in consume_all(cfg, "alerts")]
    return {(a["asset_id"], a["channel"], a["check"]) for a in alerts
            if a["kind"] == "sensor" and a["status"] == "raised"}


def test_a_whole_asset_clock_jump_in_real_time_is_flagged_and_costs_the_others_nothing(
        topics: tuple[KafkaConfig, KafkaConfig], tmp_path: Path) -> None:
    jumped_cfg, clean_cfg = topics
    jumped, clean = _stream(jumps=True), _stream(jumps=False)
    n_ahead = sum(1 for step in jumped for r in step if r.asset_id == AHEAD and r.timestamp > T0 + SHIFT / 2)
    assert n_ahead == len(JUMP) * len(CHANNELS)
    _publish_paced([(jumped_cfg, jumped), (clean_cfg, clean)])
    config = tmp_path / "one-second-windows.toml"
    config.write_text(CONFIG)
    out, ref = tmp_path / "jumped", tmp_path / "clean"
    err = _run(jumped_cfg, out, config)
    clean_err = _run(clean_cfg, ref, config)
    assert "arrival check: on (real time) in source partitions 0" in err
    # the clean real-time stream: untouched
    assert consume_all(clean_cfg, "dead_letters") == []
    assert _sensor_alerts(clean_cfg) == set()
    assert "dead letters: 0" in clean_err
    # the jumped stream: the ahead asset's records are clock_skew dead letters naming the reason,
    # the behind asset's are late; nothing of the healthy assets
    dead = [{k: v.decode() for k, v in m.headers()} for m in consume_all(jumped_cfg, "dead_letters")]
    reasons = Counter((d["dlq.reason"], next((a for a in ASSETS if a in d["dlq.detail"]), "other"))
                      for d in dead)
    assert reasons[("clock_skew", AHEAD)] == n_ahead, (reasons, err[-2000:])
    assert set(reasons) <= {("clock_skew", AHEAD), ("late_record", BEHIND)}, reasons
    assert reasons[("late_record", BEHIND)] > 0
    assert all("ahead of the time at which it arrived" in d["dlq.detail"]
               for d in dead if d["dlq.reason"] == "clock_skew")
    # flagged: a clock sensor alert on every channel of both jumped assets, nothing else
    assert _sensor_alerts(jumped_cfg) == {(a, c, "clock") for a in (AHEAD, BEHIND) for c, _u, _l in CHANNELS}
    # the other assets lose nothing
    healthy = "asset_id NOT IN ('" + AHEAD + "', '" + BEHIND + "')"
    got = _features(out, healthy)
    assert got == _features(ref, healthy)
    assert len(got) >= 3 * (STEPS * STEP_S - 1)
