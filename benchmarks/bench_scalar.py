"""Scalar path end to end through Kafka: CPU per record of ``twin run`` next to a bare consume loop.

Run: ``.venv/bin/python benchmarks/bench_scalar.py [--assets 20] [--channels 4] [--hours 2]``.
Broker: ``TWIN_KAFKA_BROKERS``, else the local broker is started (and stopped) with
``infra/kafka/kafka.sh`` on ``KAFKA_PORT``. Topics get their own prefix and are deleted after.

A fleet of ``--assets`` assets, each with ``--channels`` scalar channels read at 1 Hz, is
encoded as ``scalar_sample.v1`` JSON (what ``twin simulate`` / ``twin replay`` publish: key =
asset_id, event time header) and produced to one partition. Then, in this order, each in a
fresh child process whose CPU time (user + system, from ``getrusage(RUSAGE_CHILDREN)``) is
measured:

1. floor: a bare confluent-kafka consumer (same prefetch settings as twinflow's source) reading
   the topic to its end and ``json.loads`` every value: what any Python consumer pays;
2. floor + twinflow's decoder: the same loop calling ``flows.codec.decode_telemetry`` (every
   validation rule), to show what the wire contract costs;
3. ``twin run --exit-at-end --clock data`` on the same topics (60-s windows, twin, alerts,
   archive, Kafka sinks): the whole path.

Prints records per CPU-second of each and the ratio run / floor, and a final JSON line.

``--startup``: first, on the same topics while still empty, the floor and ``twin run`` once each
(their fixed costs: interpreter, imports, clients, building the dataflow, closing it); the JSON then
also gives ``run_vs_floor_excl_startup``, both sides' figures without them. The target is the
all-in ``run_vs_floor``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overload import ROOT, TWIN, Message, broker, produce, topics  # noqa: E402

CHANNELS = ("temperature", "pressure", "current", "speed", "load", "flow")
START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_S = 60
TREE: list[Path] = []  # --tree


def fleet_messages(cfg: Any, assets: int, channels: int, seconds: int, seed: int) -> list[Message]:
    """The fleet's records in event-time order, encoded as twinflow's producers encode them."""
    import numpy as np

    from flows import codec
    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
    from twin_models.records import ScalarSample

    rng = np.random.default_rng(seed)
    topic = cfg.topic("scalars")
    base = rng.uniform(20.0, 80.0, size=(assets, channels))
    noise = rng.normal(0.0, 0.5, size=(seconds, assets, channels))
    names = [f"asset-{a:03d}" for a in range(assets)]
    out: list[Message] = []
    for t in range(seconds):
        ts = START + timedelta(seconds=t)
        ms = str(int(ts.timestamp() * 1000)).encode()
        for a, name in enumerate(names):
            for c in range(channels):
                value = round(float(base[a, c] + noise[t, a, c]), 4)
                rec = ScalarSample(name, CHANNELS[c], ts, value, "")
                out.append((topic, name.encode(), codec.encode_scalar(rec), [(EVENT_TIME_HEADER, ms)]))
    return out


def child_cpu(args: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a child to completion; its (CPU seconds incl. its own children, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    env = {**os.environ, **(env or {})}
    if TREE:  # measure another checkout's code (e.g. main's, extracted with git archive)
        env["PYTHONPATH"] = str(TREE[0])
    with log.open("wb") as out:
        proc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, cwd=TREE[0] if TREE else ROOT,
                              check=False, env=env)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        msg = f"{args[:4]} failed ({proc.returncode}): {log.read_text()[-2000:]}"
        raise RuntimeError(msg)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def floor_loop(brokers: str, topic: str, expected: int, decode: str) -> int:
    """(child) Read ``topic`` partition 0 to its end, decoding every value; the count read."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from flows.dataflow.sources.kafka import PREFETCH

    fn: Any = json.loads
    if decode == "twin":
        from flows.codec import decode_telemetry

        now = datetime.now(UTC)
        fn = lambda raw: decode_telemetry(raw, now=now)  # noqa: E731
    consumer = Consumer({**PREFETCH, "bootstrap.servers": brokers, "group.id": "bench-scalar",
                         "enable.auto.commit": "false", "enable.partition.eof": "true"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    n = 0
    eof = False
    while not (eof and n >= expected):
        for msg in consumer.consume(500, 0.05):
            err = msg.error()
            if err is not None:
                eof = eof or err.code() == KafkaError._PARTITION_EOF
                continue
            fn(msg.value())
            n += 1
    consumer.close()
    return n


def measure(brokers: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Produce the fleet once, then time the floors and ``twin run`` on it."""
    prefix = f"bench-scalar-{uuid.uuid4().hex[:8]}."
    with topics(brokers, prefix, 1) as cfg:
        me = [sys.executable, str(Path(__file__).resolve()), "--floor-child", "--brokers", brokers,
              "--topic", cfg.topic("scalars")]

        def twin_run(archive: str) -> list[str]:
            return [*TWIN, "run", "--brokers", brokers, "--topic-prefix", prefix, "--archive",
                    str(work / archive), "--clock", "data", "--exit-at-end"]

        out: dict[str, Any] = {}
        if args.startup:  # the fixed costs, on the topics while they are empty
            floor0, _ = child_cpu([*me, "--expected", "0", "--decode", "json"], work / "floor_startup.log")
            run0, _ = child_cpu(twin_run("archive_startup"), work / "run_startup.log",
                                {"TWIN_WINDOW_S": str(WINDOW_S)})
            out["startup"] = {"floor_json_cpu_s": round(floor0, 2), "twin_run_cpu_s": round(run0, 2)}
        msgs = fleet_messages(cfg, args.assets, args.channels, int(args.hours * 3600), args.seed)
        n, secs = produce(cfg, msgs, rate=0, seconds=1e9, counter=[0])
        print(f"produced {n} records in {secs:.1f} s", file=sys.stderr)
        out["records"] = n
        for name, decode in (("floor_json", "json"), ("floor_twin_decode", "twin")):
            cpu, wall = child_cpu([*me, "--expected", str(n), "--decode", decode], work / f"{name}.log")
            out[name] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                         "records_per_cpu_s": round(n / cpu)}
        cpu, wall = child_cpu(twin_run("archive"), work / "run.log", {"TWIN_WINDOW_S": str(WINDOW_S)})
        out["twin_run"] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                           "records_per_cpu_s": round(n / cpu)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures (last line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=20)
    p.add_argument("--channels", type=int, default=4, choices=range(1, len(CHANNELS) + 1))
    p.add_argument("--hours", type=float, default=2.0, help="event time of the fleet (1 Hz)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tree", type=Path, default=None,
                   help="run the floors and twin run from this source tree (PYTHONPATH), e.g. "
                        "`git archive main | tar -x -C DIR` for a before/after comparison")
    p.add_argument("--startup", action="store_true",
                   help="also measure the floor's and twin run's fixed costs on the empty topics and "
                        "give the ratio without them (run_vs_floor_excl_startup)")
    p.add_argument("--floor-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--brokers", help=argparse.SUPPRESS)
    p.add_argument("--topic", help=argparse.SUPPRESS)
    p.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    p.add_argument("--decode", choices=("json", "twin"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.floor_child:
        print(floor_loop(args.brokers, args.topic, args.expected, args.decode))
        return {}
    TREE[:] = [args.tree.resolve()] if args.tree else []
    with tempfile.TemporaryDirectory(prefix="bench-scalar-") as tmp, broker() as brokers:
        res = measure(brokers, args, Path(tmp))
    floor = res["floor_json"]["records_per_cpu_s"]
    run = res["twin_run"]["records_per_cpu_s"]
    out = {"benchmark": "scalar_path", "machine": platform.machine(), "python": platform.python_version(),
           "tree": str(TREE[0]) if TREE else str(ROOT), "assets": args.assets, "channels": args.channels,
           "hours": args.hours, "window_s": WINDOW_S,
           **res, "run_vs_floor": round(run / floor, 3),
           **_excl_startup(res),
           "targets": {"records_per_cpu_s_ge_50k": run >= 50_000, "run_vs_floor_ge_0_5": run / floor >= 0.5}}
    for key in ("floor_json", "floor_twin_decode", "twin_run"):
        print(f"{key:>18}: {res[key]['records_per_cpu_s']:>9,} records/CPU-s "
              f"({res[key]['cpu_s']} s CPU, {res[key]['wall_s']} s wall)", file=sys.stderr)
    print(json.dumps(out))
    return out


def _excl_startup(res: dict[str, Any]) -> dict[str, Any]:
    """The ratio run / floor without each side's fixed cost, when ``--startup`` measured them."""
    if "startup" not in res:
        return {}
    floor = res["floor_json"]["cpu_s"] - res["startup"]["floor_json_cpu_s"]
    run = res["twin_run"]["cpu_s"] - res["startup"]["twin_run_cpu_s"]
    return {"run_vs_floor_excl_startup": round(floor / run, 3) if run > 0 else None}


if __name__ == "__main__":
    main()
