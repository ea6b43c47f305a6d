"""What the archive parts' fsyncs cost (rounds 39-40, DURABLE39, SYNC40): synced against unsynced writes.

Run: ``.venv/bin/python benchmarks/bench_part_sync.py [--rows 2400] [--parts 100] [--dates 1]
[--new-folders] [--rounds 5] [--dir /tmp/twin-bench-sync]``.

Writes ``--parts`` part files of ``--rows`` feature rows each (a 100-asset flush is ~2,400 windows)
with the sink's writer of one flush (``archive_files.write_tables``: ``--dates`` parts per flush, one
per date, as a flush spanning several days writes them) into fresh folders under ``--dir``,
``--rounds`` times each way, alternated: as the tree does it (round 39: each part's temporary file
fsynced, renamed, its date folder fsynced, a folder the write makes synced in its parent, part after
part; round 40: a flush's syncs issued together, ``flows/archive/synced_renames.py``) and with
``os.fsync`` made a no-op (the writes of before round 39). ``--new-folders``: every flush's dates are
new folders (a live run's first flush of a day; the benchmark's one-date shape makes one per flush),
else the folders exist. Reports the median wall and CPU milliseconds per part of each, the difference,
and where the synced run's fsyncs went: how many per flush of a file and of a folder and their summed
wait per flush (from a wrapper of ``os.fsync``; overlapped waits add up to more than the wall).
The disk's sync cost depends on the machine and on what else writes: run it where it matters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import stat
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.dataflow.sinks.archive_files import write_tables  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def flush(rows: int, seed: int) -> pa.Table:
    """One flush of feature rows (100 assets' windows, 30 features), sorted by asset."""
    rng = np.random.default_rng(seed)
    assets = 100
    per = max(1, rows // assets)
    ids = [f"asset-{a:04d}" for a in range(assets) for _ in range(per)]
    starts = [T0 + timedelta(minutes=w) for _ in range(assets) for w in range(per)]
    n, ts = len(ids), pa.timestamp("us", tz="UTC")
    return pa.table({"asset_id": ids, "window_start": pa.array(starts, ts),
                     "window_end": pa.array([s + timedelta(minutes=1) for s in starts], ts),
                     "n_records": pa.array(rng.integers(1, 100, n), pa.int64()), "events": [""] * n,
                     **{f"f{i:02d}.mean": rng.random(n) for i in range(30)}})


class Syncs:
    """``os.fsync`` (and ``os.fdatasync``) timed by what they sync: a file or a folder."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def wrap(self, real: Callable[[int], None]) -> Callable[[int], None]:
        def timed(fd: int) -> None:
            kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
            t = time.perf_counter()
            try:
                real(fd)
            finally:
                self.count[kind] += 1  # Counter updates under the GIL: threads may call this
                self.seconds[kind] += time.perf_counter() - t
        return timed


@contextmanager
def patched_syncs(syncs: Syncs | None) -> Iterator[None]:
    """``os.fsync``/``os.fdatasync`` timed into ``syncs``, or no-ops (None) for the duration."""
    names = [n for n in ("fsync", "fdatasync") if hasattr(os, n)]
    saved = {n: getattr(os, n) for n in names}
    try:
        for n in names:
            setattr(os, n, (lambda fd: None) if syncs is None else syncs.wrap(saved[n]))
        yield
    finally:
        for n, real in saved.items():
            setattr(os, n, real)


def dates(k: int, n: int) -> list[str]:
    """Flush ``k``'s ``n`` dates (distinct from every other flush's)."""
    return [(date(2026, 1, 1) + timedelta(days=k * n + i)).isoformat() for i in range(n)]


def one_round(root: Path, data: pa.Table, parts: int, per: int, fresh: bool,
              syncs: Syncs | None) -> tuple[float, float]:
    """(wall ms, CPU ms) per part of ``parts`` parts written ``per`` a flush into a fresh archive
    ``root`` (``fresh``: each flush's date folders new; else made beforehand); ``syncs``: timed (else
    no fsync at all)."""
    shutil.rmtree(root, ignore_errors=True)
    flushes = max(1, parts // per)
    plan = [dates(k, per) if fresh else dates(0, per) for k in range(flushes)]
    write_tables(root, "features", dict.fromkeys(dates(10_000, 1), data), "part-warm", "bench")
    if not fresh:
        write_tables(root, "features", dict.fromkeys(plan[0], data), "part-warm", "bench")
    with patched_syncs(syncs):
        w, c = time.perf_counter(), time.process_time()
        for k, days in enumerate(plan):
            write_tables(root, "features", dict.fromkeys(days, data), f"part-bench-w0-{k:06d}", "bench")
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    shutil.rmtree(root, ignore_errors=True)
    n = flushes * per
    return 1000 * wall / n, 1000 * cpu / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2400)
    ap.add_argument("--parts", type=int, default=100)
    ap.add_argument("--dates", type=int, default=1, help="parts per flush (one per date)")
    ap.add_argument("--new-folders", action="store_true", help="every flush's date folders are new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-sync"))
    args = ap.parse_args()
    data = flush(args.rows, 1)
    got: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    syncs = Syncs()
    for r in range(args.rounds):
        for synced in ((True, False) if r % 2 == 0 else (False, True)):
            got[synced].append(one_round(args.dir / f"r{r}-{int(synced)}", data, args.parts, args.dates,
                                         args.new_folders, syncs if synced else None))
    import flows

    flushes = args.rounds * max(1, args.parts // args.dates)
    out: dict[str, object] = {"bench": "part_sync", "tree": str(Path(flows.__file__).parents[1]),
                              "rows": args.rows, "parts": args.parts, "parts_per_flush": args.dates,
                              "new_folders": args.new_folders, "rounds": args.rounds}
    for synced, name in ((False, "unsynced"), (True, "synced")):
        walls, cpus = [w for w, _ in got[synced]], [c for _, c in got[synced]]
        out[f"{name}_wall_ms"] = round(statistics.median(walls), 3)
        out[f"{name}_wall_ms_min_max"] = [round(min(walls), 3), round(max(walls), 3)]
        out[f"{name}_cpu_ms"] = round(statistics.median(cpus), 3)
    out["sync_wall_ms_per_part"] = round(out["synced_wall_ms"] - out["unsynced_wall_ms"], 3)  # type: ignore[operator]
    for kind in ("file", "folder"):
        out[f"{kind}_fsyncs_per_flush"] = round(syncs.count[kind] / flushes, 2)
        out[f"{kind}_fsync_ms_per_flush"] = round(1000 * syncs.seconds[kind] / flushes, 3)
    write_tables(args.dir / "size", "features", {"2026-01-01": data}, "part-size", "bench")
    out["part_kb"] = round(next((args.dir / "size").rglob("*.parquet")).stat().st_size / 1024, 1)
    shutil.rmtree(args.dir / "size")
    out["machine"], out["cpus"], out["load1"] = platform.machine(), os.cpu_count(), os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
