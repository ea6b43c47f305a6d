"""What ``--fresh`` costs on an archive of many files: ``prepare_out(fresh=True)`` in ms per call.

Run: ``.venv/bin/python benchmarks/bench_fresh_walk.py [--trees A B] [--rounds 4] [--calls 7]
[--where /dev/shm]``

An archive of the 7 tables x 60 dates x 12 part files (5,040 small files; ``--fresh`` reads no
file, it lists, checks the names and deletes) is copied afresh before each call (not timed) into
``--where`` (a tmpfs by default: on a disk shared with other jobs, the deletions' writeback made
calls of one tree range from 0.3 to 21 s, hiding the walk); each call is one ``prepare_out(out,
out, DEMO_OUTPUTS, fresh=True)``, what ``twin demo --fresh`` does before its run. Each tree
(``PYTHONPATH=TREE``, e.g. a ``git archive`` of the base, and the repository) runs ``--calls``
calls in its own process, the trees alternated over ``--rounds`` rounds (the first tree first in
odd rounds): the machine may be shared. Prints each tree's median and range in ms and the 1-min
load; last line JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TABLES = ("alerts", "audit", "damage_state", "data_quality", "features", "recommendations", "twin_state")
RUN = "20260101T000000-aaaaaaaa"


def build(root: Path, dates: int = 60, per_date: int = 12) -> Path:
    """The template archive: ``dates`` date folders of ``per_date`` one-byte part files per table."""
    for t in TABLES:
        for d in range(dates):
            folder = root / t / f"date=2026-{1 + d // 28:02d}-{1 + d % 28:02d}"
            folder.mkdir(parents=True)
            for k in range(per_date):
                (folder / f"part-{RUN}-w0-{k:06d}.parquet").write_bytes(b"x")
    return root


def child(template: Path, calls: int, where: str | None) -> None:
    """In the tree's own process: ``calls`` timed ``prepare_out(fresh=True)``, ms each, as JSON."""
    import flows
    from flows.app.demo import DEMO_OUTPUTS
    from flows.app.out_dir import prepare_out

    assert Path(flows.__file__).resolve().is_relative_to(Path.cwd().resolve()), flows.__file__  # this tree's

    ms = []
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        for k in range(calls):
            out = Path(tmp) / f"out{k}"
            shutil.copytree(template, out)
            t = time.perf_counter()
            prepare_out(out, out, DEMO_OUTPUTS, fresh=True)
            ms.append(1000 * (time.perf_counter() - t))
            left = list(out.rglob("*"))
            assert not left, left[:3]  # every file and folder deleted
    print(json.dumps(ms))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trees", nargs="+", default=["."])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--calls", type=int, default=7)
    p.add_argument("--where", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                   help="the folder of the archives (default: /dev/shm, a tmpfs)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(Path(args.child), args.calls, args.where)
        return
    trees = [os.path.abspath(t) for t in args.trees]
    got: dict[str, list[float]] = {t: [] for t in trees}
    loads = []
    with tempfile.TemporaryDirectory(dir=args.where) as tmp:
        template = build(Path(tmp) / "template")
        for r in range(args.rounds):
            for tree in trees if r % 2 == 0 else trees[::-1]:
                env = {**os.environ, "PYTHONPATH": tree}
                argv = [sys.executable, os.path.abspath(__file__), "--child", str(template),
                        "--calls", str(args.calls), *(["--where", args.where] if args.where else [])]
                res = subprocess.run(argv, env=env, cwd=tree, capture_output=True, text=True,
                                     check=True)
                got[tree] += json.loads(res.stdout.strip().splitlines()[-1])
                loads.append(os.getloadavg()[0])
    for tree, ms in got.items():
        print(f"{tree}: median {statistics.median(ms):.0f} ms ({min(ms):.0f}-{max(ms):.0f}), {len(ms)} calls")
    print(f"1-min load {min(loads):.1f}-{max(loads):.1f}")
    print(json.dumps({t: statistics.median(ms) for t, ms in got.items()}))


if __name__ == "__main__":
    main()
