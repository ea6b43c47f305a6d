"""Python's cyclic garbage collector in any command: collections and pauses per generation.

Run: ``.venv/bin/python benchmarks/bench_gc.py [--out DIR] -- COMMAND ARGS...`` (e.g.
``-- .venv/bin/twin demo --out /tmp/d``, or ``-- .venv/bin/python benchmarks/bench_waveform.py``).

Why (issue 10, round 26): a collection is invisible in a profile (it is charged to whatever line
allocated), so every Python process the command starts (its children too: the benchmarks run
``twin run`` in a child) is given a ``gc.callbacks`` hook through a ``sitecustomize`` module put
first on ``PYTHONPATH``. The hook times each collection (wall: ``perf_counter``; CPU of the thread
that collects: ``thread_time``) and, at the process's exit, writes per generation the number of
collections, their total and longest pause, and how many paused 10 ms or more and 50 ms or more,
with the process's own CPU time (user + system). A process that ends by ``os._exit`` or a signal
writes nothing (listed as missing).

Prints one line per process and a final JSON line (``processes`` and the ``total`` of every
process whose share of CPU in collections is given as ``gc_share``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HOOK = '''
import atexit, gc, json, os, sys, threading, time

def _install(folder):
    stats = [[0, 0.0, 0.0, 0.0, 0, 0] for _ in range(3)]  # count, wall s, max wall s, cpu s, >=10ms, >=50ms
    started = {}
    frozen = [0]  # the most objects frozen (gc.freeze) at a collection
    seen = set()  # the thresholds in force at the collections (a run may raise them, then give them back)

    def timer(phase, info):
        me = threading.get_ident()
        if phase == "start":
            started[me] = (time.perf_counter(), time.thread_time())
            return
        t0 = started.pop(me, None)
        if t0 is None:
            return
        wall, cpu = time.perf_counter() - t0[0], time.thread_time() - t0[1]
        s = stats[info["generation"]]
        seen.add(gc.get_threshold())
        frozen[0] = max(frozen[0], gc.get_freeze_count())
        s[0] += 1
        s[1] += wall
        s[2] = max(s[2], wall)
        s[3] += cpu
        s[4] += wall >= 0.010
        s[5] += wall >= 0.050

    def write():
        t = os.times()
        out = {"pid": os.getpid(), "argv": sys.argv[:6], "cpu_s": t.user + t.system,
               "thresholds": sorted(seen), "frozen": frozen[0],
               "generations": [dict(zip(("count", "wall_s", "max_wall_s", "cpu_s", "over_10ms",
                                         "over_50ms"), s)) for s in stats]}
        with open(os.path.join(folder, f"gc-{os.getpid()}.json"), "w") as f:
            json.dump(out, f)

    gc.callbacks.append(timer)
    atexit.register(write)

if os.environ.get("TWIN_GC_TRACE"):
    _install(os.environ["TWIN_GC_TRACE"])
'''


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The processes' figures added up: per generation count, pause totals, the longest pause."""
    gens = []
    for g in range(3):
        rows = [r["generations"][g] for r in records]
        gens.append({"count": sum(x["count"] for x in rows),
                     "wall_s": round(sum(x["wall_s"] for x in rows), 4),
                     "cpu_s": round(sum(x["cpu_s"] for x in rows), 4),
                     "max_wall_ms": round(1000 * max((x["max_wall_s"] for x in rows), default=0.0), 2),
                     "over_10ms": sum(x["over_10ms"] for x in rows),
                     "over_50ms": sum(x["over_50ms"] for x in rows)})
    cpu = sum(r["cpu_s"] for r in records)
    gc_cpu = sum(g["cpu_s"] for g in gens)
    return {"processes": len(records), "cpu_s": round(cpu, 3), "gc_cpu_s": round(gc_cpu, 4),
            "gc_share": round(gc_cpu / cpu, 5) if cpu else None, "generations": gens}


def process_line(r: dict[str, Any]) -> str:
    """One process's line on stderr (its share of CPU in collections "n/a" when it took no CPU tick:
    a short child's ``os.times`` can read 0)."""
    one = summarise([r])
    gens = " ".join(f"g{g}={x['count']}/{x['cpu_s']:.3f}s/max{x['max_wall_ms']}ms"
                    for g, x in enumerate(one["generations"]))
    share = "n/a" if one["gc_share"] is None else f"{one['gc_share']:.2%}"
    return (f"pid {r['pid']} cpu {r['cpu_s']:.2f}s gc {share} {gens} "
            f"thr {r['thresholds']} frozen {r['frozen']} :: {' '.join(r['argv'])[:80]}")


def run_traced(command: list[str], folder: Path) -> tuple[int, list[dict[str, Any]]]:
    """Run ``command`` with the hook in every Python process; its exit code and the processes' figures."""
    hook = folder / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    data = folder / "data"
    data.mkdir(exist_ok=True)
    env = dict(os.environ, TWIN_GC_TRACE=str(data),
               PYTHONPATH=os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p))
    rc = subprocess.call(command, env=env)
    records = [json.loads(p.read_text()) for p in sorted(data.glob("gc-*.json"))]
    return rc, records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="folder for the hook and the per-process files")
    p.add_argument("--min-cpu-s", type=float, default=0.5,
                   help="processes below this CPU time are counted in the total but not listed")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("no command given (bench_gc.py [--out DIR] -- COMMAND ...)")
    with tempfile.TemporaryDirectory(prefix="bench-gc-") as tmp:
        rc, records = run_traced(command, args.out or Path(tmp))
    for r in sorted(records, key=lambda r: -r["cpu_s"]):
        if r["cpu_s"] >= args.min_cpu_s:
            print(process_line(r), file=sys.stderr)
    print(json.dumps({"bench": "gc", "rc": rc, "command": command[:8], "total": summarise(records),
                      "per_process": [dict(summarise([r]), pid=r["pid"], argv=r["argv"],
                                           thresholds=r["thresholds"], frozen=r["frozen"])
                                      for r in records if r["cpu_s"] >= args.min_cpu_s]}))
    return rc


if __name__ == "__main__":
    sys.exit(main())
