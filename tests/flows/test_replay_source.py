"""FileReplaySource: files -> wire records through Bytewax, resume, and a backtest through the dataflow."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from flows.codec import DecodeError, decode_telemetry
from flows.config.pipeline import PipelineConfig
from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.files import FileReplaySource, count_records, merge_files, read_metadata
from tests.datasets import datasets_dir
from tests.flows.conftest import collecting_sinks
from twin_models.records import WaveformFrame

T0 = datetime(2024, 5, 1, tzinfo=UTC)
LATER = datetime(2100, 1, 1, tzinfo=UTC)  # decode refuses records later than now + max_future_s


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    scalars = tmp_path / "pump-1.csv"
    lines = [f"{(T0 + timedelta(seconds=30 * i)).isoformat()},{20 + 0.1 * i}" for i in range(40)]
    scalars.write_text("timestamp,temperature\n" + "\n".join(lines) + "\n")
    events = tmp_path / "events.csv"
    events.write_text(f"timestamp,asset_id,event\n{T0.isoformat()},pump-1,install\n"
                      f"{(T0 + timedelta(seconds=601)).isoformat()},pump-1,maintenance\n")
    rng = np.random.default_rng(3)
    times = [T0 + timedelta(seconds=45 * i) for i in range(20)]
    waves = pa.table({
        "timestamp": pa.array(times, pa.timestamp("ms", tz="UTC")),
        "asset_id": ["pump-1"] * 20,
        "sample_rate_hz": [2048.0] * 20,
        "shaft_speed_hz": [24.5] * 20,
        "vib": pa.array([rng.normal(size=256).astype(np.float32) for _ in times], pa.list_(pa.float32())),
    })
    frames = tmp_path / "frames.parquet"
    pq.write_table(waves, frames)
    return [scalars, events, frames]


def _decode(raw: RawRecord):  # type: ignore[no-untyped-def]
    # the source hands records on unencoded (RawRecord.record); wire() is what Kafka would carry
    rec = decode_telemetry(raw.wire(), now=LATER)
    assert not isinstance(rec, DecodeError), rec
    return rec


def test_replay_through_bytewax_gives_the_merged_records_encoded(files: list[Path]) -> None:
    out: list[RawRecord] = []
    done: list[int] = []
    flow = Dataflow("replay")
    stream = op.input("files", flow, FileReplaySource(files, batch=16, progress=done.append))
    op.output("out", stream, TestingSink(out))
    run_main(flow)
    expected = list(merge_files(files))
    assert len(expected) == 40 + 2 + 20 == count_records(files)
    assert [_decode(r) for r in out] == expected
    names = {"pump-1.csv", "events.csv", "frames.parquet"}
    assert {r.source for r in out} == names
    assert [r.source for r in out][:3] == ["pump-1.csv", "events.csv", "frames.parquet"]  # ties: file order
    assert sum(done) == len(out) and max(done) == 16
    assert isinstance(_decode(out[2]), WaveformFrame) and _decode(out[2]).shaft_speed_hz == 24.5


def test_resume_skips_the_records_already_emitted(files: list[Path]) -> None:
    expected = list(merge_files(files))
    source = FileReplaySource(files, batch=5)
    assert source.list_parts() == ["files"]
    part = source.build_part("files", "files", resume_state=17)
    batch = part.next_batch()
    assert [_decode(r) for r in batch] == expected[17:22]
    assert part.snapshot() == 22
    rest = []
    while True:
        try:
            rest.extend(part.next_batch())
        except StopIteration:
            break
    assert [_decode(r) for r in rest] == expected[22:]
    assert part.snapshot() == len(expected)


def test_resume_past_the_end_warns_and_stops(files: list[Path], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        part = FileReplaySource(files).build_part("files", "files", resume_state=1000)
    assert "did it change" in caplog.text
    with pytest.raises(StopIteration):
        part.next_batch()


def test_backtest_through_the_dataflow(files: list[Path], tmp_path: Path) -> None:
    meta = tmp_path / "meta.toml"
    meta.write_text('[defaults]\nkind = "pump"\nnominal_speed_hz = 24.5\n')
    sinks, out = collecting_sinks()
    cfg = PipelineConfig(clock="data", window_s=600.0, allowed_lateness_s=60.0)
    flow = get_flow(cfg, source=FileReplaySource(files), sinks=sinks,
                    metadata=read_metadata(meta), metrics=PipelineMetrics(), now=lambda: LATER)
    run_main(flow)
    assert out.dead_letters == []
    # 20 minutes of data in 10-minute windows
    assert [fv.window_start for fv in out.features] == [T0, T0 + timedelta(minutes=10)]
    fv = out.features[0]
    assert fv.asset_id == "pump-1" and fv.n_records == 20 + 14 + 1
    assert {"temperature.mean", "vib.rms"} <= set(fv.features)
    assert [e.kind for e in out.features[1].events] == ["maintenance"]


@pytest.mark.dataset
def test_femto_replay_payloads_decode_to_the_file_frames() -> None:
    root = datasets_dir()
    path = root / "femto" / "Bearing3_1.parquet" if root else None
    if path is None or not path.exists():
        pytest.skip("FEMTO dataset not found: set TWIN_DATASETS or provide ../shared/datasets")
    part = FileReplaySource([path], batch=64).build_part("files", "files", resume_state=100)
    batch = part.next_batch()
    expected = list(merge_files([path]))[100:164]
    assert [_decode(r) for r in batch] == expected
    assert {r.source for r in batch} == {"Bearing3_1.parquet"}
