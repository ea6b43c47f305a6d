"""Scale-out determinism on a real broker: one process runs ahead, the fused RUL stays the same.

Before: each `twin run` process (and each partition inside one) replayed at its own pace, so a
partition with less data per hour of event time ran days ahead of the one whose asset failed; the
fleet model version learnt from that failure reached it after the windows it applies to
(``model_delay_s`` = 1 day later): late versions in every run, and a fused RUL that depended on
the process layout. Here five pumps share partition 0 and one degrading pump has partition 1 to
itself, so in a 2-process cluster the process of partition 1 holds a sixth of the data and races
ahead of the failure its fleet-fused RUL needs. Now the event-time gate keeps every partition
within 3 h (an eighth of the delay) of the slowest, and 1 and 2 processes give the same rul_*
columns with no late version.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from benchmarks.free_ports import free_ports
from flows.app.produce import encode_record, topic_role
from flows.app.topics import TOPIC_CONFIGS, TOPIC_ROLES, create_topics
from flows.archive.query import query
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sinks.kafka import producer_config
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
from tests.integration.conftest import ended_well
from tests.integration.test_fleet_model_topic import _run_cmd
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=6, days=10.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
LIGHT = "pump-003"  # alone on partition 1: it degrades, and uses the version learnt from pump-005's
# failure (day 5.6, on partition 0) from day 6.6 on; pump-004 fails on day 7.5, pump-003 on day 8.6
FLEET_LINE = re.compile(r"fleet models: (\d+) versions? learnt here, (\d+) late; "
                        r"event-time gate: (\d+) waits?")


@pytest.fixture
def kafka(kafka_brokers: str, kafka_admin: Any) -> Iterator[KafkaConfig]:
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"sd-{uuid.uuid4().hex[:8]}.", partitions=2)
    create_topics(cfg)
    extra = [cfg.topic_prefix + f"models.{n}" for n in (1, 2)]
    new = [NewTopic(t, num_partitions=2, replication_factor=1, config=TOPIC_CONFIGS["fleet_models"])
           for t in extra]
    for fut in kafka_admin.create_topics(new).values():
        fut.result(timeout=30)
    yield cfg
    kafka_admin.delete_topics([*(cfg.topic(r) for r in TOPIC_ROLES), *extra], operation_timeout=30)


def _publish_skewed(cfg: KafkaConfig) -> None:
    """The fleet as `twin simulate` publishes it, but LIGHT alone on partition 1."""
    producer = Producer(producer_config({"bootstrap.servers": cfg.brokers}))  # keeps each partition's order
    for rec in simulate_fleet(FLEET):
        producer.produce(cfg.topic(topic_role(rec)), encode_record(rec), rec.asset_id.encode(),
                         partition=1 if rec.asset_id == LIGHT else 0,
                         headers=[(EVENT_TIME_HEADER, str(int(rec.timestamp.timestamp() * 1000)).encode())])
        producer.poll(0)
    assert producer.flush(30) == 0


def _cluster(cfg: KafkaConfig, archive: Path, meta: Path, processes: int) -> list[tuple[int, int, int]]:
    """Run `twin run` on ``processes`` processes (its own fleet model topic); per process:
    (versions learnt, versions late, gate waits)."""
    env = {**os.environ, "TWIN_KAFKA__TOPICS__FLEET_MODELS": f"models.{processes}"}
    ids: list[list[str]] = [[]]
    if processes > 1:
        addresses = ";".join(f"127.0.0.1:{p}" for p in free_ports(processes))
        ids = [["-i", str(i), "-a", addresses] for i in range(processes)]
    procs = [subprocess.Popen(_run_cmd(cfg, archive, meta, *i), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in ids]
    lines = []
    for err in ended_well(procs, 600):
        found = FLEET_LINE.search(err)
        assert found is not None, err[-2000:]
        lines.append((int(found[1]), int(found[2]), int(found[3])))
    return lines


def _state(archive: Path) -> list[Any]:
    return query(archive, "SELECT asset_id, window_start, rul_s, rul_lower_s, rul_upper_s, rul_source, "
                          "damage, damage_rul_s, damage_rul_lower_s, damage_rul_upper_s "
                          "FROM twin_state ORDER BY 1, 2")[1]


def test_a_process_running_ahead_fuses_the_same_fleet_rul_as_one_process(kafka: KafkaConfig,
                                                                          tmp_path: Path) -> None:
    from flows.cli.kafka_commands import write_fleet_metadata

    meta = tmp_path / "meta.json"
    write_fleet_metadata(FLEET, str(meta))
    _publish_skewed(kafka)
    one = _cluster(kafka, tmp_path / "one", meta, 1)
    two = _cluster(kafka, tmp_path / "two", meta, 2)
    a, b = _state(tmp_path / "one"), _state(tmp_path / "two")
    fleet_rows = [r for r in a if "fleet" in (r[5] or "")]
    assert [late for _, late, _ in one + two] == [0, 0, 0], (one, two)
    assert sum(m for m, _, _ in one) > 0 and sum(m for m, _, _ in two) > 0, (one, two)
    assert any(r[0] == LIGHT for r in fleet_rows), "the racing pump never used the fleet model"
    assert sum(w for _, _, w in two) > 0, "the gate never held the racing partition back"
    assert len(a) == len(b) > 0
    assert any(r[6] is not None for r in a)  # damage states too (their fleet prior, if any)
    assert a == b
