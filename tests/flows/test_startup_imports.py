"""`twin run` over scalars imports none of SciPy's subpackages and none of River's heavy modules
(drift, anomaly, preprocessing, tree: each pulls in scipy.stats, ~1 CPU s of every start-up
before round 5):
a fresh interpreter imports what `twin run` imports, runs a scalar fleet through the dataflow
(JSON records, as the Kafka source hands them over) and reports what got imported. With a
River detector configured, River's anomaly module and scipy.stats are imported (the check sees
an import when there is one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scipy.stats", "scipy.signal", "scipy.fft", "scipy.special", "scipy.linalg", "river.drift",
         "river.anomaly", "river.preprocessing", "river.tree", "river.proba", "lightgbm")
"""Packages (and their modules) a scalar run must not import (River's utilities import only the
``scipy`` package itself, a few ms)."""

SCRIPT = """
import json, sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
import flows.cli.main, flows.app.run  # what `twin run` imports before its flow starts
from bytewax.testing import TestingSource, run_main
from flows import codec
from flows.app.outputs import STREAMS, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.items import RawRun
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from twin_models.records import ScalarSample

cfg = PipelineConfig(clock="data", window_s=60.0, allowed_lateness_s=120.0)
cfg = replace(cfg, twin=replace(cfg.twin, detector=sys.argv[1]))
t0 = datetime(2026, 1, 1, tzinfo=UTC)
payloads = [codec.encode_scalar(ScalarSample(f"pump-{a}", ch, t0 + timedelta(seconds=t),
                                             40.0 + a + c + (t % 7) * 0.1, ""))
            for t in range(1800) for a in range(3) for c, ch in enumerate(("temp", "pres"))]
runs = [RawRun("t.scalars", 0, tuple(range(i, i + 500)), tuple(payloads[i:i + 500]))
        for i in range(0, len(payloads), 500)]
sinks, out = local_outputs(cfg, PipelineMetrics(), collect=STREAMS)
run_main(get_flow(cfg, source=TestingSource(runs), sinks=sinks, metrics=PipelineMetrics()))
heavy = sorted(m for m in sys.modules if m.startswith(HEAVY_PREFIXES))
print(json.dumps({"states": len(out.state), "dead": len(out.dead_letters), "heavy": heavy}))
""".replace("HEAVY_PREFIXES", repr(tuple(h + "." for h in HEAVY) + HEAVY))


def _run(detector: str) -> dict[str, object]:
    res = subprocess.run([sys.executable, "-c", SCRIPT, detector], capture_output=True, text=True,
                         check=False, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def test_a_scalar_run_imports_no_scipy_and_no_heavy_river_module() -> None:
    out = _run("baseline")
    assert out["states"] == 3 * 30 and out["dead"] == 0  # 3 pumps x 30 one-minute windows
    assert out["heavy"] == []


def test_a_river_detector_still_imports_what_it_needs() -> None:
    out = _run("river.anomaly.HalfSpaceTrees")
    assert out["states"] == 3 * 30
    heavy = set(out["heavy"])  # type: ignore[arg-type]
    assert {"river.anomaly", "scipy.stats"} <= heavy
