"""Peak memory and time of ``twin archive compact`` against the date folder's size (round 39, DURABLE39).

Run: ``.venv/bin/python benchmarks/bench_compact.py [--parts 400 1600] [--assets 100] [--features 30]
[--dir /tmp/twin-bench-compact] [--tree /tmp/old]``.

Writes one ``features`` date folder per ``--parts`` value, as a live run's flushes make it: each part
one flush of ``--assets`` assets' one-minute windows (``--features`` double columns of random values,
rows sorted by asset, the sink's own file writer: ``archive_files.write_file``), kept between runs
(they are deterministic); then copies it and runs ``twin archive compact --archive COPY --before
2030-01-01`` on the copy under ``/usr/bin/time -v``: peak RSS ("Maximum resident set size") and wall
seconds. The slope between two sizes (MB of RSS per MB of folder) says whether memory grows with
the folder. ``--tree DIR`` runs another checkout's ``twin`` (``git archive f313d9d | tar -x -C
/tmp/old``) with this venv: the before. Prints a line per size and a final JSON line. Everything
goes to ``--dir`` (under /tmp by default), never into the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_memory import peak_rss, twin_argv  # noqa: E402

from flows.dataflow.sinks.archive_files import write_file  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_folder(root: Path, parts: int, assets: int, features: int) -> Path:
    """``root``: an archive whose ``features/date=2026-01-01`` holds ``parts`` flushes (kept if made)."""
    done = root / "done"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(parts)
    ids = pa.array([f"asset-{a:04d}" for a in range(assets)], pa.string())
    for p in range(parts):
        start = T0 + timedelta(minutes=p % 1440, seconds=p // 1440)
        cols = {"asset_id": ids,
                "window_start": pa.array([start] * assets, pa.timestamp("us", tz="UTC")),
                "window_end": pa.array([start + timedelta(minutes=1)] * assets, pa.timestamp("us", tz="UTC")),
                "n_records": pa.array(rng.integers(1, 100, assets), pa.int64()),
                "events": pa.array([""] * assets, pa.string()),
                **{f"f{i:02d}.mean": pa.array(rng.random(assets)) for i in range(features)}}
        write_file(root, "features", "2026-01-01", pa.table(cols), f"part-bench-w0-{p:06d}", "bench")
    done.write_text("")
    return root


def folder_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in (root / "features").rglob("*.parquet")) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", type=int, nargs="+", default=[400, 1600])
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-compact"))
    ap.add_argument("--tree", type=Path, default=None, help="run this checkout's twin (before/after)")
    args = ap.parse_args()
    rows = []
    for parts in args.parts:
        src = make_folder(args.dir / f"src-{parts}x{args.assets}x{args.features}", parts, args.assets,
                          args.features)
        size = folder_mb(src)
        work = args.dir / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(src / "features", work / "features")
        argv = [*twin_argv(args.tree), "archive", "compact", "--archive", str(work), "--before", "2030-01-01"]
        rss, seconds = peak_rss(argv)
        merged = list((work / "features").rglob("*.parquet"))
        rows.append({"parts": parts, "rows": parts * args.assets, "folder_mb": round(size, 1),
                     "peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1), "files_after": len(merged)})
        print(f"{parts:>6} parts {parts * args.assets:>9} rows {size:7.1f} MB: peak RSS {rss:7.1f} MB "
              f"in {seconds:6.1f} s ({len(merged)} file after)", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    slope = None
    if len(rows) >= 2:  # noqa: PLR2004 - two sizes give the slope
        a, b = rows[0], rows[-1]
        slope = round((b["peak_rss_mb"] - a["peak_rss_mb"]) / (b["folder_mb"] - a["folder_mb"]), 3)
        print(f"slope: {slope} MB of RSS per MB of folder")
    print(json.dumps({"bench": "compact", "tree": str(args.tree or Path(__file__).resolve().parents[1]),
                      "runs": rows, "rss_mb_per_folder_mb": slope, "machine": platform.machine(),
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
