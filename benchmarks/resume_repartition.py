"""A ``twin run --recovery-dir`` resume after the telemetry topics grew from 2 to 4 partitions, compared
with the same resume on topics that did not change (round 19, part resume19).

Run: ``.venv/bin/python benchmarks/resume_repartition.py [--days 4] [--repeats 3] [--second any]``.
Broker: ``TWIN_KAFKA_BROKERS``, else the local one on ``KAFKA_PORT`` (started and stopped here).

The simulator's fleet (4 assets, asset ``i`` in partition ``i % partitions``) is split in the
middle of its time span; the first half is published and read with ``--exit-at-end`` into a new
recovery store, then (``grow``) the three telemetry topics get 4 partitions, so assets 2 and 3
move to the new partitions 2 and 3, the second half is published and the store is resumed (with
``--partitioning`` = ``--second`` if given). ``stay`` does the same on topics left at 2 partitions.
Per repeat: whether each asset's own state (condition, health index, anomaly score, damage) and
the alerts are equal, how many windows differ in all (the fleet-fused RUL included), and each
run's dead letters and late fleet model versions (its last lines). Final JSON line: the lists.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overload import TWIN, broker, topics  # noqa: E402

STATE = ("SELECT asset_id, window_start, condition, health_index, anomaly_score, damage, rul_s, rul_source "
         "FROM twin_state ORDER BY 1, 2")
OWN = 6  # the columns of an asset's own state in STATE (the rest: the fleet-fused RUL)
FLEET_LINE = re.compile(r"(\d+) records? read, (\d+) windows? closed, dead letters: (\d+).*\n.*?(\d+) late")


def publish(cfg: Any, records: list[Any], assets: list[str], partitions: int) -> None:
    """Asset ``i`` to partition ``i % partitions`` (as a key hash would, but known here), in order.

    With twinflow's producer settings (idempotent, ``acks=all``): a plain producer (up to a million
    requests in flight, retries) put an asset's first records AFTER later ones on topics or
    partitions created just before (the broker answers "not leader" until it has applied them, the
    failed batches are sent again after later ones were appended): hours of its records then came
    behind newer ones, real `late_record` dead letters in runs that looked clean (round 19, part late;
    ``tests/integration/test_kafka_publish_order.py``)."""
    from confluent_kafka import Producer

    from flows.app.produce import encode_record, topic_role
    from flows.dataflow.sinks.kafka import producer_config
    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER

    producer = Producer(producer_config({"bootstrap.servers": cfg.brokers}))
    for rec in records:
        producer.produce(cfg.topic(topic_role(rec)), encode_record(rec), rec.asset_id.encode(),
                         partition=assets.index(rec.asset_id) % partitions,
                         headers=[(EVENT_TIME_HEADER, str(int(rec.timestamp.timestamp() * 1000)).encode())])
        producer.poll(0)
    if producer.flush(30):
        msg = "messages not delivered"
        raise RuntimeError(msg)


def _run(cfg: Any, archive: Path, meta: Path, *more: str) -> tuple[int, int, int]:
    """One ``twin run --exit-at-end`` on the store ``<archive>.rec``: (records read, dead letters,
    late fleet model versions)."""
    argv = [*TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive",
            str(archive), "--metadata", str(meta), "--clock", "data", "--exit-at-end", "--connect-timeout",
            "10", "--recovery-dir", f"{archive}.rec", *more]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    found = FLEET_LINE.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(proc.stderr[-3000:])
    return int(found[1]), int(found[3]), int(found[4])


def _split_runs(brokers: str, work: Path, fleet: Any, grow: bool, second: list[str]) -> dict[str, Any]:
    from confluent_kafka.admin import AdminClient, NewPartitions

    from flows.archive.query import query
    from flows.cli.kafka_commands import write_fleet_metadata
    from twin_models.simulator.fleet import simulate_fleet

    meta = work / "meta.json"
    write_fleet_metadata(fleet, str(meta))
    records = list(simulate_fleet(fleet))
    assets = sorted({r.asset_id for r in records})
    split = records[0].timestamp.timestamp() + fleet.days / 2 * 86_400
    name = "grow" if grow else "stay"
    with topics(brokers, f"rr-{uuid.uuid4().hex[:8]}.", 2) as cfg:
        publish(cfg, [r for r in records if r.timestamp.timestamp() < split], assets, 2)
        runs = [_run(cfg, work / name, meta)]
        if grow:
            admin = AdminClient({"bootstrap.servers": brokers})
            grown = admin.create_partitions([NewPartitions(cfg.topic(t), 4) for t in ("scalars", "waveforms",
                                                                                      "events")])
            for fut in grown.values():
                fut.result(timeout=30)
        publish(cfg, [r for r in records if r.timestamp.timestamp() >= split], assets, 4 if grow else 2)
        runs.append(_run(cfg, work / name, meta, *second))
    alerts = query(work / name, "SELECT alert_id, sequence, severity FROM alerts ORDER BY 1, 2")[1]
    return {"state": query(work / name, STATE)[1], "alerts": alerts, "runs": runs}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Resume after growing the topics vs on unchanged ones, ``--repeats`` times; the JSON line."""
    from twin_models.simulator.fleet import FleetConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=float, default=4.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--second", choices=("asset_id", "any"), default=None,
                   help="--partitioning of the resumed runs (default: not given)")
    args = p.parse_args(argv)
    fleet = FleetConfig(n_assets=4, days=args.days, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
    second = ["--partitioning", args.second] if args.second else []
    out: dict[str, list[Any]] = {"own_state_equal": [], "alerts_equal": [], "windows_differing": [],
                                 "stay_runs": [], "grow_runs": []}
    with broker() as brokers:
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="resume-repartition-") as tmp:
                stay = _split_runs(brokers, Path(tmp), fleet, False, second)
                grow = _split_runs(brokers, Path(tmp), fleet, True, second)
            a, b = stay["state"], grow["state"]
            out["own_state_equal"].append([r[:OWN] for r in a] == [r[:OWN] for r in b])
            out["alerts_equal"].append(stay["alerts"] == grow["alerts"])
            differing = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
            out["windows_differing"].append(differing)
            out["stay_runs"].append(stay["runs"])  # per run: (records read, dead letters, late versions)
            out["grow_runs"].append(grow["runs"])
            print(json.dumps({k: v[-1] for k, v in out.items()}), file=sys.stderr)
    result = {"days": args.days, "second": args.second, **out}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
