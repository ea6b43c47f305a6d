"""Scale-out curve of `twin run`: 1, 2 and 4 processes of one cluster over 8 partitions, same input.

Run: ``.venv/bin/python benchmarks/bench_scaleout.py [--assets 16] [--days 10] [--processes 1,2,4]``.
Broker: ``TWIN_KAFKA_BROKERS``, else the local broker is started (and stopped) with
``infra/kafka/kafka.sh`` on ``KAFKA_PORT``. Topics get their own prefix and are deleted after.

1. The telemetry and events topics (``--partitions``, default 8) are filled once with the
   simulated fleet, exactly as `twin simulate` publishes it (flows.app.produce.publish).
2. For each process count N: N `twin run --exit-at-end --clock data` processes of one Bytewax
   cluster (``-i k -a "127.0.0.1:p0;..."``), each into the same fresh archive folder. Measured:
   children CPU seconds (all processes), wall seconds, records read per process (end-of-run lines).
3. Every run's archive (features, twin_state incl. the RUL columns, alerts; one row per key) is
   compared with the 1-process run's, field by field, exactly: ``identical`` and, per table,
   which fields differ in how many rows; ``rul_sources``: twin_state rows per ``rul_source``
   (the rows whose RUL came from the fleet model are what the comparison of rul_* is about).

Each cluster size gets its own, fresh fleet model topic (``TWIN_KAFKA__TOPICS__FLEET_MODELS``):
every `twin run` process reads that compacted topic from the beginning, so on a shared topic a
later run would start with the versions an earlier run published (with the same version numbers,
which the board takes as already known) and compare against that run instead of computing its own.
The end-of-run lines give, per process, the versions that arrived late and the event-time gate's
waits and timeouts.

Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import uuid
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overload import broker, topics  # noqa: E402  (benchmarks/ on sys.path)
from twin_cluster import compare_tables, run_cluster, write_metadata  # noqa: E402


def prefill(cfg: Any, fleet: Any) -> dict[str, Any]:
    """Publish the simulated fleet once; what went in (records, frames, per partition)."""
    from confluent_kafka import Consumer, TopicPartition

    from flows.app.produce import publish, topic_role
    from twin_models.simulator.fleet import simulate_fleet

    kinds: Counter[str] = Counter()

    def counted() -> Any:
        for rec in simulate_fleet(fleet):
            kinds[topic_role(rec)] += 1
            yield rec

    rep = publish(counted(), cfg)
    c = Consumer({"bootstrap.servers": cfg.brokers, "group.id": "bench-scaleout"})
    per_part = [sum(c.get_watermark_offsets(TopicPartition(cfg.topic(r), p), timeout=10)[1]
                    for r in ("scalars", "waveforms", "events")) for p in range(cfg.partitions)]
    c.close()
    return {"records": rep.records, "frames": kinds["waveforms"], "scalars": kinds["scalars"],
            "events": kinds["events"], "records_per_partition": per_part,
            "publish_seconds": round(rep.seconds, 1)}


def models_topic(brokers: str, cfg: Any, n: int) -> tuple[str, str]:
    """A fresh fleet model topic for the run of ``n`` processes: (setting value, full name)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from flows.app.topics import TOPIC_CONFIGS

    name = f"twin.fleet.models.p{n}.{uuid.uuid4().hex[:6]}"
    full = cfg.topic_prefix + name
    admin = AdminClient({"bootstrap.servers": brokers})
    for fut in admin.create_topics([NewTopic(full, num_partitions=cfg.partitions, replication_factor=1,
                                             config=TOPIC_CONFIGS["fleet_models"])]).values():
        fut.result(timeout=30)
    return name, full


def drop_topics(brokers: str, names: list[str]) -> None:
    """Delete the per-run fleet model topics."""
    from confluent_kafka.admin import AdminClient

    if names:
        for fut in AdminClient({"bootstrap.servers": brokers}).delete_topics(names).values():
            with suppress(Exception):
                fut.result(timeout=30)


def rul_sources(archive: Path) -> dict[str, int]:
    """twin_state rows per rul_source (one row per key, as the views show them)."""
    from flows.archive.query import query

    _cols, rows = query(archive, "SELECT coalesce(rul_source, 'none'), count(*) FROM twin_state GROUP BY 1")
    return {str(k): int(v) for k, v in sorted(rows)}


def baseline_run(args: Any, brokers: str, cfg: Any, work: Path, meta: Path, n: int, extra: list[str],
                 fed: dict[str, Any], made: list[str]) -> dict[str, Any] | None:
    """The run of ``n`` processes with ``--baseline-root``'s code (None without it)."""
    if args.baseline_root is None:
        return None
    setting, full = models_topic(brokers, cfg, n)
    made.append(full)
    archive = work / f"base{n}" / "archive"
    run = run_cluster(cfg, archive, meta, n, extra=extra, env={"TWIN_KAFKA__TOPICS__FLEET_MODELS": setting},
                      root=args.baseline_root.resolve()).summary(fed["frames"])
    run["rul_sources"] = rul_sources(archive)
    print(f"{n} process(es), baseline: {run}", file=sys.stderr)
    return run


