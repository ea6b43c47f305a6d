"""The cost of merging a backtest's spilled score runs in levels (round 40, HOSTILE40).

Run: ``.venv/bin/python benchmarks/bench_scores_fan_in.py [--windows 400000] [--run-rows 5000]
[--fan-in 8] [--repeat 3]``.

:class:`flows.app.scores_file.ScoresSpool` spills sorted runs of ``RUN_ROWS`` windows and, since
round 40, merges every ``FAN_IN`` runs of a level into one run of the next (so the final merge opens
a bounded number of files). At the product's sizes (50,000-row runs, fan-in 64) the first merge
comes at 3.2 million windows; this scales both down (default: 80 runs of 5,000 merged 8 at a time:
two levels) and times the spool alone (``extend`` of ready snapshots, then ``write``), A/B alternated
with a fan-in no run count reaches (no merge, as round 39), in this process, TMPDIR as set. Prints
one line per run and the medians; the files are written under TMPDIR and removed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.app import scores_file  # noqa: E402
from flows.app.scores_file import ScoresSpool  # noqa: E402
from twin_models.records import TwinSnapshot  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def snapshots(n: int, assets: int = 50) -> list[TwinSnapshot]:
    out = []
    for i in range(n):
        t = T0 + timedelta(minutes=5 * (i // assets))
        out.append(TwinSnapshot(asset_id=f"a{i % assets:03d}", timestamp=t + timedelta(minutes=5),
                                window_start=t, condition="healthy", anomaly_score=(i % 97) / 97,
                                health_index=0.9,
                                rul_s=float(i), rul_lower_s=None, rul_upper_s=None, drift=False, n_windows=i,
                                life_id=0, defect=None))
    return out


def once(snaps: list[TwinSnapshot], fan_in: int, folder: Path) -> tuple[float, int]:
    scores_file.FAN_IN = fan_in
    start = time.perf_counter()
    with ScoresSpool() as spool:
        for i in range(0, len(snaps), 1000):
            spool.extend(snaps[i:i + 1000])
        spool.write(folder / "scores.parquet", [], {})
        merges = spool._merges
    return time.perf_counter() - start, merges


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=400_000)
    ap.add_argument("--run-rows", type=int, default=5_000)
    ap.add_argument("--fan-in", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    scores_file.RUN_ROWS = args.run_rows
    snaps = snapshots(args.windows)
    times: dict[str, list[float]] = {"levels": [], "none": []}
    with tempfile.TemporaryDirectory(prefix="bench-scores-") as tmp:
        for r in range(args.repeat):
            for label, fan_in in (("levels", args.fan_in), ("none", 10**9)):
                seconds, merges = once(snaps, fan_in, Path(tmp))
                times[label].append(seconds)
                print(f"run {r} {label}: {seconds:.2f} s, {merges} merges", flush=True)
    a, b = statistics.median(times["levels"]), statistics.median(times["none"])
    print(f"median: merged in levels (fan-in {args.fan_in}) {a:.2f} s, not merged {b:.2f} s, "
          f"ratio {a / b:.2f} ({args.windows} windows, runs of {args.run_rows})")


if __name__ == "__main__":
    main()
