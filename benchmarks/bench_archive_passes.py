"""Where the archive sink's conversion goes per window: each pass over the records, cold and hot.

Run: ``.venv/bin/python benchmarks/bench_archive_passes.py --demo-archive DIR [--rounds 3]``
(the records of ``bench_archive.py``: the demo's features replicated to 100 assets, written as
one-date batches of ~2,400 windows, a live run's flush).

For each pass of :func:`flows.dataflow.sinks.archive_features.feature_tables` (and the whole
call) over every one-date batch: **cold**, after reading a 64 MiB array (the records' objects out
of the CPU caches, as when a flush reads windows made a minute earlier), and **hot**, right after
the same pass over the same batch. Then the ``inputs`` column three ways, cold: the per-window
text (``spans_text``), the Arrow-built text (:mod:`flows.dataflow.sinks.archive_inputs`, what
the sink writes) and, for comparison, the flat arrays an Arrow ``list<struct<source, first,
last>>`` column would be built from; and the ``pq.write_table`` CPU of one batch's table with
the inputs as text vs as that list<struct> column (best of ``--rounds``). Microseconds per
window (best of ``--rounds``); last line JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_archive  # noqa: E402 - the benchmark's records

from flows.codec.record_fields import spans_text  # noqa: E402
from flows.dataflow.sinks import archive_features as af  # noqa: E402
from flows.dataflow.sinks.archive_inputs import inputs_column  # noqa: E402

_EVICT = np.ones((64 << 20) // 8)
_SPANS = attrgetter("inputs")


def _flat_arrays(batch: list[Any]) -> list[pa.Array]:
    """What a list<struct> inputs column is made of: offsets, sources, firsts, lasts."""
    spans = list(map(_SPANS, batch))
    flat = list(chain.from_iterable(spans))
    counts = np.fromiter(map(len, spans), np.int64, len(spans))
    return [pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)),
            pa.array(list(map(attrgetter("source"), flat)), pa.string()).dictionary_encode(),
            pa.array(list(map(attrgetter("first"), flat)), pa.int64()),
            pa.array(list(map(attrgetter("last"), flat)), pa.int64())]


PASSES: dict[str, Callable[[list[Any]], Any]] = {
    "feature_tables (whole)": af.feature_tables,
    "record attribute only": lambda b: list(map(attrgetter("n_records"), b)),
    "asset codes": af._asset_codes,
    "window_start codes": lambda b: af._times(b, "window_start"),
    "window_end codes": lambda b: af._times(b, "window_end"),
    "events": af._events,
    "key sets": lambda b: list(map(af._KEY_SET, b)),
    "feature rows stacked": lambda b: af._stack(b, b[0].features.key_set),
    "inputs: per-window text": lambda b: pa.array(list(map(spans_text, map(_SPANS, b))), pa.string()),
    "inputs: Arrow-built text": lambda b: inputs_column(list(map(_SPANS, b))),
    "inputs: list<struct> arrays": _flat_arrays,
}


def timed(fn: Callable[[list[Any]], Any], batches: list[list[Any]], cold: bool) -> float:
    """Seconds of ``fn`` over every batch, each cold (caches flushed) or hot (run just before)."""
    total = 0.0
    for batch in batches:
        if cold:
            _EVICT.sum()
        else:
            fn(batch)
        t = time.perf_counter()
        fn(batch)
        total += time.perf_counter() - t
    return total


def write_types(batch: list[Any], rounds: int) -> dict[str, float]:
    """CPU ms of ``pq.write_table`` of one batch's features table: inputs as text vs list<struct>."""
    table = af.feature_tables(batch)
    (data,) = table.values()
    offsets, sources, firsts, lasts = _flat_arrays(batch)
    spans = pa.StructArray.from_arrays([sources.cast(pa.string()), firsts, lasts],
                                       ["source", "first", "last"])  # arrival order: same values, permuted
    nested = data.set_column(data.schema.get_field_index("inputs"), "inputs",
                             pa.ListArray.from_arrays(offsets, spans))
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, t in (("text", data), ("list_struct", nested)):
            best = float("inf")
            for _ in range(rounds):
                start = time.process_time()
                pq.write_table(t, Path(tmp) / f"{name}.parquet")
                best = min(best, time.process_time() - start)
            out[f"write_ms_inputs_{name}"] = round(best * 1e3, 3)
    return out


def main() -> dict[str, Any]:
    """Print each pass's microseconds per window, cold and hot, and the write comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-archive", required=True)
    p.add_argument("--assets", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    records = bench_archive.feature_records(bench_archive.read_table(Path(args.demo_archive), "features"),
                                            args.assets)
    by_date: dict[Any, list[Any]] = defaultdict(list)
    for rec in records:
        by_date[rec.window_start.date()].append(rec)
    batches = list(by_date.values())
    out: dict[str, Any] = {"benchmark": "archive_passes", "windows": len(records), "batches": len(batches)}
    for name, fn in PASSES.items():
        cold = min(timed(fn, batches, True) for _ in range(args.rounds)) * 1e6 / len(records)
        hot = min(timed(fn, batches, False) for _ in range(args.rounds)) * 1e6 / len(records)
        out[name] = {"cold_us": round(cold, 3), "hot_us": round(hot, 3)}
        print(f"{name:>28}: cold {cold:6.3f} us/window   hot {hot:6.3f}", file=sys.stderr)
    out.update(write_types(batches[len(batches) // 2], args.rounds * 5))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
