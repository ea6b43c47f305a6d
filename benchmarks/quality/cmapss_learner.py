"""C-MAPSS through the fleet RUL's pure parts only (FleetView + FleetLearner), without Bytewax.

Run: ``.venv/bin/python benchmarks/quality/cmapss_learner.py [--subset FD001] [--chunk-rows 2]
[--fit-steps 1] [--drain] [--catch-up-trees 20] [--seed 0] [--regressor lightgbm]``.

A fast stand-in for ``cmapss.py`` to study how the learner's bounded slices delay the models
(minutes instead of half an hour on a busy machine): the training units are replayed cycle by
cycle in event time, all in parallel (as the backtest does), each unit's FleetView fuses the
newest published model, a unit's ``failure`` sends its life in parts of ``--chunk-rows`` rows
to the FleetLearner followed by the life's refit work tickets (``refit_work_parts``, as in the
flow), and the learner does ``--fit-steps`` units of work per part or ticket; ``--drain`` finishes
every refit at once after each life (the unbounded reference: models never stale). Then each
test unit is replayed and its last-cycle RUL scored (capped at 125 cycles, RMSE). The condition
features of a C-MAPSS window are the cycle's raw readings, as in the backtest; the twins' own
evidence plays no part in the C-MAPSS RUL (no failure threshold). One JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul import lgbm_trees, regression_learner
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView, LifeChunk
from twin_models.rul.regressors import regressor_problem

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cmapss"
T0 = datetime(2000, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _feats(r: np.ndarray) -> dict[str, float]:
    return {**{f"setting_{j + 1}.mean": float(r[2 + j]) for j in range(3)},
            **{f"sensor_{j + 1}.mean": float(r[5 + j]) for j in range(21)}}


def _snap(asset: str, ts: datetime) -> TwinSnapshot:
    return TwinSnapshot(asset, ts, ts - H, "healthy", 0.0, 1.0, None, None, None, False, 0, 0)


def set_tree_knobs(stages: float | None, max_rows: int | None) -> None:
    """Override the learner's tree size for this process (a setting under evaluation)."""
    if stages is not None:
        regression_learner.POINT_MODEL_STAGES = stages
    if max_rows is not None:
        regression_learner.TREE_MAX_ROWS = max_rows


def _train(units: dict[int, np.ndarray], cfg: FleetRulConfig, drain: bool) -> tuple[FleetModel | None, float]:
    views = {u: FleetView("engine", cfg) for u in units}
    learner, model, worst = FleetLearner("engine", cfg), None, 0.0
    for c in range(1, max(len(v) for v in units.values()) + 2):
        for u, rows in units.items():
            if c <= len(rows):
                views[u].update(_snap(f"t{u}", T0 + c * H), _feats(rows[c - 1]), model)
            elif c == len(rows) + 1:
                event = AssetEvent(f"t{u}", T0 + c * H, "failure")
                parts = views[u].close(event, cfg.life_chunk_rows)
                for item in [*parts, *views[u].refit_work(event)]:  # as the flow: parts, then tickets
                    t = time.process_time()
                    out = learner.learn(item) if isinstance(item, LifeChunk) else learner.work(item)
                    worst = max(worst, time.process_time() - t)
                    model = out[-1] if out else model
                if drain:
                    model = learner.drain(0.0) or model
    return model, worst


def run(subset: str, chunk_rows: int, fit_steps: int, drain: bool, catch_up_trees: int = 20,
        seed: int = 0, regressor: str | None = None) -> dict[str, Any]:
    """Train on the subset's training lives, score the test units' last cycles."""
    def load(name: str) -> np.ndarray:
        with gzip.open(DATA / f"{name}_{subset}.txt.gz") as f:
            return np.loadtxt(f)

    train, test, truth = load("train"), load("test"), load("RUL")
    cfg = FleetRulConfig(rul_features=("sensor_*.mean",), regime_features=("setting_*.mean",),
                         rul_cap_s=450000, min_lives=10, life_chunk_rows=chunk_rows,
                         fit_steps_per_call=fit_steps, model_delay_s=0, catch_up_trees=catch_up_trees,
                         seed=seed, regressor=regressor or FleetRulConfig().regressor)
    if cfg.regressor == "lightgbm":  # imported before the clock, as the flow does at its build
        import lightgbm  # noqa: F401
    t0 = time.process_time()
    model, worst = _train({int(u): train[train[:, 0] == u] for u in np.unique(train[:, 0])}, cfg, drain)
    start = T0 + timedelta(days=30)
    est = []
    for u in np.unique(test[:, 0]):
        view = FleetView("engine", cfg)
        snap = None
        for c, r in enumerate(test[test[:, 0] == u], 1):
            snap = view.update(_snap(f"x{int(u)}", start + c * H), _feats(r), model)
        est.append(min(((snap.rul_s if snap else None) or 0.0) / 3600.0, 125.0))
    d = np.array(est) - np.minimum(truth, 125.0)
    return {"benchmark": "cmapss_learner", "subset": subset, "chunk_rows": chunk_rows, "fit_steps": fit_steps,
            "drain": drain, "catch_up_trees": catch_up_trees, "seed": seed, "regressor": cfg.regressor,
            "rmse": round(float(np.sqrt(np.mean(d**2))), 2),
            "cpu_s": round(time.process_time() - t0, 1), "worst_learn_call_cpu_s": round(worst, 3)}


def main() -> None:
    """Parse the flags, run, print the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subset", default="FD001")
    p.add_argument("--chunk-rows", type=int, default=FleetRulConfig().life_chunk_rows)
    p.add_argument("--fit-steps", type=int, default=FleetRulConfig().fit_steps_per_call)
    p.add_argument("--drain", action="store_true")
    p.add_argument("--catch-up-trees", type=int, default=FleetRulConfig().catch_up_trees)
    p.add_argument("--seed", type=int, default=0, help="the fleet's [twin.fleet] seed (the trees' draws)")
    p.add_argument("--stages", type=float, default=None, help="the full fits' share of 200 stages")
    p.add_argument("--max-rows", type=int, default=None, help="rows sampled per tree")
    p.add_argument("--regressor", default=None, help="[twin.fleet] regressor (default: the config's)")
    p.add_argument("--lgbm-threads", type=int, default=None, help="LightGBM's num_threads (default 1)")
    a = p.parse_args()
    if a.lgbm_threads is not None:
        lgbm_trees.NUM_THREADS = a.lgbm_threads
    if a.regressor is not None and regressor_problem(a.regressor) is not None:
        p.exit(2, f"cmapss_learner: --regressor {a.regressor!r}: {regressor_problem(a.regressor)}\n")
    set_tree_knobs(a.stages, a.max_rows)
    print(json.dumps(run(a.subset, a.chunk_rows, a.fit_steps, a.drain, a.catch_up_trees, a.seed,
                         a.regressor)))


if __name__ == "__main__":
    main()
