"""CPU per boosted tree and per predicted row of the fleet RUL's numpy trees.

Run: ``.venv/bin/python benchmarks/bench_trees.py [--rows 5000] [--cols 85] [--flat 0.2]
[--trees 40] [--src DIR]``.

Synthetic condition rows shaped like the C-MAPSS learner's (``--rows`` x ``--cols``, a share
``--flat`` of flat columns: C-MAPSS has 18 flat sensor columns of 64), a target like a capped
RUL. Fits ``--trees`` trees (the default settings of
:class:`~twin_models.rul.trees.GradientBoostedTrees`) best of three, predicts 500 rows (one
catch-up slice) and one row (one window) best of five; CPU seconds (``time.process_time``).
``--src`` imports ``twin_models`` from another checkout (e.g. an export of main) to compare
before and after with the same script. Prints one JSON line, with a digest of the fitted trees
and predictions so that two checkouts can be checked to give the same model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _data(rows: int, cols: int, flat: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.uniform(0, 300, rows)
    wear = np.clip(age / 300 + rng.normal(0, 0.05, rows), 0, None)
    x = wear[:, None] * rng.normal(1, 0.3, cols)[None, :] + rng.normal(0, 0.2, (rows, cols))
    x = np.round(x, 2).astype(np.float32).astype(float)  # quantised like the sensors, float32 as stored
    x[:, : int(flat * cols)] = 1.0
    x[:, -1] = age
    return x, np.minimum(300 - age, 125.0) * 3600


def _best_cpu(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def run(rows: int, cols: int, flat: float, trees: int) -> dict[str, Any]:
    """Fit and predict; CPU per tree and per row, and the digest of the result."""
    from twin_models.rul.trees import GradientBoostedTrees

    x, y = _data(rows, cols, flat)
    model = GradientBoostedTrees(n_trees=trees, seed=1)
    fit_s = _best_cpu(lambda: model.fit(x, y), 3)
    slice_s = _best_cpu(lambda: model.predict(x[:500]), 5)
    one_s = _best_cpu(lambda: [model.predict(x[i : i + 1]) for i in range(100)], 5) / 100
    digest = hashlib.sha1(model.feature.tobytes() + model.value.tobytes() + model.predict(x).tobytes())
    return {"benchmark": "trees", "rows": rows, "cols": cols, "flat": flat, "trees": trees,
            "ms_cpu_per_tree": round(1000 * fit_s / trees, 2),
            "ms_cpu_predict_500_rows": round(1000 * slice_s, 2),
            "ms_cpu_predict_1_row": round(1000 * one_s, 3), "digest": digest.hexdigest()[:16]}


def main() -> None:
    """Parse the flags, run, print the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--cols", type=int, default=85)
    p.add_argument("--flat", type=float, default=0.2)
    p.add_argument("--trees", type=int, default=40)
    p.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1])
    a = p.parse_args()
    sys.path.insert(0, str(a.src))
    print(json.dumps(run(a.rows, a.cols, a.flat, a.trees)))


if __name__ == "__main__":
    main()