def startup_cpu_s(brokers: str, partitions: int, work: Path, meta: Path, extra: list[str]) -> float:
    """CPU seconds of one `twin run --exit-at-end` process over empty topics: imports, clients,
    the engine starting and stopping (each process of a cluster pays it once)."""
    with topics(brokers, f"bench-empty-{uuid.uuid4().hex[:8]}.", partitions) as empty:
        return run_cluster(empty, work / "empty" / "archive", meta, 1, extra=extra).cpu_s


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Fill once, run each cluster size, compare outputs; the last line printed is JSON."""
    from twin_models.simulator.fleet import FleetConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=16, help="simulated assets (default 16)")
    p.add_argument("--days", type=float, default=10.0, help="days of machine time (default 10)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--partitions", type=int, default=8, help="partitions per topic (default 8)")
    p.add_argument("--processes", default="1,2,4", help="cluster sizes, comma-separated (default 1,2,4)")
    p.add_argument("--config", type=Path, default=None, help="TOML config passed to every twin run")
    p.add_argument("--baseline-root", type=Path, default=None,
                   help="another source tree (e.g. a checkout of main): each size also runs it, just "
                        "before this tree, on the same topics (CPU, wall, late versions, outputs)")
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.processes.split(",")]
    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed)
    extra = ["--clock", "data", *(["--config", str(args.config.resolve())] if args.config else [])]
    load = os.getloadavg()[0]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, broker() as brokers, \
            topics(brokers, f"bench-scale-{uuid.uuid4().hex[:8]}.", args.partitions) as cfg:
        work = Path(tmp)
        meta = write_metadata(fleet, work / "meta.json")
        fed = prefill(cfg, fleet)
        print(f"input: {fed}", file=sys.stderr)
        startup = startup_cpu_s(brokers, args.partitions, work, meta, extra)
        made: list[str] = []
        for n in sizes:
            archive = work / f"p{n}" / "archive"
            base = baseline_run(args, brokers, cfg, work, meta, n, extra, fed, made)
            setting, full = models_topic(brokers, cfg, n)
            made.append(full)
            env = {"TWIN_KAFKA__TOPICS__FLEET_MODELS": setting}
            run = run_cluster(cfg, archive, meta, n, extra=extra, env=env).summary(fed["frames"])
            if base is not None:
                base["vs_this"] = compare_tables(work / f"base{n}" / "archive", archive)
                run["baseline"] = base
            run["rul_sources"] = rul_sources(archive)
            run["fleet_rows"] = sum(v for k, v in run["rul_sources"].items() if "fleet" in k)
            work_s = run["cpu_s"] - n * startup
            run["records_per_cpu_s_without_startup"] = round(run["records_read"] / work_s, 1)
            run["load_average_1m"] = round(os.getloadavg()[0], 1)
            if n != sizes[0]:
                run["vs_first"] = compare_tables(work / f"p{sizes[0]}" / "archive", archive)
            print(f"{n} process(es): {run}", file=sys.stderr)
            runs.append(run)
        drop_topics(brokers, made)
    base = runs[0]
    for run in runs:
        run["speedup_wall"] = round(run["records_per_wall_s"] / base["records_per_wall_s"], 2)
        run["cpu_efficiency"] = round(run["records_per_cpu_s"] / base["records_per_cpu_s"], 2)
        run["exactly_once"] = run["records_read"] == fed["records"]
    out = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "assets": args.assets,
           "days": args.days, "partitions": args.partitions, "input": fed,
           "startup_cpu_s_per_process": round(startup, 2),
           "load_average_1m_at_start": round(load, 1), "runs": runs}
    print(f"{'processes':>9} {'wall s':>7} {'cpu s':>7} {'rec/cpu-s':>9} {'frames/cpu-s':>12} "
          f"{'rec/wall-s':>10} {'speedup':>7}  identical to {sizes[0]}  fleet rows  late")
    for r in runs:
        same = r.get("vs_first", {}).get("identical", "-")
        print(f"{r['processes']:>9} {r['wall_s']:>7} {r['cpu_s']:>7} {r['records_per_cpu_s']:>9} "
              f"{r['frames_per_cpu_s']:>12} {r['records_per_wall_s']:>10} {r['speedup_wall']:>7}  "
              f"{same!s:>13}  {r['fleet_rows']:>10}  {sum(r['fleet_models_late'])}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
