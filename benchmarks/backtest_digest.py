"""Digest of a backtest's outputs, to show that two source trees give the same results.

Run: ``.venv/bin/python benchmarks/backtest_digest.py --tree <source tree> --out <dir> --kind fleet|csvbad``
for each tree (e.g. main's ``git archive`` and this worktree) and compare the JSON lines.

``fleet``: 20 assets x 3 channels at 1 Hz for 3 h (Parquet; a drift on asset-003 after 2 h, every
97th pressure cell NaN). ``csvbad``: a CSV of 3 assets x 2 channels for 4,000 s with a value out of
range, a row from 2100 (future) and a non-ASCII asset id. The digest covers ``scores.parquet``,
``alerts.parquet``, every archive table (rows sorted; without the run's id and write times) and
the dead letters (without the wall-clock parts of their detail); equal digests = same outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

RUN_COLUMNS = ("run_id", "_written_at", "_write_seq")


def _fleet(d: Path, tree: Path) -> Path:
    sys.path.insert(0, str(tree / "benchmarks"))
    from bench_backtest_speed import write_fleet

    p = d / "fleet.parquet"
    write_fleet(p, 20, 3, 3 * 3600, 3)
    t = pq.read_table(p)
    ids = np.array(t.column("asset_id").to_pylist())
    ts = t.column("timestamp").to_numpy().astype("datetime64[s]").astype(np.int64)
    hit = (ids == "asset-003") & (ts >= ts.min() + 7200)
    temp = t.column("temperature").to_numpy().copy()
    temp[hit] += np.linspace(0, 30, hit.sum())
    pres = t.column("pressure").to_numpy().copy()
    pres[np.arange(t.num_rows) % 97 == 5] = np.nan
    t = t.set_column(2, "temperature", pa.array(temp)).set_column(3, "pressure", pa.array(pres))
    pq.write_table(t, p)
    return p


def _csvbad(d: Path) -> Path:
    p = d / "bad.csv"
    lines = ["timestamp,asset_id,temperature,pressure"]
    for i in range(4000):
        ts = f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        for a in ("p-1", "p-2", "pümp-3"):
            v = 50 + (i % 7) * 0.1
            lines.append(f"{ts},{a},{'1e39' if (i, a) == (1234, 'p-1') else f'{v:.3f}'},{v + 1:.2f}")
    lines.append("2100-01-01T00:00:00Z,p-2,1.0,2.0")
    p.write_text("\n".join(lines) + "\n")
    return p


def _digest(rows: list[str]) -> str:
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def _table_digest(t: pa.Table, prefix: str | None = None) -> list[Any]:
    """[rows, digest] of a table without its run columns; ``prefix`` (a run's random topic prefix,
    which a lineage's input sources name) replaced by ``PREFIX.`` in every row when given."""
    t = t.select(sorted(c for c in t.column_names if c not in RUN_COLUMNS))
    rows = [repr(row) if prefix is None else repr(row).replace(prefix, "PREFIX.") for row in t.to_pylist()]
    return [t.num_rows, _digest(sorted(rows))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the backtest of ``--kind`` with ``--tree`` first on sys.path; print the digest (JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--kind", choices=("fleet", "csvbad"), default="fleet")
    args = p.parse_args(argv)
    sys.path.insert(0, str(args.tree))
    from flows.app.backtest import run_backtest
    from flows.config.pipeline import load_config

    inputs = args.out / "in"
    inputs.mkdir(parents=True, exist_ok=True)
    path = _fleet(inputs, args.tree) if args.kind == "fleet" else _csvbad(inputs)
    out = args.out / "out"
    res = run_backtest([path], out, load_config(env={}, overrides={"window_s": 60.0}),
                       progress=False, report=False, fresh=True)
    archive: dict[str, list[pa.Table]] = {}
    for f in sorted((out / "archive").rglob("*.parquet")):
        archive.setdefault(f.relative_to(out / "archive").parts[0], []).append(pq.read_table(f))
    dl = out / "dead_letters.jsonl"
    dead = sorted(re.sub(r"now \+ max_future_s \([^)]*\)", "now + max_future_s", json.dumps(
        {k: v for k, v in json.loads(line).items() if k != "timestamp"}, sort_keys=True))
        for line in (dl.read_text().splitlines() if dl.exists() else []))
    result = {"kind": args.kind, "records": res.records, "windows": len(res.snapshots),
              "dead_letters_by_reason": res.dead_letters, "skipped": res.skipped,
              "scores": _table_digest(pq.read_table(out / "scores.parquet")),
              "alerts": _table_digest(pq.read_table(out / "alerts.parquet")),
              "archive": {k: _table_digest(pa.concat_tables(v, promote_options="default"))
                          for k, v in sorted(archive.items())},
              "dead_letters": [len(dead), _digest(dead)]}
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
