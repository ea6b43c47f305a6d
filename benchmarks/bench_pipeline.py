"""End-to-end throughput of the one dataflow on the simulated fleet, and the cost of its parts.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--assets 8] [--days 30] [--workers 1]``.
Prints per-part costs (simulate+encode, decode, featurize per frame, twin update per window) measured
outside the engine, then the whole dataflow's frames/s and records/s, and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from flows import codec
from flows.app.demo import DEMO_DEFAULTS, run_fleet
from flows.dataflow.sources.replayable import encode_record
from twin_models.features.frame import frame_features
from twin_models.records import WaveformFrame
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet


def part_costs(fleet: FleetConfig, n: int = 3000) -> dict[str, float]:
    """Microseconds per record/frame for the stages that run outside Bytewax's own overhead."""
    meta = fleet_metadata(fleet)
    t = time.perf_counter()
    recs = []
    for r in simulate_fleet(fleet):
        recs.append((r, encode_record(r)))
        if len(recs) >= n:
            break
    sim_us = (time.perf_counter() - t) / len(recs) * 1e6
    now = datetime.now(UTC)
    t = time.perf_counter()
    decoded = [codec.decode_telemetry(raw, now=now) for _, raw in recs]
    dec_us = (time.perf_counter() - t) / len(recs) * 1e6
    frames = [d for d in decoded if isinstance(d, WaveformFrame)]
    t = time.perf_counter()
    for f in frames:
        m = meta[f.asset_id]
        frame_features(f.samples, f.sample_rate_hz, shaft_hz=f.shaft_speed_hz, geometry=m.bearing)
    feat_us = (time.perf_counter() - t) / max(len(frames), 1) * 1e6
    return {"simulate_encode_us_per_record": round(sim_us, 1),
            "decode_us_per_record": round(dec_us, 1),
            "featurize_us_per_frame": round(feat_us, 1)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=8)
    p.add_argument("--days", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed)
    parts = part_costs(fleet)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_fleet(fleet, DEMO_DEFAULTS, Path(tmp), workers=args.workers, progress=False)
    windows = len(res.snapshots)
    out = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "assets": args.assets, "days": args.days, "workers": args.workers,
        "records": res.records, "frames": res.frames, "windows": windows,
        "seconds": round(res.seconds, 2),
        "frames_per_s": round(res.frames / res.seconds, 1),
        "records_per_s": round(res.records / res.seconds, 1),
        "us_per_window_end_to_end": round(res.seconds / windows * 1e6, 1),
        "faults_detected": f"{res.report.detected}/{len(res.report.faults)}",
        "false_alerts": res.report.false_alerts,
        **parts,
    }
    for k, v in out.items():
        print(f"{k:>32}: {v}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
