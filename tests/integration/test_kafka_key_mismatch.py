"""On a real broker: a telemetry message keyed by another asset than its payload's (round 14).

Round 13 processed it under the payload's asset (the key never reached the decoder): the asset's
records then came from two partitions. Now it is a ``key_asset_mismatch`` dead letter with its
bytes and source headers; a null key is still processed under its payload's asset.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

from benchmarks.bench_fuzz_kafka import produce, valid_messages, write_metadata
from benchmarks.kafka_read import consume_all
from flows import codec
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from twin_models.records import ScalarSample, WaveformFrame
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=2, days=1.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


@pytest.fixture
def cfg(topic_sets: Callable[..., tuple[KafkaConfig, ...]]) -> KafkaConfig:
    """One fresh set of topics, 2 partitions each (deleted after the test: conftest's topic_sets)."""
    return topic_sets("km", 2, count=1)[0]


def test_a_key_naming_another_asset_is_a_dead_letter(cfg: KafkaConfig, tmp_path: Path) -> None:
    records = list(simulate_fleet(FLEET))
    write_metadata(FLEET, tmp_path / "meta.json")
    produce(cfg, valid_messages(records))
    assets = sorted({r.asset_id for r in records})
    last = max(r.timestamp for r in records if r.asset_id == assets[1])
    # 1 us after the asset's last record: the null-keyed copy is processed as a new sample (at the
    # last record's own time it would be a duplicate_record of the asset's real reading, round 17)
    forged_at = last + timedelta(microseconds=1)
    forged = codec.encode_scalar(ScalarSample(assets[1], "temperature", forged_at, 40.0, "degC"))
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


def _run(cfg: KafkaConfig, tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """``twin run --exit-at-end`` (data clock) over the topics; its stderr."""
    proc = subprocess.run([TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix,
                           "--archive", str(tmp_path / f"a{uuid.uuid4().hex[:6]}"), "--clock", "data",
                           "--exit-at-end", "--connect-timeout", "10", *flags],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def _message(cfg: KafkaConfig, producer: Producer, rec: ScalarSample | WaveformFrame,
             key: bytes | None) -> None:
    role = "scalars" if isinstance(rec, ScalarSample) else "waveforms"
    stamp = str(int(rec.timestamp.timestamp() * 1000)).encode()
    producer.produce(cfg.topic(role), value=codec.encode_telemetry(rec), key=key,
                     headers=[(EVENT_TIME_HEADER, stamp)], partition=0)


def test_gateway_keys_are_processed_with_partitioning_any(cfg: KafkaConfig, tmp_path: Path) -> None:
    # a plant whose gateway keys every message by the gateway's id (round 15): by default each is a
    # key_asset_mismatch dead letter; with kafka.partitioning = "any" (flag, env or file) all are processed
    producer = Producer({"bootstrap.servers": cfg.brokers})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for k in range(6):
        _message(cfg, producer, ScalarSample(f"pump-{k % 3}", "temperature", t0 + timedelta(seconds=10 * k),
                                             40.0 + k, "degC"), b"gateway-7")
    assert producer.flush(30) == 0
    assert "dead letters: 6 (key_asset_mismatch 6)" in _run(cfg, tmp_path)
    for flags, env in (((("--partitioning", "any")), None), ((), {"TWIN_KAFKA__PARTITIONING": "any"})):
        err = _run(cfg, tmp_path, *flags, env=env)
        assert "6 records read," in err and "dead letters: 0" in err, err
    conf = tmp_path / "twin.toml"
    conf.write_text('[pipeline.kafka]\npartitioning = "any"\n')
    err = _run(cfg, tmp_path, "--config", str(conf))
    assert "6 records read," in err and "dead letters: 0" in err, err
    # the flag overrides the file
    assert "key_asset_mismatch 6" in _run(cfg, tmp_path, "--config", str(conf), "--partitioning", "asset_id")


@pytest.mark.parametrize("key", [None, b"gateway-7"])
def test_records_of_several_assets_under_one_key_are_not_merged_ahead(cfg: KafkaConfig, tmp_path: Path,
                                                                        key: bytes | None) -> None:
    # Round 14's merge took a run of records under one Kafka key, stamped ahead of the record after
    # them, for one asset whose clock jumped, and gave them that record's lower merge key. Null keys
    # (and, with partitioning any, a gateway's) are shared by several assets: pump-b@115 and pump-c@170,
    # lowered to pump-a@100's key, were released before pump-c's frame @110 of the waveform topic, which
    # then came after pump-c@170: 170 - 30 s of lateness passed the end of its window (120): late_record.
    producer = Producer({"bootstrap.servers": cfg.brokers})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    at = [t0 + timedelta(seconds=s) for s in (60, 115, 170, 100, 110)]
    for asset, ts in (("pump-a", at[0]), ("pump-b", at[1]), ("pump-c", at[2]), ("pump-a", at[3])):
        _message(cfg, producer, ScalarSample(asset, "temperature", ts, 40.0, "degC"), key)
    frame = WaveformFrame("pump-c", "vib", at[4], 10_000.0, np.zeros(1024, dtype=np.float32))
    _message(cfg, producer, frame, key)
    assert producer.flush(30) == 0
    flags = ("--partitioning", "any") if key else ()
    err = _run(cfg, tmp_path, *flags, env={"TWIN_WINDOW_S": "60", "TWIN_ALLOWED_LATENESS_S": "30"})
    assert "5 records read," in err and "dead letters: 0" in err and "late_record" not in err, err
