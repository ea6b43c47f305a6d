"""The archive's Parquet write options one at a time, next to a bare ``write_table`` (issue 10).

Run: ``.venv/bin/python benchmarks/bench_archive_options.py --demo-archive DIR [--assets 100]
[--rounds 5] [--values other-times|copies]`` (``--assets 8``: the demo's own rows, not replicated;
the default 100 replicates them as ``bench_archive.py`` does: since round 21 each replica with
its asset's values from other times, every asset its own values; ``--values copies``, the
rounds before, repeats every value ~12 times, which compresses far better than a real fleet's).

Why: the sink's files are written with the layout's options (:func:`flows.archive.layout.
write_options`: plain numbers, dictionaries on text, statistics on the named columns, snappy,
row groups of 8,192); the floor of the target is ONE default ``pq.write_table`` of the same rows.
Each variant below changes ONE setting of the layout's options and writes the one-date tables
exactly as the sink builds them (:func:`~flows.dataflow.sinks.archive_features.feature_tables` +
bookkeeping; a live run's flush, one file per date), timed in CPU seconds and alternated with the
floor in every round (``gc.collect()`` before each); reported: microseconds per window (median
of ``--rounds``), the variant's CPU relative to the layout's (same rounds), the floor's, and the
bytes written. Then the 8-day shape (``bench_archive.py``'s batches of 20,000 windows, ~8 dates
each): the layout's one file per date against the same rows as ONE file per batch (what
multi-date files would save). Last line JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_archive  # noqa: E402 - the benchmark's records and floor

from flows.archive import layout  # noqa: E402
from flows.dataflow.sinks.archive_features import feature_tables  # noqa: E402
from flows.dataflow.sinks.archive_files import bookkeeping  # noqa: E402

Options = Callable[[pa.Schema], dict[str, Any]]


def _features(schema: pa.Schema) -> list[str]:
    """The open (one per feature) columns: their names hold a dot."""
    return [f.name for f in schema if "." in f.name]


def _with(**changes: Any) -> Options:
    """The layout's options with ``changes`` (each a value or a function of the schema)."""
    def options(schema: pa.Schema) -> dict[str, Any]:
        out = layout.write_options("features", schema)
        out.update({k: v(schema) if callable(v) else v for k, v in changes.items()})
        return out
    return options


VARIANTS: dict[str, Options] = {
    "layout (as written)": _with(),
    "write_table defaults": lambda schema: {},
    "dictionary on every column": _with(use_dictionary=True),
    "no dictionary at all": _with(use_dictionary=False),
    "inputs without dictionary": _with(use_dictionary=lambda s: [
        c for c in layout.dictionary_columns(s) if c != "inputs"]),
    "inputs as JSON text: no dictionary nor statistics": _with(
        use_dictionary=lambda s: [c for c in layout.dictionary_columns(s) if c != "inputs"],
        write_statistics=lambda s: [c for c in layout.statistics_columns("features", s) if c != "inputs"]),
    "statistics on every column": _with(write_statistics=True),
    "no statistics": _with(write_statistics=False),
    "no compression": _with(compression="none"),
    "features uncompressed": _with(compression=lambda s: {
        f.name: ("none" if "." in f.name else "snappy") for f in s}),
    "lz4": _with(compression="lz4"),
    "zstd": _with(compression="zstd"),
    "one row group (1M rows)": _with(row_group_size=1 << 20),
    "no Arrow schema in the footer": _with(store_schema=False),
    "data pages of 64 KiB": _with(data_page_size=64 << 10),
    "write_batch_size 8192": _with(write_batch_size=8192),
    "byte_stream_split on features": _with(use_byte_stream_split=_features),
    "data page v1": _with(data_page_version="1.0"),
}


def cpu() -> float:
    return time.process_time()


def write_all(tables: list[pa.Table], folder: Path, options: Options | None) -> tuple[float, int]:
    """CPU seconds of one ``write_table`` per table (``options`` of its schema; None: defaults)
    and the bytes written."""
    folder.mkdir(parents=True)
    total = 0.0
    for i, table in enumerate(tables):
        kwargs = {} if options is None else options(table.schema)
        t = cpu()
        pq.write_table(table, folder / f"{i}.parquet", **kwargs)
        total += cpu() - t
    return total, sum(p.stat().st_size for p in folder.iterdir())


