"""The C-MAPSS backtest's per-window work without Bytewax: aggregate_window + twin_update.

Run: ``.venv/bin/python benchmarks/bench_cmapss_window.py [--src TREE] [--units N] [--subset FD001]``

Why: the full FD001 backtest (``benchmarks/quality/cmapss.py``) takes minutes and mixes the fleet
learner's CPU with the per-window cost; this replays the training units' windows (24 channels,
one sample per cycle, a failure after the last cycle) through the SAME step functions the
dataflow calls (``make_window_aggregator`` and the guarded ``twin_update``, with its undo), and
deep-copies every twin every ``--copy-every`` windows as Bytewax does at epoch ends. No fleet
model is published (the learner is not part of it), so the fused RUL is the twin's own.

``--src`` imports ``flows``/``twin_models`` from another source tree (e.g. an export of main), so
two trees are compared with the same script. Prints one JSON line: CPU seconds per part, per
window, and a digest of every output (feature vectors, snapshots, fused snapshots, life parts):
equal digests = the same outputs.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import os
import pickle
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2000, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
NAMES = [f"setting_{i}" for i in range(1, 4)] + [f"sensor_{i}" for i in range(1, 22)]


def _rows(data: Path, subset: str, units: int) -> np.ndarray:
    """The first ``units`` training units of the subset (unit, cycle, 3 settings, 21 sensors)."""
    path = data / f"train_{subset}.txt.gz"
    with gzip.open(path, "rt") if path.is_file() else open(data / f"train_{subset}.txt") as f:
        rows = np.loadtxt(f, ndmin=2)[:, :26]
    return rows[rows[:, 0] <= units]


def _digest(h: Any, item: Any) -> None:
    h.update(repr(item).encode())


def main(argv: list[str] | None = None) -> int:
    """Replay the windows; print the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--src", default=str(ROOT), help="source tree to import flows/twin_models from")
    ap.add_argument("--subset", default="FD001")
    ap.add_argument("--units", type=int, default=40)
    ap.add_argument("--copy-every", type=int, default=10, help="deep-copy a twin every N of its windows")
    ap.add_argument("--data", default=os.environ.get("TWIN_DATASETS", str(ROOT.parent / "shared/datasets"))
                    + "/cmapss")
    ap.add_argument("--dump", help="pickle the twins here at the end (for micro-benchmarks)")
    args = ap.parse_args(argv)
    rows = _rows(Path(args.data), args.subset, args.units)
    sys.path.insert(0, args.src)
    from benchmarks.quality.common import load_benchmark_config
    from flows.dataflow.guard import guard_stateful
    from flows.dataflow.items import ScalarBlock
    from flows.dataflow.metrics import PipelineMetrics
    from flows.dataflow.operators import OpenWindows, make_window_aggregator, twin_apply, twin_update
    from twin_models.records import EPOCH, AssetEvent, ScalarSample

    cfg, _ = load_benchmark_config(str(ROOT / "benchmarks/quality/configs/cmapss.toml"))
    m = PipelineMetrics()
    now = lambda: T0  # noqa: E731 - a fixed clock: the digest must not depend on the wall clock
    agg = make_window_aggregator(cfg.window_s, m, OpenWindows(cfg.window_s, m), now)
    from flows.dataflow import pipeline

    # the flow's undo setting (a tree from before it has none: the guard's default)
    undo = {"copy_ratio": pipeline.TWIN_UNDO_COPY_RATIO} if hasattr(pipeline, "TWIN_UNDO_COPY_RATIO") else {}
    step = guard_stateful("twin_update", twin_update({}, cfg.twin, m, None, now),
                          lambda s, x: twin_apply({}, cfg.twin, None)(s, x)[0],
                          lambda x: x.asset_id, m, now, **undo)
    windows: list[tuple[str, tuple[int, list[Any]]]] = []
    for u in np.unique(rows[:, 0]).astype(int):
        asset, life = f"train-{u}", rows[rows[:, 0] == u]
        for r in life:
            ts = T0 + int(r[1]) * HOUR
            block = ScalarBlock(asset, ts, tuple(ScalarSample(asset, n, ts, float(v))
                                                 for n, v in zip(NAMES, r[2:], strict=True)))
            windows.append((asset, ((ts - EPOCH) // HOUR, [block])))
        end = T0 + (int(life[-1, 1]) + 1) * HOUR
        windows.append((asset, ((end - EPOCH) // HOUR, [AssetEvent(asset, end, "failure")])))
    h = hashlib.sha256()
    states: dict[str, Any] = {}
    spent = {"aggregate_window": 0.0, "twin_update": 0.0, "deepcopy": 0.0}
    n = 0
    for asset, id_items in windows:
        t = time.process_time()
        fv = agg(asset, id_items)
        t1 = time.process_time()
        state, out = step(states.get(asset), fv)
        t2 = time.process_time()
        states[asset] = state
        n += 1
        if n % args.copy_every == 0:
            copy.deepcopy(state)
        t3 = time.process_time()
        spent["aggregate_window"] += t1 - t
        spent["twin_update"] += t2 - t1
        spent["deepcopy"] += t3 - t2
        _digest(h, (fv.asset_id, fv.window_start, dict(fv.features), fv.events))
        for item in out:
            _digest(h, item)
    if args.dump:
        Path(args.dump).write_bytes(pickle.dumps(states))
    result = {"benchmark": "cmapss_window", "src": args.src, "windows": n,
              "cpu_s": {k: round(v, 3) for k, v in spent.items()},
              "ms_per_window": {k: round(1000 * v / n, 4) for k, v in spent.items()},
              "digest": h.hexdigest()[:16]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
