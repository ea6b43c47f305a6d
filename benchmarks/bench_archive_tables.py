"""The archive write rate of every table but ``features``: each sink against a bare ``write_table``.

Run: ``.venv/bin/python benchmarks/bench_archive_tables.py [--records FILE] [--save-records FILE]``
(with ``PYTHONPATH=TREE`` to measure another tree, e.g. main's, on the same records).

Why (issue 10, round 26): the issue's target, "write rate >= 0.8x a bare ``pyarrow.parquet.
write_table`` of the same rows", was only ever measured on ``features`` (``bench_archive.py``,
``bench_archive_allin.py``); ARCHIVE26 found the ``twin_state`` sink at ~0.22x. The records are the
ones a ``twin demo --seed 7`` run hands the archive sink: the demo runs in this process with
:func:`flows.dataflow.sinks.archive.write_records` wrapped to keep a copy of every flush (``--records``
reads them from a pickle that ``--save-records`` wrote, so two trees time the same flushes). For each
table, ``--rounds`` times, alternated (the order rotates each round), ``gc.collect()`` before each,
CPU seconds:

- ``sink``: ``write_records`` of every flush, as the sink's writer thread calls it (one file per
  date of a flush), into an archive root made before the timing (as the floor's folder is; until
  round 28 the sink's timing also made the root, one ``mkdir`` of ~90 us on the shared VM, paid
  by ``data_quality``'s single file in full); the table and date folders are the sink's, timed;
- ``floor``: one default ``pq.write_table`` per (flush, date) of the same rows (``archive_row`` of
  each record, the folder's ``date`` left out) into one folder made before the timing, the tables
  built before any timing.

Reported per table: rows, flushes, files, medians in us per row, every round's figure and ``rate`` =
floor / sink (the issue's figure). ``--app-heap``: the malloc settings every ``twin`` command starts
with, as in ``twin run``. Final line: JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import pickle
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_archive  # noqa: E402 - app_heap, cpu, flows_tree


def demo_flushes(out: Path) -> dict[str, list[list[Any]]]:
    """Every flush the archive sink writes in a ``twin demo --seed 7`` run, by table (not
    ``features``: ``bench_archive.py`` measures it, from items that may be column blocks)."""
    from flows.cli.main import main as twin
    from flows.dataflow.sinks import archive

    flushes: dict[str, list[list[Any]]] = defaultdict(list)
    write = archive.write_records

    def keep(root: Path, table: str, records: list[Any], *rest: Any) -> int:
        if table != "features":
            flushes[table].append(list(records))
        return write(root, table, records, *rest)

    archive.write_records = keep  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(None):  # the demo's report: not this benchmark's output
            twin(["demo", "--seed", "7", "--fresh", "--json", "--no-progress", "--out", str(out)])
    except SystemExit as exit_:
        if exit_.code:
            raise
    finally:
        archive.write_records = write  # type: ignore[assignment]
    return dict(flushes)


def measure(table: str, flushes: list[list[Any]], work: Path, rounds: int) -> dict[str, Any]:
    """Sink and floor of one table's flushes, alternated ``rounds`` times."""
    from flows.codec.command_fields import ARCHIVE_MAPPINGS
    from flows.dataflow.sinks.archive import write_records
    from flows.dataflow.sinks.archive_columns import date_groups

    row = {m.table: m.archive_row for m in ARCHIVE_MAPPINGS}[table]
    tables = []
    for flush in flushes:
        for part in date_groups(table, flush).values():
            rows = [row(r) for r in part]
            for r in rows:
                del r["date"]
            tables.append(pa.Table.from_pylist(rows))

    def sink(k: int) -> float:
        root = work / f"sink-{k}"
        root.mkdir(parents=True)  # the archive root is there, as the floor's folder is (round 28)
        t = bench_archive.cpu()
        for i, flush in enumerate(flushes):
            write_records(root, table, flush, f"p{i}", "bench")
        return bench_archive.cpu() - t

    def floor(k: int) -> float:
        folder = work / f"floor-{k}"
        folder.mkdir(parents=True)
        t = bench_archive.cpu()
        for i, data in enumerate(tables):
            pq.write_table(data, folder / f"{i}.parquet")
        return bench_archive.cpu() - t

    jobs = {"sink": sink, "floor": floor}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    for k in range(rounds):
        for name in list(jobs)[k % 2:] + list(jobs)[:k % 2]:
            gc.collect()
            cpu[name].append(jobs[name](k))
    n = sum(map(len, flushes))
    med = {name: statistics.median(v) for name, v in cpu.items()}
    return {"rows": n, "flushes": len(flushes), "files": len(tables),
            **{f"{name}_us_per_row": round(1e6 * med[name] / n, 2) for name in jobs},
            **{f"{name}_us_per_row_all": [round(1e6 * v / n, 2) for v in cpu[name]] for name in jobs},
            "rate": round(med["floor"] / med["sink"], 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures (last line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", default=None, help="flushes saved by --save-records (default: run the demo)")
    p.add_argument("--save-records", default=None, help="save the demo's flushes here (a pickle)")
    p.add_argument("--tables", default=None, help="comma-separated tables (default: every one captured)")
    p.add_argument("--rounds", type=int, default=5, help="alternated rounds of sink and floor")
    p.add_argument("--app-heap", action="store_true",
                   help="apply the malloc settings every `twin` command starts with (flows/app/heap.py)")
    args = p.parse_args(argv)
    heap = bench_archive.app_heap() if args.app_heap else False
    with tempfile.TemporaryDirectory(prefix="bench-archive-tables-") as tmp:
        work = Path(tmp)
        if args.records:
            with open(args.records, "rb") as f:
                flushes = pickle.load(f)  # noqa: S301 - a file this benchmark wrote
        else:
            flushes = demo_flushes(work / "demo")
        if args.save_records:
            with open(args.save_records, "wb") as f:
                pickle.dump(flushes, f)
        names = args.tables.split(",") if args.tables else sorted(flushes)
        figures = {t: measure(t, flushes[t], work / t, args.rounds) for t in names}
    for t, fig in figures.items():
        print(f"{t}: {fig['rows']} rows, {fig['files']} files: sink {fig['sink_us_per_row']} us/row, "
              f"floor {fig['floor_us_per_row']} us/row, rate {fig['rate']}x")
    out = {"benchmark": "archive_tables", "tree": str(bench_archive.flows_tree()), "app_heap": heap,
           "rounds": args.rounds, "load_1min": round(os.getloadavg()[0], 2), "tables": figures}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
