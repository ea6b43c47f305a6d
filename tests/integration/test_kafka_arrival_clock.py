"""A whole asset's clock jumping ahead on a real broker (issue 13, DQ3): `twin run` judges every
record's event time against its arrival (the Kafka timestamp) and the other assets of its
partition. The jump is flagged (``clock`` sensor alerts on the asset's channels), its records are
``clock_skew`` dead letters naming the reason, and the other assets lose no record: their
archived features are those of a run without the jump."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.app.produce import publish
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.archive.query import query
from flows.config.pipeline import KafkaConfig
from tests.integration.test_kafka_pipeline import Env, consume_all
from twin_models.records import ScalarSample, WaveformFrame
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=4, days=3.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
JUMPED = "pump-002"
FROM = FLEET.start + timedelta(days=1, hours=6)
UNTIL = FROM + timedelta(hours=6)
SHIFT = timedelta(hours=2.5)


def _env(brokers: str, tmp: Path, name: str) -> Env:
    from flows.cli.kafka_commands import write_fleet_metadata

    cfg = KafkaConfig(brokers=brokers, topic_prefix=f"it-{uuid.uuid4().hex[:8]}.", partitions=1)
    create_topics(cfg)
    meta = tmp / f"{name}-meta.json"
    write_fleet_metadata(FLEET, str(meta))
    return Env(cfg, tmp, meta)


@pytest.fixture
def envs(kafka_brokers: str, kafka_admin: Any, tmp_path: Path) -> Iterator[tuple[Env, Env]]:
    pair = (_env(kafka_brokers, tmp_path, "jumped"), _env(kafka_brokers, tmp_path, "clean"))
    yield pair
    for e in pair:
        kafka_admin.delete_topics([e.kafka.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def _jump(r: Any) -> Any:
    if (type(r) in (ScalarSample, WaveformFrame) and r.asset_id == JUMPED and FROM <= r.timestamp < UNTIL):
        return replace(r, timestamp=r.timestamp + SHIFT)
    return r


def _features(archive: Path, where: str) -> list[Any]:
    return query(archive, 'SELECT asset_id, window_start, n_records, round("vib.rms", 9), '
                          f'round("temperature.mean", 9) FROM features WHERE {where} ORDER BY 1, 2')[1]


def test_a_whole_asset_clock_jump_is_flagged_and_costs_the_others_nothing(envs: tuple[Env, Env]) -> None:
    jumped_env, clean_env = envs
    sim = list(simulate_fleet(FLEET))
    jumped = [_jump(r) for r in sim]  # published in true-time order: they arrive when really sent
    n_jumped = sum(1 for a, b in zip(sim, jumped, strict=True) if a is not b)
    assert n_jumped > 100
    publish(jumped, jumped_env.kafka)
    publish(sim, clean_env.kafka)
    out, clean = jumped_env.tmp / "a-jumped", clean_env.tmp / "a-clean"
    res = jumped_env.run(out)
    clean_env.run(clean)
    dead = [{k: v.decode() for k, v in m.headers()} for m in consume_all(jumped_env.kafka, "dead_letters")]
    strays = [d["dlq.detail"] for d in dead if d["dlq.reason"] != "clock_skew"][:5]
    assert Counter(d["dlq.reason"] for d in dead) == {"clock_skew": n_jumped}, (res.stderr[-2000:], strays)
    assert all(JUMPED in d["dlq.detail"] and "ahead of the time at which it arrived" in d["dlq.detail"]
               for d in dead)
    assert consume_all(clean_env.kafka, "dead_letters") == []
    # the other assets lose nothing
    others = f"asset_id <> '{JUMPED}'"
    assert _features(out, others) == _features(clean, others)
    alerts = [json.loads(m.value()) for m in consume_all(jumped_env.kafka, "alerts")]
    sensor = {(a["asset_id"], a["channel"], a["check"]) for a in alerts
              if a["kind"] == "sensor" and a["status"] == "raised"}
    assert sensor == {(JUMPED, c, "clock") for c in ("vib", "temperature", "current", "speed", "load")}
    clean_alerts = [json.loads(m.value()) for m in consume_all(clean_env.kafka, "alerts")]
    assert not any(a["kind"] == "sensor" for a in clean_alerts)
