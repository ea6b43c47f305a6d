"""Peak memory of the archive's readers against the number of part files (round 40, QUERY40).

Run: ``.venv/bin/python benchmarks/bench_scan.py [--parts 20000 80000] [--assets 2]
[--commands sql check] [--dir /tmp/twin-bench-scan] [--tree /tmp/old]``.

Writes one archive per ``--parts`` value whose ``twin_state/date=2026-01-01`` holds that many parts,
as a live run's flushes make them before a compaction: each part one flush of ``--assets`` assets'
one window (every column of the table, constant values), written by the sink's own file writer
(``archive_files.write_file``; its fsyncs are skipped while generating: the same bytes, ~5 ms a
part less), kept between runs (deterministic). Then runs each of ``--commands`` on it under
``/usr/bin/time -v`` (peak RSS, "Maximum resident set size", and wall seconds):

- ``sql``: ``twin sql "SELECT count(*) FROM twin_state" --archive DIR``
- ``check``: ``twin archive check --archive DIR``
- ``compact``: ``twin archive compact --archive COPY --before 2030-01-01`` on a copy (slow: it rewrites
  every row, in passes of 16 files)
- ``explain``: ``twin explain bench-alert-0001 --archive DIR`` (one alerts part holds its episode)
- ``whatif``: ``twin whatif asset-0000 --load 0.8 --archive DIR`` (the parts' ``damage`` is null)

The slope between the smallest and largest size (KB of RSS per part file) says whether a reader's
memory grows with the files. ``--tree DIR`` runs another checkout's ``twin`` with this venv (the
before: ``git archive 4d8e973 | tar -x -C /tmp/old``). Prints a line per run and a final JSON line;
everything goes to ``--dir`` (under /tmp), never into the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_memory import peak_rss, twin_argv  # noqa: E402

from flows.codec import archive_schema  # noqa: E402
from flows.dataflow.sinks import archive_files  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VALUES = {"string": "x", "double": 0.5, "int64": 1, "bool": False}
NULLS = ("damage",)
"""twin_state columns left null (round 41: no damage evidence, so `twin whatif` answers from the
twin_state rows alone)."""
ALERT_ID = "bench-alert-0001"
COMMANDS = {
    "sql": ["sql", "SELECT count(*) FROM twin_state", "--format", "csv", "--archive", "{dir}"],
    "check": ["archive", "check", "--archive", "{dir}"],
    "compact": ["archive", "compact", "--archive", "{dir}", "--before", "2030-01-01"],
    "explain": ["explain", ALERT_ID, "--archive", "{dir}"],
    "whatif": ["whatif", "asset-0000", "--load", "0.8", "--archive", "{dir}"],
}


def _part(p: int, assets: int) -> pa.Table:
    """One flush of ``twin_state``: ``assets`` rows of window ``p`` (seconds apart: all distinct)."""
    start = T0 + timedelta(seconds=p)
    cols: dict[str, pa.Array] = {"asset_id": pa.array([f"asset-{a:04d}" for a in range(assets)], pa.string())}
    for c in archive_schema.file_columns("twin_state"):
        kind = archive_schema.arrow_type(c)
        if pa.types.is_timestamp(kind):
            value: object = start + timedelta(minutes=1) if c.name == "timestamp" else start
        else:
            value = None if c.name in NULLS else VALUES[str(kind)]
        cols[c.name] = pa.array([value] * assets, kind)
    return pa.table(cols)


def _alert(parts: int) -> pa.Table:
    """One alert episode of asset-0000 (raised 600 s after it started, cleared 600 s later) in the
    middle of the parts' windows: what `twin explain` looks up, then reads the windows of (round 41)."""
    rows = []
    for seq, status in enumerate(("raised", "cleared")):
        row: dict[str, object] = {"asset_id": "asset-0000"}
        for c in archive_schema.file_columns("alerts"):
            kind = archive_schema.arrow_type(c)
            row[c.name] = (T0 + timedelta(seconds=parts // 2 + 600 * (seq + 1)) if pa.types.is_timestamp(kind)
                           else VALUES[str(kind)])
        row.update(alert_id=ALERT_ID, status=status, sequence=seq, kind="anomaly", severity="warning",
                   started_at=T0 + timedelta(seconds=parts // 2), top_features="[]", lineage=None)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=pa.schema(
        [("asset_id", pa.string())] + [(c.name, archive_schema.arrow_type(c))
                                       for c in archive_schema.file_columns("alerts")]))


def make_archive(root: Path, parts: int, assets: int) -> Path:
    """``root``: an archive of ``parts`` twin_state parts of one date (kept if made)."""
    done = root / "done"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    synced, folder_synced = archive_files.layout.replace_synced, archive_files.layout.sync_folder
    archive_files.layout.replace_synced = lambda tmp, final: os.replace(tmp, final)  # type: ignore[assignment]
    archive_files.layout.sync_folder = lambda folder: None  # type: ignore[assignment]
    try:
        for p in range(parts):
            archive_files.write_file(root, "twin_state", "2026-01-01", _part(p, assets),
                                     f"part-bench-w0-{p:06d}", "bench")
        archive_files.write_file(root, "alerts", "2026-01-01", _alert(parts), "part-bench-w0-alert", "bench")
    finally:
        archive_files.layout.replace_synced, archive_files.layout.sync_folder = synced, folder_synced
    done.write_text("")
    return root


def main() -> None:
    """Generate the archives, run the commands, print the lines and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", type=int, nargs="+", default=[20000, 80000])
    ap.add_argument("--assets", type=int, default=2)
    ap.add_argument("--commands", nargs="+", choices=sorted(COMMANDS), default=["sql", "check"])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-scan"))
    ap.add_argument("--tree", type=Path, default=None, help="run this checkout's twin (before/after)")
    args = ap.parse_args()
    runs = []
    for parts in args.parts:
        src = make_archive(args.dir / f"src-{parts}x{args.assets}", parts, args.assets)
        for name in args.commands:
            target = src
            if name == "compact":
                target = args.dir / "work"
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(src / "twin_state", target / "twin_state")
            argv = [*twin_argv(args.tree), *(a.replace("{dir}", str(target)) for a in COMMANDS[name])]
            rss, seconds = peak_rss(argv)
            runs.append({"command": name, "parts": parts, "peak_rss_mb": round(rss, 1),
                         "seconds": round(seconds, 1)})
            print(f"{name:<8} {parts:>7} parts: peak RSS {rss:7.1f} MB in {seconds:6.1f} s", flush=True)
            if name == "compact":
                shutil.rmtree(target, ignore_errors=True)
    slopes = {}
    for name in args.commands:
        mine = [r for r in runs if r["command"] == name]
        if len(mine) >= 2:  # noqa: PLR2004 - two sizes give the slope
            a, b = mine[0], mine[-1]
            slopes[name] = round((b["peak_rss_mb"] - a["peak_rss_mb"]) * 1024 / (b["parts"] - a["parts"]), 2)
            print(f"slope {name}: {slopes[name]} KB of RSS per part file")
    print(json.dumps({"bench": "scan", "tree": str(args.tree or Path(__file__).resolve().parents[1]),
                      "assets": args.assets, "runs": runs, "kb_per_file": slopes,
                      "machine": platform.machine(), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
