"""Where the archive sink's CPU goes per row, next to the bare ``write_table`` floor (issue 10).

Run: ``.venv/bin/python benchmarks/bench_archive_split.py --demo-archive DIR --records FILE``
(``DIR``: a ``twin demo`` output, as ``bench_archive.py --demo-archive``; ``FILE``: the flushes
``bench_archive_tables.py --save-records`` wrote). ``PYTHONPATH=TREE`` measures another tree.

The sink's write of a flush is timed piece by piece (CPU seconds, in this thread; the part syncs'
pool threads are counted in ``file_and_sync``), ``--rounds`` times, medians in us per row (and
the megabytes of one round's files, ``sink_mb``):

- ``features``, the wide shape (``bench_archive.py``'s: 100 assets, batches of 20,000 windows, ~8
  dates each) and the one-date shape (each date one flush): ``row_building`` = the windows'
  objects read into column blocks (``feature_blocks``; from round 42 the values' rows stay each
  window's bytes there, gathered in the next piece); ``python_to_arrow`` = the blocks made the
  dates' Arrow columns, sorted (``block_columns``); ``file_table`` = the bookkeeping columns and
  the write options; ``parquet_encode`` = ``layout.write_file`` (the Parquet write into the
  temporary file); ``file_and_sync`` = the rest of ``put_files`` (folders, fsyncs, renames).
- ``twin_state`` (the demo's flushes): ``sort_keys`` (the asset and time columns and the order),
  ``row_building`` (``archive_values``: each named column's Python values, the JSON texts
  included; the costliest columns listed), ``python_to_arrow`` (``pa.array`` per column), then
  as above; and ``conversion_floor``: what ANY conversion of these Python records must do at
  least: every field read once (``map`` of an attribute getter), the four JSON fields made text
  by ONE ``orjson.dumps`` each per row (the lineage, a dataclass, as orjson
  writes one), without the checks that keep the text ``json.dumps``'s
  (so not the archive's exact text: a lower bound, not a route), and one ``pa.array`` per column.

The floor: one default ``pq.write_table`` per (flush, date) of the same rows, the tables built
before its timing (as ``bench_archive.py`` and ``bench_archive_tables.py`` build theirs).
Final line: JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import statistics
import sys
import tempfile
from collections import defaultdict
from operator import attrgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_archive  # noqa: E402 - app_heap, cpu, feature_records, read_table

cpu = bench_archive.cpu


class _Encode:
    """``layout.write_file`` with its CPU seconds summed (put in ``archive_files``' view of it)."""

    def __init__(self) -> None:
        from flows.archive import layout

        self.write = layout.write_file
        self.seconds = 0.0

    def __call__(self, data: pa.Table, path: Path, options: dict[str, Any]) -> None:
        t = cpu()
        self.write(data, path, options)
        self.seconds += cpu() - t


def _medians(rounds: list[dict[str, float]], n: int) -> dict[str, float]:
    return {k: round(1e6 * statistics.median(r[k] for r in rounds) / n, 3) for k in rounds[0]}


def features(records: list[Any], shape: str, rounds: int, work: Path) -> dict[str, Any]:
    """The ``features`` sink's pieces on ``shape`` (``wide`` / ``one_date``)."""
    from flows.dataflow.sinks import archive_files as af
    from flows.dataflow.sinks.archive_features import block_columns
    from flows.dataflow.sinks.feature_blocks import feature_blocks

    if shape == "wide":
        batches = [records[b:b + 20000] for b in range(0, len(records), 20000)]
    else:
        by_date: dict[Any, list[Any]] = defaultdict(list)
        for rec in records:
            by_date[rec.window_start.date()].append(rec)
        batches = list(by_date.values())
    floor_tables = bench_archive.floor_tables(batches)
    encode = _Encode()
    af.layout.write_file = encode  # type: ignore[assignment]
    out = []
    try:
        for k in range(rounds):
            root, t_ = work / f"{shape}-{k}", defaultdict[str, float](float)
            gc.collect()
            encode.seconds = 0.0
            for i, batch in enumerate(batches):
                t = cpu()
                blocks = feature_blocks(batch)
                t_["row_building"] += cpu() - t
                t = cpu()
                columns = block_columns(blocks)
                t_["python_to_arrow"] += cpu() - t
                t = cpu()
                made = {d: af.file_table("features", c, "bench") for d, c in columns.items()}
                t_["file_table"] += cpu() - t
                t = cpu()
                af.put_files(root, "features", made, f"part-{i}")
                t_["put_files"] += cpu() - t
            t_["parquet_encode"] = encode.seconds
            t_["file_and_sync"] = t_.pop("put_files") - encode.seconds
            t_["sink"] = sum(t_.values())
            t_["floor"] = _floor(floor_tables, work / f"{shape}-floor-{k}")
            out.append(dict(t_))
    finally:
        af.layout.write_file = encode.write  # type: ignore[assignment]
    med = _medians(out, len(records))
    return {"rows": len(records), "flushes": len(batches), "sink_mb": _mb(work / f"{shape}-0"), **med,
            "ratio": round(med["floor"] / med["sink"], 3)}


def _mb(root: Path) -> float:
    """Megabytes of the Parquet files under ``root`` (one round's sink files)."""
    return round(sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e6, 3)


def _floor(tables: list[pa.Table], folder: Path) -> float:
    folder.mkdir(parents=True)
    t = cpu()
    for i, data in enumerate(tables):
        pq.write_table(data, folder / f"{i}.parquet")
    return cpu() - t


def twin_state(flushes: list[list[Any]], rounds: int, work: Path) -> dict[str, Any]:
    """The ``twin_state`` sink's pieces on the demo's flushes (one file per date of a flush)."""
    from flows.archive import layout
    from flows.codec.archive_schema import mapping
    from flows.dataflow.sinks import archive_columns as ac
    from flows.dataflow.sinks import archive_files as af

    table, m = "twin_state", mapping("twin_state")
    parts = [p for flush in flushes for p in ac.date_groups(table, flush).values()]
    floor_tables = []
    for part in parts:
        rows = [m.archive_row(r) for r in part]
        for r in rows:
            del r["date"]
        floor_tables.append(pa.Table.from_pylist(rows))
    n, keyed = sum(map(len, parts)), ("asset_id", layout.TIME_COLUMN[table])
    encode = _Encode()
    af.layout.write_file = encode  # type: ignore[assignment]
    out, by_column = [], []
    try:
        for k in range(rounds):
            root, t_, cols = work / f"ts-{k}", defaultdict[str, float](float), defaultdict[str, float](float)
            gc.collect()
            encode.seconds = 0.0
            for i, recs in enumerate(parts):
                t = cpu()
                asset, when, order = ac._sort_keys(table, recs)
                ordered = [recs[j] for j in order]
                t_["sort_keys"] += cpu() - t
                values = {}
                for name, column in m._many:
                    if name not in ("date", *keyed):
                        t = cpu()
                        values[name] = column(ordered)
                        cols[name] += cpu() - t
                schema, done = ac.fixed_schema(table), dict(zip(keyed, (asset, when), strict=True))
                t = cpu()
                arrays = [done[f.name] if f.name in done else pa.array(values[f.name], f.type)
                          for f in schema]
                t_["python_to_arrow"] += cpu() - t
                t = cpu()
                made = {f"{i:04d}": af.file_table(table, (arrays, schema), "bench")}
                t_["file_table"] += cpu() - t
                t = cpu()
                af.put_files(root, table, made, "part-x")
                t_["put_files"] += cpu() - t
            t_["row_building"] = sum(cols.values())
            t_["parquet_encode"] = encode.seconds
            t_["file_and_sync"] = t_.pop("put_files") - encode.seconds
            t_["sink"] = sum(t_.values())
            t_["floor"] = _floor(floor_tables, work / f"ts-floor-{k}")
            t_["conversion_floor"] = _conversion_floor(parts)
            out.append(dict(t_))
            by_column.append(dict(cols))
    finally:
        af.layout.write_file = encode.write  # type: ignore[assignment]
    med = _medians(out, n)
    top = sorted(_medians(by_column, n).items(), key=lambda kv: -kv[1])[:6]
    return {"rows": n, "files": len(parts), "sink_mb": _mb(work / "ts-0"), **med,
            "ratio": round(med["floor"] / med["sink"], 3),
            "row_building_top_columns": dict(top),
            "ratio_if_conversion_at_its_floor": round(
                med["floor"] / (med["conversion_floor"] + med["file_table"] + med["parquet_encode"]
                                + med["file_and_sync"]), 3)}


def _conversion_floor(parts: list[list[Any]]) -> float:
    """CPU seconds of the least any conversion of these records does (module docstring)."""
    import orjson

    from flows.codec.archive_schema import mapping

    schema = mapping("twin_state")
    texts = {name: attrgetter(name) for name in ("context", "top_features", "data_quality", "lineage")}
    plain = [c.name for c in schema.columns if c.name not in texts and c.name != "date"]
    t = cpu()
    for recs in parts:
        for name in plain:
            pa.array(list(map(attrgetter(name), recs)))
        for get in texts.values():
            pa.array(list(map(orjson.dumps, map(get, recs))), pa.binary())
    return cpu() - t


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the split and print it (last line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-archive", required=True, help="a `twin demo` output folder (features)")
    p.add_argument("--records", required=True, help="flushes saved by bench_archive_tables.py --save-records")
    p.add_argument("--rounds", type=int, default=7, help="rounds per shape (medians)")
    p.add_argument("--assets", type=int, default=100)
    args = p.parse_args(argv)
    if not (Path(args.demo_archive) / "features").is_dir():
        p.exit(2, f"bench_archive_split: --demo-archive {args.demo_archive} has no features folder\n")
    try:
        with open(args.records, "rb") as f:
            flushes = pickle.load(f)  # noqa: S301 - a file bench_archive_tables.py wrote
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        p.exit(2, f"bench_archive_split: cannot read --records {args.records}: {exc}\n")
    if not isinstance(flushes, dict) or not flushes.get("twin_state"):
        p.exit(2, f"bench_archive_split: --records {args.records} holds no twin_state flushes "
                  "(bench_archive_tables.py --save-records FILE --tables twin_state writes them)\n")
    heap = bench_archive.app_heap()  # as `twin run` (bench_archive.py --app-heap)
    records = bench_archive.feature_records(bench_archive.read_table(Path(args.demo_archive), "features"),
                                            args.assets)
    with tempfile.TemporaryDirectory(prefix="bench-archive-split-") as tmp:
        work = Path(tmp)
        out = {"benchmark": "archive_split", "tree": str(bench_archive.flows_tree()), "app_heap": heap,
               "rounds": args.rounds, "load_1min_start": round(os.getloadavg()[0], 2),
               "features_wide": features(records, "wide", args.rounds, work),
               "features_one_date": features(records, "one_date", args.rounds, work),
               "twin_state": twin_state(flushes["twin_state"], args.rounds, work),
               "load_1min_end": round(os.getloadavg()[0], 2)}
    for name in ("features_wide", "features_one_date", "twin_state"):
        print(f"{name}: {out[name]}", file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
