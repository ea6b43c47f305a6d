"""Topics created and written to at once (round 20: KAFKA-15591).

An idempotent producer's first batch to a partition whose leader has not applied it yet is refused
("not leader") and sent again; on brokers without KAFKA-15591's fix the retry can be refused as out
of sequence and the batch lost. ``twin topics create`` now returns only once every partition has a
leader serving it, and ``twin simulate``/``replay`` wait for that before the first record. Here:
created and published at once, many times, and every record counted on the broker.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

from flows.app.produce import publish, topic_role
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=4, days=0.5, seed=7, frame_interval_s=1800.0, scalar_interval_s=600.0)
ROUNDS = 6


def _counts(admin: Any, cfg: KafkaConfig) -> dict[str, int]:
    """Records on each telemetry topic (the sum of its partitions' end offsets)."""
    meta = admin.list_topics(timeout=10)
    parts = {TopicPartition(cfg.topic(r), p): OffsetSpec.latest()
             for r in ("scalars", "waveforms", "events") for p in meta.topics[cfg.topic(r)].partitions}
    ends = {tp: f.result(timeout=30).offset for tp, f in admin.list_offsets(parts).items()}
    out: Counter[str] = Counter()
    for tp, end in ends.items():
        out[tp.topic] += end
    return dict(out)


def _served_at_once(admin: Any, cfg: KafkaConfig) -> list[str]:
    """The partitions of every topic whose leader does not answer a ListOffsets at the first try."""
    meta = admin.list_topics(timeout=10)
    parts = {TopicPartition(cfg.topic(r), p): OffsetSpec.latest()
             for r in TOPIC_ROLES for p in meta.topics[cfg.topic(r)].partitions}
    bad = []
    for tp, f in admin.list_offsets(parts, request_timeout=10).items():
        try:
            f.result(timeout=15)
        except Exception as exc:  # KafkaException: not leader, unknown partition
            bad.append(f"{tp.topic}[{tp.partition}]: {exc}")
    return bad


@pytest.fixture
def prefixes(kafka_admin: Any) -> Any:
    made: list[KafkaConfig] = []
    yield made
    if made:
        kafka_admin.delete_topics([c.topic(r) for c in made for r in TOPIC_ROLES], operation_timeout=30)


def test_created_and_published_at_once_every_record_arrives(kafka_brokers: str, kafka_admin: Any,
                                                           prefixes: list[KafkaConfig]) -> None:
    records = list(simulate_fleet(FLEET))
    want: Counter[str] = Counter(topic_role(r) for r in records)
    for i in range(ROUNDS):
        cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"fresh{i}-{uuid.uuid4().hex[:8]}.",
                          partitions=4)
        prefixes.append(cfg)
        assert set(create_topics(cfg).values()) == {"created"}
        assert _served_at_once(kafka_admin, cfg) == []  # every partition led and served on return
        report = publish(records, cfg)
        assert report.records == len(records) and report.failed == 0
        assert _counts(kafka_admin, cfg) == {cfg.topic(r): n for r, n in want.items()}, f"round {i}"


def test_twin_topics_create_then_simulate_at_once(kafka_brokers: str, kafka_admin: Any,
                                                   prefixes: list[KafkaConfig]) -> None:
    for i in range(3):
        cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"freshcli{i}-{uuid.uuid4().hex[:8]}.")
        prefixes.append(cfg)
        common = ["--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix]
        made = subprocess.run([TWIN, "topics", "create", *common, "--partitions", "4"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stderr
        sim = subprocess.run([TWIN, "simulate", *common, "--assets", "3", "--days", "0.5", "--seed", str(i),
                              "--no-progress"], capture_output=True, text=True, timeout=300, check=False)
        assert sim.returncode == 0, sim.stderr
        published = int(sim.stdout.split("published ", 1)[1].split()[0])
        assert published > 0
        assert sum(_counts(kafka_admin, cfg).values()) == published, f"round {i}: {sim.stdout}"


def test_simulate_to_absent_topics_is_one_line(kafka_brokers: str, tmp_path: Path) -> None:
    prefix = f"absent-{uuid.uuid4().hex[:8]}."
    sim = subprocess.run([TWIN, "simulate", "--brokers", kafka_brokers, "--topic-prefix", prefix,
                          "--assets", "1", "--days", "0.1", "--no-progress"],
                         capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert sim.returncode == 2, sim.stderr
    assert sim.stderr.strip() == (
        f"twin: error: Kafka at {kafka_brokers} has no topic {prefix}twin.telemetry.scalar.v1, "
        f"{prefix}twin.telemetry.vibration.v1, {prefix}twin.events.v1 (create the topics with "
        f"`twin topics create`)")
