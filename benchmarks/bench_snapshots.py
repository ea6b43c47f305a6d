"""What recovery snapshots cost `twin run`: the same input without recovery, with snapshots every
10 s, and with a recovery store but snapshots very rare; alternated, in one run.

Run: ``.venv/bin/python benchmarks/bench_snapshots.py [--assets 8] [--days 12] [--repeats 2]``.
Broker: ``TWIN_KAFKA_BROKERS``, else the local broker is started (and stopped) with
``infra/kafka/kafka.sh`` on ``KAFKA_PORT``. Topics get their own prefix and are deleted after.

The topics are filled once with the simulated fleet (flows.app.produce.publish); then
``--repeats`` rounds (each starting with the next variant) of three `twin run --exit-at-end
--clock data` (1 process), each into a fresh archive and recovery folder:

- ``none``: no ``--recovery-dir`` (epochs every 10 s, nothing stored);
- ``every_10s``: ``--recovery-dir`` with ``--snapshot-interval 10``;
- ``rare``: ``--recovery-dir`` with ``--snapshot-interval 3600`` (the store and its stateful
  sinks, but no snapshot during the run; one at the end).

Per variant: children CPU seconds and wall seconds (median over the rounds), records per
CPU-second and per wall-second, and the ratios to ``none`` (the target: every_10s >= 0.9x);
for the recovery variants the snapshot epochs taken and the store's size. Final line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overload import broker, topics  # noqa: E402  (benchmarks/ on sys.path)
from bench_scaleout import prefill  # noqa: E402
from twin_cluster import run_cluster, write_metadata  # noqa: E402

VARIANTS = {"none": None, "every_10s": 10.0, "rare": 3600.0}


def store_facts(store: Path) -> dict[str, Any]:
    """Epochs snapshotted and bytes of the recovery folder's SQLite partitions."""
    parts = sorted(store.glob("*.sqlite3"))
    epochs, snaps = 0, 0
    for part in parts:
        with closing(sqlite3.connect(part)) as conn:
            row = conn.execute("SELECT max(snap_epoch), count(*) FROM snaps").fetchone()
            epochs = max(epochs, int(row[0] or 0))
            snaps += int(row[1])
    size = sum(p.stat().st_size for p in store.iterdir() if p.is_file())
    return {"last_epoch": epochs, "stored_snapshots": snaps, "store_bytes": size}


def one_run(cfg: Any, work: Path, meta: Path, name: str, round_no: int, extra: list[str]) -> dict[str, Any]:
    """One `twin run` of a variant; its throughput and, with recovery, the store's facts."""
    interval = VARIANTS[name]
    folder = work / f"{name}-{round_no}"
    flags = list(extra)
    if interval is None:
        flags += ["--snapshot-interval", "10"]  # the epoch length, as in every_10s
    else:
        flags += ["--recovery-dir", str(folder / "recovery"), "--snapshot-interval", str(interval)]
    run = run_cluster(cfg, folder / "archive", meta, 1, extra=flags)
    out: dict[str, Any] = {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "records": sum(run.records)}
    if interval is not None:
        out.update(store_facts(folder / "recovery"))
    return out


def summarise(name: str, runs: list[dict[str, Any]], frames: int) -> dict[str, Any]:
    """Median CPU and wall seconds of a variant's rounds, and its throughput."""
    cpu = statistics.median(r["cpu_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    rec = runs[0]["records"]
    out = {"variant": name, "cpu_s": [round(r["cpu_s"], 2) for r in runs],
           "wall_s": [round(r["wall_s"], 2) for r in runs], "records": rec,
           "records_per_cpu_s": round(rec / cpu, 1), "records_per_wall_s": round(rec / wall, 1),
           "ms_cpu_per_frame": round(1000 * cpu / frames, 3)}
    for key in ("last_epoch", "stored_snapshots", "store_bytes"):
        if key in runs[-1]:
            out[key] = runs[-1][key]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Fill once, alternate the variants, print the ratios; the last line printed is JSON."""
    from twin_models.simulator.fleet import FleetConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=8, help="simulated assets (default 8)")
    p.add_argument("--days", type=float, default=12.0, help="days of machine time (default 12)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    p.add_argument("--repeats", type=int, default=2, help="rounds of the three variants (default 2)")
    p.add_argument("--config", type=Path, default=None, help="TOML config passed to every twin run")
    args = p.parse_args(argv)
    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed)
    extra = ["--clock", "data", *(["--config", str(args.config.resolve())] if args.config else [])]
    load = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp, broker() as brokers, \
            topics(brokers, f"bench-snap-{uuid.uuid4().hex[:8]}.", args.partitions) as cfg:
        work = Path(tmp)
        meta = write_metadata(fleet, work / "meta.json")
        fed = prefill(cfg, fleet)
        print(f"input: {fed}", file=sys.stderr)
        names = list(VARIANTS)
        for i in range(args.repeats):
            for name in names[i % 3:] + names[:i % 3]:  # each round starts with another variant
                runs[name].append(one_run(cfg, work, meta, name, i, extra))
                print(f"round {i} {name}: {runs[name][-1]}", file=sys.stderr)
    table = {name: summarise(name, rs, fed["frames"]) for name, rs in runs.items()}
    base = table["none"]
    for row in table.values():
        row["cpu_ratio_vs_none"] = round(row["records_per_cpu_s"] / base["records_per_cpu_s"], 3)
        row["wall_ratio_vs_none"] = round(row["records_per_wall_s"] / base["records_per_wall_s"], 3)
    out = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "assets": args.assets,
           "days": args.days, "partitions": args.partitions, "repeats": args.repeats, "input": fed,
           "load_average_1m": [round(load, 1), round(os.getloadavg()[0], 1)],
           "variants": list(table.values()),
           "target_met": table["every_10s"]["cpu_ratio_vs_none"] >= 0.9}
    for row in table.values():
        print(f"{row['variant']:>10}: {row['records_per_cpu_s']:>8} rec/cpu-s "
              f"({row['cpu_ratio_vs_none']}x), {row['records_per_wall_s']:>8} rec/wall-s "
              f"({row['wall_ratio_vs_none']}x)")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
