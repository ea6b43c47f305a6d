"""``make bench``: every performance benchmark of issue 10 in one go, each target checked.

Run: ``.venv/bin/python benchmarks/run_all.py [--only NAME ...] [--list] [--out FILE]``
(``make bench`` starts the local Kafka broker once and runs this). Each benchmark is its own
script (``benchmarks/bench_*.py``, ``benchmarks/quality/cmapss.py``) run as a child process in
turn (never two at once: they measure CPU time on a shared machine); its final JSON line is kept.
Then every target of issue 10 is checked against the figure it names, and a table is printed:
target, measured, met or not. Everything goes to ``--out`` (default
``benchmarks/results/bench-<UTC time>.json``), rewritten after each benchmark. A benchmark that
fails or needs data that is not there (C-MAPSS: ``../shared/datasets`` or ``TWIN_DATASETS``) is
reported as such; the others go on.
Exit status: 0 when every benchmark ran (met or not: the figures are the product), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import operator
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

from benchmarks.quality.common import datasets_root  # noqa: E402


@dataclass(frozen=True)
class Target:
    """One target of issue 10: ``figure(json)`` compared with ``bound``. ``info``: a figure shown
    for information next to the target it explains (printed as ``info``, never met or not)."""

    text: str
    figure: Callable[[dict[str, Any]], float | bool | None]
    compare: str  # "<=", ">=", "<", "=="
    bound: float | bool
    info: bool = False


@dataclass(frozen=True)
class Bench:
    """A benchmark script, its arguments and the targets its JSON line answers."""

    name: str
    argv: tuple[str, ...]
    targets: tuple[Target, ...]
    needs_data: bool = False


def _get(path: str) -> Callable[[dict[str, Any]], Any]:
    """A getter for a dotted path (``a.b.0.c``) in a benchmark's JSON."""
    def get(doc: dict[str, Any]) -> Any:
        cur: Any = doc
        for part in path.split("."):
            cur = cur[int(part)] if isinstance(cur, list) else cur[part]
        return cur
    return get


def _level(load: float, role: str) -> Callable[[dict[str, Any]], Any]:
    def get(doc: dict[str, Any]) -> Any:
        lv = next(x for x in doc["levels"] if abs(x["load"] - load) < 1e-9)
        return lv[role]["from_close"].get("p99_ms")
    return get


def _variant(name: str, key: str) -> Callable[[dict[str, Any]], Any]:
    def get(doc: dict[str, Any]) -> Any:
        return next(v for v in doc["variants"] if v["variant"] == name)[key]
    return get


def _all_identical(doc: dict[str, Any]) -> bool:
    return all(r["vs_first"]["identical"] for r in doc["runs"] if "vs_first" in r)


def _worst_step_p999_ms(doc: dict[str, Any]) -> float:
    return max(1000 * s["p999_under_s"] for s in doc["step_calls"].values())


BENCHES: tuple[Bench, ...] = ()  # filled in below, next to the scripts' JSON keys

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, "==": operator.eq}


def _state_max_kb(step: str) -> Callable[[dict[str, Any]], Any]:
    return lambda doc: doc["steps"][step]["max_kb"]


BENCHES = (
    Bench("waveform", ("benchmarks/bench_waveform.py",), (
        Target("waveform path: CPU per frame through Kafka (ms)", _get("twin_run.ms_per_frame"), "<=", 0.53),
        Target("waveform path, aim: CPU per frame (ms)", _get("twin_run.ms_per_frame"), "<=", 0.36),
    )),
    Bench("scalar", ("benchmarks/bench_scalar.py",), (
        Target("scalar path: records per CPU-second", _get("twin_run.records_per_cpu_s"), ">=", 50_000),
        Target("scalar path vs bare consume + decode", _get("run_vs_floor"), ">=", 0.5),
    )),
    Bench("backtest_speed", ("benchmarks/bench_backtest_speed.py",), (
        Target("backtest, 100 assets at 1 Hz: x real time (CPU)", _get("x_real_time_call_cpu"), ">=", 1000),
    )),
    Bench("cmapss_fd001", ("benchmarks/quality/cmapss.py", "--subset", "FD001", "--no-progress"), (
        Target("C-MAPSS FD001 backtest wall seconds", _get("seconds"), "<", 60),
        Target("C-MAPSS FD001 RMSE", _get("rmse"), "<=", 12),
        Target("worst step's p99.9 call (ms)", _worst_step_p999_ms, "<=", 50),
    ), needs_data=True),
    Bench("state_size", ("benchmarks/bench_state_size.py",), (
        Target("recovery state per asset, twin (max KB)", _state_max_kb("twin_update"), "<=", 100),
    )),
    Bench("fleet_state", ("benchmarks/bench_fleet_state.py",), (
        Target("fleet view per asset, C-MAPSS-sized (max KB)", lambda d: d["view_bytes_max"] / 1024,
               "<=", 100),
    )),
    # issue 10's archive figure (the lead's decision, round 15): ALL-IN (the sink plus the window
    # step's archive work) with the malloc settings every `twin` command runs with (--app-heap);
    # the sink alone, and without those settings, are information
    Bench("archive", ("benchmarks/bench_archive.py",), (
        Target("archive sink alone vs bare write_table, without the app's heap settings",
               _get("sink_vs_floor_one_file"), ">=", 0.8, info=True),
        Target("one-day fleet query, 100 assets (s)", _get("fleet_day_query_s"), "<", 1.0),
        Target("one-asset month query, 100 assets (s)", _get("asset_month_query_s"), "<", 1.0),
    )),
    # round 21 (part archive21): the 100 assets' values are the demo assets' own at other times
    # (every asset its own values, as a fleet), not exact copies; the copies' figure (rounds 1-20)
    # and the floor with the sink's own file settings are information (RESULTS.md, round 21)
    Bench("archive_allin", ("benchmarks/bench_archive_allin.py", "--app-heap"), (
        Target("archive write: sink + window step's archive work vs bare write_table, one-date flushes, "
               "app heap settings", _get("allin_vs_floor"), ">=", 0.8),
        Target("archive sink alone vs bare write_table, same run", _get("sink_vs_floor"), ">=", 0.8,
               info=True),
        Target("archive all-in vs the same rows written with the sink's file settings, same run",
               _get("allin_vs_floor_same_settings"), ">=", 0.8, info=True),
    )),
    Bench("archive_allin_copies", ("benchmarks/bench_archive_allin.py", "--app-heap", "--values", "copies"), (
        Target("archive all-in vs bare write_table, replicas' values exact copies (rounds 1-20's data)",
               _get("allin_vs_floor"), ">=", 0.8, info=True),
    )),
    Bench("snapshots", ("benchmarks/bench_snapshots.py",), (
        Target("throughput with 10-s snapshots vs none", _variant("every_10s", "cpu_ratio_vs_none"),
               ">=", 0.9),
    )),
    Bench("scaleout", ("benchmarks/bench_scaleout.py",), (
        Target("outputs identical on 1, 2, 4 processes", _all_identical, "==", True),
    )),
    Bench("latency", ("benchmarks/bench_latency.py", "--days", "12"), (
        Target("alert p99 from window close at 50 % load (ms)", _level(0.5, "alerts"), "<=", 250),
    )),
)


