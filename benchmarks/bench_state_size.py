"""What goes into a recovery snapshot: bytes of state per asset and per fleet, from a real store.

Run: ``.venv/bin/python benchmarks/bench_state_size.py [--assets 8] [--days 30] [--seed 7]``.

The simulated fleet runs through ``get_flow`` with a Bytewax recovery store (as ``twin run
--recovery-dir`` keeps one); at the end, the newest snapshot of every (step, key) is read back
from the store's SQLite partitions and measured. Issue 10 targets <= 100 KB of state per asset and
a bounded fleet learner. Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig
from bytewax.testing import run_main

from flows.app.demo import DEMO_DEFAULTS
from flows.app.outputs import local_outputs
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.recovery_store import init_store
from flows.dataflow.sources.simulator import SimulatorSource
from twin_models.simulator.fleet import FleetConfig, fleet_metadata


def newest_snapshots(store: Path) -> dict[str, dict[str, int]]:
    """Bytes of the newest snapshot of each state key, by step (None snapshots = discarded)."""
    sizes: dict[str, dict[str, int]] = defaultdict(dict)
    for part in sorted(store.glob("part-*.sqlite3")):
        with sqlite3.connect(part) as db:
            rows = db.execute(
                "SELECT step_id, state_key, length(ser_change) FROM snaps s WHERE snap_epoch = "
                "(SELECT max(snap_epoch) FROM snaps t WHERE t.step_id = s.step_id "
                "AND t.state_key = s.state_key)").fetchall()
        for step, key, n in rows:
            if n is not None:
                sizes[step.split(".")[1]][key] = int(n)
    return dict(sizes)


def summarise(sizes: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    return {step: {"keys": len(v), "median_kb": round(statistics.median(v.values()) / 1024, 1),
                   "max_kb": round(max(v.values()) / 1024, 1), "total_kb": round(sum(v.values()) / 1024, 1)}
            for step, v in sorted(sizes.items())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=8)
    p.add_argument("--days", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed)
    metrics = PipelineMetrics()
    with tempfile.TemporaryDirectory(prefix="state-size-") as tmp:
        store = Path(tmp) / "recovery"
        store.mkdir()
        init_store(store, 1)
        sinks, _ = local_outputs(DEMO_DEFAULTS, metrics, archive_dir=Path(tmp) / "archive", collect=())
        flow = get_flow(DEMO_DEFAULTS, source=SimulatorSource(fleet), sinks=sinks,
                        metadata=fleet_metadata(fleet), metrics=metrics)
        run_main(flow, epoch_interval=timedelta(seconds=10), recovery_config=RecoveryConfig(str(store)))
        table = summarise(newest_snapshots(store))
        store_kb = round(sum(f.stat().st_size for f in store.iterdir()) / 1024, 1)
    print(f"{'step':<12} {'keys':>5} {'median KB':>10} {'max KB':>8} {'total KB':>9}")
    for step, row in table.items():
        print(f"{step:<12} {row['keys']:>5} {row['median_kb']:>10} {row['max_kb']:>8} {row['total_kb']:>9}")
    print(json.dumps({"bench": "state_size", "assets": args.assets, "days": args.days, "seed": args.seed,
                      "steps": table, "store_kb": store_kb,
                      "twin_state_bytes_gauge": metrics.value("twin_state_bytes")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
