"""Query time of ``twin sql`` on a demo archive: in-process (``flows.archive.query.query``) and as a command.

Run: ``.venv/bin/python benchmarks/bench_sql.py --archive DIR [--repeat 5]`` on an archive written by
``twin demo --out DIR`` (default fleet: 8 assets, 30 days). For each query: the median wall time of
``query()`` (open the archive, build the views, run the query, fetch the rows) and of a whole
``twin sql`` process (Python start-up included). Ends with a JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from flows.archive.query import query

QUERIES = {
    "count_features": "SELECT count(*) FROM features",
    "readme_twin_state": "SELECT asset_id, min(health_index) AS worst_hi, max(anomaly_score) "
                         "FROM twin_state GROUP BY 1 ORDER BY 2",
    "readme_features": "SELECT window_start, \"vib.env_bpfo_amp\", \"vib.kurtosis\" FROM features "
                       "WHERE asset_id = 'pump-003' ORDER BY 1",
    "alerts_all": "SELECT * FROM alerts ORDER BY timestamp",
    "features_all": "SELECT * FROM features",
}


def _median_s(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Time every query and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", required=True)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    twin = str(Path(sys.executable).with_name("twin"))
    out: dict[str, object] = {"archive": args.archive, "repeat": args.repeat}
    for name, sql in QUERIES.items():
        rows = len(query(args.archive, sql)[1])
        api = _median_s(lambda sql=sql: query(args.archive, sql), args.repeat)
        cmd = [twin, "sql", sql, "--archive", args.archive, "--format", "csv"]
        cli = _median_s(lambda cmd=cmd: subprocess.run(cmd, check=True, capture_output=True),
                        args.repeat)
        out[name] = {"rows": rows, "query_ms": round(api * 1e3, 1), "cli_ms": round(cli * 1e3, 1)}
        print(f"{name:<20} {rows:>7} rows  query() {api * 1e3:8.1f} ms   twin sql {cli * 1e3:8.1f} ms")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
