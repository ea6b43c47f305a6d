"""`twin run` on a real broker against a hostile operator (round 13): output topics missing, the
archive's disk full mid-run.

Before: a missing output topic was found at its first message, ~35 s in, as a delivery failure
told as "restart once Kafka is back" (exit 1); a full archive disk aborted the process (SIGABRT,
exit 134, no message). Now the first is one line naming the topics before the engine starts
(exit 2); the second is one line naming the folder (exit 1), the epoch left uncommitted, and a
restart with the same recovery folder on a disk with room writes everything a clean run writes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic

from benchmarks.bench_fuzz_kafka import produce, valid_messages, write_metadata
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=3, days=2.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
TWIN = str(Path(sys.executable).parent / "twin")
COUNT = "SELECT count(DISTINCT (asset_id, window_start)) AS n FROM features"


def _run_args(cfg: KafkaConfig, archive: str, meta: Path) -> list[str]:
    return ["run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive", archive,
            "--metadata", str(meta), "--clock", "data", "--exit-at-end", "--connect-timeout", "10"]


@pytest.fixture
def published(kafka_brokers: str, kafka_admin: Any, tmp_path: Path) -> Iterator[tuple[KafkaConfig, Path]]:
    """Every topic, the small fleet on the telemetry topics, its metadata file."""
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"ho-{uuid.uuid4().hex[:8]}.", partitions=2)
    create_topics(cfg)
    write_metadata(FLEET, tmp_path / "meta.json")
    produce(cfg, valid_messages(simulate_fleet(FLEET)))
    yield cfg, tmp_path / "meta.json"
    kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def test_missing_output_topics_are_one_line_before_the_start(kafka_brokers: str, kafka_admin: Any,
                                                             tmp_path: Path) -> None:
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"ho-{uuid.uuid4().hex[:8]}.")
    inputs = [cfg.topic(r) for r in ("scalars", "waveforms", "events", "whatif_requests")]
    for fut in kafka_admin.create_topics([NewTopic(t, 1, 1) for t in inputs]).values():
        fut.result(timeout=30)
    try:
        write_metadata(FLEET, tmp_path / "meta.json")
        produce(cfg, valid_messages(simulate_fleet(FLEET))[:50])
        proc = subprocess.run([TWIN, *_run_args(cfg, str(tmp_path / "a"), tmp_path / "meta.json")],
                              capture_output=True, text=True, timeout=180, check=False)
    finally:
        kafka_admin.delete_topics(inputs, operation_timeout=30)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"twin: error: Kafka at {kafka_brokers} has no topic ")
    assert cfg.topic("state") in lines[0] and cfg.topic("dead_letters") in lines[0]
    assert cfg.topic("scalars") not in lines[0]
    assert not (tmp_path / "a").exists()  # nothing was consumed or archived


def test_a_full_archive_disk_stops_in_one_line_and_a_restart_with_room_completes(
        published: tuple[KafkaConfig, Path], tmp_path: Path) -> None:
    cfg, meta = published
    clean = subprocess.run([TWIN, *_run_args(cfg, str(tmp_path / "clean"), meta)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert clean.returncode == 0, clean.stderr
    want = subprocess.run([TWIN, "sql", COUNT, "--archive", str(tmp_path / "clean"), "--format", "csv"],
                          capture_output=True, text=True, timeout=60, check=False).stdout.splitlines()
    assert want[0] == "n" and int(want[1]) > 100

    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    disk = tmp_path / "disk"
    disk.mkdir()
    run = " ".join(_run_args(cfg, "$DISK/archive", meta))
    rec = tmp_path / "recovery"
    rec.mkdir()
    script = (f'mount -t tmpfs -o size=150k tmpfs "$DISK" || exit 99; '
              f'{TWIN} {run} --recovery-dir {rec} --snapshot-interval 1; echo "first=$?"; '
              'find "$DISK" -name ".*.tmp"; mount -o remount,size=64m "$DISK"; '
              f'{TWIN} {run} --recovery-dir {rec} --snapshot-interval 1 2>/dev/null; echo "second=$?"; '
              f'{TWIN} sql "{COUNT}" --archive "$DISK/archive" --format csv')
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=600,
                          check=False, env={"PATH": "/usr/bin:/bin", "DISK": str(disk)})
    if "first=" not in proc.stdout:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {proc.stderr.strip()[-300:]}")
    out = proc.stdout.splitlines()
    assert "first=1" in out, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"twin run: error: cannot write the archive in {disk}/archive/"), lines
    assert ": No space left on device; stopped before committing it: restart with the same --recovery-dir " \
        "once the archive's disk has room and is writable" in lines[0]
    assert not [ln for ln in out if ln.endswith(".tmp")]  # the half-written file is removed
    assert "second=0" in out, proc.stdout + proc.stderr
    assert out[-2:] == want  # every window of the clean run, nothing lost to the full disk


def test_a_10_mb_record_is_a_dead_letter_not_a_stop(published: tuple[KafkaConfig, Path], kafka_admin: Any,
                                                    tmp_path: Path) -> None:
    """On a topic that allows it, a 10 MB value was refused as a dead letter (the dead-letter topic's
    1 MB limit: MSG_SIZE_TOO_LARGE): `twin run` stopped with an internal error, and again on it at
    every restart. Now its first 512 KiB are the dead letter, its size in ``dlq.truncated``."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    from benchmarks.kafka_read import consume_all

    cfg, meta = published
    entry = ConfigEntry("max.message.bytes", str(16 << 20), incremental_operation=AlterConfigOpType.SET)
    big = ConfigResource("topic", cfg.topic("scalars"), incremental_configs=[entry])
    for fut in kafka_admin.incremental_alter_configs([big]).values():
        fut.result(timeout=30)
    producer = Producer({"bootstrap.servers": cfg.brokers, "message.max.bytes": str(20 << 20)})
    value = b"{" + b"x" * (10 << 20)
    producer.produce(cfg.topic("scalars"), value=value, key=b"pump-001")
    assert producer.flush(60) == 0
    proc = subprocess.run([TWIN, *_run_args(cfg, str(tmp_path / "a"), meta)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "dead letters: 1 (invalid_json 1)" in proc.stderr
    (dead,) = consume_all(cfg, "dead_letters", 60, expected=1)
    headers = dict(dead.headers() or [])
    assert headers["dlq.reason"] == b"invalid_json"
    assert headers["dlq.truncated"] == str(len(value)).encode()
    assert dead.value() == value[:512 * 1024]
    assert headers["source.topic"] == cfg.topic("scalars").encode()  # where the whole record still is


def test_a_resumed_offset_deleted_by_retention_reads_what_is_kept(kafka_brokers: str, kafka_admin: Any,
                                                                  tmp_path: Path) -> None:
    """``twin run`` was down longer than the topic's retention: the snapshot's offset is gone. The
    consumer jumped to the END (librdkafka's default ``auto.offset.reset``), skipping silently all
    the kept messages (1,470 of 1,480 scalars here); now it reads from the oldest kept, the gap said."""
    from confluent_kafka import TopicPartition

    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"ho-{uuid.uuid4().hex[:8]}.", partitions=1)
    create_topics(cfg)
    try:
        fleet = FleetConfig(n_assets=2, days=4.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
        write_metadata(fleet, tmp_path / "meta.json")
        msgs = valid_messages(simulate_fleet(fleet))
        first = [m for m in msgs if m[3] < msgs[0][3] + 2 * 86_400_000]
        rest = msgs[len(first):]
        rec = tmp_path / "recovery"
        rec.mkdir()
        argv = [TWIN, *_run_args(cfg, str(tmp_path / "a"), tmp_path / "meta.json"),
                "--recovery-dir", str(rec)]
        produce(cfg, first)
        assert subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False).returncode == 0
        produce(cfg, rest)
        read = sum(1 for m in first if m[0] == "scalars")  # the snapshot's scalar offset
        deleted = TopicPartition(cfg.topic("scalars"), 0, read + 10)  # as retention would
        for fut in kafka_admin.delete_records([deleted]).values():
            fut.result(timeout=30)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    finally:
        kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert f"twin run: {len(rest) - 10} records read," in proc.stderr  # all but the 10 deleted
    assert (f"{cfg.topic('scalars')}[0]: resumed at offset {read}, the oldest message kept is {read + 10}: "
            "10 messages deleted (retention) before they were read") in proc.stderr
