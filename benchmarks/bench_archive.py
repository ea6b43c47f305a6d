"""Archive write rate next to a bare ``pyarrow.parquet.write_table``, and ``twin sql`` on 100 assets.

Run: ``.venv/bin/python benchmarks/bench_archive.py [--demo-archive DIR] [--assets 100]``.
Without ``--demo-archive`` the demo is run first (``twin demo --seed 7``, ~2 min).

1. The 100-asset archive: the demo's ``features`` rows (8 assets, 30 days of 1-h windows) are read
   back as FeatureVector records and replicated under new asset ids (``<id>~r<k>``) until there
   are ``--assets`` assets, each replica with its demo asset's values from other times
   (``--values other-times``, the default from round 21) or exact copies (``--values copies``,
   rounds 1-20: :data:`VALUES` says why that changed); their ``twin_state`` rows are copied.
2. Write rate: the sink (``ParquetArchiveSink``'s partition: records -> Arrow -> one file per date
   of each batch, renamed into place) writes every features record in batches of ``batch_rows``
   (its default, 20,000), timed in CPU seconds; the floor, same rows: ONE ``pq.write_table`` of
   the whole Arrow table per batch (built before any timing). Sink and floor are timed the same
   way (issue 10 round 4): ``--pairs`` times each, alternated (sink first, then floor first),
   ``gc.collect()`` before each, and the ratio is of the medians (spread reported). Until round
   3 each was timed once and the floor's writes each followed the build of ~900 per-(date,
   asset) tables and the release of the previous batch's: a ``write_table`` right after freeing
   ~900 tables' buffers costs ~2x the same write otherwise (RESULTS.md, part ARCHIVE4), so the
   single-shot floor read 2-3x its best. The same pairs also run on the **one-date shape** (each
   date's records written as one batch, as a live run's flushes of seconds to minutes of event
   time are; the floor one ``write_table`` per date). Then, once: one ``pq.write_table`` per
   (date, asset) partition of each batch (the layout before issue 10).
3. Queries through :func:`flows.archive.query.query` (the sandboxed read side of ``twin sql``), best
   of ``--repeat``, each from a fresh connection as ``twin sql`` makes: a one-day fleet query
   and a one-asset month query; then, where the tree has ``twin archive compact``
   (:mod:`flows.archive.compact`, issue 10 part LAYOUT), the same queries after compacting every
   date (CPU seconds of the compaction too).

Final line: JSON with rows/s of the sink and floors, the ratios and the query seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("asset_id", "date", "window_start", "window_end", "n_records", "events", "inputs")
FLEET_DAY = ("SELECT asset_id, count(*) AS windows, avg(anomaly_score) AS score, min(health_index) AS hi "
             "FROM twin_state WHERE window_start >= TIMESTAMP '{day}' "
             "AND window_start < TIMESTAMP '{day}' + INTERVAL 1 DAY GROUP BY asset_id ORDER BY asset_id")
ASSET_MONTH = ("SELECT date_trunc('day', window_start) AS day, avg(\"temperature.mean\") AS temp, "
               "max(\"vib.rms\") AS vib FROM features WHERE asset_id = '{asset}' "
               "AND window_start >= TIMESTAMP '{start}' "
               "AND window_start < TIMESTAMP '{start}' + INTERVAL 30 DAY GROUP BY 1 ORDER BY 1")


def demo_archive(given: str | None, work: Path) -> Path:
    """The demo's archive folder (run the demo when none is given)."""
    if given:
        return Path(given)
    out = work / "demo"
    subprocess.run([sys.executable, "-m", "flows.cli.main", "demo", "--seed", "7", "--out", str(out),
                    "--fresh", "--json"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return out


def read_table(archive: Path, table: str) -> list[dict[str, Any]]:
    """A table's rows as the views show them (folder columns included, bookkeeping dropped)."""
    from flows.archive.files import scan_table

    folders = pa.schema([("date", pa.string()), ("asset_id", pa.string())])
    schema = pa.unify_schemas([scan_table(archive, table).schema, folders])
    data = ds.dataset(archive / table, format="parquet", schema=schema,
                      partitioning=ds.partitioning(folders, flavor="hive")).to_table()
    drop = [c for c in ("run_id", "_written_at", "_write_seq") if c in data.column_names]
    return data.drop_columns(drop).to_pylist()


def spans(text: str | None, replicas: int = 1, k: int = 0) -> tuple[Any, ...]:
    """A window's input ranges from the archive's JSON text (the sink writes them back as such);
    with ``replicas`` > 1, replica ``k``'s own: every offset ``o`` as ``o * replicas + k``, as if
    one stream carried the records of all the replicas interleaved (distinct ranges per asset)."""
    from twin_models.records import InputSpan

    return tuple(InputSpan(d["source"], d["first"] * replicas + k, d["last"] * replicas + k)
                 for d in json.loads(text or "[]"))


VALUES = ("other-times", "copies")
"""How the replicated assets get their feature values (``--values``): ``other-times`` (default
from round 21): replica k of a demo asset takes that asset's own values from another time (its
windows' values rotated by k * :func:`_shift` windows), so every asset of the 100 has values of
its own, as a real fleet's assets have; ``copies`` (rounds 1-20): every replica repeats its
demo asset's values exactly, time for time. The copies made ~12 identical value sequences per
asset and day, adjacent in the sink's sorted files and ~200 distinct values per column in a
2,400-row flush: snappy shrank the files 7x (4.2 MB for 71,426 windows against ~28 MB of real
doubles) and the floor's default dictionary on every double column found each value ~12 times,
which no fleet does (RESULTS.md, round 21, part ARCHIVE21). With ``other-times`` each replica
also has input ranges of its own (:func:`spans`: the offsets interleaved, as one stream of all
the replicas' records would give; copies share their demo asset's). Times and counts are the
window's own either way."""


def _shift(windows: int, replicas: int) -> int:
    """Windows by which each further replica's values are rotated: distinct non-zero rotations
    for replicas 1 .. ``replicas - 1`` whenever the asset has that many windows."""
    return max(1, windows // max(1, replicas))


def feature_records(rows: list[dict[str, Any]], assets: int, values: str = "other-times") -> list[Any]:
    """FeatureVector records of ``assets`` assets: the demo's, replicated under new ids
    (``values``: :data:`VALUES`)."""
    from twin_models.records import FeatureVector

    if values not in VALUES:
        msg = f"values must be one of {', '.join(VALUES)}, not {values!r}"
        raise ValueError(msg)
    try:  # as aggregate_window makes them: one NumPy row and a shared key set (issue 10 round 3)
        from twin_models.feature_map import feature_map
    except ImportError:  # a tree before it: plain dicts
        feature_map = dict  # type: ignore[assignment]
    try:  # as the window step makes them: the archive's numbers packed (issue 10 round 13)
        from flows.dataflow.window_tail import pack
    except ImportError:  # a tree before it
        pack = None  # type: ignore[assignment]
    base = sorted({r["asset_id"] for r in rows})
    replicas = -(-assets // len(base))
    own: dict[str, list[dict[str, Any]]] = defaultdict(list)  # each demo asset's rows in time order
    for r in sorted(rows, key=lambda r: r["window_start"]):
        own[r["asset_id"]].append(r)
    at = {id(r): i for series in own.values() for i, r in enumerate(series)}
    specs = []
    for k in range(replicas):
        for r in rows:
            if base.index(r["asset_id"]) + k * len(base) < assets:
                series = own[r["asset_id"]]
                src = r if values == "copies" or k == 0 else \
                    series[(at[id(r)] + k * _shift(len(series), replicas)) % len(series)]
                specs.append((r["window_start"], f"{r['asset_id']}~r{k}", r, src, k))
    specs.sort(key=lambda spec: spec[:2])
    out = []
    for _start, asset, r, src, k in specs:  # made in the order the flow's windows close, as the flow does
        feats = {c: (float("nan") if v is None else float(v)) for c, v in src.items() if c not in KEYS}
        own_spans = (1, 0) if values == "copies" else (replicas, k)
        extra = {"inputs": spans(r["inputs"], *own_spans)} if "inputs" in r else {}  # digital thread
        n = int(r["n_records"] or 0)
        if pack is None:
            features = feature_map(feats)
        else:
            start, end = micros(r["window_start"]), micros(r["window_end"])
            tail = pack(asset, start, end, n, 0, extra.get("inputs", ()))
            features = feature_map(feats, tail)  # type: ignore[call-arg]
        out.append(FeatureVector(asset, r["window_start"], r["window_end"], features, n, **extra))
    return out


def values_arg(p: argparse.ArgumentParser) -> None:
    """The ``--values`` option of the archive benchmarks (:data:`VALUES`)."""
    p.add_argument("--values", choices=VALUES, default=VALUES[0],
                   help="the replicated assets' feature values: their demo asset's from other times "
                        "(default; every asset its own values, as a fleet) or exact copies (rounds 1-20)")


def micros(t: datetime) -> int:
    """Microseconds since the epoch (the window step has them exactly from the window id)."""
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def flows_tree() -> Path:
    """The tree whose ``flows`` package is imported (``PYTHONPATH`` may point at another)."""
    import flows

    return Path(flows.__file__).parents[1]


def app_heap() -> bool:
    """The malloc settings ``twin`` applies at start (``flows.app.heap.keep_freed_memory``): without
    them the sink's ~1 MB NumPy and Arrow temporaries fault in fresh pages at every flush (~10,000
    minor faults per 2,400-window flush, ~0.5-1.5 us per window), which a ``twin run`` never pays
    (RESULTS.md, ARCHIVE13). False when the tree or the C library has none."""
    try:
        from flows.app.heap import keep_freed_memory
    except ImportError:
        return False
    return keep_freed_memory()


def cpu() -> float:
    return time.process_time()


BLOCK_BATCH = 100
"""Windows per Bytewax batch at the archive's block step (ARCHIVE7: a fleet's windows of one period
close together; ``twin demo`` measured 8-ish, a 100-asset live run up to 100)."""


def flow_feeds_blocks() -> bool:
    """Whether the tree's flow hands the features sink column blocks (ARCHIVE7's block step on the
    worker) rather than the records (before ARCHIVE7, and from ARCHIVE8 on: ``SINK_INPUT``)."""
    try:
        from flows.dataflow.sinks import archive
        from flows.dataflow.sinks.feature_blocks import feature_blocks  # noqa: F401
    except ImportError:
        return False
    return SINK_INPUT != "records" and getattr(archive, "SINK_INPUT", "blocks") == "blocks"


SINK_INPUT = "flow"
"""``--sink-input``: what the sink is fed (``flow``: what the tree's flow feeds it)."""


def sink_items(records: list[Any], batch: int | None = None) -> list[Any]:
    """What the tree's flow hands the features sink: column blocks made right after the
    aggregation a Bytewax batch at a time (ARCHIVE7), or the records themselves (before it and
    from ARCHIVE8 on: the writer thread makes one block per flush)."""
    if not flow_feeds_blocks():
        return records
    from flows.dataflow.sinks.feature_blocks import feature_blocks

    batch = batch or BLOCK_BATCH
    return [b for i in range(0, len(records), batch) for b in feature_blocks(records[i:i + batch])]


def block_step(records: list[Any], batch: int | None = None) -> float | None:
    """CPU seconds of the flow's block step over ``records`` (None: the tree has none)."""
    if not flow_feeds_blocks():
        return None
    from flows.dataflow.sinks.feature_blocks import feature_blocks

    batch = batch or BLOCK_BATCH
    t = cpu()
    for i in range(0, len(records), batch):
        feature_blocks(records[i:i + batch])
    return cpu() - t


def sink_write(records: list[Any], root: Path, batch_rows: int) -> float:
    """CPU seconds of the archive sink writing ``records`` (features, as the flow hands them:
    :func:`sink_items`) in batches."""
    from flows.dataflow.sinks.archive import ParquetArchiveSink

    sink = ParquetArchiveSink(root, "features", batch_rows=batch_rows, flush_interval_s=1e9, run_id="bench")
    part = sink.build_part("features_out_0", "w0", None)
    per = 1000 if hasattr(records[0], "features") else max(1, 1000 // BLOCK_BATCH)
    t = cpu()
    for i in range(0, len(records), per):  # Bytewax hands the sink batches of items
        part.write_batch(records[i:i + per])
    part.close()
    return cpu() - t


def sink_write_batches(batches: list[list[Any]], root: Path) -> float:
    """CPU seconds of the archive sink writing each of ``batches`` as one flush (the one-date
    shape: a live run flushes every ``flush_interval_s``, a few minutes of event time)."""
    from flows.dataflow.sinks.archive import ParquetArchiveSink

    sink = ParquetArchiveSink(root, "features", batch_rows=1 << 30, flush_interval_s=1e9, run_id="bench")
    part = sink.build_part("features_out_0", "w0", None)
    t = cpu()
    for batch in batches:
        per = 1000 if hasattr(batch[0], "features") else max(1, 1000 // BLOCK_BATCH)
        for i in range(0, len(batch), per):
            part.write_batch(batch[i:i + per])
        part.flush()
    part.close()
    return cpu() - t


def floor_tables(batches: list[list[Any]]) -> list[pa.Table]:
    """The floor's input: each batch's rows as one Arrow table (``from_pylist`` of the row dicts)."""
    from flows.dataflow.sinks.archive import feature_row

    return [pa.Table.from_pylist([feature_row(r) for r in batch]) for batch in batches]


def floor_write(tables: list[pa.Table], root: Path) -> float:
    """CPU seconds of ONE bare ``pq.write_table`` per batch (defaults: snappy, dictionaries)."""
    root.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for i, table in enumerate(tables):
        t = cpu()
        pq.write_table(table, root / f"one-{i}.parquet")
        total += cpu() - t
    return total


def per_partition_floor(records: list[Any], root: Path, batch_rows: int) -> float:
    """CPU seconds of one bare ``pq.write_table`` per (date, asset) partition of each batch."""
    from flows.dataflow.sinks.archive import feature_row

    total = 0.0
    root.mkdir(parents=True, exist_ok=True)
    for b in range(0, len(records), batch_rows):
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in map(feature_row, records[b:b + batch_rows]):
            groups[(row["date"], row["asset_id"])].append(row)
        tables = [pa.Table.from_pylist(g) for g in groups.values()]
        t = cpu()
        for i, tab in enumerate(tables):
            pq.write_table(tab, root / f"{b}-{i}.parquet")
        total += cpu() - t
    return total


def pairs(sink: Any, floor: Any, n: int) -> dict[str, Any]:
    """Sink and floor timed ``n`` times each, alternated (the sink first in even pairs, the floor
    first in odd ones), ``gc.collect()`` before each; medians, spreads and the median ratio.
    ``sink(k)`` / ``floor(k)``: CPU seconds of the k-th run (each writes to a fresh folder). Also the
    wall seconds of each whole run (round 39: the sink's fsyncs wait on the disk, not the CPU; the
    floor syncs nothing), medians."""
    s_cpu: list[float] = []
    f_cpu: list[float] = []
    walls: dict[int, list[float]] = {id(s_cpu): [], id(f_cpu): []}
    for k in range(n):
        for job, out in ((sink, s_cpu), (floor, f_cpu))[::1 if k % 2 == 0 else -1]:
            gc.collect()
            t = time.perf_counter()
            out.append(job(k))
            walls[id(out)].append(time.perf_counter() - t)
    s_med, f_med = statistics.median(s_cpu), statistics.median(f_cpu)
    s_wall, f_wall = statistics.median(walls[id(s_cpu)]), statistics.median(walls[id(f_cpu)])
    ratios = [f / s for f, s in zip(f_cpu, s_cpu, strict=True)]
    return {"sink_cpu_s": round(s_med, 4), "sink_cpu_s_min_max": [round(min(s_cpu), 4), round(max(s_cpu), 4)],
            "floor_cpu_s": round(f_med, 4),
            "floor_cpu_s_min_max": [round(min(f_cpu), 4), round(max(f_cpu), 4)],
            "sink_vs_floor": round(f_med / s_med, 3),
            "pair_ratio_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
            "sink_wall_s": round(s_wall, 4), "floor_wall_s": round(f_wall, 4),
            "sink_vs_floor_wall": round(f_wall / s_wall, 3)}


def write_rate(records: list[Any], work: Path, batch_rows: int, n: int) -> dict[str, Any]:
    """The sink against the floor on the benchmark's batches (``batch_rows`` records, many dates
    each) and on the one-date shape (each date's records one batch)."""
    batches = [records[b:b + batch_rows] for b in range(0, len(records), batch_rows)]
    by_date: dict[Any, list[Any]] = defaultdict(list)
    for rec in records:
        by_date[rec.window_start.date()].append(rec)
    dated = list(by_date.values())
    tables, dated_tables = floor_tables(batches), floor_tables(dated)
    items, dated_items = sink_items(records), [sink_items(d) for d in dated]  # made before any timing
    wide = pairs(lambda k: sink_write(items, work / f"sink-{k}", batch_rows),
                 lambda k: floor_write(tables, work / f"floor-{k}"), n)
    one_date = pairs(lambda k: sink_write_batches(dated_items, work / f"dsink-{k}"),
                     lambda k: floor_write(dated_tables, work / f"dfloor-{k}"), n)
    out = {"batches": len(batches), "one_date_batches": len(dated), "pairs": n,
           "sink_input": "records" if items is records else f"blocks of {BLOCK_BATCH} windows",
           "wide": wide, "one_date": one_date}
    steps = [s for s in (block_step(records) for _ in range(n)) if s is not None]
    if steps:  # the flow's block step, on the worker (not the sink): reported apart and all-in
        step = statistics.median(steps)
        out["block_step_cpu_s"] = round(step, 4)
        out["block_step_us_per_window"] = round(1e6 * step / len(records), 3)
        for shape in ("wide", "one_date"):
            r = out[shape]
            r["with_block_step_vs_floor"] = round(r["floor_cpu_s"] / (r["sink_cpu_s"] + step), 3)
    return out


def write_state(archive: Path, rows: list[dict[str, Any]], assets: int) -> None:
    """The twin_state rows, replicated like the features, written by the sink's write_rows."""
    from flows.dataflow.sinks.archive import write_rows

    base = sorted({r["asset_id"] for r in rows})
    out = []
    for k in range(-(-assets // len(base))):
        for r in rows:
            if base.index(r["asset_id"]) + k * len(base) < assets:
                out.append({**r, "asset_id": f"{r['asset_id']}~r{k}"})
    for b in range(0, len(out), 20000):
        write_rows(archive, "twin_state", out[b:b + 20000], f"part-bench-{b // 20000:06d}", "bench")


def timed_query(archive: Path, sql: str, repeat: int) -> tuple[float, int]:
    """Best wall seconds of ``query`` (fresh connection each time, as ``twin sql``) and the rows."""
    from flows.archive.query import query

    best, n = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        _cols, rows = query(archive, sql)
        best = min(best, time.perf_counter() - t)
        n = len(rows)
    return best, n


def compacted(archive: Path, queries: dict[str, str], repeat: int) -> dict[str, Any]:
    """Compact every date of the archive, then time the same queries (empty if the tree has no
    compaction)."""
    try:
        from flows.archive.compact import compact_archive
    except ImportError:
        return {}
    t = cpu()
    compact_archive(archive, date(9999, 1, 1), "part-compact-bench")
    out: dict[str, Any] = {"compact_cpu_s": round(cpu() - t, 2),
                           "archive_files_compacted": sum(1 for _ in archive.rglob("*.parquet"))}
    for name, sql in queries.items():
        out[f"{name}_query_compacted_s"] = round(timed_query(archive, sql, repeat)[0], 3)
    return out


def sink_only(records: list[Any], work: Path, batch_rows: int) -> dict[str, Any]:
    """The sink against the same files written by bare write_table (one JSON line)."""
    import flows

    sink_s = sink_write(records, work / "archive", batch_rows)
    part_s = per_partition_floor(records, work / "floor", batch_rows)
    out = {"benchmark": "archive_sink", "tree": str(Path(flows.__file__).parents[1]), "rows": len(records),
           "sink_cpu_s": round(sink_s, 2), "floor_per_partition_cpu_s": round(part_s, 2),
           "sink_vs_floor_per_partition": round(part_s / sink_s, 3)}
    print(json.dumps(out))
    return out


def split(records: list[Any], work: Path, batch_rows: int, repeat: int) -> dict[str, Any]:
    """Where the sink's CPU goes next to the floor, same batches, best of ``repeat`` (one JSON line):
    records -> Arrow tables (one per date), the layout's write of those tables (one file per date,
    bookkeeping, the layout's write options, rename), the same rows written as ONE
    file per batch with the sink's settings, and the floor (one default ``write_table`` per batch of
    the rows as dicts -> ``from_pylist``, built outside the timing) also with the sink's settings."""
    from flows.archive import layout
    from flows.dataflow.sinks.archive import feature_row

    try:
        from flows.dataflow.sinks.archive_files import bookkeeping, write_file
    except ImportError:  # a tree before round 29 (SPLIT29): the sink's own helpers
        from flows.dataflow.sinks.archive import _bookkeeping as bookkeeping  # type: ignore[attr-defined,no-redef]
        from flows.dataflow.sinks.archive import _write_file as write_file  # type: ignore[attr-defined,no-redef]

    try:
        from flows.dataflow.sinks.archive_features import feature_tables
    except ImportError:  # a tree before part ARCHIVE3
        from flows.dataflow.sinks.archive_columns import date_groups, records_table

        def feature_tables(recs: list[Any]) -> dict[str, pa.Table]:
            return {d: records_table("features", p) for d, p in date_groups("features", recs).items()}

    batches = [records[b:b + batch_rows] for b in range(0, len(records), batch_rows)]
    floor_tables = [pa.Table.from_pylist([feature_row(r) for r in b]) for b in batches]
    best: dict[str, float] = defaultdict(lambda: float("inf"))

    def plain(t: pa.Table, path: Path) -> None:
        if hasattr(layout, "write_options"):  # part ARCHIVE5: the layout's settings, statistics included
            pq.write_table(t, path, **layout.write_options("features", t.schema))
        else:
            pq.write_table(t, path, row_group_size=layout.ROW_GROUP_ROWS,
                           use_dictionary=layout.dictionary_columns(t.schema))

    def once(root: Path) -> None:
        (root / "one").mkdir(parents=True)
        t = cpu()
        tables = [feature_tables(b) for b in batches]
        best["convert"] = min(best["convert"], cpu() - t)
        t = cpu()
        for i, per_day in enumerate(tables):
            for d, data in per_day.items():
                write_file(root, "features", d, data, f"b{i}", "bench")
        best["layout_write"] = min(best["layout_write"], cpu() - t)
        whole = [bookkeeping(pa.concat_tables(list(per_day.values()), promote_options="default"),
                             "bench", 1) for per_day in tables]
        t = cpu()
        for i, data in enumerate(whole):
            plain(data, root / "one" / f"s{i}.parquet")
        best["one_file_sink_settings"] = min(best["one_file_sink_settings"], cpu() - t)
        t = cpu()
        for i, data in enumerate(floor_tables):
            pq.write_table(data, root / "one" / f"f{i}.parquet")
        best["floor"] = min(best["floor"], cpu() - t)
        t = cpu()
        for i, data in enumerate(floor_tables):
            plain(data, root / "one" / f"g{i}.parquet")
        best["floor_sink_settings"] = min(best["floor_sink_settings"], cpu() - t)

    for k in range(repeat):
        once(work / f"split-{k}")
    out = {"benchmark": "archive_split", "rows": len(records), "repeat": repeat,
           **{f"{k}_cpu_s": round(v, 4) for k, v in best.items()},
           "sink_vs_floor": round(best["floor"] / (best["convert"] + best["layout_write"]), 3)}
    print(json.dumps(out))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures (last line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-archive", default=None, help="a `twin demo` output folder (default: run it)")
    p.add_argument("--assets", type=int, default=100)
    p.add_argument("--batch-rows", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=3, help="query runs (best of)")
    p.add_argument("--pairs", type=int, default=5, help="sink and floor runs each, alternated (median)")
    p.add_argument("--write-only", action="store_true", help="only the write rate (both shapes)")
    p.add_argument("--block-batch", type=int, default=BLOCK_BATCH, help="windows per block (ARCHIVE7)")
    p.add_argument("--sink-input", choices=("flow", "records"), default="flow",
                   help="what the sink is fed: what the tree's flow feeds it, or records (ARCHIVE8)")
    p.add_argument("--sink-only", type=int, default=0, metavar="ROWS",
                   help="only the sink and the per-partition floor on the first ROWS records (for "
                        "before/after pairs in alternating processes, with PYTHONPATH at a tree)")
    p.add_argument("--split", action="store_true",
                   help="only where the sink's CPU goes next to the floor (conversion, layout write, ...)")
    p.add_argument("--app-heap", action="store_true",
                   help="apply the malloc settings every `twin` command starts with (flows/app/heap.py) "
                        "before measuring: sink and floor then run as in `twin run` (RESULTS.md, ARCHIVE13)")
    values_arg(p)
    args = p.parse_args(argv)
    if args.app_heap:
        app_heap()
    globals()["BLOCK_BATCH"] = args.block_batch
    globals()["SINK_INPUT"] = args.sink_input
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        work = Path(tmp)
        demo = demo_archive(args.demo_archive, work)
        records = feature_records(read_table(demo, "features"), args.assets, args.values)
        if args.split:
            return split(records, work, args.batch_rows, args.repeat)
        if args.write_only:
            rate = {"benchmark": "archive_write", "tree": str(flows_tree()), "app_heap": args.app_heap,
                    "values": args.values,
                    "rows": len(records), **write_rate(records, work, args.batch_rows, args.pairs)}
            print(json.dumps(rate))
            return rate
        if args.sink_only:
            return sink_only(records[:args.sink_only], work, args.batch_rows)
        rate = write_rate(records, work, args.batch_rows, args.pairs)
        archive = work / "sink-0"
        part_s = per_partition_floor(records, work / "floor-parts", args.batch_rows)
        write_state(archive, read_table(demo, "twin_state"), args.assets)
        first = min(r.window_start for r in records)
        day = (first + timedelta(days=10)).strftime("%Y-%m-%d")
        asset = records[0].asset_id
        q_day, n_day = timed_query(archive, FLEET_DAY.format(day=day), args.repeat)
        month = ASSET_MONTH.format(asset=asset, start=first.strftime("%Y-%m-%d"))
        q_month, n_month = timed_query(archive, month, args.repeat)
        files = sum(1 for _ in archive.rglob("*.parquet"))
        after = compacted(archive, {"fleet_day": FLEET_DAY.format(day=day), "asset_month": month},
                          args.repeat)
    n = len(records)
    out = {"benchmark": "archive", "machine": platform.machine(), "python": platform.python_version(),
           "app_heap": args.app_heap, "values": args.values,
           "assets": args.assets, "feature_rows": n, "archive_files": files, "batch_rows": args.batch_rows,
           "sink_rows_per_cpu_s": round(n / rate["wide"]["sink_cpu_s"]),
           "floor_one_file_rows_per_cpu_s": round(n / rate["wide"]["floor_cpu_s"]),
           "floor_per_partition_rows_per_cpu_s": round(n / part_s),
           "sink_vs_floor_one_file": rate["wide"]["sink_vs_floor"],
           "sink_vs_floor_per_partition": round(part_s / rate["wide"]["sink_cpu_s"], 3),
           "one_date_sink_vs_floor": rate["one_date"]["sink_vs_floor"], "write_rate": rate,
           "fleet_day_query_s": round(q_day, 3), "fleet_day_rows": n_day,
           "asset_month_query_s": round(q_month, 3), "asset_month_rows": n_month, **after}
    for k, v in out.items():
        print(f"{k:>36}: {v}", file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
