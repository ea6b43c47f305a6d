"""The time of ``ScoresSpool.write`` (the scores' final merge and ``scores.parquet``), round 41 (PERF41).

Run: ``.venv/bin/python benchmarks/bench_scores_write.py [--windows 200000] [--run-rows 50000]
[--fan-in 64] [--repeat 3] [--tree DIR]``.

Spools ``--windows`` ready snapshots of 50 assets (bench_scores_fan_in's), with alert episodes of
every other asset and two failures of every third (so ``alert_active`` and ``true_rul`` are
computed), and times the ``write`` alone, ``--repeat`` times in this process; prints each time, the
median and the peak RSS. ``--tree``: a source tree (e.g. ``git archive`` of another commit) imported
instead of this one, for A/B runs in alternation. The file goes under TMPDIR and is removed.
"""

from __future__ import annotations

import argparse
import importlib
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--windows", type=int, default=200_000)
    ap.add_argument("--run-rows", type=int, default=50_000)
    ap.add_argument("--fan-in", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    sys.path[:0] = [str(args.tree), str(Path(__file__).resolve().parent)]
    scores_file = importlib.import_module("flows.app.scores_file")  # the tree's, imported first
    alert = importlib.import_module("twin_models.records").Alert
    fan_in = importlib.import_module("bench_scores_fan_in")  # (which puts this tree on the path)
    T0, snapshots = fan_in.T0, fan_in.snapshots

    scores_file.RUN_ROWS, scores_file.FAN_IN = args.run_rows, args.fan_in
    snaps = snapshots(args.windows)
    end = max(s.timestamp for s in snaps)
    assets = sorted({s.asset_id for s in snaps})
    span = end - T0
    failures: dict[str, list[datetime]] = {a: [T0 + span * 0.3, T0 + span * 0.8] for a in assets[::3]}
    alerts = [alert(alert_id=f"{a}-1", asset_id=a, timestamp=T0 + span * at, started_at=T0 + span * 0.25,
                    status=status, severity="warning", sequence=seq, kind="anomaly", anomaly_score=0.99,
                    health_index=0.5, rul_s=None, explanation="x")
              for a in assets[::2] for at, status, seq in ((0.25, "raised", 0), (0.35, "cleared", 1))]
    seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-scores-write-") as tmp:
        for r in range(args.repeat):
            with scores_file.ScoresSpool() as spool:
                for i in range(0, len(snaps), 1000):
                    spool.extend(snaps[i:i + 1000])
                start = time.perf_counter()
                spool.write(Path(tmp) / "scores.parquet", alerts, failures)
                seconds.append(time.perf_counter() - start)
            print(f"run {r}: write {seconds[-1]:.2f} s ({spool._merges} merges)", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"median write {statistics.median(seconds):.2f} s, peak RSS {peak:.0f} MiB "
          f"({args.windows} windows, runs of {args.run_rows}, tree {scores_file.__file__})")


if __name__ == "__main__":
    main()
