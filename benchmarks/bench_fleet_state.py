"""State of the split fleet RUL on C-MAPSS-sized lives: one asset's FleetView and the FleetLearner.

Run: ``.venv/bin/python benchmarks/bench_fleet_state.py``. Synthetic lives shaped like C-MAPSS
FD001 (100 lives of 128-361 windows, 21 sensors + 3 settings, the benchmark's fleet settings):
each life goes through a FleetView (what twin_update keeps per asset) and, when it fails, its
parts through the FleetLearner (what the fleet_rul step keeps per kind). Prints one JSON line:
pickled bytes of the largest and median view, of the learner after 100 lives, the lives it
stores, its CPU seconds and its worst single call (CPU).
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_view import FleetView

T0 = datetime(2000, 1, 1, tzinfo=UTC)
CFG = FleetRulConfig(rul_features=("sensor_*.mean",), regime_features=("setting_*.mean",),
                     rul_cap_s=450000, min_lives=10)


def _life(view: FleetView, rng: np.random.Generator, k: int, n: int) -> datetime:
    ts = T0
    for i in range(n):
        ts = T0 + timedelta(hours=i + 1 + k * 400)
        feats = {f"sensor_{j}.mean": float(rng.normal() + i / n) for j in range(21)}
        feats.update({f"setting_{j}.mean": 0.0 for j in range(3)})
        snap = TwinSnapshot(f"e{k}", ts, ts - timedelta(hours=1), "healthy", 0.0, 1.0, None, None, None,
                            False, 0, 0)
        view.update(snap, feats, None)
    return ts


def main() -> None:
    """Run 100 lives through views and the learner; print the JSON line."""
    rng = np.random.default_rng(0)
    learner, sizes, worst = FleetLearner("engine", CFG), [], 0.0
    t0 = time.process_time()
    for k in range(100):
        view = FleetView("engine", CFG)
        end = _life(view, rng, k, int(rng.integers(128, 362)))
        sizes.append(len(pickle.dumps(view)))
        failure = AssetEvent(f"e{k}", end + timedelta(hours=1), "failure")
        for chunk in view.close(failure, CFG.life_chunk_rows):
            t = time.process_time()
            learner.learn(chunk)
            worst = max(worst, time.process_time() - t)
    assert learner.regression is not None
    print(json.dumps({
        "view_bytes_max": max(sizes), "view_bytes_median": int(np.median(sizes)),
        "learner_bytes_100_lives": len(pickle.dumps(learner)), "stored_lives": len(learner.regression.lives),
        "cpu_s": round(time.process_time() - t0, 1), "worst_learn_call_cpu_s": round(worst, 4)}))


if __name__ == "__main__":
    main()
