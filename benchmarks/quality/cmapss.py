"""NASA C-MAPSS turbofan RUL through the streaming pipeline: RMSE and PHM08 score.

Run: ``.venv/bin/python benchmarks/quality/cmapss.py [--data DIR] [--subset FD001] [--config FILE]
[--out DIR [--fresh]] [--no-progress]``

An ``--out`` that holds an earlier backtest's outputs (a stopped run's included) is refused (its
archive would mix runs) unless ``--fresh`` deletes them first (only what twinflow wrote there).

One procedure for every subset (FD001..FD004), ONE configuration (``configs/cmapss.toml``), ONE
backtest (:func:`flows.app.backtest.run_backtest`, i.e. the same ``get_flow`` as ``twin run``):

1. **Files.** ``train_FD00x`` and ``test_FD00x`` (unit, cycle, 3 settings, 21 sensors) become
   scalar-table files (``timestamp, asset_id, setting_1..3, sensor_1..21``). Time mapping:
   **1 cycle = 1 h of event time**: train unit ``u`` at cycle ``c`` is ``train-u`` at
   ``T0 + c h``; test units come after every training life has ended, ``test-u`` at
   ``T_test + c h`` with ``T_test = T0 + (longest training life + 2) h + model_delay_s`` (the
   fleet model learnt from a life applies that long after its failure) rounded up to a day. So
   the fleet RUL model has learnt the completed training lives before it sees a test unit, and
   nothing of a test unit's future or truth is ever replayed (prequential, no training on test).
2. **Events.** One ``failure`` per TRAIN unit at ``T0 + (last cycle + 1) h``: the window of cycle
   ``c`` ends at ``T0 + (c + 1) h``, so the true RUL of a training window is ``last - c`` cycles
   (the usual convention: 0 at the last cycle); an ``install`` (replacement) one cycle later
   closes the failure's window in event time. Test units get no event.
3. **RUL.** Each test unit's estimate at its last cycle is the ``rul`` of its last window in
   ``scores.parquet`` (seconds / 3600 = cycles), capped at 125 like the truth (``RUL_FD00x``,
   capped at 125). Metrics (:mod:`twin_models.evaluate.scoring`): RMSE and the PHM08 score of
   ``d = predicted - true``; coverage = share of test units whose capped true RUL lies inside
   ``[rul_lower, rul_upper]`` (nominal: the configuration's ``coverage``).

What estimates the RUL is the fleet step's regression learnt from completed lives
(:mod:`twin_models.rul.regression`): regime-normalised sensors (operating regimes found online),
their 30-cycle level and slope, level minus the engine's own first cycles, and age -> capped RUL.

Prints a per-unit table with ``--table``, then one JSON line: ``subset``, ``rmse``,
``phm08_score``, ``n_units``, ``coverage`` (+ nominal), ``mae``, ``seconds``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import load_benchmark_config, print_table, resolve_data_dir, run_main
from flows.app.backtest import BACKTEST_OUTPUTS, run_backtest
from flows.app.out_dir import earlier_runs, prepare_out
from twin_models.evaluate.scoring import phm08_score
from twin_models.text import first_few

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "cmapss.toml"
T0 = datetime(2000, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
CAP = 125.0
SETTINGS = [f"setting_{i}" for i in range(1, 4)]
SENSORS = [f"sensor_{i}" for i in range(1, 22)]
SUBSETS = ("FD001", "FD002", "FD003", "FD004")


def read_rows(path: Path) -> np.ndarray:
    """A C-MAPSS text file (gzip or plain): rows of unit, cycle, 3 settings, 21 sensors."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        data = np.loadtxt(f, ndmin=2)
    if data.shape[1] < 26:
        msg = f"{path}: expected 26 columns (unit, cycle, 3 settings, 21 sensors), got {data.shape[1]}"
        raise SystemExit(msg)
    return data[:, :26]


def _find(data: Path, stem: str) -> Path:
    for name in (f"{stem}.txt.gz", f"{stem}.txt"):
        if (data / name).is_file():
            return data / name
    msg = f"{stem}.txt(.gz) not found in {data}"
    raise SystemExit(msg)


def write_table(path: Path, rows: np.ndarray, prefix: str, start: datetime) -> Path:
    """A scalar-table Parquet file: one row per cycle, one column per setting/sensor."""
    cols: dict[str, Any] = {
        "timestamp": pa.array([start + int(c) * HOUR for c in rows[:, 1]], pa.timestamp("us", tz="UTC")),
        "asset_id": [f"{prefix}-{int(u)}" for u in rows[:, 0]],
    }
    for j, name in enumerate(SETTINGS + SENSORS):
        cols[name] = rows[:, 2 + j].astype(float)
    pq.write_table(pa.table(cols), path)
    return path


def write_failures(path: Path, train: np.ndarray) -> Path:
    """A failure one cycle after every training unit's last cycle, and an install one cycle later.

    The install (the failed engine is replaced) is what closes the failure's window: windows close
    on each asset's own event time, so an asset's last window would otherwise stay open until the
    end of the whole replay, and the fleet would learn the training lives only after the test units.
    """
    units = np.unique(train[:, 0]).astype(int)
    last = {u: int(train[train[:, 0] == u, 1].max()) for u in units}
    times = [T0 + (last[u] + k) * HOUR for u in units for k in (1, 2)]
    pq.write_table(pa.table({
        "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "asset_id": [f"train-{u}" for u in units for _ in (1, 2)],
        "event": ["failure", "install"] * len(units),
    }), path)
    return path


