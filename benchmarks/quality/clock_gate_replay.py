"""The clock gate on replays with arrival times and at the end of the input (issue 13, GATE12).

Counts, not timings: a simulated fleet (3 assets, 6 days, scalars every 15 min, frames every
30 min) sent as one Kafka partition's messages with arrival times, through the one dataflow:

- ``pace``: January's data replayed in September (event time ~8.7 months behind arrival time) at
  0.5x, 1x and 2x, clean and with one whole asset's clock 2.5 h ahead for 8 h: dead letters by
  reason, raised ``clock`` sensor alerts by asset, and whether the clean run's features equal
  those of the same messages without arrival times;
- ``end``: a channel (peer check, no arrival times) or a whole asset (arrival check, 1x) whose
  clock is 2.5 h ahead over the last 5 hours, reporting last: records shifted vs dead letters.

Self-contained (only the flow's public API), so main's tree runs it too:
``/work/main/.venv/bin/python benchmarks/quality/clock_gate_replay.py``. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bytewax.testing import TestingSource, run_main

from flows.app.outputs import STREAMS, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.items import RawRecord, source_headers
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.replayable import encode_record
from twin_models.records import ScalarSample, WaveformFrame
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

FLEET = FleetConfig(n_assets=3, days=6.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0,
                    frame_len=4096)
CFG = PipelineConfig(clock="data", window_s=3600.0, allowed_lateness_s=600.0)
SHIFT = timedelta(hours=2.5)
BASE_S = 1_790_000_000.0  # 2026-09-21: the day of the replay


def _run(records: list[Any], arrivals: list[int]) -> Any:
    sinks, out = local_outputs(CFG, PipelineMetrics(), collect=STREAMS)
    raws = [RawRecord("telemetry", encode_record(r), source_headers("telemetry", 0, k), arrival_ms=a)
            for k, (r, a) in enumerate(zip(records, arrivals, strict=True))]
    run_main(get_flow(CFG, source=TestingSource(raws, batch_size=64), sinks=sinks,
                      metadata=fleet_metadata(FLEET), metrics=PipelineMetrics()))
    return out


def _arrivals(records: list[Any], speed: float) -> list[int]:
    t0 = records[0].timestamp.timestamp()
    return [int(1000 * (BASE_S + (r.timestamp.timestamp() - t0) / speed + 4.0)) for r in records]


def _summary(out: Any) -> dict[str, Any]:
    raised = Counter(a.asset_id for a in out.alerts if a.kind == "sensor" and a.check == "clock"
                     and a.status == "raised")
    return {"dead_letters": dict(Counter(d.reason for d in out.dead_letters)), "clock_alerts": dict(raised)}


def _shift(sim: list[Any], asset: str, start: Any, stop: Any, channel: str | None) -> list[Any]:
    def hit(r: Any) -> bool:
        return (type(r) in (ScalarSample, WaveformFrame) and r.asset_id == asset
                and start <= r.timestamp < stop
                and (channel is None or getattr(r, "channel", None) == channel))

    return [replace(r, timestamp=r.timestamp + SHIFT) if hit(r) else r for r in sim]


def pace(sim: list[Any]) -> dict[str, Any]:
    """Clean and jumped replays of old data at 0.5x, 1x and 2x."""
    asset = sorted({r.asset_id for r in sim})[1]
    start = FLEET.start + timedelta(days=3)
    jumped = _shift(sim, asset, start, start + timedelta(hours=8), None)
    plain = _run(sim, [-1] * len(sim))
    out: dict[str, Any] = {"jumped_asset": asset,
                           "jumped_records": sum(1 for a, b in zip(sim, jumped, strict=True) if a is not b)}
    for speed in (0.5, 1.0, 2.0):
        arrivals = _arrivals(sim, speed)
        clean = _run(sim, arrivals)
        out[f"{speed:g}x"] = {"clean": {**_summary(clean), "features_as_without_arrivals":
                                        clean.features == plain.features},
                              "jumped": _summary(_run(jumped, arrivals))}
    return out


def end(sim: list[Any]) -> dict[str, Any]:
    """A channel, then a whole asset, ahead over the last 5 h and reporting last."""
    out: dict[str, Any] = {}
    start = sim[-1].timestamp - timedelta(hours=5)
    stop = sim[-1].timestamp + timedelta(seconds=1)
    for name, asset, channel in (("channel", sorted({r.asset_id for r in sim})[0], "temperature"),
                                 ("whole_asset", sorted({r.asset_id for r in sim})[1], None)):
        shifted = _shift(sim, asset, start, stop, channel)
        last = max(i for i, (a, b) in enumerate(zip(sim, shifted, strict=True)) if a is not b)
        # its peers stop first: the asset's other channels, or the other assets
        kept = [i for i, r in enumerate(sim) if i <= last or (r.asset_id == asset) == (channel is None)]
        records = [shifted[i] for i in kept]
        arrivals = [-1] * len(kept) if channel is not None else [_arrivals(sim, 1.0)[i] for i in kept]
        n = sum(1 for i in kept if shifted[i] is not sim[i])
        out[name] = {"shifted_records": n, **_summary(_run(records, arrivals))}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both parts; print one JSON line."""
    del argv
    sim = list(simulate_fleet(FLEET))
    print(json.dumps({"pace": pace(sim), "end": end(sim)}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
