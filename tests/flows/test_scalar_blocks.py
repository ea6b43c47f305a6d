"""Scalar samples through the dataflow in blocks give exactly what they gave one item per sample.

The per-sample path is the same flow with block building switched off (``grouped`` passes the
featurize step's output through) and the window step in Bytewax's ordered mode, as before blocks."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators.windowing as win
import pytest
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSource, run_main

import flows.dataflow.pipeline as pipeline
from flows.app.outputs import STREAMS, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.blocks import BlockBuilder
from flows.dataflow.items import RawRecord, ScalarBlock
from flows.dataflow.late import late_dead_letter
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.recovery_store import prepare_store
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import Outputs, run_flow
from twin_models.records import EPOCH, FeatureVector, ScalarSample
from twin_models.simulator.fleet import FleetConfig, fleet_metadata

SCALAR_CFG = PipelineConfig(clock="data", window_s=60.0, allowed_lateness_s=10.0)
SCALAR_FLEET = FleetConfig(n_assets=4)  # metadata of pump-001..004 (the records are made here)


def _per_sample(monkeypatch: pytest.MonkeyPatch, records: list[RawRecord], **kw: Any) -> Outputs:
    """The flow as it was before blocks: one item per sample, window step in ordered mode."""
    collect = win.collect_window

    def ordered(*args: Any, **kwargs: Any) -> Any:
        kwargs["ordered"] = True
        return collect(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(pipeline, "grouped", lambda step, _builder: step)
        m.setattr(pipeline.win, "collect_window", ordered)
        return run_flow(records, **kw)


def _fv_key(fv: FeatureVector) -> tuple[Any, ...]:
    return (fv.asset_id, fv.window_start, fv.n_records, tuple(sorted(fv.features)), fv.events)


def _same(a: Outputs, b: Outputs) -> None:
    assert [_fv_key(f) for f in a.features] == [_fv_key(f) for f in b.features]
    for fa, fb in zip(a.features, b.features, strict=True):
        assert fa.features == fb.features  # bit for bit: same samples, same order
    snap = lambda s: (s.asset_id, s.window_start, s.condition, s.life_id)  # noqa: E731
    assert [snap(s) for s in a.state] == [snap(s) for s in b.state]
    for sa, sb in zip(a.state, b.state, strict=True):
        assert sa.anomaly_score == pytest.approx(sb.anomaly_score, rel=1e-9, abs=1e-12)
        assert sa.health_index == pytest.approx(sb.health_index, rel=1e-9, abs=1e-12)
    assert [(x.asset_id, x.status, x.kind, x.timestamp) for x in a.alerts] == \
        [(x.asset_id, x.status, x.kind, x.timestamp) for x in b.alerts]
    dead = lambda o: Counter((d.reason, d.raw) for d in o.dead_letters)  # noqa: E731
    assert dead(a) == dead(b)


def _scalar_records(seed: int = 3) -> list[ScalarSample]:
    """4 assets x 3 channels at 1 Hz for 10 minutes, assets interleaved, with local shuffles
    (out of order within the lateness), backlogs replayed 40 s late (late on their own, and runs
    that straddle the watermark: first samples late, later ones not), and a window boundary
    inside every batch."""
    rng = random.Random(seed)
    out: list[ScalarSample] = []
    for t in range(600):
        for a in range(1, 5):
            for ch in ("temperature", "pressure", "current"):
                ts = EPOCH + timedelta(days=20000, seconds=t + rng.random() * 0.5)
                out.append(ScalarSample(f"pump-00{a}", ch, ts, rng.gauss(50.0 + t * 0.01, 1.0)))
    for i in range(0, len(out) - 8, 8):  # local shuffles
        if rng.random() < 0.2:
            chunk = out[i:i + 8]
            rng.shuffle(chunk)
            out[i:i + 8] = chunk
    for start, age_s in ((3000, 50), (4500, 15), (6000, 50), (6600, 15)):  # backlogs of pump-002
        # 50 s old: all late; 15 s old: samples older than the 10-s lateness late, the rest not
        backlog = [s for s in out[start - age_s * 12:start - (age_s - 10) * 12] if s.asset_id == "pump-002"]
        out[start:start] = [ScalarSample(s.asset_id, s.channel, s.timestamp, s.value + 1.0)
                            for s in backlog]
    return out


@pytest.fixture(scope="module")
def scalar_records() -> list[RawRecord]:
    return [RawRecord("test", encode_record(s)) for s in _scalar_records()]


def test_blocks_give_the_per_sample_results_on_a_fleet_with_frames(
        fleet_records: list[RawRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = run_flow(fleet_records)
    one_by_one = _per_sample(monkeypatch, fleet_records)
    assert blocks.features and blocks.state
    _same(blocks, one_by_one)


def test_blocks_give_the_per_sample_results_with_out_of_order_and_late_samples(
        scalar_records: list[RawRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    m_blocks, m_one = PipelineMetrics(), PipelineMetrics()
    blocks = run_flow(scalar_records, fleet=SCALAR_FLEET, cfg=SCALAR_CFG, metrics=m_blocks)
    one_by_one = _per_sample(monkeypatch, scalar_records, fleet=SCALAR_FLEET, cfg=SCALAR_CFG,
                             metrics=m_one)
    late = [d for d in blocks.dead_letters if d.reason == "late_record"]
    assert 2 * 30 < len(late) < 4 * 30  # the old backlogs are late, the newer ones partly
    assert len(blocks.features) == 4 * 10
    _same(blocks, one_by_one)
    assert m_blocks.total("twin_late_records_total") == m_one.total("twin_late_records_total") == len(late)


def test_blocks_give_the_per_sample_results_with_two_workers(
        scalar_records: list[RawRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = run_flow(scalar_records, fleet=SCALAR_FLEET, cfg=SCALAR_CFG, workers=2)
    one_by_one = _per_sample(monkeypatch, scalar_records, fleet=SCALAR_FLEET, cfg=SCALAR_CFG, workers=2)
    key = lambda o: sorted(_fv_key(f) for f in o.features)  # noqa: E731
    assert key(blocks) == key(one_by_one)
    reasons = lambda o: Counter(d.reason for d in o.dead_letters)  # noqa: E731
    assert reasons(blocks) == reasons(one_by_one)



def _builder() -> BlockBuilder:
    wait = timedelta(seconds=SCALAR_CFG.allowed_lateness_s)
    return BlockBuilder(SCALAR_CFG.window_s, wait, lambda: EPOCH)


def _flat(items: list[Any]) -> list[ScalarSample]:
    return [s for i in items for s in (i.samples if isinstance(i, ScalarBlock) else (i,))]


def test_most_samples_travel_in_blocks_within_one_window_each_keeping_order_per_asset() -> None:
    samples = _scalar_records()
    builder = _builder()
    out = [item for i in range(0, len(samples), 64) for item in builder(samples[i:i + 64])]
    blocks = [b for b in out if isinstance(b, ScalarBlock)]
    assert sum(len(b.samples) for b in blocks) > 0.8 * len(samples)
    assert len(out) < len(samples) / 5
    window = timedelta(seconds=SCALAR_CFG.window_s)
    for b in blocks:
        assert len({(s.timestamp - EPOCH) // window for s in b.samples}) == 1
        assert b.timestamp == max(s.timestamp for s in b.samples)
        assert {s.asset_id for s in b.samples} == {b.asset_id}
    for asset in {s.asset_id for s in samples}:
        assert [s for s in _flat(out) if s.asset_id == asset] == [s for s in samples if s.asset_id == asset]


def test_a_sample_behind_the_watermark_travels_alone_and_a_block_starts_after_it() -> None:
    t0 = EPOCH + timedelta(days=20000)
    at = lambda s: ScalarSample("pump-001", "temperature", t0 + timedelta(seconds=s), float(s))  # noqa: E731
    out = _builder()([at(30), at(31), at(15), at(19), at(22), at(21), at(23)])
    # watermark after 31 s: 21 s; 15 and 19 s may be late (alone), 21 s on are not
    assert out == [ScalarBlock("pump-001", at(31).timestamp, (at(30), at(31))), at(15), at(19),
                   ScalarBlock("pump-001", at(23).timestamp, (at(22), at(21), at(23)))]


def test_a_late_block_becomes_one_late_record_dead_letter_per_sample() -> None:
    t0 = EPOCH + timedelta(days=20000)
    samples = tuple(ScalarSample("pump-001", "temperature", t0 + timedelta(seconds=s), float(s))
                    for s in range(3))
    block = ScalarBlock("pump-001", samples[-1].timestamp, samples)
    m = PipelineMetrics()
    dead = pipeline._late(("pump-001", (0, block)), m, lambda: t0)
    assert [d.reason for d in dead] == ["late_record"] * 3
    assert [d.raw for d in dead] == [late_dead_letter(s, t0).raw for s in block.samples]
    assert m.total("twin_late_records_total") == 3
    assert m.value("twin_dead_letters_total", {"reason": "late_record"}) == 3


def test_open_windows_holding_blocks_resume_from_a_recovery_snapshot(
        scalar_records: list[RawRecord], tmp_path: Path) -> None:
    """A run stopped mid-window resumes from its snapshot (open windows pickle their blocks) and
    gives every window's features as one uninterrupted run does."""
    store = tmp_path / "recovery"
    prepare_store(store, 1)
    cut = len(scalar_records) // 2 + 17  # inside a window
    stopped = [*scalar_records[:cut], TestingSource.ABORT(), *scalar_records[cut:]]
    parts = [_recovered_run(store, stopped), _recovered_run(store, stopped)]
    whole = run_flow(scalar_records, fleet=SCALAR_FLEET, cfg=SCALAR_CFG)
    resumed = {(f.asset_id, f.window_start): f.features for part in parts for f in part.features}
    assert resumed == {(f.asset_id, f.window_start): f.features for f in whole.features}
    assert parts[0].features and parts[1].features  # the stop was mid-run


