"""`twin run` as a cluster of processes on a real broker: every record is read exactly once.

benchmarks/bench_scaleout.py measures the curve; this test holds the counts: over topics with more
partitions than processes, the processes of one cluster (``-i/-a``) split the partitions between
them, and together read each published record once (no partition twice, none left out)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from benchmarks.free_ports import free_ports
from flows.app.produce import publish
from flows.archive.query import query
from flows.config.pipeline import KafkaConfig
from tests.integration.conftest import ended_well
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=8, days=2.0, seed=5, frame_interval_s=1800.0, scalar_interval_s=900.0)
RUN_LINE = re.compile(r"twin run: (\d+) records read, (\d+) windows closed, dead letters: (\d+)")


@pytest.fixture
def kafka(topic_sets: Callable[..., tuple[KafkaConfig, ...]]) -> KafkaConfig:
    """One fresh set of topics, 6 partitions each (deleted after the test: conftest's topic_sets)."""
    return topic_sets("it-scale", 6, count=1)[0]


def _partition_sizes(cfg: KafkaConfig) -> list[int]:
    c = Consumer({"bootstrap.servers": cfg.brokers, "group.id": "it-scale"})
    sizes = [sum(c.get_watermark_offsets(TopicPartition(cfg.topic(r), p), timeout=10)[1]
                 for r in ("scalars", "waveforms", "events")) for p in range(cfg.partitions)]
    c.close()
    return sizes


def test_two_processes_read_every_record_of_six_partitions_exactly_once(kafka: KafkaConfig,
                                                                         tmp_path: Path) -> None:
    from flows.cli.kafka_commands import write_fleet_metadata

    meta = tmp_path / "meta.json"
    write_fleet_metadata(FLEET, str(meta))
    published = publish(simulate_fleet(FLEET), kafka).records
    sizes = _partition_sizes(kafka)
    assert sum(sizes) == published and sum(1 for s in sizes if s) >= 4  # several partitions hold data
    archive = tmp_path / "archive"
    addresses = ";".join(f"127.0.0.1:{p}" for p in free_ports(2))
    cmd = [sys.executable, "-m", "flows.cli.main", "run", "--brokers", kafka.brokers, "--topic-prefix",
           kafka.topic_prefix, "--archive", str(archive), "--metadata", str(meta), "--clock", "data",
           "--exit-at-end", "-a", addresses]
    procs = [subprocess.Popen([*cmd, "-i", str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    read = []
    for err in ended_well(procs, 300):
        found = RUN_LINE.search(err)
        assert found is not None, err[-3000:]
        read.append(int(found[1]))
        assert found[3] == "0"  # no dead letter: nothing late, nothing read out of order
    assert sum(read) == published  # every record once: no partition read twice, none skipped
    assert all(n > 0 for n in read)  # both processes consumed partitions
    # each process read whole partitions: its count is a sum of some partitions' sizes
    subsets = {sum(s for i, s in enumerate(sizes) if mask >> i & 1) for mask in range(1 << len(sizes))}
    assert read[0] in subsets
    assets = query(archive, "SELECT count(DISTINCT asset_id), count(*) FROM features")[1][0]
    assert assets[0] == FLEET.n_assets and assets[1] > FLEET.n_assets * 2 * 24 * 0.8  # all asset-hours