def start_of_tests(train: np.ndarray, model_delay_s: float = 0.0) -> datetime:
    """When the test units start: after the last training failure and the fleet model delay (a
    model learnt from a life applies ``model_delay_s`` of event time after its failure), on a
    whole day."""
    end = T0 + (int(train[:, 1].max()) + 2) * HOUR + timedelta(seconds=model_delay_s)
    days = math.ceil((end - T0) / timedelta(days=1))
    return T0 + timedelta(days=days)


def last_estimates(scores: Path, units: list[int]) -> dict[int, dict[str, float]]:
    """Each test unit's RUL (cycles) and interval at its last window."""
    table = pq.read_table(scores, columns=["asset_id", "window_start", "rul", "rul_lower", "rul_upper"])
    out: dict[int, dict[str, float]] = {}
    rows = sorted(table.to_pylist(), key=lambda r: (r["asset_id"], r["window_start"]))
    for r in rows:
        if r["asset_id"].startswith("test-"):
            out[int(r["asset_id"][5:])] = {k: (math.nan if r[k] is None else r[k] / 3600.0)
                                           for k in ("rul", "rul_lower", "rul_upper")}
    missing = [u for u in units if u not in out]
    if missing:
        msg = f"no snapshot for test units {missing[:5]}..."
        raise SystemExit(msg)
    return out


def evaluate(est: dict[int, dict[str, float]], truth: np.ndarray, units: list[int]) -> dict[str, Any]:
    """RMSE, PHM08, coverage; units without an estimate get the cap (the fleet's prior)."""
    true = np.minimum(truth, CAP)
    pred = np.array([est[u]["rul"] for u in units])
    n_missing = int(np.isnan(pred).sum())
    pred = np.minimum(np.where(np.isnan(pred), CAP, pred), CAP)
    lo = np.array([est[u]["rul_lower"] for u in units])
    hi = np.array([est[u]["rul_upper"] for u in units])
    inside = (lo <= true) & (true <= hi)
    d = pred - true
    return {
        "rmse": round(float(np.sqrt(np.mean(d**2))), 3),
        "phm08_score": round(phm08_score(d), 1),
        "mae": round(float(np.mean(np.abs(d))), 3),
        "n_units": len(units),
        "coverage": round(float(inside.mean()), 3),
        "mean_interval_cycles": round(float(np.nanmean(hi - lo)), 1),
        "units_without_estimate": n_missing,
        "_rows": [{"unit": u, "true": float(t), "pred": round(float(p), 1), "lower": round(float(a), 1),
                   "upper": round(float(b), 1)}
                  for u, t, p, a, b in zip(units, true, pred, lo, hi, strict=True)],
    }


def check_out(out: Path, *, fresh: bool) -> None:
    """Refuse an ``out`` holding an earlier backtest's outputs (one line, exit 2), or with
    ``fresh`` delete them (what twinflow wrote only; anything else there is refused)."""
    try:
        if fresh:
            prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
            return
        runs = earlier_runs(out / "archive")
    except ValueError as exc:  # a foreign file in a table folder, a linked table folder
        raise SystemExit(str(exc)) from None
    found = [f"archive/ of {len(runs)} earlier run{'s' if len(runs) != 1 else ''}"] if runs else []
    found += sorted({p.relative_to(out).as_posix() for pattern in BACKTEST_OUTPUTS
                     for p in out.glob(pattern)})
    if found:
        msg = (f"--out {out} holds an earlier backtest's outputs ({first_few(found, 3)}): use --fresh to "
               "delete them or choose another --out")
        raise SystemExit(msg)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (``--table``) and the final JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", help="C-MAPSS folder (default: $TWIN_DATASETS/cmapss or ../shared/datasets)")
    ap.add_argument("--subset", default="FD001", choices=SUBSETS)
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--out", help="backtest output folder (default: a temporary folder)")
    ap.add_argument("--fresh", action="store_true",
                    help="first delete an earlier backtest's outputs in --out (else that --out is refused)")
    ap.add_argument("--table", action="store_true", help="print the per-unit table")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    data = resolve_data_dir(args.data, "cmapss", "train_FD00*")
    cfg, _ = load_benchmark_config(args.config)
    started = time.perf_counter()
    train = read_rows(_find(data, f"train_{args.subset}"))
    test = read_rows(_find(data, f"test_{args.subset}"))
    truth = np.loadtxt(_find(data, f"RUL_{args.subset}"), ndmin=1)
    units = sorted(int(u) for u in np.unique(test[:, 0]))
    if len(truth) != len(units):
        msg = f"RUL_{args.subset} has {len(truth)} lines for {len(units)} test units"
        raise SystemExit(msg)
    if args.out:  # after every other check: --fresh deletes nothing for a run that cannot start
        check_out(Path(args.out), fresh=args.fresh)
    with tempfile.TemporaryDirectory(prefix="cmapss-") as tmp:
        work = Path(tmp)
        out = Path(args.out) if args.out else work / "out"
        test_start = start_of_tests(train, cfg.twin.fleet.model_delay_s)
        inputs = [write_table(work / "train.parquet", train, "train", T0),
                  write_table(work / "test.parquet", test, "test", test_start)]
        events = [write_failures(work / "failures.parquet", train)]
        bt = run_backtest(inputs, out, cfg, events=events, progress=not args.no_progress, report=False)
        est = last_estimates(out / "scores.parquet", units)
    res = evaluate(est, truth, units)
    rows = res.pop("_rows")
    if args.table:
        print_table(rows, ["unit", "true", "pred", "lower", "upper"])
    summary = {"benchmark": "cmapss", "subset": args.subset, **res,
               "coverage_nominal": cfg.twin.fleet.coverage,
               "seconds": round(time.perf_counter() - started, 1),
               "step_calls": bt.metrics.step_calls()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    run_main(main, "cmapss")
