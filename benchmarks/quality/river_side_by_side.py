"""River's models side by side with twinflow's own, through the same harness per task (issue 12).

Run: ``.venv/bin/python benchmarks/quality/river_side_by_side.py --task cmapss|nab|skab
[--subset FD001 FD003] [--candidates NAME ...] [--no-progress]``

- ``cmapss``: the fleet RUL regression on C-MAPSS through the pure learner replay of
  ``cmapss_learner.py`` (FleetView + FleetLearner, no Bytewax), one ``[twin.fleet] regressor``
  per candidate and nothing else changed: the training lives are replayed, the learner's first and
  only fit comes once every training life is learnt (``min_lives`` = the training lives, so every
  candidate is judged on the same final model: all lives, cross-fitted intervals), then each test
  unit is replayed and its last-cycle RUL scored (RMSE, PHM08, MAE, capped at 125 cycles).
  CPU: the training replay with the fit, and the test replay per window.
- ``nab``: ``nab.py`` (the dataflow, NAB's scorer, the three profiles) once per
  ``twin.detector``, everything else of ``configs/nab.toml`` unchanged.
- ``skab``: the SKAB-like multivariate pump bench of :mod:`benchmarks.quality.skab_like`
  through ``twin backtest``, one configuration, one run per detector.

River's models run with River's defaults (no sweep on scored data). Prints a table per task and a
final JSON line (every candidate's figures).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality import cmapss_learner as replay
from benchmarks.quality.common import run_main
from twin_models.evaluate.scoring import phm08_score
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_view import FleetView

HERE = Path(__file__).resolve().parent
RUL_CANDIDATES = ("trees", "river.tree.HoeffdingTreeRegressor", "river.tree.HoeffdingAdaptiveTreeRegressor",
                  "river.forest.ARFRegressor", "river.linear_model.LinearRegression")
DETECTOR_CANDIDATES = ("novelty", "river.anomaly.HalfSpaceTrees", "river.anomaly.OneClassSVM",
                       "river.anomaly.LODA")
SKAB_CANDIDATES = ("baseline", "river.anomaly.HalfSpaceTrees", "river.anomaly.OneClassSVM",
                   "river.anomaly.LODA")
CAP = 125.0


def _load(subset: str, name: str) -> np.ndarray:
    with gzip.open(replay.DATA / f"{name}_{subset}.txt.gz") as f:
        return np.loadtxt(f)


def cmapss_candidate(subset: str, regressor: str, seed: int = 0) -> dict[str, Any]:
    """One regressor's final fleet model on a C-MAPSS subset: RMSE, PHM08, MAE and CPU."""
    train, test, truth = _load(subset, "train"), _load(subset, "test"), _load(subset, "RUL")
    units = {int(u): train[train[:, 0] == u] for u in np.unique(train[:, 0])}
    cfg = FleetRulConfig(rul_features=("sensor_*.mean",), regime_features=("setting_*.mean",),
                         rul_cap_s=CAP * 3600, min_lives=len(units), model_delay_s=0, seed=seed,
                         regressor=regressor)
    t0 = time.process_time()
    model, worst = replay._train(units, cfg, drain=True)
    train_cpu = time.process_time() - t0
    start = replay.T0 + replay.timedelta(days=30)
    est, windows, t1 = [], 0, time.process_time()
    for u in np.unique(test[:, 0]):
        view, snap = FleetView("engine", cfg), None
        for c, r in enumerate(test[test[:, 0] == u], 1):
            snap = view.update(replay._snap(f"x{int(u)}", start + c * replay.H), replay._feats(r), model)
            windows += 1
        est.append(min(((snap.rul_s if snap else None) or 0.0) / 3600.0, CAP))
    d = np.array(est) - np.minimum(truth, CAP)
    return {"task": "cmapss", "subset": subset, "candidate": regressor, "seed": seed,
            "rmse": round(float(np.sqrt(np.mean(d**2))), 2), "phm08": round(float(phm08_score(d)), 1),
            "mae": round(float(np.mean(np.abs(d))), 2), "train_cpu_s": round(train_cpu, 1),
            "worst_learner_call_cpu_s": round(worst, 2),
            "predict_cpu_ms_per_window": round(1000 * (time.process_time() - t1) / windows, 3)}


