"""`twin run --recovery-dir` resumed against another Kafka cluster (round 19).

The store's offsets mean records of one cluster only. Until round 19 nothing recorded which: a
resume pointed at another cluster with the same topic names started at offsets that mean other
records there, silently. Now the store records the cluster id and such a resume is refused.
Here the broker is real; "another cluster" is a record naming another cluster id (a second
broker with its own id was checked by hand: benchmarks/RESULTS.md, part resume19).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_fuzz_kafka import produce, valid_messages, write_metadata
from flows.config.pipeline import KafkaConfig
from flows.dataflow.store_cluster import RECORD
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=2, days=1.0, seed=5, frame_interval_s=3600.0, scalar_interval_s=1800.0)
OTHER = "AnotherClusterId000000"


@pytest.fixture
def topics(topic_sets: Any) -> KafkaConfig:
    cfg: KafkaConfig = topic_sets("rc", 1, count=1)[0]
    return cfg


def _run(cfg: KafkaConfig, tmp_path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    argv = [TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive",
            str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"), "--clock", "data",
            "--exit-at-end", "--connect-timeout", "10", "--recovery-dir", str(tmp_path / "rec"), *more]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def _record(tmp_path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((tmp_path / "rec" / RECORD).read_text())
    return doc


def _first_run(topics: KafkaConfig, tmp_path: Path) -> None:
    """The fleet on the topics, read once into a new recovery store."""
    write_metadata(FLEET, tmp_path / "meta.json")
    produce(topics, valid_messages(simulate_fleet(FLEET)))
    first = _run(topics, tmp_path)
    assert first.returncode == 0, first.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.endswith(("-wal", "-shm"))}


def _refused_untouched(topics: KafkaConfig, tmp_path: Path, line: str) -> None:
    """A resume on the store: exit 2, ``line`` alone on stderr, the store's files as they were."""
    before = _files(tmp_path / "rec")
    refused = _run(topics, tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip() == line
    assert _files(tmp_path / "rec") == before


def test_a_resume_against_another_cluster_is_refused_before_the_start(topics: KafkaConfig, kafka_admin: Any,
                                                                      tmp_path: Path) -> None:
    _first_run(topics, tmp_path)
    cluster = kafka_admin.list_topics(timeout=10).cluster_id
    assert _record(tmp_path)["cluster_id"] == cluster
    assert _record(tmp_path)["brokers"] == topics.brokers

    again = _run(topics, tmp_path)  # the same cluster: resumes (nothing new to read)
    assert again.returncode == 0, again.stderr
    assert "twin run: 0 records read," in again.stderr, again.stderr

    doc = {**_record(tmp_path), "cluster_id": OTHER, "brokers": "old-kafka:9092"}
    (tmp_path / "rec" / RECORD).write_text(json.dumps(doc))  # as if written on another cluster
    _refused_untouched(topics, tmp_path, (
        f"twin: error: --recovery-dir {tmp_path / 'rec'} holds the offsets of Kafka cluster {OTHER} "
        f"(brokers old-kafka:9092), but {topics.brokers} is cluster {cluster}: they would mean other "
        f"records there; give the brokers of cluster {OTHER}, or an empty --recovery-dir to start "
        f"afresh on {cluster}"))


def test_a_store_from_before_the_record_resumes_once_said(topics: KafkaConfig, kafka_admin: Any,
                                                           tmp_path: Path) -> None:
    _first_run(topics, tmp_path)
    (tmp_path / "rec" / RECORD).unlink()  # a store written before round 19
    old = _run(topics, tmp_path)
    assert old.returncode == 0, old.stderr
    said = [ln for ln in old.stderr.splitlines() if "has no record of its Kafka cluster" in ln]
    assert len(said) == 1, old.stderr
    assert "twin run: 0 records read," in old.stderr, old.stderr  # resumed, not read again
    assert _record(tmp_path)["cluster_id"] == kafka_admin.list_topics(timeout=10).cluster_id
    quiet = _run(topics, tmp_path)
    assert quiet.returncode == 0 and "has no record" not in quiet.stderr, quiet.stderr


def test_unreachable_brokers_stay_the_broker_down_path(tmp_path: Path) -> None:
    """A store whose brokers are down is not refused for its cluster (nothing can be known): the
    usual one line about the brokers, exit 2, and the record stays as it was."""
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "part-0.sqlite3").write_bytes(b"")
    text = json.dumps({"kind": "twinflow-kafka-cluster", "cluster_id": OTHER, "brokers": "kafka-1:9092"})
    (rec / RECORD).write_text(text)
    write_metadata(FLEET, tmp_path / "meta.json")
    cfg = KafkaConfig(brokers="127.0.0.1:1", topic_prefix="x.")
    proc = subprocess.run([TWIN, "run", "--brokers", cfg.brokers, "--archive", str(tmp_path / "a"),
                           "--metadata", str(tmp_path / "meta.json"), "--connect-timeout", "2",
                           "--recovery-dir", str(rec)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("twin: error: cannot reach Kafka at 127.0.0.1:1 within 2 s"), proc.stderr
    assert "\n" not in line
    assert (rec / RECORD).read_text() == text


def _topic_id(admin: Any, name: str) -> str:
    from confluent_kafka import TopicCollection

    return str(admin.describe_topics(TopicCollection([name]))[name].result(timeout=30).topic_id)


def _re_create(admin: Any, cfg: KafkaConfig, role: str) -> None:
    """Delete ``role``'s topic, wait until it is gone, and create it again with ``twin topics create``."""
    name = cfg.topic(role)
    admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)
    deadline = time.monotonic() + 60
    while name in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{name} still listed 60 s after its deletion"
        time.sleep(0.2)
    while True:  # the broker may still be removing the old log: "marked for deletion"
        made = subprocess.run([TWIN, "topics", "create", "--brokers", cfg.brokers, "--topic-prefix",
                               cfg.topic_prefix, "--partitions", "1"],
                              capture_output=True, text=True, timeout=120, check=False)
        if made.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert made.returncode == 0, made.stderr


def test_a_resume_on_a_topic_deleted_and_re_created_is_refused(topics: KafkaConfig, kafka_admin: Any,
                                                               tmp_path: Path) -> None:
    """Round 20: the same name on the same cluster, but a new log: the stored offset (the whole first
    day read) would skip the new topic's records up to it. Refused before the store changes; an
    empty --recovery-dir reads the new topic from its start."""
    _first_run(topics, tmp_path)
    scalars = topics.topic("scalars")
    old_id = _topic_id(kafka_admin, scalars)
    ids = _record(tmp_path)["topics"]
    assert ids[scalars] == old_id
    assert set(ids) == {topics.topic(r) for r in ("scalars", "waveforms", "events", "whatif_requests")}

    _re_create(kafka_admin, topics, "scalars")
    new_id = _topic_id(kafka_admin, scalars)
    assert new_id != old_id
    again = FleetConfig(n_assets=2, days=1.0, seed=6, frame_interval_s=3600.0, scalar_interval_s=1800.0)
    produce(topics, [m for m in valid_messages(simulate_fleet(again)) if m[0] == "scalars"])

    _refused_untouched(topics, tmp_path, (
        f"twin: error: --recovery-dir {tmp_path / 'rec'} holds the offsets of topic {scalars} (id {old_id}, "
        f"now {new_id}), deleted and re-created since on cluster {_record(tmp_path)['cluster_id']}: they "
        f"would skip or re-read records of the new topic; give an empty --recovery-dir to read the topics "
        f"afresh"))

    afresh = _run(topics, tmp_path, "--recovery-dir", str(tmp_path / "rec2"))
    assert afresh.returncode == 0, afresh.stderr
    assert _record(tmp_path)["topics"][scalars] == old_id  # the old store as it was
    doc = json.loads((tmp_path / "rec2" / RECORD).read_text())
    assert doc["topics"][scalars] == new_id