def _recovered_run(store: Path, records: list[Any]) -> Outputs:
    sinks, out = local_outputs(SCALAR_CFG, PipelineMetrics(), collect=STREAMS)
    flow = get_flow(SCALAR_CFG, source=TestingSource(records, batch_size=64), sinks=sinks,
                    metadata=fleet_metadata(SCALAR_FLEET), metrics=PipelineMetrics())
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(store))
    return out


def test_a_late_kafka_piece_gives_dead_letters_with_their_source_headers() -> None:
    """Late dead letters carried no ``source.*`` headers while the decoder's do. A column piece
    read from Kafka knows its topic partition (origin) and offsets (positions): a late one gives
    each sample's dead letter its topic, partition and offset. A block or a single record does
    not know its source: their late dead letters stay without (see ``late_sources``)."""
    import numpy as np

    from flows.dataflow.items import ScalarColumns, kafka_origin
    from flows.dataflow.sinks.kafka import dead_letter_message

    t0 = EPOCH + timedelta(days=20000)
    us = np.array([(t0 - EPOCH) // timedelta(microseconds=1) + s * 1_000_000 for s in range(3)])
    piece = ScalarColumns.of("pump-001", us, np.zeros(3, dtype=np.int16), ("temperature",),
                             np.array([1.0, 2.0, 3.0]), kafka_origin("twin.telemetry.v1", 4),
                             np.array([70, 71, 73], dtype=np.int64))
    m = PipelineMetrics()
    dead = pipeline._late(("pump-001", (0, piece)), m, lambda: t0)
    assert [d.reason for d in dead] == ["late_record"] * 3
    assert [dict(d.headers) for d in dead] == [
        {"source.topic": "twin.telemetry.v1", "source.partition": "4", "source.offset": str(o)}
        for o in (70, 71, 73)]
    assert [d.raw for d in dead] == [late_dead_letter(s, t0).raw for s in piece.samples]
    _key, _raw, headers = dead_letter_message(dead[2])  # what twin.dead_letters.v1 gets
    assert ("source.offset", b"73") in headers and ("source.partition", b"4") in headers
    replayed = ScalarColumns.of("pump-001", us, np.zeros(3, dtype=np.int16), ("temperature",),
                                np.array([1.0, 2.0, 3.0]), "file:x.csv", np.array([1, 2, 3], dtype=np.int64))
    assert [d.headers for d in pipeline._late(("pump-001", (0, replayed)), m, lambda: t0)] == [()] * 3


def test_a_late_kafka_scalar_with_a_unit_keeps_it_in_its_dead_letter() -> None:
    """A Kafka scalar judged alone that may be late travels as a one-sample piece (it names its
    offset); its ``late_record`` dead letter must carry the record as it came, unit included
    (round 25, part CLEAN25: the piece dropped it, while a block keeps it)."""
    from flows.dataflow.items import ScalarColumns, kafka_origin
    from flows.dataflow.located import LocatedSample

    t0 = EPOCH + timedelta(days=20000)
    builder = _builder()
    builder([ScalarSample("pump-001", "temperature", t0 + timedelta(seconds=200), 1.0, "degC")])
    late = ScalarSample("pump-001", "temperature", t0, 2.0, "degC")
    origin = kafka_origin("twin.telemetry.v1", 2)
    out = builder([LocatedSample(late, origin, 41)])
    assert [type(x) for x in out] == [ScalarColumns]  # alone, with its offset
    assert out[0].samples == (late,)
    (dead,) = pipeline._late(("pump-001", (0, out[0])), PipelineMetrics(), lambda: t0)
    assert dead.raw == late_dead_letter(late, t0).raw
    assert json.loads(dead.raw)["unit"] == "degC"
    assert dict(dead.headers)["source.offset"] == "41"
