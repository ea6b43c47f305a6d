"""What the duplicate check costs per window (``flows/dataflow/duplicates.py``, round 17).

Run: ``.venv/bin/python benchmarks/bench_duplicates.py [--repeats 7]``

Why: ``aggregate_window`` now splits every closed window's later copies of a record off before it
computes features. This times, on the window shapes the flow sees, the check alone
(``split_duplicates``) and the whole window step (``make_window_aggregator``) with the check and
with it replaced by a no-op, in alternated repeats (A B A B ...) with ``gc.collect()`` before each,
CPU time (``process_time``), medians. "The check" is what the step adds: the filter on the
columns it builds anyway (``may_hold_copies``), and the exact split (``split_duplicates``) when
that fires; "without" replaces the filter by ``False`` (the step as before round 17). Shapes
(no duplicates, the common case, but the last):

- ``pieces``: a file replay's window, 4 channels x 1 Hz x 1 h as two column pieces (14,400 samples);
- ``blocks``: a live run's window, 4 channels x 1 Hz x 1 h in blocks of 64 samples;
- ``cmapss``: one cycle of C-MAPSS, 24 lone samples;
- ``frames``: 60 frame features of one channel (the features themselves precomputed) + 4 x 60 scalars;
- ``pieces_dup``: ``pieces`` delivered twice (every sample a duplicate: the worst case).

Prints one JSON line: per shape, microseconds per window of the check, of the step with and
without it, and the check's share of the step.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from flows.dataflow import operators
from flows.dataflow.duplicates import may_hold_copies, split_duplicates
from flows.dataflow.items import FrameFeatures, ScalarBlock, ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.window_columns import scalar_columns
from twin_models.records import EPOCH, AssetEvent, ScalarSample

NOW = datetime(2030, 1, 1, tzinfo=UTC)
WINDOW_S = 3600.0
WINDOW_ID = 500_000  # 2027
START = EPOCH + WINDOW_ID * timedelta(seconds=WINDOW_S)
CHANNELS = ("temperature", "pressure", "current", "speed")


def _piece(times_s: np.ndarray, rng: np.random.Generator) -> ScalarColumns:
    n = len(times_s)
    times = np.repeat((START - EPOCH) // timedelta(microseconds=1) + (times_s * 1e6).astype(np.int64), 4)
    idx = np.tile(np.arange(4, dtype=np.int16), n)
    return ScalarColumns.of("p1", times, idx, CHANNELS, rng.normal(40.0, 1.0, 4 * n), "file:a.csv",
                            np.arange(4 * n, dtype=np.int64))


def shapes() -> dict[str, list[Any]]:
    """The windows (items in arrival order), built before any timing."""
    rng = np.random.default_rng(7)
    half = np.arange(1800, dtype=np.float64)
    pieces: list[Any] = [_piece(half, rng), _piece(half + 1800, rng)]
    rows = [ScalarSample("p1", c, START + timedelta(seconds=t), float(v)) for t in range(3600)
            for c, v in zip(CHANNELS, rng.normal(40, 1, 4), strict=True)]
    blocks: list[Any] = [ScalarBlock("p1", rows[k + 63].timestamp, tuple(rows[k:k + 64]))
                         for k in range(0, len(rows), 64)]
    cmapss: list[Any] = [ScalarSample("p1", f"sensor_{i}", START, float(i)) for i in range(24)]
    names = [f"f{i}" for i in range(60)]
    frames: list[Any] = [FrameFeatures("p1", "vib", START + timedelta(seconds=60 * k),
                                       dict(zip(names, rng.normal(size=60).tolist(), strict=True)),
                                       tuple(rng.normal(size=8).tolist())) for k in range(60)]
    frames += rows[: 4 * 60]
    return {"pieces": pieces, "blocks": blocks, "cmapss": cmapss, "frames": frames,
            "pieces_dup": pieces + pieces}


def _exact_if_flagged(items: list[Any]) -> Any:
    """The window step's check alone: the filter on its columns, frames and events, then the
    exact split only when the filter fires (the columns built before, as the step has them)."""
    frames = [i for i in items if type(i) is FrameFeatures]
    events = [i for i in items if type(i) is AssetEvent]
    return may_hold_copies(_COLUMNS[id(items)], frames, events) and split_duplicates(items, NOW)


_COLUMNS: dict[int, Any] = {}


def _cpu(fn: Callable[[], Any], n: int) -> float:
    gc.collect()
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n


def main(argv: list[str] | None = None) -> int:
    """Time each shape; print the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--repeats", type=int, default=7, help="alternated repeats per shape")
    args = p.parse_args(argv)
    m = PipelineMetrics()
    windows = operators.OpenWindows(WINDOW_S, m)
    with_check = operators.make_window_aggregator(WINDOW_S, m, windows, lambda: NOW)
    real = operators.may_hold_copies
    out: dict[str, Any] = {}
    for name, items in shapes().items():
        _COLUMNS[id(items)] = scalar_columns(items)[0]
        n = max(3, int(0.2 / max(_cpu(lambda i=items: with_check("p1", (WINDOW_ID, i)), 1), 1e-6)))
        check, on, off = [], [], []
        for _ in range(args.repeats):
            check.append(_cpu(lambda i=items: _exact_if_flagged(i), n))
            on.append(_cpu(lambda i=items: with_check("p1", (WINDOW_ID, i), []), n))
            operators.may_hold_copies = lambda *_a: False  # type: ignore[assignment]
            try:
                off.append(_cpu(lambda i=items: with_check("p1", (WINDOW_ID, i), []), n))
            finally:
                operators.may_hold_copies = real
        pairs = (("check", check), ("step", on), ("step_without", off))
        med = {k: statistics.median(v) * 1e6 for k, v in pairs}
        out[name] = {"check_us": round(med["check"], 1), "step_us": round(med["step"], 1),
                     "step_without_check_us": round(med["step_without"], 1),
                     "check_share_of_step": round(med["check"] / med["step"], 4),
                     "check_us_spread": [round(min(check) * 1e6, 1), round(max(check) * 1e6, 1)]}
    print(json.dumps({"benchmark": "duplicates", "repeats": args.repeats, "windows": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
