"""The digital thread on a real broker: every archived window names exactly the offset range, per
topic partition, of the telemetry messages behind it (issue 11)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

import pytest

from flows import codec
from flows.app.explain import explain
from flows.app.produce import publish
from flows.archive.query import query
from tests.integration.test_kafka_pipeline import FLEET, Env, consume_all, env  # noqa: F401 (the fixture)
from twin_models.simulator.fleet import simulate_fleet

pytestmark = pytest.mark.integration

FAR_FUTURE = datetime.fromisoformat("9000-01-01T00:00:00+00:00")



def _messages(kenv: Env) -> dict[str, list[tuple[str, datetime, int]]]:
    """asset -> (source, event time, offset) of every telemetry message."""
    out: dict[str, list[tuple[str, datetime, int]]] = defaultdict(list)
    for role in ("scalars", "waveforms", "events"):
        for m in consume_all(kenv.kafka, role, timeout_s=60):
            rec = codec.decode_telemetry(m.value(), now=FAR_FUTURE)
            assert not isinstance(rec, codec.DecodeError)
            out[rec.asset_id].append((f"kafka:{m.topic()}:{m.partition()}", rec.timestamp, m.offset()))
    return out


def test_each_window_names_the_offset_ranges_of_its_messages(env: Env) -> None:  # noqa: F811
    publish(simulate_fleet(FLEET), env.kafka)
    archive = env.tmp / "archive"
    env.run(archive)
    msgs = _messages(env)
    _, rows = query(archive, "SELECT asset_id, window_start, window_end, inputs FROM features")
    assert len(rows) > 4 * 8 * 24 * 0.9
    sources = set()
    for asset, start, end, inputs in rows:
        spans: dict[str, list[int]] = defaultdict(list)
        for source, ts, offset in msgs[asset]:
            if start <= ts < end:
                spans[source].append(offset)
        expected = [{"source": s, "first": min(o), "last": max(o)} for s, o in sorted(spans.items())]
        assert json.loads(inputs) == expected, (asset, start)
        sources.update(spans)
    assert any(":" + env.kafka.topic("waveforms") + ":" in ":" + s + ":" for s in sources)
    assert any(env.kafka.topic("scalars") in s for s in sources)
    _, lin = query(archive, "SELECT count(*), count(lineage) FROM twin_state")
    assert lin[0][0] == lin[0][1] > 0
    _, raised = query(archive, "SELECT alert_id FROM alerts WHERE status = 'raised'")
    assert raised
    for (alert_id,) in raised:  # twin explain on a `twin run` archive: the windows' Kafka inputs
        doc = explain(archive, alert_id)
        assert doc["lineage"]["inputs"] == doc["windows"][-1]["inputs"]
        assert all(s["source"].startswith("kafka:" + env.kafka.topic_prefix) for w in doc["windows"]
                   for s in w["inputs"])
