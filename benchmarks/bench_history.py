"""Peak memory of `twin explain` / `twin whatif` over one asset's long history (round 42, SCAN42).

Run: ``.venv/bin/python benchmarks/bench_history.py [--days 365] [--per-day 1440] [--life-days 0]
[--commands explain whatif] [--dir /tmp/twin-bench-history] [--tree /tmp/old] [--repeat 1]``.

Makes a demo archive (``twin demo --assets 3 --days 8 --seed 5``) and takes one row of each of its
``twin_state``, ``features`` and ``damage_state`` (asset ``pump-003``, its texts and its 400-particle
damage state as the twin writes them) and its first alert. Then writes an archive of one asset, that
row repeated ``--per-day`` windows a day (one a minute by default) for ``--days`` days: one file per
table and day (row groups of 256 rows, as a compaction leaves them), a damage checkpoint every 12 hours,
all of one life (``--life-days N``: a new life N days before the end), and one alert raised 2 hours
after it started, 6 hours before the last window. Kept between runs (deterministic). Runs each of
``--commands`` under ``/usr/bin/time -v`` (peak RSS and wall seconds; bench_memory.peak_rss):

- ``explain``: ``twin explain bench-history-alert --archive DIR``
- ``whatif``: ``twin whatif bench-asset --load 0.8 --archive DIR``

``--tree DIR`` runs another checkout's ``twin`` with this venv (``git archive REV | tar -x -C DIR``).
Prints a line per run and a final JSON line; everything goes to ``--dir``, never into the repo.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_memory import peak_rss, twin_argv  # noqa: E402

ASSET, ALERT = "bench-asset", "bench-history-alert"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
COMMANDS = {
    "explain": ["explain", ALERT, "--archive", "{dir}"],
    "whatif": ["whatif", ASSET, "--load", "0.8", "--archive", "{dir}"],
}
GROUP = 256


def _template(demo: Path) -> dict[str, pa.Table]:
    """One row of each table (pump-003's last, as the twin wrote it) and the first alert message."""
    if not (demo / "done").exists():
        from flows.cli.main import main as twin

        shutil.rmtree(demo, ignore_errors=True)
        demo.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()):
            code = twin(["demo", "--assets", "3", "--days", "8", "--seed", "5", "--out", str(demo),
                         "--no-progress", "--json"])
        if code != 0:
            msg = f"twin demo into {demo} failed ({code})"
            raise SystemExit(msg)
        (demo / "done").write_text("")
    out = {}
    for table in ("twin_state", "features", "damage_state", "alerts"):
        rows = pa.concat_tables([pq.read_table(f) for f in sorted((demo / table).glob("*/*.parquet"))],
                                promote_options="permissive")
        if table == "alerts":
            rows = rows.filter(pc.equal(rows["status"], "raised"))
        else:
            rows = rows.filter(pc.equal(rows["asset_id"], "pump-003"))
        out[table] = rows.slice(rows.num_rows - 1 if table != "alerts" else 0, 1)
    return out


def _times(kind: pa.DataType, values: list[datetime]) -> pa.Array:
    return pa.array(values, kind)


def _day(row: pa.Table, table: str, times: list[datetime], step: timedelta, lives: list[int],
         seq0: int) -> pa.Table:
    """``row`` repeated at ``times`` (their window ends ``step`` later), in ``lives``."""
    rows = row.take(pa.array([0] * len(times), pa.int64()))
    given: dict[str, pa.Array] = {"asset_id": pa.array([ASSET] * len(times), pa.string()),
                                  "_write_seq": pa.array(range(seq0, seq0 + len(times)), pa.int64())}
    start_col = "timestamp" if table == "damage_state" else "window_start"
    given[start_col] = _times(rows.schema.field(start_col).type, times)
    if table == "twin_state":
        given["timestamp"] = _times(rows.schema.field("timestamp").type, [t + step for t in times])
    if table == "features":
        given["window_end"] = _times(rows.schema.field("window_end").type, [t + step for t in times])
    if "life_id" in rows.column_names:
        given["life_id"] = pa.array(lives, rows.schema.field("life_id").type)
    return pa.table({n: given.get(n, rows[n]) for n in rows.column_names})


def make_archive(root: Path, days: int, per_day: int, life_days: int) -> Path:
    """``root``: the long history of one asset (kept if made)."""
    if (root / "done").exists():
        return root
    template = _template(root.parent / "demo")
    shutil.rmtree(root / "a", ignore_errors=True)
    step = timedelta(days=1) / per_day
    new_life = T0 + timedelta(days=days - life_days) if life_days else None
    seq = 0
    for d in range(days):
        day = T0 + timedelta(days=d)
        windows = [day + k * step for k in range(per_day)]
        checkpoints = [day, day + timedelta(hours=12)]
        for table, times in (("twin_state", windows), ("features", windows), ("damage_state", checkpoints)):
            lives = [int(new_life is not None and t >= new_life) for t in times]
            rows = _day(template[table], table, times, step, lives, seq)
            seq += rows.num_rows
            folder = root / "a" / table / f"date={day.date().isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, folder / "part-history-w0-000000.parquet", row_group_size=GROUP)
    end = T0 + timedelta(days=days)
    alert = template["alerts"]
    started, raised = end - timedelta(hours=8), end - timedelta(hours=6)
    cols = {"asset_id": pa.array([ASSET]), "alert_id": pa.array([ALERT]),
            "started_at": _times(alert.schema.field("started_at").type, [started]),
            "timestamp": _times(alert.schema.field("timestamp").type, [raised])}
    folder = root / "a" / "alerts" / f"date={raised.date().isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({n: cols.get(n, alert[n]) for n in alert.column_names}),
                   folder / "part-history-w0-000000.parquet")
    (root / "done").write_text(json.dumps({"days": days, "per_day": per_day, "life_days": life_days,
                                           "windows": days * per_day, "checkpoints": 2 * days}))
    return root


def main() -> None:
    """Generate the archive, run the commands, print the lines and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--per-day", type=int, default=1440)
    ap.add_argument("--life-days", type=int, default=0, help="a new life this many days before the end")
    ap.add_argument("--commands", nargs="+", choices=sorted(COMMANDS), default=["explain", "whatif"])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/twin-bench-history"))
    ap.add_argument("--tree", type=Path, default=None, help="run this checkout's twin (before/after)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    src = make_archive(args.dir / f"h-{args.days}x{args.per_day}-l{args.life_days}", args.days, args.per_day,
                       args.life_days)
    runs = []
    for _ in range(args.repeat):
        for name in args.commands:
            argv = [*twin_argv(args.tree), *(a.replace("{dir}", str(src / "a")) for a in COMMANDS[name])]
            rss, seconds = peak_rss(argv)
            runs.append({"command": name, "peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1)})
            windows = args.days * args.per_day
            print(f"{name:<8} {windows:>8} windows: peak RSS {rss:7.1f} MB in {seconds:6.1f} s", flush=True)
    print(json.dumps({"bench": "history", "tree": str(args.tree or Path(__file__).resolve().parents[1]),
                      "archive": json.loads((src / "done").read_text()), "runs": runs,
                      "machine": platform.machine(), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
