"""Dead letters of Kafka records name their message: a late event, a late run of samples judged one
by one, a frame the ``featurize_frames`` step fails on (round 24, part CLEAN24).

Before, a late Kafka event and a late block of Kafka samples gave a ``late_record`` dead letter
without ``source.topic/partition/offset``, and a frame the featurizer raised on a
``processing_error`` without any header, although README promises them for records read from
Kafka. A replay's dead letters still have none (it is not Kafka), with the same detail and bytes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import TestingSource

import flows.dataflow.operators as ops
from flows.dataflow.items import RawRecord, source_headers
from flows.dataflow.recovery_store import prepare_store
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import SMALL_FLEET, run_flow
from tests.flows.test_scalar_blocks import _recovered_run  # a run with a recovery store (SCALAR_CFG)
from twin_models.records import EPOCH, AssetEvent, ScalarSample, WaveformFrame
from twin_models.simulator.fleet import simulate_fleet

TOPIC = "twin.telemetry.v1"


def _kafka(records: list[Any], partition: int = 2) -> list[RawRecord]:
    """The records as Kafka messages of one partition, offset = index."""
    return [RawRecord(TOPIC, encode_record(r), source_headers(TOPIC, partition, n))
            for n, r in enumerate(records)]


def _offset(n: int, partition: int = 2) -> tuple[tuple[str, str], ...]:
    return (("source.topic", TOPIC), ("source.partition", str(partition)), ("source.offset", str(n)))


def _one_event_late() -> tuple[list[Any], int]:
    """The fleet with a maintenance event of pump-001 half-way, stamped 3 h back (late there)."""
    sim = list(simulate_fleet(SMALL_FLEET))
    k = len(sim) // 2
    event = AssetEvent("pump-001", sim[k].timestamp - timedelta(hours=3), "maintenance", "late note")
    return [*sim[:k], event, *sim[k:]], k


@pytest.mark.parametrize("workers", [1, 2])
def test_a_late_kafka_event_names_its_message(workers: int) -> None:
    sim, k = _one_event_late()
    out = run_flow(_kafka(sim), workers=workers)
    late = [d for d in out.dead_letters if d.reason == "late_record"]
    assert [d.detail.split(" of ")[0] for d in late] == ["AssetEvent"], [d.detail for d in out.dead_letters]
    assert late[0].headers == _offset(k)
    assert late[0].raw == encode_record(sim[k])  # the event's JSON, as a replay's


def test_kafka_events_reach_the_windows_as_plain_events() -> None:
    """Carrying the offset changes no feature, no event in a window, no dead letter's reason,
    detail or bytes (a redelivered event is still a ``duplicate_record``): only the late event's
    headers differ from a replay's."""
    sim, k = _one_event_late()
    failure = next(i for i, r in enumerate(sim) if type(r) is AssetEvent and r.kind == "failure")
    sim = [*sim[:failure + 1], sim[failure], *sim[failure + 1:]]  # redelivered: a second offset
    k += k > failure
    kafka, replay = run_flow(_kafka(sim)), run_flow([RawRecord("telemetry", encode_record(r)) for r in sim])
    key = lambda f: (f.asset_id, f.window_start, f.features, f.events)  # noqa: E731
    assert [key(f) for f in kafka.features] == [key(f) for f in replay.features]
    events = [e for f in kafka.features for e in f.events]
    assert len(events) == 9 and {type(e) for e in events} == {AssetEvent}
    assert [(d.reason, d.detail, d.raw) for d in kafka.dead_letters] == [
        (d.reason, d.detail, d.raw) for d in replay.dead_letters]
    assert sorted(d.reason for d in kafka.dead_letters) == ["duplicate_record", "late_record"]
    assert [d.headers for d in kafka.dead_letters if d.reason == "late_record"] == [_offset(k)]
    assert [d.headers for d in replay.dead_letters] == [(), ()]


def test_late_kafka_samples_after_a_restart_name_their_messages(tmp_path: Path) -> None:
    """After a restart the block builder knows no watermark yet, while the window step resumes
    its own: Kafka samples older than it went into one block, whose dead letters had no
    ``source.*`` headers. They now leave the builder as a piece that carries their offsets."""
    t0 = EPOCH + timedelta(days=20454)
    at = lambda s: ScalarSample("pump-001", "temperature", t0 + timedelta(seconds=s), 40.0 + s / 100)  # noqa: E731
    records = _kafka([*(at(s) for s in range(300)), at(100.5), at(101.5), at(102.5)], partition=0)
    store = tmp_path / "recovery"
    prepare_store(store, 1)
    stopped = [*records[:300], TestingSource.ABORT(), *records[300:]]
    first, resumed = _recovered_run(store, stopped), _recovered_run(store, stopped)
    assert first.features and not first.dead_letters  # the stop came after the windows moved on
    late = [d for d in resumed.dead_letters if d.reason == "late_record"]
    assert [d.headers for d in late] == [_offset(n, 0) for n in (300, 301, 302)], [
        (d.reason, d.detail) for d in resumed.dead_letters]


def test_a_kafka_frame_the_featurizer_fails_on_names_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = list(simulate_fleet(SMALL_FLEET))[:400]
    frames = [n for n, r in enumerate(sim) if type(r) is WaveformFrame]

    def broken(*_args: Any, **_kw: Any) -> Any:
        msg = "injected featurizer failure"
        raise RuntimeError(msg)

    monkeypatch.setattr(ops, "frame_features_batch", broken)
    out = run_flow(_kafka(sim))
    failed = [d for d in out.dead_letters if d.reason == "processing_error"]
    assert len(frames) > 1 and all("featurize_frames" in d.detail for d in failed)
    assert sorted(int(dict(d.headers)["source.offset"]) for d in failed) == frames
    assert {dict(d.headers)["source.partition"] for d in failed} == {"2"}
    replayed = run_flow([RawRecord("telemetry", encode_record(r)) for r in sim])
    assert [d.headers for d in replayed.dead_letters if d.reason == "processing_error"] == [()] * len(frames)
    one = next(d for d in failed if dict(d.headers)["source.offset"] == str(frames[0]))
    assert one.raw == encode_record(sim[frames[0]])  # the frame's TWF bytes, replayable


def test_a_run_of_kafka_samples_with_or_without_a_unit_is_a_piece_that_keeps_it() -> None:
    """A run of Kafka samples is a piece that names their offsets, with or without a unit (round
    34: a run holding a unit was a block, whose late dead letters had no ``source.*`` headers);
    the unit comes back with the samples (their copies' and late dead letters keep it)."""
    from flows.dataflow.blocks import BlockBuilder
    from flows.dataflow.items import ScalarBlock, ScalarColumns, kafka_origin
    from flows.dataflow.located import LocatedSample

    t0, origin = EPOCH + timedelta(days=20454), kafka_origin(TOPIC, 0)
    for unit in ("degC", ""):
        samples = [ScalarSample("pump-001", "temperature", t0 + timedelta(seconds=s), 1.0, unit)
                   for s in range(3)]
        out = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)(
            [LocatedSample(s, origin, 10 + k) for k, s in enumerate(samples)])
        records = [x for x in out if isinstance(x, ScalarBlock | ScalarColumns)]
        assert [type(x) for x in records] == [ScalarColumns] and list(records[0].samples) == samples
        assert records[0].positions.tolist() == [10, 11, 12]
