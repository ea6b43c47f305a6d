"""Peak memory of ``twin backtest`` against the input's size: does it grow with the file?

Run: ``.venv/bin/python benchmarks/bench_memory.py [--frames 1000 4000] [--samples 25600]
[--dir /tmp/twin-bench-memory] [--no-report] [--tree /tmp/old]``.

Writes one waveform Parquet file per ``--frames`` value (one asset, one channel ``vib``, frames of
``--samples`` float32 samples at 25.6 kHz, one a minute; random samples, so the file is about
frames x samples x 4 bytes: 1000 frames of 25,600 samples ~ 100 MB), kept between runs (they are
deterministic), then runs ``twin backtest FILE --out ... --no-progress --fresh`` on each under
``/usr/bin/time -v`` and reports its peak RSS ("Maximum resident set size"). The slope between
two sizes (MB of RSS per MB of input) says whether memory grows with the input. Prints a table
and a final JSON line. ``--tree DIR`` runs the ``twin`` of another checkout (e.g.
``git archive ae4dd4c | tar -x -C /tmp/old``) with this venv, for a before/after. The files go to
``--dir`` (under /tmp by default), never into the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
TWIN = str(Path(sys.executable).parent / "twin")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
CONFIG = "[pipeline]\nwindow_s = 3600\n[pipeline.twin]\nwarmup_windows = 4\n"
ROWS_PER_GROUP = 64


def write_waveform(path: Path, frames: int, samples: int) -> Path:
    """A one-channel waveform file of ``frames`` rows, written a row group at a time."""
    if path.exists():
        return path
    rng = np.random.default_rng(frames)
    schema = pa.schema([("timestamp", pa.timestamp("us", "UTC")), ("asset_id", pa.string()),
                        ("sample_rate_hz", pa.float64()), ("vib", pa.list_(pa.float32()))])
    tmp = path.with_suffix(".part")
    with pq.ParquetWriter(tmp, schema, compression="none") as writer:
        for lo in range(0, frames, ROWS_PER_GROUP):
            n = min(ROWS_PER_GROUP, frames - lo)
            values = rng.normal(0, 1, n * samples).astype(np.float32)
            offsets = np.arange(0, (n + 1) * samples, samples, dtype=np.int32)
            writer.write_table(pa.table({
                "timestamp": pa.array([T0 + timedelta(minutes=lo + i) for i in range(n)],
                                      pa.timestamp("us", "UTC")),
                "asset_id": ["brg-1"] * n,
                "sample_rate_hz": [25600.0] * n,
                "vib": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
            }, schema=schema))
    tmp.rename(path)
    return path


def peak_rss(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of a command run under ``/usr/bin/time -v``."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True, check=False,
                          cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        msg = f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}"
        raise SystemExit(msg)
    kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return (int(kb.group(1)) / 1024 if kb else float("nan")), seconds


def twin_argv(tree: Path | None) -> list[str]:
    """The ``twin`` command: this checkout's, or ``tree``'s (its ``flows`` first on the path)."""
    if tree is None:
        return [TWIN]
    boot = (f"import sys; sys.path.insert(0, {str(tree.resolve())!r}); "
            "from flows.cli.main import main; sys.exit(main())")
    return [sys.executable, "-c", boot]


def main() -> None:
    """Generate the files, run the backtests, print the table and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--samples", type=int, default=25600)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-memory"))
    ap.add_argument("--no-report", action="store_true", help="pass --no-report to twin backtest")
    ap.add_argument("--tree", type=Path, default=None, help="run this checkout's twin (before/after)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    cfg = args.dir / "bt.toml"
    cfg.write_text(CONFIG)
    rows = []
    for frames in args.frames:
        wave = write_waveform(args.dir / f"wave-{frames}x{args.samples}.parquet", frames, args.samples)
        argv = [*twin_argv(args.tree), "backtest", str(wave), "--out", str(args.dir / f"out-{frames}"),
                "--config", str(cfg), "--no-progress", "--fresh", *(["--no-report"] * args.no_report)]
        rss, seconds = peak_rss(argv)
        size = wave.stat().st_size / 2**20
        rows.append({"frames": frames, "file_mb": round(size, 1), "peak_rss_mb": round(rss, 1),
                     "seconds": round(seconds, 1)})
        print(f"{frames:>7} frames {size:8.1f} MB file: peak RSS {rss:8.1f} MB in {seconds:6.1f} s",
              flush=True)
    slope = None
    if len(rows) >= 2:  # noqa: PLR2004 - two sizes give the slope
        a, b = rows[0], rows[-1]
        slope = round((b["peak_rss_mb"] - a["peak_rss_mb"]) / (b["file_mb"] - a["file_mb"]), 3)
        print(f"slope: {slope} MB of RSS per MB of input")
    print(json.dumps({"bench": "memory", "tree": str(args.tree or ROOT), "report": not args.no_report,
                      "samples": args.samples, "runs": rows, "rss_mb_per_input_mb": slope,
                      "machine": platform.machine(), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
