"""NAB (Numenta Anomaly Benchmark) through the streaming pipeline, scored as published.

Run: ``.venv/bin/python benchmarks/quality/nab.py [--data DIR] [--categories C ...]
[--results-dir DIR] [--config FILE] [--no-progress]``

Every NAB file is one asset (asset_id = file stem) replayed through ``flows.app.backtest.run_backtest``,
i.e. the same ``get_flow`` dataflow as ``twin run``: decode, event-time windows, aggregation, the
asset twin (score first, then learn), alerts, archive. The window length of the configuration
(``window_s = 1``) makes every row its own window; each row's ``anomaly_score`` is read back from
``scores.parquet`` by mapping the row's replay time to its window (rows sharing a window would get
that window's score). The rows are scored with :func:`twin_models.evaluate.scoring.nab_score`: anomaly
windows from ``labels/combined_windows.json``, one optimised threshold per profile for the whole
corpus, probationary period, normalised scores (null detector 0, perfect 100).

**Duplicate and out-of-order timestamps.** NAB detectors see rows in file order, one input per
row; a few files repeat timestamps (daylight-saving artefacts: ``ec2_disk_write_bytes_1ef3de``,
``ec2_network_in_5abac7`` and ``ec2_request_latency_system_failure`` have 12 rows stamped
``2014-03-09 03:00:00``; ``machine_temperature_system_failure`` steps back one hour at row 10149
and repeats ``02:00``-``02:55``). The replay keeps every row, in file order, and moves a row that
is not later than its predecessor to 1 s after it (``t'_i = max(t_i, t'_{i-1} + 1 s)``): the
repeated hour becomes 12 rows one second apart right after 02:55, each still its own window.
Scoring uses the original timestamps and row order, as NAB's scorer does.

Outputs: NAB's results layout ``<results-dir>/<detector>/<category>/<detector>_<file>.csv``
(``timestamp,value,anomaly_score,label``, label 1 inside a labelled window; default results dir:
a new temporary directory, never the repository), a per-category table, and a final JSON line
with the three profile scores, ``n_files`` and ``seconds``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script: make the repository importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import run_main  # noqa: E402
from flows.app.backtest import BacktestResult, run_backtest
from flows.config.pipeline import PipelineConfig, load_config
from twin_models.evaluate.scoring import NabFile, label_rows, nab_score, normalised, window_rows

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "nab.toml"
LABELS = Path("labels") / "combined_windows.json"


def nab_root(data: str | None) -> Path:
    """The NAB directory (with ``data/`` and ``labels/``): ``--data``, else $TWIN_DATASETS/nab,
    else ``<repo>/../shared/datasets/nab``. ``--data`` may name the datasets dir or NAB itself."""
    base = Path(data or os.environ.get("TWIN_DATASETS") or ROOT.parent / "shared" / "datasets")
    base = base.expanduser()
    root = base if (base / LABELS).is_file() else base / "nab"
    if not (root / LABELS).is_file():
        msg = f"no NAB corpus at {base} (expected {LABELS} there or under nab/)"
        raise SystemExit(msg)
    return root


def _epoch(text: str) -> float:
    """NAB timestamp text (naive = UTC) -> epoch seconds."""
    ts = datetime.fromisoformat(text.strip())
    return (ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts).timestamp()


def read_nab_csv(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Timestamp texts, value texts and epoch seconds of a NAB file, in file order."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip().lower() for c in rows[0]] != ["timestamp", "value"]:
        msg = f"{path}: not a NAB file (header must be timestamp,value)"
        raise SystemExit(msg)
    body = [r for r in rows[1:] if r]
    return [r[0] for r in body], [r[1] for r in body], np.array([_epoch(r[0]) for r in body])


def replay_times(seconds: np.ndarray, step: float = 1.0) -> tuple[np.ndarray, int]:
    """Strictly increasing replay times in file order: a row not later than the previous one is
    moved to ``step`` after it. Returns the times and how many rows were moved."""
    out = np.array(seconds, dtype=float)
    moved = 0
    for i in range(1, out.size):
        if out[i] <= out[i - 1]:
            out[i] = out[i - 1] + step
            moved += 1
    return out, moved


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def corpus(root: Path, categories: Sequence[str] | None) -> list[tuple[str, Path]]:
    """(category, file) pairs of the corpus, sorted; every file must have labels."""
    labels = json.loads((root / LABELS).read_text())
    cats = sorted(p.name for p in (root / "data").iterdir() if p.is_dir())
    chosen = list(categories) if categories else cats
    unknown = sorted(set(chosen) - set(cats))
    if unknown:
        msg = f"unknown categories {unknown}; available: {cats}"
        raise SystemExit(msg)
    files = [(c, f) for c in chosen for f in sorted((root / "data" / c).glob("*.csv"))]
    missing = [f"{c}/{f.name}" for c, f in files if f"{c}/{f.name}" not in labels]
    if missing:
        msg = f"no labels for {missing[:3]}..."
        raise SystemExit(msg)
    stems = [f.stem for _, f in files]
    if len(set(stems)) != len(stems):
        msg = "two files share a stem (the asset id): run the categories separately"
        raise SystemExit(msg)
    return files


def window_scores(table: Mapping[str, list[Any]]) -> dict[tuple[str, float], float]:
    """(asset, window start in epoch seconds) -> anomaly score, from scores.parquet's columns."""
    return {(a, ws.timestamp()): s for a, ws, s in
            zip(table["asset_id"], table["window_start"], table["anomaly_score"], strict=True)}


