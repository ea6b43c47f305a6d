"""On a real broker: a record produced twice (a producer's retry after a lost acknowledgement,
at-least-once delivery) is ONE ``duplicate_record`` dead letter, and the run's features, states
and alerts are those of the stream holding it once (:mod:`flows.dataflow.duplicates`).

Before round 17 the copy was featurised too: its window counted the sample twice (``n_records``
one more, the channel's mean and spread moved).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_fuzz_kafka import read_dead_letters, valid_messages, write_metadata
from flows.archive.query import query
from flows.codec import decode_telemetry
from flows.config.pipeline import KafkaConfig
from tests.integration.pairs import run_each
from tests.integration.test_kafka_pipeline import consume_all
from twin_models.records import ScalarSample
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=2, days=1.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


@pytest.fixture
def topics(topic_sets: Any) -> tuple[KafkaConfig, KafkaConfig]:
    """Two fresh topic sets: once and twice."""
    return topic_sets("dup", 2)


def _summary(archive: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every feature column and n_records per window, and the twin states (the run's own
    bookkeeping, lineage and input offsets left out: the copy takes an offset)."""
    out = {}
    for table, skip in (("features", {"inputs", "run_id", "_written_at"}),
                        ("twin_state", {"lineage", "run_id", "_written_at", "timestamp"})):
        cols, rows = query(archive, f"SELECT * FROM {table} ORDER BY asset_id, window_start")  # noqa: S608
        keep = [k for k, c in enumerate(cols) if c not in skip]
        out[table] = [tuple(row[k] for k in keep) for row in rows]
    return out


def test_a_record_produced_twice_is_one_dead_letter(topics: tuple[KafkaConfig, KafkaConfig],
                                                    tmp_path: Path) -> None:
    once_cfg, twice_cfg = topics
    write_metadata(FLEET, tmp_path / "meta.json")
    valid = valid_messages(simulate_fleet(FLEET))
    at = next(i for i in range(len(valid) // 2, len(valid)) if valid[i][0] == "scalars")
    twice = [*valid[:at + 1], valid[at], *valid[at + 1:]]  # the producer's retry, right after
    runs, stderr = run_each({"once": (once_cfg, valid), "twice": (twice_cfg, twice)}, tmp_path, _summary)
    assert "dead letters: 1 (duplicate_record 1)" in stderr, stderr[-2000:]
    (dead,) = read_dead_letters(twice_cfg, 1)
    headers = dict(dead.headers() or [])
    assert headers["dlq.reason"] == b"duplicate_record"
    assert b"(identical)" in headers["dlq.detail"]
    sample = decode_telemetry(valid[at][2], now=FLEET.start.replace(year=2100))
    assert isinstance(sample, ScalarSample)
    assert decode_telemetry(dead.value(), now=FLEET.start.replace(year=2100)) == sample
    assert consume_all(once_cfg, "dead_letters") == []
    assert runs["twice"] == runs["once"]  # features (and n_records) and states as if once
    assert len(runs["once"]["features"]) > 30 and len(runs["once"]["twin_state"]) > 30
