"""C-MAPSS: the fleet learner's last model built offline from the training lives, per seed.

Run: ``.venv/bin/python benchmarks/quality/cmapss_final_fit.py --subset FD003 --seeds 0,1,2
[--mode last|full]``; ``--subset SIX`` is FD001 made six-regime (below).

Why: one backtest is one draw of the trees (~1 RMSE between seeds); a cause is judged on several
seeds, and building the model the flow ends with takes seconds instead of minutes. The training
lives are stored in failure order (the shortest first, as in the backtest) in a
:class:`~twin_models.rul.regression_learner.RegressionLearner` with the benchmark's settings.
``--mode last`` (default) builds the flow's last model: the refit the ``refit_growth`` schedule
makes last (94 of 100 lives) plus the catch-up on every life; ``--mode full`` one refit on every
life. The model answers each test unit at its last cycle (cap 125 cycles), as in ``cmapss.py``.

``SIX``: FD001 with each cycle put at one of the six real C-MAPSS set-points (altitude, Mach,
TRA, small noise) and every sensor mapped affinely per regime (seeded), so the regime
normalisation has to undo the operating point (the check for FD002/FD004, which are held out).
One JSON line per seed: RMSE, interval coverage (80 % nominal), mean error.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from twin_models.rul.fleet_model import FittedRegression
from twin_models.rul.regimes import OperatingRegimes
from twin_models.rul.regression_learner import Job, RegressionLearner

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cmapss"
H = 3600.0
CAP = 125.0
SETPOINTS = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100],
                      [42, 0.84, 100]], dtype=float)


def six_regimes(a: np.ndarray, part: str) -> np.ndarray:
    """FD001 rows at the six C-MAPSS set-points, each sensor scaled and shifted per regime."""
    rng = np.random.default_rng(12)
    scale = rng.uniform(0.8, 1.25, size=(6, 21))
    shift = rng.uniform(-0.15, 0.15, size=(6, 21)) * np.abs(a[:, 5:26].mean(axis=0))
    r = np.random.default_rng({"train": 1, "test": 2}[part]).integers(0, 6, size=len(a))
    a = a.copy()
    a[:, 2:5] = SETPOINTS[r] + np.random.default_rng(5).normal(0, 1, (len(a), 3)) * [0.002, 0.0003, 0.0]
    a[:, 5:26] = a[:, 5:26] * scale[r] + shift[r]
    return a


def load(data: Path, part: str, subset: str) -> np.ndarray:
    """One C-MAPSS file (``SIX``: FD001's, made six-regime)."""
    with gzip.open(data / f"{part}_{'FD001' if subset == 'SIX' else subset}.txt.gz") as f:
        a = np.loadtxt(f, ndmin=1)
    return six_regimes(a, part) if subset == "SIX" and part != "RUL" else a


def _drain(job: Job) -> FittedRegression:
    try:
        while True:
            next(job)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def last_model(train: np.ndarray, seed: int, mode: str) -> FittedRegression:
    """The learner's model after every training life (``last``: as the flow's schedule ends)."""
    lives = sorted((train[train[:, 0] == u] for u in np.unique(train[:, 0])), key=lambda r: (len(r), r[0, 0]))
    learner = RegressionLearner(21, window=30, baseline_windows=20, cap_s=CAP * H, min_lives=10,
                                max_lives=300, refit_growth=0.1, coverage=0.8,
                                regimes=OperatingRegimes(21, atol=0.02, rtol=0.02, max_regimes=12),
                                seed=seed, regressor="trees")
    n_fit = len(lives)
    if mode == "last":  # the schedule's last refit: lives grown by refit_growth since the one before
        n_fit = 10
        while n_fit + max(1, int(np.ceil(0.1 * n_fit - 1e-9))) <= len(lives):
            n_fit += max(1, int(np.ceil(0.1 * n_fit - 1e-9)))
    for i, r in enumerate(lives):
        times = (r[:, 1] + 1) * H  # the window of cycle c ends at c + 1 h; failure one cycle later
        s, x = r[:, 2:5].astype(np.float32), r[:, 5:26].astype(np.float32)
        learner.learn_life(times, s, x, s[:20], x[:20], times[0], True, (len(r) + 1) * H)
        if i + 1 == n_fit:
            learner.base = _drain(learner._job(learner._spec()))
            learner.lives_at_fit = learner.lives_in_model = n_fit
    if n_fit == len(lives):
        return learner.base
    return _drain(learner._job(learner._catch_up_spec()))


def score(model: FittedRegression, test: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """RMSE, coverage and mean error of the model at every test unit's last cycle."""
    est, inside = [], []
    for k, u in enumerate(np.unique(test[:, 0])):
        r = test[test[:, 0] == u]
        times = (r[:, 1] + 1) * H
        s, x = r[:, 2:5].astype(np.float32), r[:, 5:26].astype(np.float32)
        e = model.predict_rul(times[-30:], s[-30:], x[-30:], times[0], s[:20], x[:20])
        assert e is not None  # noqa: S101 - every test unit has windows
        est.append(min(e.rul_s / H, CAP))
        inside.append(e.lower_s / H <= min(truth[k], CAP) <= e.upper_s / H)
    d = np.array(est) - np.minimum(truth, CAP)
    return {"rmse": round(float(np.sqrt(np.mean(d**2))), 3), "coverage": round(float(np.mean(inside)), 3),
            "mean_error": round(float(d.mean()), 2)}


def _fail(problem: str) -> None:
    print(f"cmapss_final_fit: {problem}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    """Parse the flags; one JSON line per seed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subset", default="FD001", choices=("FD001", "FD002", "FD003", "FD004", "SIX"))
    p.add_argument("--seeds", default="0")
    p.add_argument("--mode", default="last", choices=("last", "full"))
    p.add_argument("--data", default=str(DATA))
    a = p.parse_args()
    data = Path(a.data)
    if not (data / "train_FD001.txt.gz").is_file():
        _fail(f"no C-MAPSS files in {data}")
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
    except ValueError:
        _fail(f"--seeds must be integers separated by commas, got {a.seeds!r}")
    train, test, truth = (load(data, part, a.subset) for part in ("train", "test", "RUL"))
    for seed in seeds:
        t0 = time.process_time()
        res = score(last_model(train, seed, a.mode), test, np.atleast_1d(truth))
        print(json.dumps({"benchmark": "cmapss_final_fit", "subset": a.subset, "mode": a.mode, "seed": seed,
                          **res, "cpu_s": round(time.process_time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
