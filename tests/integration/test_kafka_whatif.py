"""What-if requests on a real broker: `twin run` answers them inside the dataflow from the assets'
live twins (twin.whatif.requests.v1 -> twin.whatif.results.v1), and answering changes no twin."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from flows import codec
from flows.app.produce import publish
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.archive.query import query
from flows.config.pipeline import KafkaConfig
from tests.contract.test_schemas import validator
from tests.integration.test_kafka_pipeline import FLEET, Env, consume_all, env  # noqa: F401 (the fixture)
from twin_models.records import PlanSegment, WhatIfRequest
from twin_models.simulator.fleet import simulate_fleet

pytestmark = pytest.mark.integration

END = "2026-01-06T12:00:00Z"
"""Telemetry up to here only: two of FLEET's four bearings are then degrading (they fail later)."""


def _request(request_id: str, asset: str, load: float) -> bytes:
    req = WhatIfRequest(request_id, asset, codec.parse_timestamp(END), (PlanSegment(0.0, load),),
                        30 * 86400.0, (codec.parse_timestamp("2026-01-09T00:00:00Z"),))
    return codec.encode_json(req)


def _send(cfg: KafkaConfig, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": cfg.brokers})
    for key, value in messages:
        producer.produce(cfg.topic("whatif_requests"), key=key, value=value)
    assert producer.flush(30) == 0


def _results(cfg: KafkaConfig) -> dict[str, dict[str, Any]]:
    out = {}
    for m in consume_all(cfg, "whatif_results", timeout_s=60):
        doc = json.loads(m.value())
        validator("whatif_result").validate(doc)
        assert m.key().decode() == doc["asset_id"]
        out[doc["request_id"]] = doc
    return out


def _life(result: dict[str, Any]) -> float:
    """The scenario's median RUL (beyond the horizon: infinite)."""
    rul = result["scenario"]["rul_median_s"]
    return float("inf") if rul is None else float(rul)


def _twin_rows(archive: Path) -> dict[str, Any]:
    """Every snapshot, alert and damage checkpoint: what a request must not change (the lineage
    left out: it names the topics, whose prefix differs between the two runs)."""
    drop = "EXCLUDE (run_id, _written_at, lineage)"
    return {
        "state": query(archive, f"SELECT * {drop} FROM twin_state ORDER BY asset_id, window_start")[1],
        "alerts": query(archive, f"SELECT * {drop} FROM alerts ORDER BY alert_id, sequence")[1],
        "damage": query(archive, "SELECT asset_id, timestamp, d, logw FROM damage_state ORDER BY 1, 2")[1],
    }


def test_requests_are_answered_by_live_twins_without_changing_them(env: Env, kafka_admin: Any) -> None:  # noqa: F811
    end = codec.parse_timestamp(END)
    fleet = [r for r in simulate_fleet(FLEET) if r.timestamp < end]
    # a run with requests: sent before the run, so they meet the twins wherever they are
    publish(fleet, env.kafka)
    _send(env.kafka, [(b"pump-001", _request("early-1", "pump-001", 0.8)),
                      (b"nobody", _request("who", "nobody", 0.8)),
                      (b"pump-002", _request("bad-load", "pump-002", -1.0)),
                      (b"pump-003", b'{"request_id": "broken", "asset_id": "pump-003"}'),
                      (b"pump-003", b"not json")])
    with_requests = env.tmp / "with"
    env.run(with_requests, "--recovery-dir", str(env.tmp / "recovery"))
    got = _results(env.kafka)
    assert set(got) == {"early-1", "who", "bad-load"}
    assert got["who"]["status"] == "unknown_asset" and "nobody" in got["who"]["reason"]
    assert got["bad-load"]["status"] == "invalid" and "load" in got["bad-load"]["reason"]
    assert got["early-1"]["asset_id"] == "pump-001" and got["early-1"]["status"] in ("ok", "no_damage",
                                                                                     "unknown_asset")
    dead = consume_all(env.kafka, "dead_letters")
    reasons = sorted(dict(m.headers())["dlq.reason"].decode() for m in dead)
    assert reasons == ["invalid_json", "schema_violation"]
    assert all(dict(m.headers())["dlq.source"].decode() == env.kafka.topic("whatif_requests") for m in dead)

    # the same telemetry without requests (own topics): every snapshot, alert and checkpoint equal
    plain = KafkaConfig(brokers=env.kafka.brokers, topic_prefix=f"it-{uuid.uuid4().hex[:8]}.", partitions=4)
    create_topics(plain)
    try:
        publish(fleet, plain)
        without = env.tmp / "without"
        Env(plain, env.tmp, env.metadata).run(without)
        assert _twin_rows(with_requests) == _twin_rows(without)
        assert consume_all(plain, "whatif_results") == []
    finally:
        kafka_admin.delete_topics([plain.topic(r) for r in TOPIC_ROLES], operation_timeout=30)

    # the live twins after the run (resumed from the recovery store): every asset answers as its
    # last snapshot says (damage evidence in its life or not), and a lower load lives longer
    _, last = query(with_requests, "SELECT asset_id, damage FROM twin_state QUALIFY row_number() OVER "
                                   "(PARTITION BY asset_id ORDER BY window_start DESC) = 1")
    messages = [(a.encode(), _request(f"late-{a}-{load}", a, load)) for a, _ in last for load in (0.6, 1.0)]
    _send(env.kafka, messages)
    env.run(env.tmp / "later", "--recovery-dir", str(env.tmp / "recovery"))
    late = _results(env.kafka)
    damaged = 0
    for asset, damage in last:
        low, high = late[f"late-{asset}-0.6"], late[f"late-{asset}-1.0"]
        assert low["status"] == high["status"] == ("no_damage" if damage is None else "ok"), asset
        if damage is not None:
            damaged += 1
            assert low["timestamp"] >= END.removesuffix("Z")
            assert _life(low) > _life(high)
            assert low["baseline"] == high["baseline"]
        else:
            assert low["scenario"]["p_failure"][0]["p"] == 0.0
    assert damaged >= 2
