"""On a real broker: a telemetry message keyed by another asset than its payload's (round 14).

Round 13 processed it under the payload's asset (the key never reached the decoder): the asset's
records then came from two partitions. Now it is a ``key_asset_mismatch`` dead letter with its
bytes and source headers; a null key is still processed under its payload's asset.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from benchmarks.bench_fuzz_kafka import produce, valid_messages, write_metadata
from benchmarks.kafka_read import consume_all
from flows import codec
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from twin_models.records import ScalarSample
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=2, days=1.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


@pytest.fixture
def cfg(kafka_brokers: str, kafka_admin: Any) -> Iterator[KafkaConfig]:
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"km-{uuid.uuid4().hex[:8]}.", partitions=2)
    create_topics(cfg)
    yield cfg
    kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def test_a_key_naming_another_asset_is_a_dead_letter(cfg: KafkaConfig, tmp_path: Path) -> None:
    records = list(simulate_fleet(FLEET))
    write_metadata(FLEET, tmp_path / "meta.json")
    produce(cfg, valid_messages(records))
    assets = sorted({r.asset_id for r in records})
    last = max(r.timestamp for r in records if r.asset_id == assets[1])
    forged = codec.encode_scalar(ScalarSample(assets[1], "temperature", last, 40.0, "degC"))
    producer = Producer({"bootstrap.servers": cfg.brokers})
    producer.produce(cfg.topic("scalars"), value=forged, key=assets[0].encode())  # another asset's key
    producer.produce(cfg.topic("scalars"), value=forged, key=None)  # a null key: processed
    assert producer.flush(30) == 0
    proc = subprocess.run([TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix,
                           "--archive", str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"),
                           "--clock", "data", "--exit-at-end", "--connect-timeout", "10"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "dead letters: 1 (key_asset_mismatch 1)" in proc.stderr, proc.stderr
    (dead,) = consume_all(cfg, "dead_letters", 60, expected=1)
    headers = dict(dead.headers() or [])
    assert headers["dlq.reason"] == b"key_asset_mismatch"
    assert dead.value() == forged and headers["source.topic"] == cfg.topic("scalars").encode()
