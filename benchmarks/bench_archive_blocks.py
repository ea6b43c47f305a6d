"""Projection (issue 10, part ARCHIVE5): the archive sink's write rate if windows reached it as
column blocks instead of one FeatureVector per window.

Not a production path: it measures what option (a) of issue 10's archive target would buy before
anyone builds it. Each batch's windows are given as arrays, built OUTSIDE the timing (what an
aggregation step emitting per-batch blocks would hand over): asset codes and their distinct ids,
window start/end in microseconds, n_records, events, and the features as one (windows, names)
float64 matrix in arrival order. Timed, per batch: the sort by (date, asset, time), the blocked
transposing gather of the matrix, the Arrow columns, one table per date and the sink's own file
write (``_write_file``: bookkeeping, the layout's write options, rename) — everything the sink does
after reading its records. The floor and the shapes are ``bench_archive.py``'s (same rows, one
bare default ``pq.write_table`` per batch, 5 alternated pairs, ratio of medians).

Run: ``.venv/bin/python benchmarks/bench_archive_blocks.py --demo-archive DIR`` (final line: JSON).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from bench_archive import cpu, demo_archive, feature_records, floor_tables, floor_write, pairs, read_table

_TIME = pa.timestamp("us", tz="UTC")
_DAY_US = 86_400_000_000


def block(records: list[Any]) -> dict[str, Any]:
    """One batch's windows as arrays (features of one key sequence, as the demo's are)."""
    from flows.codec.record_fields import FEATURE_VECTOR

    events = next(c.value for c in FEATURE_VECTOR.columns if c.name == "events")
    assets = pa.array([r.asset_id for r in records]).dictionary_encode()
    micros = [pa.array([getattr(r, k) for r in records], _TIME).cast(pa.int64()).to_numpy()
              for k in ("window_start", "window_end")]
    return {"asset": assets.indices.to_numpy().astype(np.intp), "ids": assets.dictionary,
            "start": micros[0], "end": micros[1], "names": records[0].features.key_set.names,
            "n_records": np.array([r.n_records for r in records], np.int64),
            "events": pa.array([events(r) for r in records], pa.string()),
            "values": np.stack([r.features.row for r in records])}


def write_block(b: dict[str, Any], root: Path, name: str) -> int:
    """The sink's work after reading records: sort, columns, one file per date; returns files."""
    from flows.dataflow.sinks.archive import _write_file
    from flows.dataflow.sinks.archive_features import _schema, _transposed

    ids = b["ids"].to_pylist()
    rank = np.empty(len(ids), np.intp)
    rank[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    day = b["start"] // _DAY_US
    order = np.lexsort((b["start"], rank[b["asset"]], day))
    matrix = _transposed(b["values"], order)
    finite = np.isfinite(matrix)
    taken = pa.array(order)
    arrays = [b["ids"].take(pa.array(b["asset"][order])), pa.array(b["start"][order], _TIME),
              pa.array(b["end"][order], _TIME), pa.array(b["n_records"][order]), b["events"].take(taken)]
    arrays += [pa.array(m, pa.float64(), mask=~f) for m, f in zip(matrix, finite, strict=True)]
    schema = _schema(tuple(b["names"]))
    sorted_days = day[order]
    starts = np.flatnonzero(np.r_[True, sorted_days[1:] != sorted_days[:-1]])
    for lo, hi in zip(starts, [*starts[1:], len(order)], strict=True):
        date = np.datetime64(int(sorted_days[lo]), "D").astype(str)
        table = pa.Table.from_arrays([a.slice(lo, hi - lo) for a in arrays], schema=schema)
        _write_file(root, "features", date, table, name, "bench")
    return len(starts)


def blocks_write(blocks: list[dict[str, Any]], root: Path) -> float:
    t = cpu()
    for i, b in enumerate(blocks):
        write_block(b, root, f"part-bench-w0-{i:06d}")
    return cpu() - t


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-archive", default=None, help="a `twin demo` output folder (default: run it)")
    p.add_argument("--assets", type=int, default=100)
    p.add_argument("--batch-rows", type=int, default=20000)
    p.add_argument("--pairs", type=int, default=5)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-archive-blocks-") as tmp:
        work = Path(tmp)
        records = feature_records(read_table(demo_archive(args.demo_archive, work), "features"), args.assets)
        by_date: dict[Any, list[Any]] = defaultdict(list)
        for rec in records:
            by_date[rec.window_start.date()].append(rec)
        shapes = {"wide": [records[b:b + args.batch_rows] for b in range(0, len(records), args.batch_rows)],
                  "one_date": list(by_date.values())}
        out: dict[str, Any] = {"benchmark": "archive_blocks", "rows": len(records)}
        for shape, batches in shapes.items():
            blocks, tables = [block(b) for b in batches], floor_tables(batches)
            out[shape] = pairs(lambda k, bl=blocks, s=shape: blocks_write(bl, work / f"{s}-blocks-{k}"),
                               lambda k, tb=tables, s=shape: floor_write(tb, work / f"{s}-floor-{k}"),
                               args.pairs)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
