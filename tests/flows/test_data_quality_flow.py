"""The data-quality stream through the one dataflow (issue 13): a stuck sensor on one asset of a
small simulated fleet gives a ``sensor`` alert naming the channel and the check, its state in the
snapshots, the ``data_quality`` archive table (queried through ``twin sql``) and the metrics; the
clean assets (and the clean fleet) give no sensor alert and no channel that is not ok."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from flows.app.outputs import local_outputs
from flows.cli.main import main
from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import CFG, SMALL_FLEET, run_flow
from twin_models.records import ScalarSample
from twin_models.simulator.fleet import fleet_metadata, simulate_fleet

STUCK_FROM = SMALL_FLEET.start + timedelta(days=3)


def test_clean_fleet_has_no_sensor_alert_and_every_channel_ok(fleet_records) -> None:  # type: ignore[no-untyped-def]
    out = run_flow(fleet_records)
    assert out.alerts == [] or all(a.kind != "sensor" for a in out.alerts)
    assert out.state and all(state == "ok" for s in out.state for _, state, _ in s.data_quality)
    assert {c for s in out.state for c, _, _ in s.data_quality} == {"vib", "temperature", "current",
                                                                     "speed", "load"}
    assert out.data_quality and {q.state for q in out.data_quality} == {"ok"}  # first windows only


def test_stuck_sensor_alerts_archives_and_is_exported(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[0]
    def stuck(r):  # type: ignore[no-untyped-def]
        if (type(r) is ScalarSample and r.asset_id == asset and r.channel == "current"
                and r.timestamp >= STUCK_FROM):
            return replace(r, value=11.75)
        return r
    records = [RawRecord("test", encode_record(stuck(r))) for r in sim]
    metrics = PipelineMetrics()
    sinks, out = local_outputs(CFG, metrics, archive_dir=tmp_path / "archive",
                               collect=("state", "alerts", "data_quality"))
    from bytewax.testing import TestingSource, run_main
    run_main(get_flow(CFG, source=TestingSource(records, batch_size=64), sinks=sinks,
                      metadata=fleet_metadata(SMALL_FLEET), metrics=metrics))
    sensor = [a for a in out.alerts if a.kind == "sensor"]
    assert {(a.asset_id, a.channel, a.check) for a in sensor} == {(asset, "current", "flatline")}
    assert [a.status for a in sensor] == ["raised"] and sensor[0].started_at >= STUCK_FROM
    bad = [s for s in out.state if ("current", "bad", "flatline") in s.data_quality]
    assert bad and {s.asset_id for s in bad} == {asset}
    assert metrics.value("twin_alerts_total", {"status": "raised", "severity": "warning",
                                               "kind": "sensor"}) == 1
    assert metrics.value("twin_data_quality_windows_total",
                         {"check": "flatline", "state": "bad"}) == len(bad)
    assert metrics.value("twin_channel_quality_state", {"asset_id": asset, "channel": "current",
                                                        "check": "flatline"}) == 2.0
    assert metrics.value("twin_channel_quality_state", {"asset_id": asset, "channel": "vib",
                                                        "check": ""}) == 0.0  # ok channels: 0
    assert metrics.value("twin_data_quality_windows_total", {"check": "", "state": "ok"}) > len(bad)
    capsys.readouterr()
    assert main(["sql", "SELECT asset_id, channel, state, \"check\", reason FROM data_quality "
                 "WHERE state <> 'ok'", "--archive", str(tmp_path / "archive"), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    rows = rows[0] if len(rows) == 1 and isinstance(rows[0], list) else rows
    assert [(r["asset_id"], r["channel"], r["state"], r["check"]) for r in rows] == [
        (asset, "current", "bad", "flatline")]
    assert "identical readings" in rows[0]["reason"]
