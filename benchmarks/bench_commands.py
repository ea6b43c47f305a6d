"""Peak memory and time of ``twin commands list --archive`` against the audit table's size (round 39).

Run: ``.venv/bin/python benchmarks/bench_commands.py --demo-archive DIR [--entries 50000 200000]
[--dir /tmp/twin-bench-commands] [--tree /tmp/old]``.

Builds one archive per ``--entries`` value whose ``audit`` table holds that many entries: the demo
archive's audit rows (``twin demo --seed 7``: advise mode, a proposal and its ``advised`` entry per
command) replicated under new entry and command ids (``<id>~<k>``), written by the sink's
``write_rows`` in parts of 20,000 rows (kept between runs); then runs ``twin commands list --archive
DIR`` (pending only) and ``--all --json`` (every command) on each under ``/usr/bin/time -v``: peak
RSS and wall seconds. ``--tree`` runs another checkout's ``twin`` (the before). Everything goes to
``--dir``, never into the repo.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_memory import peak_rss, twin_argv  # noqa: E402

from flows.archive.query import query  # noqa: E402
from flows.dataflow.sinks.archive import write_rows  # noqa: E402

PART = 20000


def make_archive(demo: Path, root: Path, entries: int) -> Path:
    if (root / "done").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    sql = "SELECT * EXCLUDE (run_id, _written_at) FROM audit ORDER BY command_id, sequence"
    cols, rows = query(demo, sql)
    base = [dict(zip(cols, r, strict=True)) for r in rows]
    out: list[dict[str, object]] = []
    k = seq = 0
    while len(out) < entries:
        for r in base:
            out.append({**r, "entry_id": f"{r['entry_id']}~{k}", "command_id": f"{r['command_id']}~{k}",
                        "date": str(r["date"])})
            if len(out) == entries:
                break
        k += 1
        if len(out) >= PART or len(out) == entries:
            write_rows(root, "audit", out, f"part-bench-w0-{seq:06d}", "bench")
            entries -= len(out)
            out, seq = [], seq + 1
    (root / "done").write_text("")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo-archive", type=Path, required=True)
    ap.add_argument("--entries", type=int, nargs="+", default=[50000, 200000])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-commands"))
    ap.add_argument("--tree", type=Path, default=None, help="run this checkout's twin (before/after)")
    args = ap.parse_args()
    runs = []
    for n in args.entries:
        root = make_archive(args.demo_archive, args.dir / f"audit-{n}", n)
        mb = sum(p.stat().st_size for p in (root / "audit").rglob("*.parquet")) / 2**20
        for extra in ([], ["--all", "--json"]):
            argv = [*twin_argv(args.tree), "commands", "list", "--archive", str(root), *extra]
            rss, seconds = peak_rss(argv)
            runs.append({"entries": n, "table_mb": round(mb, 1), "args": " ".join(extra) or "(pending)",
                         "peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1)})
            print(f"{n:>8} entries {mb:6.1f} MB {' '.join(extra) or '(pending)':<12} peak RSS {rss:7.1f} MB "
                  f"in {seconds:5.1f} s", flush=True)
    print(json.dumps({"bench": "commands", "tree": str(args.tree or Path(__file__).resolve().parents[1]),
                      "runs": runs}))


if __name__ == "__main__":
    main()
