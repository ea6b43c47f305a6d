"""Reading a large scalar CSV: records/s and peak memory, for a time-ordered and a shuffled file.

Run: ``.venv/bin/python benchmarks/bench_readers.py [--rows 2000000] [--dir /tmp/twin-bench-readers]``.
Writes ``ordered.csv`` (``timestamp,asset_id,temp,vib``, one row a second, two channels) and
``shuffled.csv`` (the same rows in random order) once, then reads each with
:func:`read_records` in a fresh child process (so that its peak RSS is its own) and reports the
seconds, rows/s, records/s and peak RSS of each, and a final JSON line. To measure another
version of the readers (e.g. ``git archive main | tar -x -C /tmp/main``), pass ``--tree /tmp/main``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    """The ordered and shuffled tables (kept between runs: they are deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    ordered, shuffled = folder / f"ordered-{rows}.csv", folder / f"shuffled-{rows}.csv"
    if ordered.exists() and shuffled.exists():
        return ordered, shuffled
    rng = random.Random(7)
    lines = [f"{(T0 + timedelta(seconds=i)).isoformat()},pump-{i % 4},{20 + rng.random():.4f},"
             f"{rng.gauss(0, 1):.5f}\n" for i in range(rows)]
    header = "timestamp,asset_id,temp,vib\n"
    ordered.write_text(header + "".join(lines))
    rng.shuffle(lines)
    shuffled.write_text(header + "".join(lines))
    return ordered, shuffled


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (reset by exec, unlike ru_maxrss, which a child inherits)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_once(path: str) -> dict[str, float]:
    """Read every record of ``path`` (in this process) and report time, counts and peak RSS."""
    import flows  # noqa: PLC0415 - the child's imports
    from flows.dataflow.sources.readers import ReadStats, read_records  # noqa: PLC0415

    stats = ReadStats()
    start = time.perf_counter()
    n = sum(1 for _ in read_records(path, stats=stats))
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    return {"seconds": round(seconds, 2), "rows": stats.rows, "records": n,
            "rows_per_s": round(stats.rows / seconds), "records_per_s": round(n / seconds),
            "peak_rss_mb": round(peak_mb), "reordered": stats.reordered,
            "readers_from": str(Path(flows.__file__).parent.parent)}


def use_tree(tree: str) -> None:
    """Import ``flows`` from another checkout: first on the path, the editable install's finder removed."""
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
    sys.path.insert(0, tree)


def measure(path: Path, tree: Path | None) -> dict[str, float]:
    """:func:`read_once` in a fresh interpreter (reading with the readers of ``tree`` if given)."""
    switch = "" if tree is None else f"b.use_tree({str(tree)!r}); "
    here = str(Path(__file__).parent)
    code = (f"import json, sys; sys.path.insert(0, {here!r}); import bench_readers as b; "
            f"{switch}print(json.dumps(b.read_once({str(path)!r})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=path.parent).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Write the files, read each in a child process, print the figures and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-readers"))
    parser.add_argument("--tree", type=Path, default=None, help="read with this checkout's flows")
    args = parser.parse_args()
    ordered, shuffled = write_files(args.dir, args.rows)
    results = {}
    for name, path in (("ordered", ordered), ("shuffled", shuffled)):
        results[name] = measure(path, args.tree)
        r = results[name]
        print(f"{name:9s} {r['rows']:>9,d} rows {r['records']:>9,d} records in {r['seconds']:6.2f} s: "
              f"{r['rows_per_s']:>9,d} rows/s, peak RSS {r['peak_rss_mb']} MB")
    size_mb = round(ordered.stat().st_size / 1e6, 1)
    print(json.dumps({"bench": "readers", "rows": args.rows, "file_mb": size_mb,
                      "python": platform.python_version(), **results}))


if __name__ == "__main__":
    main()
