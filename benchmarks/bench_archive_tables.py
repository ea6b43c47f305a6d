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
floor / sink (the issue's figure; ``wall_rate`` the same of wall seconds). ``--app-heap``: the malloc
settings every ``twin`` command starts with, as in ``twin run``. Final line: JSON.

``--fleet ASSETS`` (round 43, ARCH43): ``twin_state`` at a production shape instead of the demo's
~184-row files: a day of ASSETS assets' one-minute windows (100 assets: 144,000 rows), each row a
demo row (:func:`fleet_day`: texts kept, new asset id and times, its numbers made distinct unless
``--fleet-values copies``) arriving time-major as a live fleet's do, cut into flushes of
``--batch-rows`` rows (default the sink's, ``archive_batch_rows`` = 20,000; a comma list measures
each size in turn, for the rows per file where the rate crosses 0.8).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import pickle
import shutil
import stat
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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

    def keep(root: Path, table: str, records: Any, *rest: Any) -> int:
        if table != "features":  # the sink's flush: records converted as they came (round 46), or a list
            flushes[table].append(list(getattr(records, "items", records)))
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


FLEET_DAY = datetime(2026, 1, 5, tzinfo=UTC)
_NUMBERS = ("anomaly_score", "health_index", "rul_s", "rul_lower_s", "rul_upper_s", "degradation",
            "damage", "damage_rul_s", "damage_rul_lower_s", "damage_rul_upper_s", "verdict_confidence")


def fleet_day(recs: list[Any], assets: int, *, distinct: bool = True, minutes: int = 1440) -> list[Any]:
    """A day of ``assets`` assets' one-minute ``twin_state`` rows made of the demo's rows ``recs``,
    in arrival order (minute by minute, the fleet's assets in turn): asset ``k``'s minute ``m`` is
    demo row ``(k * minutes + m) % len(recs)`` with asset id ``asset-<k>``, ``window_start`` the
    day's minute ``m`` (the row's date) and ``timestamp`` a minute later; every text (context,
    lineage, top features, data quality, evidence) as the demo wrote it. ``distinct``: each
    non-null number of the row scaled by ``1 + 1e-9 * (its index + 1)`` so that no two rows'
    numbers repeat (a fleet's scores do not; the demo's repeated would make the floor's
    dictionaries cheaper than on real rows)."""
    out = []
    for m in range(minutes):
        when = FLEET_DAY + timedelta(minutes=m)
        for k in range(assets):
            src = recs[(k * minutes + m) % len(recs)]
            change: dict[str, Any] = {"asset_id": f"asset-{k:03d}", "window_start": when,
                                      "timestamp": when + timedelta(minutes=1)}
            if distinct:
                f = 1.0 + 1e-9 * (len(out) + 1)
                change.update({n: getattr(src, n) * f for n in _NUMBERS if getattr(src, n) is not None})
            out.append(replace(src, **change))
    return out


def cut(rows: list[Any], size: int) -> list[list[Any]]:
    """``rows`` as the sink's flushes of ``size`` rows (the last one shorter), in order."""
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def default_batch_rows() -> int:
    """The archive sink's default flush size (``archive_batch_rows``)."""
    import inspect

    from flows.dataflow.sinks.archive import ParquetArchiveSink

    return int(inspect.signature(ParquetArchiveSink).parameters["batch_rows"].default)


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

    def sink(k: int) -> tuple[float, float]:
        root = work / f"sink-{k}"
        root.mkdir(parents=True)  # the archive root is there, as the floor's folder is (round 28)
        w, t = time.perf_counter(), bench_archive.cpu()
        for i, flush in enumerate(flushes):
            write_records(root, table, flush, f"p{i}", "bench")
        return bench_archive.cpu() - t, time.perf_counter() - w

    def floor(k: int) -> tuple[float, float]:
        folder = work / f"floor-{k}"
        folder.mkdir(parents=True)
        w, t = time.perf_counter(), bench_archive.cpu()
        for i, data in enumerate(tables):
            pq.write_table(data, folder / f"{i}.parquet")
        return bench_archive.cpu() - t, time.perf_counter() - w

    jobs = {"sink": sink, "floor": floor}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    wall: dict[str, list[float]] = {name: [] for name in jobs}
    for k in range(rounds):
        for name in list(jobs)[k % 2:] + list(jobs)[:k % 2]:
            gc.collect()
            c, w = jobs[name](k)
            cpu[name].append(c)
            wall[name].append(w)
            shutil.rmtree(work / f"{name}-{k}")  # a day's files each round: only one at a time on disk
    n = sum(map(len, flushes))
    med = {name: statistics.median(v) for name, v in cpu.items()}
    wmed = {name: statistics.median(v) for name, v in wall.items()}
    return {"rows": n, "flushes": len(flushes), "files": len(tables),
            **{f"{name}_us_per_row": round(1e6 * med[name] / n, 2) for name in jobs},
            **{f"{name}_us_per_row_all": [round(1e6 * v / n, 2) for v in cpu[name]] for name in jobs},
            "rate": round(med["floor"] / med["sink"], 3), "wall_rate": round(wmed["floor"] / wmed["sink"], 3)}


def _flushes_shape(flushes: Any) -> bool:
    """Whether ``flushes`` (a pickle's) is what ``--save-records`` writes: archive table -> list of
    flushes, each a list of that table's records (round 45: round 44 checked the records' type under
    ``--fleet`` only, and a flush of anything else failed inside the timing)."""
    from flows.codec.command_fields import ARCHIVE_MAPPINGS

    kinds = {m.table: m.record for m in ARCHIVE_MAPPINGS}

    def flushes_of(table: str, v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(f, list) and all(isinstance(r, kinds[table]) for r in f)
                                           for f in v)

    return isinstance(flushes, dict) and all(t in kinds and flushes_of(t, v) for t, v in flushes.items())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures (last line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", default=None, help="flushes saved by --save-records (default: run the demo)")
    p.add_argument("--save-records", default=None, help="save the demo's flushes here (a pickle)")
    p.add_argument("--tables", default=None, help="comma-separated tables (default: every one captured)")
    p.add_argument("--rounds", type=int, default=5, help="alternated rounds of sink and floor")
    p.add_argument("--app-heap", action="store_true",
                   help="apply the malloc settings every `twin` command starts with (flows/app/heap.py)")
    p.add_argument("--fleet", type=int, default=0, metavar="ASSETS",
                   help="twin_state only: a day of ASSETS assets' one-minute rows made of the demo's")
    p.add_argument("--fleet-values", choices=("distinct", "copies"), default="distinct",
                   help="--fleet: the demo rows' numbers made distinct (default) or copied as they are")
    p.add_argument("--batch-rows", default=None, metavar="N[,N...]",
                   help="--fleet: rows per flush, a comma list measures each (default: the sink's, 20000)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.fleet < 0:
        p.exit(2, "bench_archive_tables: --rounds must be >= 1 and --fleet >= 0\n")
    sizes = [default_batch_rows()]
    if args.batch_rows is not None:
        if not args.fleet:
            p.exit(2, "bench_archive_tables: --batch-rows needs --fleet (the demo's flushes are its own)\n")
        try:
            sizes = [int(v) for v in args.batch_rows.split(",")]
        except ValueError:
            sizes = []
        if not sizes or min(sizes) < 1:
            p.exit(2, f"bench_archive_tables: --batch-rows {args.batch_rows!r} "
                      "is not a list of positive integers\n")
    if args.save_records and os.path.isdir(args.save_records):  # round 45: found after the demo too
        p.exit(2, f"bench_archive_tables: cannot write --save-records {args.save_records}: a folder\n")
    if args.save_records and os.path.exists(args.save_records) and not os.path.isfile(args.save_records):
        # round 46: a FIFO nobody reads waited for ever once the demo had run
        p.exit(2, f"bench_archive_tables: cannot write --save-records {args.save_records}: not a file\n")
    if args.save_records and not os.access(Path(args.save_records).absolute().parent, os.W_OK):
        p.exit(2, f"bench_archive_tables: cannot write --save-records {args.save_records}: its folder "
                  "is missing or not writable\n")  # round 44: found only after the demo had run
    heap = bench_archive.app_heap() if args.app_heap else False
    with tempfile.TemporaryDirectory(prefix="bench-archive-tables-") as tmp:
        work = Path(tmp)
        if args.records:
            try:
                if not stat.S_ISREG(os.stat(args.records).st_mode):  # round 46: a FIFO waited for ever
                    p.exit(2, f"bench_archive_tables: cannot read --records {args.records}: not a file\n")
                with open(args.records, "rb") as f:
                    flushes = pickle.load(f)  # noqa: S301 - a file this benchmark wrote
            except Exception as exc:  # noqa: BLE001 - round 46: unpickling raises anything, not just
                # UnpicklingError (a newer protocol: ValueError; an older tree's records: ModuleNotFoundError)
                why = exc if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
                p.exit(2, f"bench_archive_tables: cannot read --records {args.records}: {why}\n")
            if not _flushes_shape(flushes):
                p.exit(2, f"bench_archive_tables: --records {args.records} is not the flushes --save-records "
                          "writes (a dict of table -> lists of records)\n")
        else:
            flushes = demo_flushes(work / "demo")
        if args.save_records:
            try:
                with open(args.save_records, "wb") as f:
                    pickle.dump(flushes, f)
            except OSError as exc:
                p.exit(2, f"bench_archive_tables: cannot write --save-records {args.save_records}: {exc}\n")
        if args.fleet:
            demo = [r for flush in flushes.get("twin_state", []) for r in flush]
            if not demo:
                p.exit(2, "bench_archive_tables: --fleet: the records hold no twin_state rows\n")
            day = fleet_day(demo, args.fleet, distinct=args.fleet_values == "distinct")
            figures = {f"twin_state@{n}": measure("twin_state", cut(day, n), work / f"fleet-{n}", args.rounds)
                       for n in sizes}
        else:
            names = args.tables.split(",") if args.tables else sorted(flushes)
            if missing := [t for t in names if t not in flushes]:
                p.exit(2, f"bench_archive_tables: --tables: no {missing[0]!r} in the records (they hold "
                          f"{', '.join(sorted(flushes))})\n")
            if empty := [t for t in names if not any(flushes[t])]:  # round 45: a ZeroDivisionError
                p.exit(2, f"bench_archive_tables: --records: no {empty[0]!r} rows to time (its flushes are "
                          "empty): name the other tables with --tables\n")
            figures = {t: measure(t, flushes[t], work / t, args.rounds) for t in names}
    for t, fig in figures.items():
        print(f"{t}: {fig['rows']} rows, {fig['files']} files: sink {fig['sink_us_per_row']} us/row, "
              f"floor {fig['floor_us_per_row']} us/row, rate {fig['rate']}x, wall {fig['wall_rate']}x")
    out = {"benchmark": "archive_tables", "tree": str(bench_archive.flows_tree()), "app_heap": heap,
           "rounds": args.rounds, "fleet": args.fleet, "fleet_values": args.fleet_values,
           "load_1min": round(os.getloadavg()[0], 2), "tables": figures}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
