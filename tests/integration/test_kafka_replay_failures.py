"""`twin replay` where the broker refuses records (round 39): the failures are counted by reason
with a few texts, whatever their number (one text per failed record was kept until the end), and
the records the broker takes are delivered."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.kafka_read import consume_all
from flows.app.produce import DeliveryError, publish
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sources.files import merge_files

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, tzinfo=UTC)
FRAMES, SCALARS = 400, 60


@pytest.fixture
def small_frames_topic(kafka_brokers: str, kafka_admin: Any) -> Iterator[KafkaConfig]:
    """twinflow's topics, the waveform topic taking messages of at most 4 KB (a frame is ~16 KB)."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"rf-{uuid.uuid4().hex[:8]}.", partitions=1)
    create_topics(cfg)
    small = ConfigResource("topic", cfg.topic("waveforms"), incremental_configs=[
        ConfigEntry("max.message.bytes", "4096", incremental_operation=AlterConfigOpType.SET)])
    for fut in kafka_admin.incremental_alter_configs([small]).values():
        fut.result(timeout=30)
    yield cfg
    kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def _files(tmp: Path) -> list[Path]:
    """FRAMES waveform frames (4,096 random samples: ~16 KB each, lz4 cannot shrink them below 4 KB)
    and SCALARS scalar rows."""
    rng = np.random.default_rng(1)
    pq.write_table(pa.table({
        "timestamp": pa.array([T0 + timedelta(seconds=i) for i in range(FRAMES)], pa.timestamp("us", "UTC")),
        "asset_id": ["pump-001"] * FRAMES, "sample_rate_hz": [25600.0] * FRAMES,
        "vib": pa.array([rng.normal(0, 1, 4096).astype(np.float32) for _ in range(FRAMES)],
                        pa.list_(pa.float32()))}), tmp / "frames.parquet")
    rows = [f"{(T0 + timedelta(seconds=i)).isoformat()},pump-001,{40 + i * 0.1:.1f}" for i in range(SCALARS)]
    (tmp / "scalars.csv").write_text("timestamp,asset_id,temperature\n" + "\n".join(rows) + "\n")
    return [tmp / "frames.parquet", tmp / "scalars.csv"]


def test_a_replay_the_broker_refuses_in_part_says_how_many_and_why(small_frames_topic: KafkaConfig,
                                                                   tmp_path: Path) -> None:
    cfg = small_frames_topic
    files = _files(tmp_path)
    res = subprocess.run([sys.executable, "-m", "flows.cli.main", "replay", *map(str, files),
                          "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--no-progress"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 2, res.stderr[-2000:]
    line = res.stderr.strip()
    assert "\n" not in line and len(line) < 700, line  # one line, however many failed
    assert re.fullmatch(rf"twin: error: {FRAMES} of {FRAMES + SCALARS} records were not delivered to \S+: "
                        rf"{FRAMES} MSG_SIZE_TOO_LARGE \(Broker: Message size too large\)", line), line
    assert len(consume_all(cfg, "scalars", expected=SCALARS)) == SCALARS  # the others were delivered
    assert consume_all(cfg, "waveforms", timeout_s=5) == []
    with pytest.raises(DeliveryError) as caught:  # in-process: the counts by reason
        publish(merge_files(files), cfg)
    report = caught.value.report
    assert (report.records, report.failed) == (FRAMES + SCALARS, FRAMES)
    assert report.failures == {"MSG_SIZE_TOO_LARGE": FRAMES}
