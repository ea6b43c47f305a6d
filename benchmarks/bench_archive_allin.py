"""The archive write rate ALL-IN: the sink plus the archive work the window step does for it.

Run: ``.venv/bin/python benchmarks/bench_archive_allin.py --demo-archive DIR [--assets 100]``
(with ``PYTHONPATH=TREE`` and that tree's venv to measure another tree, e.g. main's).

Why (issue 10, round 14): since round 13 the window step packs each window's archive numbers
(:func:`flows.dataflow.window_tail.pack`, ~0.5 us per window) so that the features sink reads
them in one pass. ``bench_archive.py`` times the sink only, so CPU moved from the sink into the
window step looks like a saving there. This benchmark times, on the same one-date flushes as
``bench_archive.py``'s one-date shape (each UTC date's windows one flush, a live run's shape):

- ``step``: the window step's archive-only work over every window, called as the window step
  calls it (``pack(asset_id, start_us, end_us, n_records, n_events, spans)``; a tree without it:
  nothing); the window's feature map is built in either case, with or without the tail, so it
  is not counted;
- ``sink``: the features sink writing every flush (``bench_archive.sink_write_batches``);
- ``floor``: one default ``pq.write_table`` per flush of the same rows (tables built before any
  timing): the issue's floor;
- ``floor_same_settings`` (information, round 21): the floor's tables written with the sink's
  file settings (:func:`flows.archive.layout.write_options`: dictionaries on text only,
  statistics on the named columns, row groups and batch size; through :func:`~flows.archive.
  layout.write_file`'s buffer). The default ``write_table`` builds a dictionary of every double
  column and its statistics, which the sink does not: this floor says what the sink costs beyond
  writing the same rows the way it writes them.

``--values`` (round 21): the 100 assets' feature values (``bench_archive.VALUES``): from 8 demo
assets at other times (default), or exact copies of them (rounds 1-20), whose repeats made the
floor's dictionaries and snappy ~3x cheaper than on any fleet's values.

The four are timed ``--rounds`` times, alternated (the order rotates each round), ``gc.collect()``
before each, CPU seconds. Reported: medians, us per window, ``sink_vs_floor`` (what
``bench_archive.py`` reports) and ``allin_vs_floor`` = floor / (sink + step), the issue's figure
once nothing can be moved out of sight; ``allin_vs_floor_same_settings`` likewise; the MB each
wrote. ``--app-heap``: the malloc settings every ``twin`` command starts with, as the sink runs
in ``twin run`` (``bench_archive.app_heap``). Final line: JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_archive  # noqa: E402 - the benchmark's records, sink and floor


def step_work(records: list[Any]) -> Callable[[], float]:
    """A job timing the tree's window-step archive work over ``records`` (CPU seconds); the
    arguments are made before any timing, as the window step has them at hand."""
    try:
        from flows.dataflow.window_tail import pack
    except ImportError:  # a tree before round 13: the window step does nothing for the archive
        return lambda: 0.0
    calls = [(fv.asset_id, bench_archive.micros(fv.window_start), bench_archive.micros(fv.window_end),
              fv.n_records, len(fv.events), fv.inputs) for fv in records]

    def job() -> float:
        t = bench_archive.cpu()
        for call in calls:
            pack(*call)
        return bench_archive.cpu() - t

    return job


def floor_same_settings(tables: list[Any], root: Path) -> float:
    """CPU seconds of the floor's tables written with the sink's file settings (the layout's
    options and buffered write; a tree before them: ``write_table`` with what it has)."""
    from flows.archive import layout

    root.mkdir(parents=True, exist_ok=True)
    write = getattr(layout, "write_file", None)
    total = 0.0
    for i, table in enumerate(tables):
        t = bench_archive.cpu()
        options = layout.write_options("features", table.schema)
        if write is None:
            bench_archive.pq.write_table(table, root / f"one-{i}.parquet", **options)
        else:
            write(table, root / f"one-{i}.parquet", options)
        total += bench_archive.cpu() - t
    return total


def measure(records: list[Any], work: Path, rounds: int) -> dict[str, Any]:
    """Step, sink and floor over the one-date flushes, alternated ``rounds`` times."""
    by_date: dict[Any, list[Any]] = defaultdict(list)
    for rec in records:
        by_date[rec.window_start.date()].append(rec)
    dated = list(by_date.values())
    tables = bench_archive.floor_tables(dated)
    items = [bench_archive.sink_items(d) for d in dated]
    step = step_work(records)
    jobs: dict[str, Callable[[int], float]] = {
        "step": lambda _k: step(),
        "sink": lambda k: bench_archive.sink_write_batches(items, work / f"sink-{k}"),
        "floor": lambda k: bench_archive.floor_write(tables, work / f"floor-{k}"),
        "floor_same_settings": lambda k: floor_same_settings(tables, work / f"same-{k}"),
    }
    names = list(jobs)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for k in range(rounds):
        for name in names[k % len(names):] + names[:k % len(names)]:
            gc.collect()
            cpu[name].append(jobs[name](k))
    med = {name: statistics.median(v) for name, v in cpu.items()}
    n = len(records)
    allin = [f / (s + p) for f, s, p in zip(cpu["floor"], cpu["sink"], cpu["step"], strict=True)]
    return {"windows": n, "flushes": len(dated), "rounds": rounds,
            **{f"{name}_us_per_window": round(1e6 * med[name] / n, 3) for name in names},
            **{f"{name}_us_per_window_all": [round(1e6 * v / n, 3) for v in cpu[name]] for name in names},
            "sink_vs_floor": round(med["floor"] / med["sink"], 3),
            "allin_vs_floor": round(med["floor"] / (med["sink"] + med["step"]), 3),
            "allin_vs_floor_same_settings": round(med["floor_same_settings"] / (med["sink"] + med["step"]),
                                                  3),
            "floor_mb": round(_mb(work / "floor-0"), 2), "sink_mb": round(_mb(work / "sink-0"), 2),
            "allin_round_ratio_min_max": [round(min(allin), 3), round(max(allin), 3)]}


def _mb(folder: Path) -> float:
    """Megabytes of the Parquet files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures (last line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-archive", default=None, help="a `twin demo` output folder (default: run it)")
    p.add_argument("--assets", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds of step, sink and floor")
    p.add_argument("--app-heap", action="store_true",
                   help="apply the malloc settings every `twin` command starts with (flows/app/heap.py)")
    bench_archive.values_arg(p)
    args = p.parse_args(argv)
    heap = bench_archive.app_heap() if args.app_heap else False
    with tempfile.TemporaryDirectory(prefix="bench-archive-allin-") as tmp:
        work = Path(tmp)
        demo = bench_archive.demo_archive(args.demo_archive, work)
        records = bench_archive.feature_records(bench_archive.read_table(demo, "features"), args.assets,
                                                args.values)
        out = {"benchmark": "archive_allin", "tree": str(bench_archive.flows_tree()), "assets": args.assets,
               "app_heap": heap, "values": args.values, **measure(records, work, args.rounds)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