def one_date(records: list[Any]) -> tuple[list[pa.Table], list[pa.Table]]:
    """The sink's one-date tables (bookkeeping included) and the floor's tables of the same rows."""
    by_date: dict[Any, list[Any]] = defaultdict(list)
    for rec in records:
        by_date[rec.window_start.date()].append(rec)
    dated = list(by_date.values())
    ours = [bookkeeping(t, "bench", 1) for d in dated for t in feature_tables(d).values()]
    return ours, bench_archive.floor_tables(dated)


def variants(ours: list[pa.Table], floor: list[pa.Table], work: Path, rounds: int,
             names: list[str]) -> dict[str, Any]:
    """Each variant and the floor, alternated, ``rounds`` times."""
    seconds: dict[str, list[float]] = defaultdict(list)
    size: dict[str, int] = {}
    jobs = [("floor", floor, None)] + [(n, ours, VARIANTS[n]) for n in names]
    for r in range(rounds):
        for name, tables, options in jobs if r % 2 == 0 else jobs[::-1]:
            gc.collect()
            seconds[name], size[name] = [*seconds[name], 0.0], 0
            s, size[name] = write_all(tables, work / f"{r}-{len(size)}-{abs(hash(name))}", options)
            seconds[name][-1] = s
    rows = sum(t.num_rows for t in ours)
    base = seconds[names[0]]
    out = {}
    for name in ["floor", *names]:
        med = statistics.median(seconds[name])
        rel = statistics.median(s / b for s, b in zip(seconds[name], base, strict=True))
        out[name] = {"us_per_window": round(1e6 * med / rows, 3), "vs_layout": round(rel, 3),
                     "vs_floor": round(med / statistics.median(seconds["floor"]), 3),
                     "mbytes": round(size[name] / 1e6, 2)}
        print(f"{name:>32}: {out[name]}", file=sys.stderr)
    return out


def multi_date(records: list[Any], work: Path, batch_rows: int, rounds: int) -> dict[str, Any]:
    """The 8-day batches: the layout's files (one per date) vs ONE file per batch, same rows and
    options, and the floor (one default write_table per batch); CPU of the writes only."""
    batches = [records[b:b + batch_rows] for b in range(0, len(records), batch_rows)]
    per_date = [[bookkeeping(t, "bench", 1) for t in feature_tables(b).values()] for b in batches]
    whole = [pa.concat_tables(tabs, promote_options="default") for tabs in per_date]
    flat = [t for tabs in per_date for t in tabs]
    floor = bench_archive.floor_tables(batches)
    options = VARIANTS["layout (as written)"]
    seconds: dict[str, list[float]] = defaultdict(list)
    jobs: list[tuple[str, list[pa.Table], Options | None]] = [
        ("one file per date", flat, options), ("one file per batch", whole, options), ("floor", floor, None)]
    for r in range(rounds):
        for name, tables, opts in jobs if r % 2 == 0 else jobs[::-1]:
            gc.collect()
            seconds[name].append(write_all(tables, work / f"m{r}-{len(seconds[name])}-{len(name)}", opts)[0])
    rows = len(records)
    out = {k: round(1e6 * statistics.median(v) / rows, 3) for k, v in seconds.items()}
    out["files_per_batch"] = round(len(flat) / len(batches), 1)
    print(f"{'8-day batches, us/window':>32}: {out}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print each variant's write CPU and size next to the layout's and the floor's (last line JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-archive", required=True, help="a `twin demo` output folder")
    p.add_argument("--assets", type=int, default=100, help="replicate the demo's assets to this many")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-rows", type=int, default=20000)
    p.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    bench_archive.values_arg(p)
    args = p.parse_args(argv)
    names = [n for n in VARIANTS if not args.only or n in args.only.split(",")]
    if names[0] != "layout (as written)":
        names.insert(0, "layout (as written)")
    records = bench_archive.feature_records(bench_archive.read_table(Path(args.demo_archive), "features"),
                                            args.assets, args.values)
    ours, floor = one_date(records)
    with tempfile.TemporaryDirectory(prefix="bench-archive-options-") as tmp:
        out: dict[str, Any] = {"benchmark": "archive_options", "windows": len(records), "files": len(ours),
                               "one_date": variants(ours, floor, Path(tmp), args.rounds, names),
                               "eight_day": multi_date(records, Path(tmp), args.batch_rows, args.rounds)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
