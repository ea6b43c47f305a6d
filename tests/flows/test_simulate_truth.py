"""`twin simulate --write-truth`: the injected sensor faults as a JSON file a `twin run` user
scores the sensor alerts against (issue 13, DQ3)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from flows.cli.kafka_commands import fault_kinds, write_fault_truth
from twin_models.simulator.fleet import FleetConfig, sensor_fault_truth


def test_the_truth_file_holds_every_injected_fault(tmp_path: Path) -> None:
    fleet = FleetConfig(n_assets=6, days=4.0, seed=3, sensor_fault_fraction=1.0,
                        sensor_fault_mix=fault_kinds("flatline,asset_clock,drift"))
    path = tmp_path / "truth.json"
    n = write_fault_truth(fleet, str(path))
    doc = json.loads(path.read_text())
    truths = sensor_fault_truth(fleet)
    assert n == len(doc["sensor_faults"]) == len(truths) == 4 + 2 * 5  # two asset clocks: 5 channels each
    assert (doc["seed"], doc["assets"], doc["days"]) == (3, 6, 4.0)
    got = [(f["asset_id"], f["channel"], f["kind"], f["scope"], datetime.fromisoformat(f["start"]),
            datetime.fromisoformat(f["end"]), tuple(f["checks"])) for f in doc["sensor_faults"]]
    assert got == [(t.asset_id, t.channel, t.kind, t.scope, t.start, t.end, t.checks) for t in truths]
    assert {f["scope"] for f in doc["sensor_faults"] if f["kind"] == "clock"} == {"asset"}
