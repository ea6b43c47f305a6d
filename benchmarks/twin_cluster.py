"""Shared harness of the `twin run` benchmarks (scale-out, snapshots, latency): a pre-filled topic
set, a cluster of N `twin run` processes, their CPU time, and the archive read back for comparison.

Not a benchmark itself. The scripts next to it import it (``python benchmarks/bench_x.py`` puts
this folder on ``sys.path``); the broker and topic helpers come from ``bench_overload.py``.

CPU time is the children's user + system time from ``getrusage(RUSAGE_CHILDREN)`` around a run
(every `twin run` process of the cluster is a waited-for child): the machine is shared, so wall
time alone says little.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from free_ports import free_ports  # noqa: E402  (below the ephemeral range: no outgoing connection takes it)

ROOT = Path(__file__).resolve().parents[1]
TWIN = [sys.executable, "-m", "flows.cli.main"]
RUN_LINE = re.compile(r"twin run: (\d+) records? read, (\d+) windows? closed, dead letters: (\d+)")
FLEET_LINE = re.compile(r"twin run: fleet models: (\d+) versions? learnt here, (\d+) late; "
                        r"event-time gate: (\d+) waits?, (\d+) timeouts?")


@dataclass
class ClusterRun:
    """What one `twin run --exit-at-end` cluster did: per process counts, wall and CPU seconds."""

    processes: int
    wall_s: float
    cpu_s: float
    records: list[int] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)
    dead_letters: list[int] = field(default_factory=list)
    fleet_late: list[int] = field(default_factory=list)  # fleet model versions late, per process
    gate_waits: list[int] = field(default_factory=list)
    gate_timeouts: list[int] = field(default_factory=list)

    def summary(self, frames: int) -> dict[str, Any]:
        """Throughput per CPU-second and per wall-second (records, and the input's ``frames``)."""
        rec = sum(self.records)
        return {
            "processes": self.processes, "records_read": rec, "records_per_process": self.records,
            "windows_closed": sum(self.windows), "dead_letters": sum(self.dead_letters),
            "wall_s": round(self.wall_s, 2), "cpu_s": round(self.cpu_s, 2),
            "records_per_cpu_s": round(rec / self.cpu_s, 1),
            "frames_per_cpu_s": round(frames / self.cpu_s, 1),
            "ms_cpu_per_frame": round(1000 * self.cpu_s / frames, 3) if frames else None,
            "records_per_wall_s": round(rec / self.wall_s, 1),
            "frames_per_wall_s": round(frames / self.wall_s, 1),
            "fleet_models_late": self.fleet_late, "gate_waits": self.gate_waits,
            "gate_timeouts": self.gate_timeouts,
        }


def children_cpu_s() -> float:
    """User + system seconds of every child process waited for so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_args(cfg: Any, archive: Path, meta: Path, extra: Sequence[str] = ()) -> list[str]:
    """The `twin run` command line over ``cfg``'s topics (prefix) into ``archive``."""
    return [*TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix,
            "--archive", str(archive), "--metadata", str(meta), *extra]


def run_cluster(cfg: Any, archive: Path, meta: Path, processes: int, *,
                extra: Sequence[str] = (), timeout_s: float = 1800.0,
                env: Mapping[str, str] | None = None, root: Path = ROOT) -> ClusterRun:
    """``processes`` `twin run --exit-at-end` processes of one Bytewax cluster (``-i/-a`` on
    127.0.0.1 ports; no metrics port), waited for; their counts from each end-of-run line.
    ``env``: extra environment variables of every process (e.g. ``TWIN_*`` settings); ``root``:
    the source tree the processes run (their working directory: ``-m flows...`` imports from it)."""
    cluster: list[str] = []
    if processes > 1:
        cluster = ["-a", ";".join(f"127.0.0.1:{p}" for p in free_ports(processes))]
    logs = [archive.parent / f"{archive.name}.{i}.log" for i in range(processes)]
    archive.parent.mkdir(parents=True, exist_ok=True)
    cpu0, t0 = children_cpu_s(), time.monotonic()
    procs = []
    for i, log in enumerate(logs):
        ids = ["-i", str(i), *cluster] if cluster else []
        with log.open("wb") as out:
            procs.append(subprocess.Popen([*run_args(cfg, archive, meta, extra), "--exit-at-end", *ids],
                                          stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                          env={**os.environ, **(env or {})}))
    deadline = t0 + timeout_s
    for p in procs:
        p.wait(timeout=max(1.0, deadline - time.monotonic()))
    run = ClusterRun(processes, time.monotonic() - t0, children_cpu_s() - cpu0)
    for p, log in zip(procs, logs, strict=True):
        text = log.read_text(errors="replace")
        found = RUN_LINE.search(text)
        if p.returncode != 0 or found is None:
            msg = f"twin run ({log.name}) exited {p.returncode}: {text[-2000:]}"
            raise RuntimeError(msg)
        run.records.append(int(found[1]))
        run.windows.append(int(found[2]))
        run.dead_letters.append(int(found[3]))
        fleet = FLEET_LINE.search(text)
        if fleet is not None:
            run.fleet_late.append(int(fleet[2]))
            run.gate_waits.append(int(fleet[3]))
            run.gate_timeouts.append(int(fleet[4]))
    return run


def write_metadata(fleet: Any, path: Path) -> Path:
    """The simulated fleet's metadata file for `twin run --metadata`."""
    from flows.cli.kafka_commands import write_fleet_metadata

    write_fleet_metadata(fleet, str(path))
    return path


# --------------------------------------------------------------------------- outputs compared

KEYS = {"features": ("asset_id", "window_start"), "twin_state": ("asset_id", "window_start"),
        "alerts": ("alert_id", "sequence")}


def archive_rows(archive: Path, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The table's rows as the views show them (one per key), bookkeeping columns dropped."""
    from flows.archive.query import query
    from flows.codec.archive_schema import BOOKKEEPING

    drop = {c.name for c in BOOKKEEPING} | {"date"}
    cols, rows = query(archive, f"SELECT * FROM {table}")  # noqa: S608 (a fixed table name)
    names = [c for c in cols if c not in drop]
    out = {}
    for row in rows:
        rec = {c: v for c, v in zip(cols, row, strict=True) if c in names}
        out[tuple(str(rec[k]) for k in KEYS[table])] = rec
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def _lineage_parts(text: Any) -> tuple[Any, Any]:
    """A lineage's JSON text split into (everything but the fleet model version, that version):
    versions are numbered in the order the learner learnt its lives, which can differ with the
    partitioning while the model in effect at a window (and every value) is the same."""
    if not isinstance(text, str):
        return text, None
    doc = json.loads(text)
    return {k: v for k, v in doc.items() if k != "fleet_model_version"}, doc.get("fleet_model_version")


def compare_tables(base: Path, other: Path) -> dict[str, Any]:
    """Per table: rows in each archive, keys only in one, and per field the number of rows whose
    value differs (exact comparison: identical means bit for bit the same values). The lineage's
    fleet model version number is counted apart (``fleet_version_numbers_differ``), not as a
    difference: see :func:`_lineage_parts`."""
    report: dict[str, Any] = {}
    for table in KEYS:
        a, b = archive_rows(base, table), archive_rows(other, table)
        differing: dict[str, int] = {}
        renumbered = 0
        for key in a.keys() & b.keys():
            for col in a[key].keys() | b[key].keys():
                x, y = a[key].get(col), b[key].get(col)
                if col == "lineage":
                    (x, vx), (y, vy) = _lineage_parts(x), _lineage_parts(y)
                    renumbered += vx != vy
                if not _same(x, y):
                    differing[col] = differing.get(col, 0) + 1
        report[table] = {"rows": [len(a), len(b)], "only_in_base": len(a.keys() - b.keys()),
                         "only_in_other": len(b.keys() - a.keys()),
                         "differing_fields": dict(sorted(differing.items())),
                         "fleet_version_numbers_differ": renumbered}
    report["identical"] = all(not r["only_in_base"] and not r["only_in_other"] and not r["differing_fields"]
                              for r in report.values())
    return report
