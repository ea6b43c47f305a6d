"""The fleet regression's prediction per window (``FittedRegression.predict_from``), alone.

Run: ``.venv/bin/python benchmarks/bench_fleet_predict.py [--src TREE] [--units N] [--repeat R]``

Why: in the C-MAPSS backtest every window of every asset predicts one row through the fleet
model (FD001: ~34k windows): its feature row from the last ``window`` windows' z-scores, then
the LightGBM regressor (a full fit and a catch-up booster). ``bench_cmapss_window.py`` has no
fleet model; the full backtest mixes this with everything else. This fits a LightGBM model
(the learner's settings) on the condition rows of the first ``--units`` FD001 training lives,
adds a 30-stage catch-up, then replays every window of those lives through ``predict_from`` of
the tree given by ``--src`` (so two trees are compared with the same script and the same model
strings: the model is fitted by the tree's own ``LightGBMTrees``, deterministic).

Prints one JSON line: CPU microseconds per window (best of ``--repeat`` passes) and a digest of
the predictions (equal digests = the same predictions, bit for bit).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENSORS = [1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 16, 19, 20]  # 0-based: the 14 sensors not flat in FD001


def main(argv: list[str] | None = None) -> int:
    """Fit, replay, print the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--src", default=str(ROOT), help="source tree to import twin_models from")
    ap.add_argument("--units", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=os.environ.get("TWIN_DATASETS", str(ROOT.parent / "shared/datasets"))
                    + "/cmapss")
    args = ap.parse_args(argv)
    if args.units < 2 or args.repeat < 1:
        ap.error("--units must be >= 2 and --repeat >= 1")
    path = Path(args.data) / "train_FD001.txt.gz"
    if not path.is_file() and not (Path(args.data) / "train_FD001.txt").is_file():
        ap.error(f"no train_FD001.txt(.gz) in {args.data}")
    sys.path.insert(0, args.src)
    from twin_models.rul.fleet_model import FittedRegression
    from twin_models.rul.lgbm_trees import LightGBMTrees
    from twin_models.rul.regimes import RegimeStats
    from twin_models.rul.regression import condition_rows

    with gzip.open(path, "rt") if path.is_file() else open(Path(args.data) / "train_FD001.txt") as f:
        data = np.loadtxt(f, ndmin=2)[:, :26]
    data = data[data[:, 0] <= args.units]
    raw = data[:, 5:][:, SENSORS]
    stats = RegimeStats(raw.mean(axis=0, keepdims=True), raw.std(axis=0, keepdims=True))
    window, head, hour = 30, 5, 3600.0
    lives = []
    feats, targets = [], []
    for u in np.unique(data[:, 0]):
        life = data[data[:, 0] == u]
        times = life[:, 1] * hour
        rows = life[:, 5:][:, SENSORS]
        z = stats.normalise(np.zeros(len(rows), dtype=np.int64), rows)
        base = z[:head].mean(axis=0)
        lives.append((times, life[:, 2:5], rows, base))
        feats.append(condition_rows(z, times, base, times[0], window, head))
        targets.append(np.minimum(times[-1] + hour - times, 125 * hour))
    x, y = np.vstack(feats), np.concatenate(targets)
    model = LightGBMTrees(seed=1).fit(x, y)
    steps = model.extend_steps(x[: len(x) // 2], y[: len(x) // 2], 30, seed=2)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            model = stop.value
            break
    fitted = FittedRegression(np.zeros((1, 3)), 0.02, 0.02, stats, model,
                              np.zeros((0, 2)), window, head, 125 * hour, 0.8)
    best, n, h = np.inf, 0, hashlib.sha256()
    for r in range(args.repeat):
        n = 0
        t = time.process_time()
        for times, settings, rows, base in lives:
            for i in range(1, len(times) + 1):
                lo = max(0, i - window)
                est = fitted.predict_from(times[lo:i], settings[lo:i], rows[lo:i], times[0], base)
                if r == 0 and est is not None:
                    h.update(np.float64(est.rul_s).tobytes())
                n += 1
        best = min(best, time.process_time() - t)
    print(json.dumps({"benchmark": "fleet_predict", "src": args.src, "windows": n,
                      "trees": sum(m.count("\nTree=") for m in model.models),
                      "us_per_window": round(1e6 * best / n, 1), "digest": h.hexdigest()[:16]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
