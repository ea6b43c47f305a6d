"""Poison pills and fuzz on a real Apache Kafka broker, through ``twin run --exit-at-end``.

Before: the first accepted-but-poisonous record (a 5-sample frame, a 1e308 Hz shaft speed, a
frame below its asset's resonance band) stopped ``twin run`` with a Bytewax runtime error, and a
restart read the same record again. Now the run goes to the end, every bad record is on the
dead-letter topic with its reason, and the outputs for the valid data equal a clean run's.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.bench_fuzz_kafka import (
    BANDED,
    fuzz,
    read_dead_letters,
    valid_messages,
    write_metadata,
)
from flows.codec import encode_event, encode_scalar, encode_waveform
from flows.config.pipeline import KafkaConfig
from tests.integration.pairs import run_each
from tests.integration.test_kafka_pipeline import archive_summary, consume_all
from twin_models.records import AssetEvent, ScalarSample, WaveformFrame
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=3, days=2.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


@pytest.fixture
def topics(topic_sets: Any) -> tuple[KafkaConfig, KafkaConfig]:
    """Two fresh topic sets: clean and poisoned."""
    return topic_sets("it", 4)


def poison(t0: Any) -> list[tuple[str, bytes | None, str]]:
    """(topic role, value, expected reason): malformed and accepted-but-poisonous records."""
    t = t0 + timedelta(hours=20)
    noise = np.random.default_rng(1).normal(0, 0.3, 2048).astype(np.float32)

    def frame(asset: str, n: int, fs: float = 25600.0, shaft: float | None = None) -> bytes:
        return encode_waveform(WaveformFrame(asset, "vib", t, fs, noise[:n], shaft, "g"))

    good = frame("pump-001", 2048)
    scalar = json.loads(encode_scalar(ScalarSample("pump-001", "temperature", t, 40.0, "degC")))
    return [
        ("scalars", b"{not json", "invalid_json"),
        ("waveforms", good[:60], "truncated"),
        ("waveforms", b"TWF\x07" + good[4:], "unknown_version"),
        ("scalars", json.dumps({**scalar, "value": "hot"}).encode(), "schema_violation"),
        ("scalars", json.dumps({**scalar, "value": float("nan")}).encode(), "non_finite"),
        ("events", json.dumps({"type": "event", "asset_id": "pump-001", "timestamp": scalar["timestamp"],
                               "kind": "explode"}).encode(), "unknown_kind"),
        ("scalars", None, "truncated"),  # a tombstone
        ("waveforms", frame("pump-001", 5), "frame_too_short"),
        ("waveforms", frame("pump-002", 2048, shaft=1e308), "bad_shaft_speed"),
        ("waveforms", frame(BANDED, 2048, fs=2000.0), "band_outside_frame"),
        ("scalars", json.dumps({**scalar, "value": 1e300}).encode(), "value_out_of_range"),
        ("events", encode_event(AssetEvent("pump-003", t, "maintenance")).replace(
            scalar["timestamp"][:4].encode(), b"0001", 1), "timestamp_out_of_range"),
    ]


def test_poison_pills_on_kafka_are_dead_lettered_and_change_nothing(
        topics: tuple[KafkaConfig, KafkaConfig], tmp_path: Path) -> None:
    clean_cfg, dirty_cfg = topics
    write_metadata(FLEET, tmp_path / "meta.json")
    valid = valid_messages(simulate_fleet(FLEET))
    bad = poison(FLEET.start)
    mixed = list(valid)
    for i, (role, value, _reason) in enumerate(bad):
        at = len(valid) // 3 + 37 * i
        mixed.insert(at, (role, b"pump-001", value, mixed[at][3]))
    inputs = {"clean": (clean_cfg, valid), "dirty": (dirty_cfg, mixed)}
    runs, _stderr = run_each(inputs, tmp_path, archive_summary)
    dead = read_dead_letters(dirty_cfg, len(bad))
    got = Counter((m.value() or b"", dict(m.headers())["dlq.reason"].decode()) for m in dead)
    assert got == Counter((v or b"", reason) for _role, v, reason in bad)
    assert all(dict(m.headers())["dlq.detail"] for m in dead)
    assert consume_all(clean_cfg, "dead_letters") == []
    assert runs["dirty"] == runs["clean"]
    assert runs["clean"]["features"] and runs["clean"]["state"]
    alerts = [[json.loads(m.value()) for m in consume_all(c, "alerts")] for c in topics]
    assert all(a["lineage"]["inputs"] for run in alerts for a in run)
    # the lineage names each run's own topics and offsets (the poison pills take offsets too)
    same = [sorted(json.dumps({k: v for k, v in a.items() if k != "lineage"}) for a in run) for run in alerts]
    assert same[0] == same[1]


def test_fuzz_3000_malformed_messages_through_kafka(kafka_brokers: str, tmp_path: Path) -> None:
    out = fuzz(kafka_brokers, 3000, seed=3, tmp=tmp_path, timeout_s=600)
    assert out["exit_code"] == 0, out["stderr_tail"]
    assert out["refused_offline"] == out["malformed"] == 3000
    assert out["dead_letters"] == 3000 and out["dead_letters_match"], out
    assert out["with_reason"] == 3000
    assert len(out["generators"]) >= 10 and len(out["reasons"]) >= 8
