"""Columns where the windows are born vs gathered at the flush (issue 10, archive target, idea 1).

Run: ``.venv/bin/python benchmarks/bench_archive_birth.py --demo-archive DIR [--assets 100]
[--rounds 5] [--dates 12]`` (the records of ``bench_archive.py``; ``--dates`` one-date flushes).

The sink reads ~15 Python objects per window when it flushes, long after the windows were made
(cold in the CPU caches). The alternative: build the columns where each window is born, while its
values are hot. Measured here, each on windows made fresh in the timed loop (a FeatureVector as
the aggregation makes it: new id string, datetimes, FeatureMap row, input spans), the CPU of the
creation alone subtracted (median of ``--rounds``, each arrangement alternated):

- ``gather at flush`` (what the sink does): the flush's windows made first, then
  :func:`~flows.dataflow.sinks.feature_blocks.feature_blocks` over them and
  :func:`~flows.dataflow.sinks.archive_features.block_tables`;
- ``block per batch``: a :class:`FeatureBlock` made from each Bytewax batch of ``B`` windows
  right after they are made (ARCHIVE7's step, the windows hot), ``block_tables`` at the flush;
- ``append at birth``: each window's values appended, as it is made, to per-flush int64 arrays,
  a bytearray of feature rows and dicts coding its asset id and sources (no per-batch object at
  all: the cheapest form a step could take), ONE block made from those at the flush, then
  ``block_tables``. This leaves out the window bounds' conversion (the aggregation knows its
  window id), so it is a lower bound of that design's cost.

Microseconds per window; last line JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from array import array
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_archive  # noqa: E402 - the benchmark's records

from flows.dataflow.sinks.archive_features import block_tables  # noqa: E402
from flows.dataflow.sinks.feature_blocks import FeatureBlock, feature_blocks  # noqa: E402
from twin_models.feature_map import FeatureMap  # noqa: E402
from twin_models.records import FeatureVector, InputSpan  # noqa: E402

_ZERO = timedelta(0)


def born(rec: Any) -> FeatureVector:
    """A fresh copy of ``rec`` made of new objects, as the aggregation makes a window."""
    fm = rec.features
    return FeatureVector("".join([rec.asset_id]), rec.window_start + _ZERO, rec.window_end + _ZERO,
                         FeatureMap(fm._items, fm.key_set, np.frombuffer(fm.raw, np.float64).copy()),
                         rec.n_records + 0, rec.events,
                         tuple(InputSpan(s.source, s.first + 0, s.last + 0) for s in rec.inputs))


class Appended:
    """One flush's columns, appended window by window where the windows are made."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.codes, self.start, self.end, self.n = array("q"), array("q"), array("q"), array("q")
        self.counts, self.span_codes, self.first, self.last = array("q"), array("q"), array("q"), array("q")
        self.raw = bytearray()
        self.names: tuple[str, ...] = ()

    def add(self, fv: Any, start_us: int, end_us: int) -> None:
        """One window (its bounds given as the aggregation knows them: integers)."""
        code = self.ids.get(fv.asset_id)
        if code is None:
            code = self.ids[fv.asset_id] = len(self.ids)
        self.codes.append(code)
        self.start.append(start_us)
        self.end.append(end_us)
        self.n.append(fv.n_records)
        self.raw += fv.features.raw
        self.counts.append(len(fv.inputs))
        for span in fv.inputs:
            s = self.sources.get(span.source)
            if s is None:
                s = self.sources[span.source] = len(self.sources)
            self.span_codes.append(s)
            self.first.append(span.first)
            self.last.append(span.last)
        self.names = fv.features.key_set.names

    def block(self) -> FeatureBlock:
        """The flush's block (zero-copy views of the arrays)."""
        def ints(a: array[int]) -> np.ndarray:
            return np.frombuffer(a, np.int64)

        n = len(self.codes)
        return FeatureBlock(list(self.ids), ints(self.codes), ints(self.start), ints(self.end), ints(self.n),
                            [""] * n, ints(self.counts), list(self.sources), ints(self.span_codes),
                            ints(self.first), ints(self.last), self.names,
                            np.frombuffer(bytes(self.raw), np.float64).reshape(n, -1))


def cpu() -> float:
    return time.process_time()


def arrangements(flushes: list[list[Any]], batch: int) -> dict[str, Callable[[], float]]:
    """Each arrangement: CPU seconds of making every flush's windows and its columns."""
    def create() -> float:
        t = cpu()
        for recs in flushes:
            for i in range(0, len(recs), batch):
                [born(r) for r in recs[i:i + batch]]
        return cpu() - t

    def gather() -> float:
        t = cpu()
        for recs in flushes:
            block_tables(feature_blocks([born(r) for r in recs]))
        return cpu() - t

    def per_batch() -> float:
        t = cpu()
        for recs in flushes:
            blocks = [b for i in range(0, len(recs), batch)
                      for b in feature_blocks([born(r) for r in recs[i:i + batch]])]
            block_tables(blocks)
        return cpu() - t

    def appended() -> float:
        t = cpu()
        for recs in flushes:
            acc = Appended()
            for i in range(0, len(recs), batch):
                for r in recs[i:i + batch]:
                    fv = born(r)
                    acc.add(fv, 0, 0)
            block_tables([acc.block()])
        return cpu() - t

    return {"create": create, "gather at flush": gather, "block per batch": per_batch,
            "append at birth": appended}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print each arrangement's microseconds per window over the creation (last line JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-archive", required=True)
    p.add_argument("--assets", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dates", type=int, default=12, help="one-date flushes measured")
    p.add_argument("--batches", default="8,100", help="windows per Bytewax batch (comma-separated)")
    args = p.parse_args(argv)
    records = bench_archive.feature_records(bench_archive.read_table(Path(args.demo_archive), "features"),
                                            args.assets)
    by_date: dict[Any, list[Any]] = defaultdict(list)
    for rec in records:
        by_date[rec.window_start.date()].append(rec)
    flushes = list(by_date.values())[:args.dates]
    n = sum(map(len, flushes))
    out: dict[str, Any] = {"benchmark": "archive_birth", "windows": n, "flushes": len(flushes)}
    for batch in map(int, args.batches.split(",")):
        jobs = arrangements(flushes, batch)
        seconds: dict[str, list[float]] = defaultdict(list)
        for r in range(args.rounds):
            for name, job in list(jobs.items())[::1 if r % 2 == 0 else -1]:
                gc.collect()
                seconds[name].append(job())
        made = statistics.median(seconds["create"])
        row = {"create_us": round(1e6 * made / n, 3)}
        row.update({k: round(1e6 * (statistics.median(v) - made) / n, 3) for k, v in seconds.items()
                    if k != "create"})
        out[f"batch_{batch}"] = row
        print(f"{batch:>4} windows per batch, us/window over their creation: {row}", file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