def _config_with(base: Path, detector: str, dest: Path) -> Path:
    """``base`` with ``[pipeline.twin] detector`` replaced (the only line that changes)."""
    lines = base.read_text().splitlines()
    out = [f'detector = "{detector}"' if ln.strip().startswith("detector =") else ln for ln in lines]
    if out == lines and tomllib.loads(base.read_text())["pipeline"]["twin"].get("detector") != detector:
        msg = f"{base}: no 'detector =' line to replace"
        raise SystemExit(msg)
    dest.write_text("\n".join(out) + "\n")
    return dest


def nab_candidate(detector: str, progress: bool) -> dict[str, Any]:
    """NAB's three profile scores (and per category) of one ``twin.detector``."""
    from benchmarks.quality import nab

    with tempfile.TemporaryDirectory(prefix="twinflow-river-nab-") as tmp:
        cfg = _config_with(nab.DEFAULT_CONFIG, detector, Path(tmp) / "nab.toml")
        t0 = time.process_time()
        res = nab.main(["--config", str(cfg), "--results-dir", str(Path(tmp) / "results"),
                        "--detector-name", detector.rsplit(".", 1)[-1]]
                       + ([] if progress else ["--no-progress"]))
        cpu = time.process_time() - t0
    return {"task": "nab", "candidate": detector, "standard": res["standard"],
            "low_fp": res["reward_low_FP_rate"], "low_fn": res["reward_low_FN_rate"],
            "categories": {c: v["standard"] for c, v in res["categories"].items()},
            "seconds": res["seconds"], "cpu_s": round(cpu, 1)}


def _arguments_problem(task: str, subsets: list[str], candidates: list[str]) -> str | None:
    """What is wrong with the subsets or candidates of ``task`` (None when usable)."""
    from twin_models.anomaly.selection import detector_problem
    from twin_models.rul.regressors import regressor_problem

    check = regressor_problem if task == "cmapss" else detector_problem
    for c in candidates:
        problem = check(c)
        if problem:
            return f"candidate {c!r}: {problem}"
    missing = [s for s in subsets if not (replay.DATA / f"train_{s}.txt.gz").is_file()]
    if task == "cmapss" and missing:
        return f"no C-MAPSS subset {', '.join(missing)} in {replay.DATA}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run every candidate of the task, print the table and the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", required=True, choices=("cmapss", "nab", "skab"))
    p.add_argument("--subset", nargs="+", default=["FD001", "FD003"], help="C-MAPSS subsets")
    p.add_argument("--candidates", nargs="+", help="models to compare (default: the task's list)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    problem = _arguments_problem(a.task, a.subset, a.candidates or [])
    if problem:
        p.error(problem)  # one line on stderr, exit 2
    rows: list[dict[str, Any]] = []
    if a.task == "cmapss":
        jobs = [(s, c) for s in a.subset for c in (a.candidates or RUL_CANDIDATES)]
        for s, c in tqdm(jobs, desc="cmapss", disable=a.no_progress):
            rows.append(cmapss_candidate(s, c, a.seed))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    elif a.task == "nab":
        for c in tqdm(a.candidates or DETECTOR_CANDIDATES, desc="nab", disable=a.no_progress):
            rows.append(nab_candidate(c, progress=False))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    else:
        from benchmarks.quality import skab_like

        rows = skab_like.side_by_side(a.candidates or SKAB_CANDIDATES, progress=not a.no_progress)
    print(json.dumps({"benchmark": "river_side_by_side", "task": a.task, "results": rows}))
    return 0


if __name__ == "__main__":
    run_main(main, "river_side_by_side")
