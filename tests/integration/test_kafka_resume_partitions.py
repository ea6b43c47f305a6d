"""`twin run --recovery-dir` resumed after the telemetry topics got more partitions, and with another
``kafka.partitioning`` (round 19).

The partition count is left out of the configuration hash (flows/config/fingerprint.py): state is
keyed by asset (and kind), never by Kafka partition, and the source's recovery state is only the
next offset per topic of each partition index. So a resume after partitions were added must
continue every twin where it was, whichever partition its records now come from, resume the old
partitions at their offsets and read the new ones from their beginning. ``kafka.partitioning``
is hashed since round 19 (it decides what is dead-lettered): the lineage of the resumed run names
the new configuration. Measured with more runs in benchmarks/RESULTS.md, part resume19.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewPartitions

from benchmarks.resume_repartition import publish
from flows.archive.query import query
from flows.config.fingerprint import config_hash
from flows.config.pipeline import KafkaConfig, load_config
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=4, days=4.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
TELEMETRY = ("scalars", "waveforms", "events")


@pytest.fixture
def topics(topic_sets: Any) -> KafkaConfig:
    cfg: KafkaConfig = topic_sets("rp", 2, count=1)[0]
    return cfg


def _run(cfg: KafkaConfig, tmp_path: Path, *more: str) -> str:
    from flows.cli.kafka_commands import write_fleet_metadata

    if not (tmp_path / "meta.json").exists():
        write_fleet_metadata(FLEET, str(tmp_path / "meta.json"))
    argv = [TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive",
            str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"), "--clock", "data",
            "--exit-at-end", "--connect-timeout", "10", "--recovery-dir", str(tmp_path / "rec"), *more]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def _windows(tmp_path: Path) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """Per asset, in window order: (run id, lineage) of every twin_state row."""
    sql = "SELECT asset_id, run_id, lineage FROM twin_state ORDER BY asset_id, window_start"
    rows = query(tmp_path / "a", sql)[1]
    out: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for asset, run, lineage in rows:
        out.setdefault(asset, []).append((run, json.loads(lineage)))
    return out


def test_a_resume_after_partitions_were_added_continues_every_twin(topics: KafkaConfig, kafka_admin: Any,
                                                                   tmp_path: Path) -> None:
    records = list(simulate_fleet(FLEET))
    assets = sorted({r.asset_id for r in records})
    split = records[0].timestamp.timestamp() + FLEET.days / 2 * 86_400
    first = [r for r in records if r.timestamp.timestamp() < split]
    rest = [r for r in records if r.timestamp.timestamp() >= split]
    publish(topics, first, assets, 2)
    _run(topics, tmp_path)
    grown = kafka_admin.create_partitions([NewPartitions(topics.topic(t), 4) for t in TELEMETRY])
    for fut in grown.values():
        fut.result(timeout=30)
    publish(topics, rest, assets, 4)  # assets 2 and 3 move to the new partitions 2 and 3
    err = _run(topics, tmp_path, "--partitioning", "any")

    assert f"twin run: {len(rest)} records read," in err, err  # old partitions resumed, new ones whole
    assert "in source partitions 0, 1, 2, 3" in err, err
    before = config_hash(load_config(env={}, overrides={"clock": "data"}))
    after = config_hash(load_config(env={}, overrides={"clock": "data", "kafka.partitioning": "any"}))
    assert before != after
    for asset, windows in _windows(tmp_path).items():
        runs = list(dict.fromkeys(run for run, _ in windows))
        assert len(runs) == 2, (asset, runs)
        one = [lin for run, lin in windows if run == runs[0]]
        two = [lin for run, lin in windows if run == runs[1]]
        assert {lin["config_hash"] for lin in one} == {before}
        assert {lin["config_hash"] for lin in two} == {after}  # the lineage names the new setting
        # the twin went on learning where it was, not from an empty state on its new partition
        assert two[0]["learned_windows"] > one[-1]["learned_windows"] > 0, (asset, one[-1], two[0])
        moved = assets.index(asset) % 4 >= 2
        parts = {src["source"].rsplit(":", 1)[1] for lin in two for src in lin["inputs"]}
        assert parts == ({str(assets.index(asset) % 4)} if moved else {str(assets.index(asset) % 2)}), parts


def test_a_resume_after_growth_gives_the_outputs_of_a_resume_without(kafka_brokers: str,
                                                                     tmp_path: Path) -> None:
    """Round 20: the same split fleet resumed on topics grown 2 -> 4 and on unchanged ones: every
    twin_state row (the fleet-fused RUL included) and every alert equal, no late fleet model version.
    Before, the first partition to poll on the resume (an old one) ran a whole buffer (a day) ahead
    while the new ones had not polled yet, and a version came late in most grown resumes (3 of 3 and
    1 of 2 here, 9 of 11 in round 19): its window without the fleet-fused RUL."""
    from benchmarks.resume_repartition import _split_runs

    stay = _split_runs(kafka_brokers, tmp_path, FLEET, False, [])
    grow = _split_runs(kafka_brokers, tmp_path, FLEET, True, [])
    # per run: (records read, dead letters, late fleet model versions)
    assert [late for _read, _dead, late in stay["runs"] + grow["runs"]] == [0, 0, 0, 0], (stay["runs"],
                                                                                           grow["runs"])
    assert len(stay["state"]) == len(grow["state"]) > 300
    assert [row for row in grow["state"] if "fleet" in str(row[-1])], "no fleet-fused RUL at all"
    assert grow["state"] == stay["state"]
    assert grow["alerts"] == stay["alerts"]
