"""``twin demo --sensor-faults``: the summary scores the simulator's sensor faults (issue 13)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from flows.app.demo_sensors import print_sensor_faults
from flows.cli.main import main
from twin_models.simulator.fleet import FleetConfig, sensor_fault_truth

ARGS = ["demo", "--assets", "4", "--days", "6", "--seed", "3", "--no-progress", "--json"]


def _demo(out: Path, *extra: str) -> dict[str, Any]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*ARGS, "--out", str(out), *extra]) == 0
    doc: dict[str, Any] = json.loads(buf.getvalue().strip().splitlines()[-1])
    return doc


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    base = tmp_path_factory.mktemp("demo")
    return _demo(base / "off"), _demo(base / "on", "--sensor-faults", "1.0")


def test_the_summary_holds_every_sensor_fault_of_the_truth(
    runs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    off, on = runs
    truth = sensor_fault_truth(FleetConfig(n_assets=4, days=6.0, seed=3, sensor_fault_fraction=1.0))
    s = on["sensor_faults"]
    assert s["injected"] == len(truth) == 4
    assert [(r["asset_id"], r["channel"], r["kind"], r["start"], r["end"], tuple(r["checks"]))
            for r in s["table"]] == [(t.asset_id, t.channel, t.kind, t.start.isoformat(),
                                      t.end.isoformat(), t.checks) for t in truth]
    assert sum(v["injected"] for v in s["by_kind"].values()) == 4
    # one sensor fault per asset: each condition episode during one is counted once, by machine state
    assert sum(r["condition_alerts"] for r in s["table"]) == (
        s["condition_alerts_during_sensor_faults"]
        + s["condition_alerts_during_sensor_faults_on_faulty_machines"])
    assert off["sensor_faults"]["injected"] == 0 and off["sensor_faults"]["table"] == []
    assert off["faults"] == on["faults"]  # the machines are the same, only sensors differ
    assert [f["onset"] for f in off["fault_table"]] == [f["onset"] for f in on["fault_table"]]


def test_the_text_summary(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    off, on = runs
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print_sensor_faults(off["sensor_faults"])
    assert buf.getvalue() == ""  # nothing injected, nothing alerted: the summary is as before
    with contextlib.redirect_stdout(buf):
        print_sensor_faults(on["sensor_faults"])
    text = buf.getvalue()
    assert "sensor faults injected: 4, detected by a data-quality check:" in text
    assert "condition alerts during sensor faults:" in text
    for row in on["sensor_faults"]["table"]:
        assert f"{row['asset_id']:<10} {row['channel']:<12}" in text and row["detail"] in text
