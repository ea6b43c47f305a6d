"""What the archive parts' fsync costs per part (round 39, DURABLE39): synced against unsynced writes.

Run: ``.venv/bin/python benchmarks/bench_part_sync.py [--rows 2400] [--parts 100] [--rounds 5]
[--dir /tmp/twin-bench-sync]``.

Writes ``--parts`` part files of ``--rows`` feature rows each (a 100-asset flush is ~2,400 windows,
~140 KB) with the sink's file writer (``archive_files.write_file``) into fresh folders under
``--dir``, ``--rounds`` times each way, alternated: as it is (the temporary file fsynced, renamed, the
date folder fsynced: ``layout.replace_synced``) and with that swapped for the bare ``os.replace`` of
before round 39. Reports the median wall and CPU milliseconds per part of each and the difference.
The disk's sync cost depends on the machine and on what else writes: run it where it matters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.archive import layout  # noqa: E402
from flows.dataflow.sinks.archive_files import write_file  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def flush(rows: int, seed: int) -> pa.Table:
    """One flush of feature rows (100 assets' windows, 30 features), sorted by asset."""
    rng = np.random.default_rng(seed)
    assets = 100
    per = max(1, rows // assets)
    ids = [f"asset-{a:04d}" for a in range(assets) for _ in range(per)]
    starts = [T0 + timedelta(minutes=w) for _ in range(assets) for w in range(per)]
    n, ts = len(ids), pa.timestamp("us", tz="UTC")
    return pa.table({"asset_id": ids, "window_start": pa.array(starts, ts),
                     "window_end": pa.array([s + timedelta(minutes=1) for s in starts], ts),
                     "n_records": pa.array(rng.integers(1, 100, n), pa.int64()), "events": [""] * n,
                     **{f"f{i:02d}.mean": rng.random(n) for i in range(30)}})


def one_round(root: Path, data: pa.Table, parts: int, synced: bool) -> tuple[float, float]:
    """(wall ms, CPU ms) per part of ``parts`` writes into a fresh archive ``root``."""
    shutil.rmtree(root, ignore_errors=True)
    write_file(root, "features", "2026-01-01", data, "part-warm", "bench")  # the folders exist
    saved = layout.replace_synced
    if not synced:
        layout.replace_synced = os.replace  # type: ignore[assignment]
    try:
        w, c = time.perf_counter(), time.process_time()
        for p in range(parts):
            write_file(root, "features", "2026-01-01", data, f"part-bench-w0-{p:06d}", "bench")
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    finally:
        layout.replace_synced = saved
    shutil.rmtree(root, ignore_errors=True)
    return 1000 * wall / parts, 1000 * cpu / parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2400)
    ap.add_argument("--parts", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-sync"))
    args = ap.parse_args()
    data = flush(args.rows, 1)
    got: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(args.rounds):
        for synced in ((True, False) if r % 2 == 0 else (False, True)):
            got[synced].append(one_round(args.dir / f"r{r}-{int(synced)}", data, args.parts, synced))
    out: dict[str, object] = {"bench": "part_sync", "rows": args.rows, "parts": args.parts,
                              "rounds": args.rounds}
    for synced, name in ((False, "unsynced"), (True, "synced")):
        walls, cpus = [w for w, _ in got[synced]], [c for _, c in got[synced]]
        out[f"{name}_wall_ms"] = round(statistics.median(walls), 3)
        out[f"{name}_wall_ms_min_max"] = [round(min(walls), 3), round(max(walls), 3)]
        out[f"{name}_cpu_ms"] = round(statistics.median(cpus), 3)
    out["sync_wall_ms_per_part"] = round(out["synced_wall_ms"] - out["unsynced_wall_ms"], 3)  # type: ignore[operator]
    write_file(args.dir / "size", "features", "2026-01-01", data, "part-size", "bench")
    out["part_kb"] = round(next((args.dir / "size").rglob("*.parquet")).stat().st_size / 1024, 1)
    shutil.rmtree(args.dir / "size")
    out["machine"], out["cpus"] = platform.machine(), os.cpu_count()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
