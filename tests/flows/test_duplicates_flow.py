"""Duplicate records through the one dataflow (``get_flow``): a record delivered twice is one
``duplicate_record`` dead letter, and the features and twin states are those of the stream
without the copy (:mod:`flows.dataflow.duplicates`)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from flows.codec import decode_telemetry, encode_scalar
from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from tests.flows.conftest import SMALL_FLEET, Outputs, run_flow
from twin_models.records import ScalarSample

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def _features(out: Outputs) -> list[tuple[object, ...]]:
    return sorted((fv.asset_id, fv.window_start, fv.n_records, tuple(sorted(fv.features.items())))
                  for fv in out.features)


def _states(out: Outputs) -> list[tuple[object, ...]]:
    return sorted((s.asset_id, s.window_start, s.condition, s.anomaly_score, s.health_index)
                  for s in out.state)


@pytest.fixture(scope="module")
def clean(fleet_records: list[RawRecord]) -> Outputs:
    return run_flow(fleet_records)


def _first(records: list[RawRecord], kind: bytes, after: int) -> int:
    return next(i for i in range(after, len(records)) if records[i].payload.startswith(kind))


def test_records_delivered_twice_count_once(fleet_records: list[RawRecord], clean: Outputs) -> None:
    records = list(fleet_records)
    frame = _first(records, b"TWF", len(records) // 3)
    scalar = _first(records, b"{", len(records) // 2)
    sample = decode_telemetry(records[scalar].payload, now=FAR_FUTURE)
    assert isinstance(sample, ScalarSample)
    conflicting = RawRecord("test", encode_scalar(ScalarSample(
        sample.asset_id, sample.channel, sample.timestamp, sample.value + 5.0, sample.unit)))
    # a redelivered frame and sample (as a producer retry gives them), and a conflicting sample
    records[scalar + 1:scalar + 1] = [records[scalar], conflicting]
    records[frame + 3:frame + 3] = [records[frame]]
    metrics = PipelineMetrics()
    out = run_flow(records, metrics=metrics)
    assert Counter(d.reason for d in out.dead_letters) == {"duplicate_record": 3}
    details = sorted(d.detail for d in out.dead_letters)
    assert sum("(identical)" in d for d in details) == 2
    conflict = f"conflicting: value {sample.value + 5.0!r}, first {sample.value!r}"
    assert sum(conflict in d for d in details) == 1
    assert metrics.value("twin_dead_letters_total", {"reason": "duplicate_record"}) == 3
    assert _features(out) == _features(clean)
    assert _states(out) == _states(clean)


def test_the_same_reading_on_another_asset_is_no_duplicate(fleet_records: list[RawRecord]) -> None:
    """The fleet's assets share their sample times and channels: none of them is a duplicate of
    another's (the clean stream has no dead letter), and neither is a copy that arrives after its
    window closed: that one is late."""
    records = list(fleet_records)
    scalar = _first(records, b"{", 10)
    sample = decode_telemetry(records[scalar].payload, now=FAR_FUTURE)
    assert isinstance(sample, ScalarSample) and sample.timestamp < SMALL_FLEET.start + timedelta(hours=2)
    records.insert(len(records) // 2, records[scalar])  # days after its window closed
    out = run_flow(records)
    assert [d.reason for d in out.dead_letters] == ["late_record"]


def test_two_workers_drop_the_same_copies(fleet_records: list[RawRecord], clean: Outputs) -> None:
    records = list(fleet_records)
    copies = [i for i in range(len(records) // 4, len(records) // 2, 97)]
    for i in reversed(copies):
        records.insert(i + 1, records[i])
    out = run_flow(records, workers=2)
    assert Counter(d.reason for d in out.dead_letters) == {"duplicate_record": len(copies)}
    assert _features(out) == _features(clean)
