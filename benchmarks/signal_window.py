"""How long a ``twin`` process runs before SIGTERM is caught (round 32, LOOSE32).

Until then a SIGTERM kills it with no word (exit -15) and a Ctrl-C prints Python's traceback.
Polls ``/proc/PID/status`` (``SigCgt``: the signals the process has a handler for) from the spawn
until SIGTERM is caught, then stops the process. Linux only.

    .venv/bin/python benchmarks/signal_window.py [--tree DIR] [--entry main|entry] [--runs N] -- ARGS

``--entry main`` starts the command as round 31's console script did (``flows.cli.main:main``),
``--entry entry`` as round 32's (``flows.cli.entry:run``), ``--entry floor`` a bare interpreter
setting a handler first thing. Prints the median and range in ms."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

ENTRIES = {"main": "from flows.cli.main import main as run", "entry": "from flows.cli.entry import run",
           # the floor: the interpreter's start, then a handler set before anything is imported
           "floor": ("import signal; "
                     "run = lambda: signal.signal(signal.SIGTERM, signal.default_int_handler) and 0")}


def caught(pid: int, signum: int) -> bool:
    """``signum`` has a handler in process ``pid`` (its bit in ``SigCgt``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def window_s(argv: list[str], tree: str, entry: str) -> float:
    code = f"import sys; {ENTRIES[entry]}; sys.exit(run())"
    env = {**os.environ, "PYTHONPATH": tree}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], env=env, cwd=tree,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not caught(proc.pid, signal.SIGTERM):
            time.sleep(0.0005)
        return time.perf_counter() - t
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tree", default=".")
    p.add_argument("--entry", choices=sorted(ENTRIES), default="entry")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("argv", nargs="+")
    args = p.parse_args()
    ms = [1000 * window_s(args.argv, os.path.abspath(args.tree), args.entry) for _ in range(args.runs)]
    print(f"{args.entry} {args.argv[0]}: median {statistics.median(ms):.0f} ms "
          f"({min(ms):.0f}-{max(ms):.0f}), load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
