"""C-MAPSS leave-lives-out on the TRAINING lives only: judge a learner setting without the test units.

Run: ``.venv/bin/python benchmarks/quality/cmapss_lives_out.py [--subset FD001] [--folds 5]
[--fold 0] [--refit-growth 0.1] [--catch-up-trees 20] [--seed 0]``.

Why: a setting of the fleet learner (its refit schedule, its catch-ups) must be chosen on
training data, never on the test units' RMSE. The training lives are split by unit number into
``--folds`` folds; fold ``k``'s lives are held out, the others are replayed through the pure
:class:`~twin_models.rul.fleet_view.FleetView` / :class:`~twin_models.rul.fleet_learner.FleetLearner`
exactly as ``cmapss_learner.py`` does (work tickets included), then every held-out life is cut at
a seeded random cycle (as the test units are: a life seen up to some point) and replayed through
a fresh view with the newest model; its estimate at the cut (capped at 125 cycles) is scored
against the life's true remaining cycles. One JSON line: RMSE, lives in the final model, CPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.cmapss_learner import DATA, T0, _feats, _snap, _train, set_tree_knobs
from twin_models.rul import regression_learner
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_view import FleetView

CAP = 125.0


def run(subset: str, folds: int, fold: int, refit_growth: float, catch_up_trees: int,
        seed: int) -> dict[str, Any]:
    """Train on the lives outside ``fold``, score the lives in it at seeded cut points."""
    with gzip.open(DATA / f"train_{subset}.txt.gz") as f:
        train = np.loadtxt(f)
    units = [int(u) for u in np.unique(train[:, 0])]
    held = [u for u in units if u % folds == fold]
    cfg = FleetRulConfig(rul_features=("sensor_*.mean",), regime_features=("setting_*.mean",),
                         rul_cap_s=450000, min_lives=10, model_delay_s=0, refit_growth=refit_growth,
                         catch_up_trees=catch_up_trees, seed=seed)
    t0 = time.process_time()
    model, _ = _train({u: train[train[:, 0] == u] for u in units if u not in held}, cfg, False)
    rng = np.random.default_rng(1000 + fold)
    start = T0 + timedelta(days=60)
    err = []
    for u in held:
        rows = train[train[:, 0] == u]
        cut = int(rng.integers(min(31, len(rows)), len(rows) + 1))  # cycles seen: at least 31
        view, snap = FleetView("engine", cfg), None
        for c, r in enumerate(rows[:cut], 1):
            snap = view.update(_snap(f"v{u}", start + timedelta(hours=c)), _feats(r), model)
        est = min(((snap.rul_s if snap else None) or 0.0) / 3600.0, CAP)
        err.append(est - min(len(rows) - cut, CAP))
    d = np.array(err)
    return {"benchmark": "cmapss_lives_out", "subset": subset, "folds": folds, "fold": fold,
            "stages": regression_learner.POINT_MODEL_STAGES, "max_rows": regression_learner.TREE_MAX_ROWS,
            "refit_growth": refit_growth, "catch_up_trees": catch_up_trees, "seed": seed,
            "held_out": len(held), "rmse": round(float(np.sqrt(np.mean(d**2))), 3),
            "lives_in_model": model.lives if model else 0,
            "cpu_s": round(time.process_time() - t0, 1)}


def main() -> None:
    """Parse the flags, run, print the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subset", default="FD001")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--refit-growth", type=float, default=0.1)
    p.add_argument("--catch-up-trees", type=int, default=FleetRulConfig().catch_up_trees)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stages", type=float, default=None, help="the full fits' share of 200 stages")
    p.add_argument("--max-rows", type=int, default=None, help="rows sampled per tree")
    a = p.parse_args()
    set_tree_knobs(a.stages, a.max_rows)
    print(json.dumps(run(a.subset, a.folds, a.fold, a.refit_growth, a.catch_up_trees, a.seed)))


if __name__ == "__main__":
    main()
