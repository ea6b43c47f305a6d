"""The digital thread in the dataflow (issue 11): every window names its input ranges, every
snapshot and alert what produced it (twinflow version, config hash, model state, inputs)."""

from __future__ import annotations

import csv
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bytewax.testing import run_main

from flows.app.outputs import STREAMS, local_outputs
from flows.config.fingerprint import config_hash, twinflow_version
from flows.config.pipeline import PipelineConfig
from flows.dataflow.items import RawRecord, kafka_origin, source_headers
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.files import FileReplaySource
from flows.dataflow.sources.replayable import encode_record
from flows.dataflow.sources.simulator import SimulatorSource
from tests.flows.conftest import CFG, SMALL_FLEET, Outputs, collecting_sinks, run_flow
from twin_models.records import InputSpan
from twin_models.simulator.fleet import fleet_metadata, simulate_fleet

TOPIC = "twin.telemetry.mixed.v1"


def _kafka_records() -> tuple[list[RawRecord], dict[tuple[str, int], list[tuple[datetime, int]]]]:
    """The small fleet as Kafka messages over 2 partitions (by asset), with the (time, offset)
    of every message per (asset, partition)."""
    next_offset = [0, 0]
    records, seen = [], defaultdict(list)
    for rec in simulate_fleet(SMALL_FLEET):
        part = zlib.crc32(rec.asset_id.encode()) % 2
        offset = next_offset[part]
        next_offset[part] += 1
        records.append(RawRecord(TOPIC, encode_record(rec), source_headers(TOPIC, part, offset)))
        seen[(rec.asset_id, part)].append((rec.timestamp, offset))
    return records, seen


def _expected_spans(seen: dict[tuple[str, int], list[tuple[datetime, int]]], asset: str, start: datetime,
                    end: datetime) -> tuple[InputSpan, ...]:
    spans = []
    for (a, part), marks in seen.items():
        offsets = [o for t, o in marks if a == asset and start <= t < end]
        if offsets:
            spans.append(InputSpan(kafka_origin(TOPIC, part), min(offsets), max(offsets)))
    return tuple(sorted(spans, key=lambda s: s.source))


def test_kafka_messages_give_each_window_its_offset_range() -> None:
    records, seen = _kafka_records()
    out = run_flow(records)
    assert len(out.features) > 100
    for fv in out.features:
        expected = _expected_spans(seen, fv.asset_id, fv.window_start, fv.window_end)
        assert fv.inputs == expected, fv.window_start
    by_window = {(s.asset_id, s.window_start): s for s in out.state}
    for fv in out.features:  # the fused snapshot of the window names the same inputs
        lin = by_window[(fv.asset_id, fv.window_start)].lineage
        assert lin is not None and lin.inputs == fv.inputs


def _check_lineage(out: Outputs, cfg: PipelineConfig) -> None:
    """Snapshots name version, config hash and model state; alerts carry their window's lineage."""
    learned: dict[str, list[int]] = defaultdict(list)
    for s in out.state:
        lin = s.lineage
        assert lin is not None
        assert (lin.version, lin.config_hash) == (twinflow_version(), config_hash(cfg))
        assert lin.life_id == s.life_id
        assert lin.inputs and all(sp.first <= sp.last for sp in lin.inputs)
        learned[s.asset_id].append(lin.learned_windows)
    for counts in learned.values():  # prequential: the windows learnt before this one, growing
        assert counts[0] == 0 and max(counts) > 10
    assert out.alerts
    state = {(s.asset_id, s.timestamp): s.lineage for s in out.state}
    for a in out.alerts:
        assert a.lineage is not None and a.lineage == state[(a.asset_id, a.timestamp)]


def test_simulator_snapshots_and_alerts_name_what_produced_them() -> None:
    sinks, out = collecting_sinks()
    run_main(get_flow(CFG, source=SimulatorSource(SMALL_FLEET), sinks=sinks,
                      metadata=fleet_metadata(SMALL_FLEET)))
    _check_lineage(out, CFG)
    assert {sp.source for s in out.state for sp in s.lineage.inputs} == {"sim:seed=11"}  # type: ignore[union-attr]
    other = PipelineConfig(clock="data", window_s=3600.0, allowed_lateness_s=601.0)
    assert config_hash(other) != config_hash(CFG)


T0 = datetime(2026, 1, 1, tzinfo=UTC)
FILE_CFG = PipelineConfig(clock="data", window_s=60.0, allowed_lateness_s=10.0)


@pytest.fixture
def plant(tmp_path: Path) -> tuple[Path, list[datetime]]:
    """One asset, two channels at 1 Hz for 10 min (some empty cells); the data rows' times."""
    path = tmp_path / "plant.csv"
    times = [T0 + timedelta(seconds=t) for t in range(600)]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "asset_id", "temperature", "pressure"])
        for i, ts in enumerate(times):
            w.writerow([ts.isoformat(), "pump-1", f"{50 + (i % 7) * 0.1:.2f}", "" if i % 13 == 5 else "3.0"])
    return path, times


def test_file_replay_rows_are_the_windows_records(plant: tuple[Path, list[datetime]]) -> None:
    path, times = plant
    sinks, out = local_outputs(FILE_CFG, PipelineMetrics(), collect=STREAMS)
    run_main(get_flow(FILE_CFG, source=FileReplaySource([path], batch=256), sinks=sinks,
                      now=lambda: datetime(2026, 6, 1, tzinfo=UTC)))
    assert len(out.features) == 10
    for fv in out.features:
        (span,) = fv.inputs
        assert span.source == "file:plant.csv"
        in_window = [i for i, ts in enumerate(times) if fv.window_start <= ts < fv.window_end]
        assert (span.first, span.last) == (in_window[0], in_window[-1])  # rows N..M: exactly its rows
    _check_lineage_file(out)


def _check_lineage_file(out: Outputs) -> None:
    for s in out.state:
        assert s.lineage is not None and s.lineage.config_hash == config_hash(FILE_CFG)
