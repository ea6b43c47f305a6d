"""Backtest speed: how many times faster than real time ``twin backtest`` replays a scalar fleet.

Run: ``.venv/bin/python benchmarks/bench_backtest_speed.py [--assets 100] [--hours 1] [--channels 1]``.

Writes a ``scalar_table`` history file (``timestamp, asset_id, <channels>``; one row per asset
per second, i.e. a 1 Hz fleet; Parquet, or CSV with ``--csv``), then runs
:func:`flows.app.backtest.run_backtest` on it (60-s windows unless ``--window-s``; report off)
in this process. Speed = event-time span / wall seconds of the dataflow run, and the same with
CPU seconds (``time.process_time``, the figure a shared machine does not distort); the whole
call (counting the records, writing scores and alerts) is reported too.
Target (issue 10): >= 1000x real time for a 100-asset 1 Hz scalar fleet.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

CHANNELS = ("temperature", "pressure", "current", "speed")
START = datetime(2026, 1, 1, tzinfo=UTC)


def write_fleet(path: Path, assets: int, channels: int, seconds: int, seed: int) -> int:
    """The fleet's history as one table in time order; returns its rows."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(20.0, 80.0, size=(1, assets))
    t = np.repeat(np.arange(seconds), assets)
    ids = np.tile(np.array([f"asset-{a:03d}" for a in range(assets)]), seconds)
    cols: dict[str, Any] = {
        "timestamp": pa.array(np.datetime64(START.replace(tzinfo=None), "s") + t.astype("timedelta64[s]"),
                              pa.timestamp("s", tz="UTC")),
        "asset_id": ids,
    }
    for c in range(channels):
        values = base + rng.normal(0.0, 0.5, size=(seconds, assets)) + c
        cols[CHANNELS[c]] = np.round(values.ravel(), 4)
    table = pa.table(cols)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return table.num_rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures (last line: JSON)."""
    from flows.app.backtest import run_backtest
    from flows.config.pipeline import load_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=100)
    p.add_argument("--hours", type=float, default=1.0, help="event-time span of the fleet")
    p.add_argument("--channels", type=int, default=1, choices=range(1, len(CHANNELS) + 1))
    p.add_argument("--window-s", type=float, default=60.0)
    p.add_argument("--csv", action="store_true", help="history as CSV (default Parquet)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    span_s = int(args.hours * 3600)
    cfg = load_config(env={}, overrides={"window_s": args.window_s})
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        path = Path(tmp) / f"fleet.{'csv' if args.csv else 'parquet'}"
        rows = write_fleet(path, args.assets, args.channels, span_s, args.seed)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        res = run_backtest([path], Path(tmp) / "out", cfg, progress=False, report=False, fresh=True,
                           keep_snapshots=False)  # as `twin backtest` (round 39)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    out = {"benchmark": "backtest_speed", "machine": platform.machine(), "python": platform.python_version(),
           "assets": args.assets, "channels": args.channels, "hours": args.hours, "window_s": args.window_s,
           "format": path.suffix[1:], "rows": rows, "records": res.records, "windows": res.windows,
           "dead_letters": sum(res.dead_letters.values()),
           "flow_wall_s": round(res.seconds, 2), "call_wall_s": round(wall, 2), "call_cpu_s": round(cpu, 2),
           "x_real_time_flow_wall": round(span_s / res.seconds, 1),
           "x_real_time_call_wall": round(span_s / wall, 1), "x_real_time_call_cpu": round(span_s / cpu, 1),
           "records_per_cpu_s": round(res.records / cpu)}
    out["target_1000x_met"] = out["x_real_time_call_cpu"] >= 1000
    for k, v in out.items():
        print(f"{k:>24}: {v}", file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