def row_scores(by_window: Mapping[tuple[str, float], float], asset: str, times: np.ndarray,
               window_s: float) -> tuple[np.ndarray, int]:
    """Each row's score: the score of the window its replay time falls in (0 if none)."""
    starts = np.floor(times / window_s) * window_s
    scores = np.array([by_window.get((asset, float(w)), math.nan) for w in starts])
    missing = int(np.isnan(scores).sum())
    return np.nan_to_num(scores, nan=0.0), missing


def nab_file(cat: str, path: Path, secs: np.ndarray, scores: np.ndarray,
             labels: Mapping[str, Any]) -> NabFile:
    """The scorer's view of a file: name ``<category>/<file>``, epoch seconds, row scores, windows."""
    key = f"{cat}/{path.name}"
    return NabFile(key, secs, scores, [(_epoch(a), _epoch(b)) for a, b in labels[key]])


class CorpusRun(NamedTuple):
    """One pass of the corpus through the pipeline: each file's rows and per-row scores."""

    files: list[NabFile]  # name "<category>/<file>.csv", original epoch seconds, scores, windows
    texts: list[tuple[list[str], list[str]]]  # each file's timestamp and value texts
    moved: int
    unscored: int
    backtest: BacktestResult
    pipeline_s: float


def _write_replay(dest: Path, replay: np.ndarray, val_text: list[str]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows(zip((_iso(t) for t in replay), val_text, strict=True))


def run_corpus(files: Sequence[tuple[str, Path]], cfg: PipelineConfig, labels: Mapping[str, Any], *,
               progress: bool = True, keep_work: bool = False) -> CorpusRun:
    """Replay every file (one asset each) through ONE ``run_backtest`` and read each row's score."""
    work = Path(tempfile.mkdtemp(prefix="twinflow-nab-work-"))
    try:
        texts, secs_all, replays, inputs, moved = [], [], [], [], 0
        for cat, path in files:
            ts_text, val_text, secs = read_nab_csv(path)
            replay, n_moved = replay_times(secs)
            moved += n_moved
            _write_replay(work / "replay" / cat / path.name, replay, val_text)
            inputs.append(work / "replay" / cat / path.name)
            texts.append((ts_text, val_text))
            secs_all.append(secs)
            replays.append(replay)
        t0 = time.perf_counter()
        bt = run_backtest(inputs, work / "backtest", cfg, progress=progress, report=False)
        pipeline_s = time.perf_counter() - t0
        by_window = window_scores(pq.read_table(work / "backtest" / "scores.parquet",
                                                columns=["asset_id", "window_start", "anomaly_score"]
                                                ).to_pydict())
    finally:
        if keep_work:
            print(f"replay files and backtest output kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    nab_files, unscored = [], 0
    for (cat, path), secs, replay in zip(files, secs_all, replays, strict=True):
        scores, missing = row_scores(by_window, path.stem, replay, cfg.window_s)
        unscored += missing
        nab_files.append(nab_file(cat, path, secs, scores, labels))
    return CorpusRun(nab_files, texts, moved, unscored, bt, pipeline_s)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the per-category table and the final JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets dir or NAB dir (default: $TWIN_DATASETS or ../shared/datasets)")
    p.add_argument("--categories", nargs="+", help="NAB categories (default: every one present)")
    p.add_argument("--results-dir", help="where NAB's results layout is written (default: a temp dir)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="benchmark TOML (twinflow settings)")
    p.add_argument("--detector-name", default="twinflow", help="name used in the results layout")
    p.add_argument("--keep-work", action="store_true", help="keep the replay files and backtest output")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    start = time.perf_counter()
    root = nab_root(args.data)
    files = corpus(root, args.categories)
    cfg = load_config(Path(args.config))
    labels = json.loads((root / LABELS).read_text())
    results = Path(args.results_dir or tempfile.mkdtemp(prefix="twinflow-nab-")).expanduser()
    run = run_corpus(files, cfg, labels, progress=not args.no_progress, keep_work=args.keep_work)
    nab_files, moved, unscored, bt, pipeline_s = (run.files, run.moved, run.unscored, run.backtest,
                                                   run.pipeline_s)
    for (cat, path), f, (ts_text, val_text) in zip(files, nab_files, run.texts, strict=True):
        label = label_rows(len(f.timestamps), window_rows(f.timestamps, f.windows))
        out = results / args.detector_name / cat / f"{args.detector_name}_{path.name}"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "value", "anomaly_score", "label"])
            w.writerows(zip(ts_text, val_text, (repr(float(s)) for s in f.scores), label.tolist(),
                            strict=True))
    res = nab_score(nab_files)
    std = res["standard"].per_file
    cats = sorted({c for c, _ in files})
    categories = {}
    print(f"{'category':24s} {'files':>5s} {'windows':>7s} {'TP':>4s} {'FN':>4s} {'FP':>4s} "
          f"{'standard':>8s}")
    for c in cats:
        names = [n for n in std if n.startswith(c + "/")]
        agg = {k: int(sum(std[n][k] for n in names)) for k in ("windows", "tp", "fn", "fp")}
        score = normalised(std, names)
        categories[c] = {"files": len(names), **agg, "raw": round(sum(std[n]["raw"] for n in names), 4),
                         "standard": None if math.isnan(score) else round(score, 2)}
        print(f"{c:24s} {len(names):5d} {agg['windows']:7d} {agg['tp']:4d} {agg['fn']:4d} {agg['fp']:4d} "
              f"{'-' if math.isnan(score) else f'{score:.1f}':>8s}")
    summary: dict[str, Any] = {name: round(r.score, 2) for name, r in res.items()}
    summary.update({
        "thresholds": {name: r.threshold for name, r in res.items()},
        "n_files": len(nab_files),
        "rows": int(sum(len(f.scores) for f in nab_files)),
        "windows": int(sum(v["windows"] for v in std.values())),
        "rows_moved": moved,
        "rows_unscored": unscored,
        "records": bt.records,
        "pipeline_seconds": round(pipeline_s, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "categories": categories,
        "config": str(args.config),
        "results_dir": str(results),
    })
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    run_main(main, "nab")