def run_one(bench: Bench, python: str) -> dict[str, Any]:
    """Run one benchmark script; its final JSON line, or why there is none."""
    t0 = time.perf_counter()
    proc = subprocess.run([python, *bench.argv], cwd=ROOT, capture_output=True, text=True, check=False)
    took = round(time.perf_counter() - t0, 1)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
        return {"ok": False, "seconds": took, "error": f"exit {proc.returncode}: {tail}"}
    return {"ok": True, "seconds": took, "result": json.loads(lines[-1])}


def check(bench: Bench, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of ``bench`` with its measured figure and whether it is met."""
    rows = []
    for t in bench.targets:
        try:
            value = t.figure(doc)
        except (KeyError, IndexError, StopIteration, TypeError, ValueError):
            value = None
        met = None if value is None or t.info else bool(OPS[t.compare](value, t.bound))
        if isinstance(value, float):
            value = round(value, 3)
        rows.append({"bench": bench.name, "target": f"{t.text} {t.compare} {t.bound}", "measured": value,
                     "met": met, **({"info": True} if t.info else {})})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], help="run these benchmarks only")
    p.add_argument("--list", action="store_true", help="list the benchmarks and their targets, run nothing")
    p.add_argument("--out", type=Path, help="where the JSON of the whole run goes")
    args = p.parse_args(argv)
    benches = [b for b in BENCHES if not args.only or b.name in args.only]
    if args.list:
        for b in benches:
            print(f"{b.name}: {' '.join(b.argv)}")
            for t in b.targets:
                print(f"    {t.text} {t.compare} {t.bound}{' (information)' if t.info else ''}")
        return 0
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "benchmarks" / "results" / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for i, b in enumerate(benches, 1):
        print(f"[{i}/{len(benches)}] {b.name}: {' '.join(b.argv)}", file=sys.stderr, flush=True)
        if b.needs_data and not (datasets_root() / "cmapss").is_dir():
            why = f"skipped: no C-MAPSS under {datasets_root()} (set TWIN_DATASETS)"
            results[b.name] = {"ok": True, "skipped": why}
            rows += [{"bench": b.name, "target": t.text, "measured": None, "met": None, "error": why}
                     for t in b.targets]
            print(f"    {why}", file=sys.stderr)
            continue
        res = run_one(b, sys.executable)
        results[b.name] = res
        rows += check(b, res["result"]) if res["ok"] else [
            {"bench": b.name, "target": t.text, "measured": None, "met": None, "error": res["error"]}
            for t in b.targets]
        status = "done" if res["ok"] else res["error"]
        print(f"    {status} ({res['seconds']} s)", file=sys.stderr, flush=True)
        # written after every benchmark: an interrupted run keeps what it measured
        out.write_text(json.dumps({"at": stamp, "benchmarks": results, "targets": rows}, indent=1))
    print("| benchmark | target | measured | met |\n|---|---|---:|---|")
    for r in rows:
        met = "info" if r.get("info") else {True: "yes", False: "**no**", None: "n/a"}[r["met"]]
        measured = "-" if r["measured"] is None else r["measured"]
        print(f"| {r['bench']} | {r['target']} | {measured} | {met} |")
    print(f"written: {out}", file=sys.stderr)
    return 0 if all(res["ok"] for res in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
