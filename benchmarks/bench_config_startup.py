"""Start-up of ``twin sql --archive A "select 1" [--config C]``: this tree against another (round 41,
CONFIG41b: the --config check given --archive loads the settings, which imports the models).

Run from the repo root: ``.venv/bin/python benchmarks/bench_config_startup.py --base DIR [--pairs 21]
[--no-config]``, DIR a checkout of the commit to compare with (``git archive 0d737e9 | tar -x -C DIR``).
Each pair runs ``python -m flows.cli sql ...`` once in each tree, alternating which goes first (the
machine is shared: the two see the same load); a small archive (``tests/flows/archive_fixtures``) and
a good config file (``[pipeline] window_s``, ``[pipeline.kafka] partitions``) are made in a temporary
folder. Prints the median wall and CPU (user + sys) seconds of each tree and the median of the pairs'
differences; ends with a JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.flows.archive_fixtures import small_archive  # noqa: E402


def _once(cmd: list[str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        msg = f"{cmd} in {cwd}: exit {res.returncode}: {res.stderr.strip()}"
        raise SystemExit(msg)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="the other tree (a checkout of the base commit)")
    ap.add_argument("--pairs", type=int, default=21)
    ap.add_argument("--no-config", action="store_true", help="run without --config")
    args = ap.parse_args()
    trees = {"base": args.base.resolve(), "this": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        archive = small_archive(Path(tmp) / "a")
        cfg = Path(tmp) / "c.toml"
        cfg.write_text("[pipeline]\nwindow_s = 60\n[pipeline.kafka]\npartitions = 2\n")
        cmd = [sys.executable, "-m", "flows.cli", "sql", "--archive", str(archive), "select 1"]
        cmd += [] if args.no_config else ["--config", str(cfg)]
        wall: dict[str, list[float]] = {k: [] for k in trees}
        cpu: dict[str, list[float]] = {k: [] for k in trees}
        for i in range(args.pairs):
            for name in (("base", "this") if i % 2 == 0 else ("this", "base")):
                w, c = _once(cmd, trees[name])
                wall[name].append(w)
                cpu[name].append(c)
    out: dict[str, float] = {}
    for what, series in (("wall", wall), ("cpu", cpu)):
        for name in trees:
            out[f"{what}_{name}_s"] = round(statistics.median(series[name]), 3)
        pairs = zip(series["base"], series["this"], strict=True)
        out[f"{what}_diff_s"] = round(statistics.median(b - a for a, b in pairs), 3)
        print(f"{what}: base median {out[f'{what}_base_s']:.3f} s, this {out[f'{what}_this_s']:.3f} s, "
              f"this - base (median of {args.pairs} pairs) {out[f'{what}_diff_s']:+.3f} s")
    print(json.dumps({"config": not args.no_config, "pairs": args.pairs, **out}))


if __name__ == "__main__":
    main()
