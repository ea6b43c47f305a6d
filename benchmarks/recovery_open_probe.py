"""How Bytewax 0.21 opens its recovery partitions (round 43b, part TIDY43b): once at the start, or per
snapshot? And does a folder given as ``/proc/self/fd/N`` (held open) stay the one written?

Run: ``.venv/bin/python benchmarks/recovery_open_probe.py``. A 60-item flow (a running sum, 50 ms an
item, 0.2 s epochs) with a one-partition store, four ways: ``path`` (the folder by name) and ``fd``
(``/proc/self/fd/N``) with the folder renamed and a link to another (empty) store put at its name at
item 30, mid-run; ``path-before`` and ``fd-before`` with the same swap before the run starts (in
``twin run``: after the store's checks). Per way (one JSON line): the store's files open at item 20,
and the newest snapshot epoch in the moved folder and in the link's folder."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main


def _open_below(folder: Path) -> list[str]:
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            names.append(target[len(str(folder)):] or "/")
    return sorted(names)


def _newest_epoch(folder: Path) -> int | None:
    part = folder / "part-0.sqlite3"
    if not part.is_file():
        return None
    with sqlite3.connect(part) as conn:
        try:
            return conn.execute("SELECT max(snap_epoch) FROM snaps").fetchone()[0]
        except sqlite3.Error:
            return None


def probe(way: str, root: Path) -> dict[str, Any]:
    rec, moved, other = root / "rec", root / "rec.moved", root / "other"
    rec.mkdir()
    other.mkdir()
    init_db_dir(rec, 1)
    init_db_dir(other, 1)  # the link leads to another (empty) store
    fd = os.open(rec, os.O_RDONLY | os.O_DIRECTORY)
    given = rec if way.startswith("path") else Path(f"/proc/self/fd/{fd}")
    seen: dict[str, Any] = {}

    def swap() -> None:
        os.rename(rec, moved)
        rec.symlink_to(other)

    if way.endswith("-before"):
        swap()

    def step(x: int) -> int:
        time.sleep(0.05)
        if x == 20:
            seen["open_at_item_20"] = _open_below(root)
        if x == 30 and not way.endswith("-before"):
            swap()
        return x

    flow = Dataflow("probe")
    keyed = op.key_on("k", op.map("m", op.input("in", flow, TestingSource(range(60))), step), lambda _x: "a")
    op.inspect("i", op.stateful_map("sum", keyed, lambda s, x: ((s or 0) + x,) * 2), lambda *_a: None)
    run_main(flow, epoch_interval=timedelta(seconds=0.2), recovery_config=RecoveryConfig(given))
    os.close(fd)
    return {"way": way, **seen, "newest_epoch_moved": _newest_epoch(moved),
            "newest_epoch_link_target": _newest_epoch(other)}


def main() -> int:
    for way in ("path", "fd", "path-before", "fd-before"):
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(probe(way, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
