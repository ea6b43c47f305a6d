"""Latency of `twin run` from window close to output on the topic, with a real-time producer at
50 % and 80 % of the measured capacity.

Run: ``.venv/bin/python benchmarks/bench_latency.py [--loads 0.5,0.8] [--capacity REC_PER_S]``.
Broker: ``TWIN_KAFKA_BROKERS``, else the local broker is started (and stopped) with
``infra/kafka/kafka.sh`` on ``KAFKA_PORT``. Topics get their own prefix and are deleted after.

1. Capacity (records/s): ``--capacity``, else measured as bench_overload.py does (``twin run
   --exit-at-end --clock data`` draining pre-filled simulated records, start-up excluded).
2. Per load level, a fresh topic set (alerts and state topics with ``LogAppendTime``, so a
   message's timestamp is the moment the broker appended it) and a fresh `twin run` (system
   clock, tailing). The simulated fleet (``--assets``, ``--days``) is re-timed: one simulated hour
   becomes ``window_s`` wall seconds, with ``window_s`` chosen so that the fleet's records arrive at
   ``load x capacity`` records/s, and `twin run` gets ``window_s`` windows (so every window holds
   what an hour holds in the demo) and ``--lateness`` allowed lateness. The first half of the
   simulated days is published at once as history and consumed (twins warm up); then the second
   half is produced in real time: each record when the wall clock reaches its event time.
3. For every window that ends during the real-time phase (after its first ``--settle`` seconds:
   the first real-time records close the history's last windows too), latency = the time its alert (and its
   twin-state snapshot) was appended to the topic minus the window's end (event time = wall
   time). ``from_end`` includes the allowed lateness the user chose (the window may only close
   once its end plus the lateness has passed); ``from_close`` subtracts it: what the engine adds.
   The close is where the flow's clock puts it: with the system clock an asset's watermark is the
   wall clock minus the lateness minus the smallest delay its records ever had on the way in, so
   a window closes at end + lateness (+ a few ms of transit) whether or not the producer keeps
   its schedule; a producer behind schedule makes records late, not closes later.
   ``producer_behind_at_close`` reports how far behind schedule the producer was with the first
   record at or after each close (the benchmark's producer shares the machine), and
   ``alerts_and_states`` pools both outputs (they leave the same twin step call): alerts alone
   are few: 3-5 per run with the defaults; ``--days 12`` gives 17-22 (and ~1,800-2,600
   states), ``--capacity 1000 --days 6`` (1.6-s windows) 27-29 (and ~1,940 states).

Prints percentiles per load level and a final JSON line. Target (issue 10): alert p99 from close
<= 250 ms at 50 % load.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overload import READS, broker, free_port, measure_capacity, scrape, topics  # noqa: E402
from metrics_read import ScrapeFailed, start_serving  # noqa: E402
from twin_cluster import ROOT, run_args, write_metadata  # noqa: E402

OUTPUTS = ("alerts", "state")


def retimed(records: list[Any], start: datetime, sim_start: datetime, factor: float) -> list[Any]:
    """``records`` with event times ``start + (t - sim_start) / factor`` (``factor`` x real time)."""
    return [replace(r, timestamp=start + (r.timestamp - sim_start) / factor) for r in records]


def encode(cfg: Any, records: list[Any]) -> list[tuple[float, str, bytes, bytes, list[tuple[str, bytes]]]]:
    """(event time s, topic, key, value, headers) as flows.app.produce.publish sends a record."""
    from flows.app.produce import topic_role
    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
    from flows.dataflow.sources.replayable import encode_record

    out = []
    for r in records:
        ts = r.timestamp.timestamp()
        out.append((ts, cfg.topic(topic_role(r)), r.asset_id.encode(), encode_record(r),
                    [(EVENT_TIME_HEADER, str(int(ts * 1000)).encode())]))
    return out


def produce(cfg: Any, msgs: list[Any], *, paced: bool) -> list[float]:
    """Produce ``msgs``; ``paced``: each when the wall clock reaches its event time. Returns, per
    message, how far behind its schedule it was handed to the producer (s; 0 when on time)."""
    from confluent_kafka import Producer

    from flows.dataflow.sinks.kafka import producer_config

    producer = Producer({**producer_config(cfg.client_config()), "linger.ms": "5"})
    behind: list[float] = []
    for ts, topic, key, value, headers in msgs:
        if paced:
            ahead = ts - time.time()
            if ahead > 0:
                time.sleep(ahead)
            behind.append(max(0.0, -ahead))
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush()
    return behind


def set_log_append_time(cfg: Any) -> None:
    """Alerts and state topics stamp messages with the broker's append time."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    admin = AdminClient({"bootstrap.servers": cfg.brokers})
    entry = ConfigEntry("message.timestamp.type", "LogAppendTime",
                        incremental_operation=AlterConfigOpType.SET)
    res = [ConfigResource(ConfigResource.Type.TOPIC, cfg.topic(r), incremental_configs=[entry])
           for r in OUTPUTS]
    for fut in admin.incremental_alter_configs(res).values():
        fut.result(timeout=30)


class Collector(threading.Thread):
    """Reads the alerts and state topics while the run goes: (role, window end s, append s)."""

    def __init__(self, cfg: Any) -> None:
        from confluent_kafka import Consumer, TopicPartition

        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": cfg.brokers, "group.id": uuid.uuid4().hex,
                                  "fetch.wait.max.ms": "10"})
        parts = [TopicPartition(cfg.topic(r), p, 0) for r in OUTPUTS for p in range(cfg.partitions)]
        self.consumer.assign(parts)
        self.roles = {cfg.topic(r): r for r in OUTPUTS}
        self.seen: list[tuple[str, float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for m in self.consumer.consume(500, 0.1):
                if m.error() is None:
                    doc = json.loads(m.value())
                    end = datetime.fromisoformat(doc["timestamp"].replace("Z", "+00:00")).timestamp()
                    self.seen.append((self.roles[m.topic()], end, m.timestamp()[1] / 1000))
        self.consumer.close()


def percentiles(values: list[float]) -> dict[str, Any]:
    """n, p50, p90, p99 and max in milliseconds (nearest rank)."""
    if not values:
        return {"n": 0}
    v = sorted(values)

    def rank(q: float) -> float:
        return round(1000 * v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))], 1)

    return {"n": len(v), "p50_ms": rank(0.5), "p90_ms": rank(0.9), "p99_ms": rank(0.99),
            "max_ms": round(1000 * v[-1], 1)}


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read(port: int) -> float:
    """Records the run has read (a scrape given up on counts as none yet: the caller waits on)."""
    try:
        return scrape(port)["read"]
    except ScrapeFailed:
        return 0.0


def fleet_records(args: argparse.Namespace) -> tuple[list[Any], datetime, float]:
    """The simulated fleet's records, its start, and its records per simulated hour."""
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed)
    recs = list(simulate_fleet(fleet))
    return recs, fleet.start, len(recs) / (args.days * 24)


def run_level(brokers: str, args: argparse.Namespace, work: Path, load: float,
              capacity: float) -> dict[str, Any]:
    """One load level: history, then the real-time half; latencies of windows closed in it."""
    from twin_models.simulator.fleet import FleetConfig

    recs, sim_start, per_sim_hour = fleet_records(args)
    window_s = per_sim_hour / (load * capacity)
    factor = 3600.0 / window_s
    conf = work / "latency.toml"
    conf.write_text(f"[pipeline]\nwindow_s = {window_s!r}\nallowed_lateness_s = {args.lateness!r}\n"
                    'clock = "system"\n')
    meta = write_metadata(FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed),
                          work / "meta.json")
    split = sim_start + timedelta(days=args.days / 2)
    history = [r for r in recs if r.timestamp < split]
    live = [r for r in recs if r.timestamp >= split]
    with topics(brokers, f"bench-lat-{uuid.uuid4().hex[:8]}.", args.partitions) as cfg:
        set_log_append_time(cfg)
        now = datetime.now(UTC)
        produce(cfg, encode(cfg, retimed(history, now, split, factor)), paced=False)
        cmd = run_args(cfg, work / "archive", meta, ["--config", str(conf), *args.run_args.split()])

        def start(port: int) -> subprocess.Popen[bytes]:
            with (work / "run.log").open("wb") as log:
                return subprocess.Popen([*cmd, "--metrics-port", str(port)], stdout=log,
                                        stderr=subprocess.STDOUT, cwd=ROOT)

        proc, port = start_serving(start, work / "run.log", free_port)  # a port taken meanwhile: another one
        try:
            while _read(port) < len(history):
                if proc.poll() is not None:
                    raise RuntimeError((work / "run.log").read_text()[-2000:])
                time.sleep(0.5)
            collector = Collector(cfg)
            collector.start()
            anchor = datetime.now(UTC) + timedelta(seconds=1)
            msgs = encode(cfg, retimed(live, anchor, split, factor))
            cpu0, t0 = proc_cpu_s(proc.pid), time.monotonic()
            behind = produce(cfg, msgs, paced=True)
            produced_ts = [m[0] for m in msgs]
            busy = (proc_cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0)
            time.sleep(window_s + args.lateness + 3.0)
            collector.stop.set()
            collector.join(timeout=10)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    # windows wholly inside the real-time phase, after it settled: its first record makes every
    # asset's watermark jump from where the history left it, closing the history's last windows
    first_end = anchor.timestamp() + window_s + args.settle
    if args.dump is not None:
        t0 = anchor.timestamp()
        rows = [(r, round(end - t0, 3), round(app - end, 3)) for r, end, app in collector.seen]
        Path(f"{args.dump}.{load}.json").write_text(json.dumps(rows))
    seen = [(r, end, app) for r, end, app in collector.seen if end >= first_end]
    out: dict[str, Any] = {
        "load": load, "window_s": round(window_s, 3), "speedup_vs_real_time": round(factor, 1),
        "records_per_s": round(load * capacity, 1), "live_records": len(live),
        "producer_max_behind_s": round(max(behind, default=0.0), 3),
        "producer_behind_at_close": percentiles(
            behind_at_close(produced_ts, behind, sorted({end for _r, end, _a in seen}), args.lateness)),
        "run_cpu_share_of_a_core": round(busy, 2)}
    for role in OUTPUTS:
        lat = [app - end for r, end, app in seen if r == role]
        out[role] = {"from_end": percentiles(lat),
                     "from_close": percentiles([x - args.lateness for x in lat])}
    # alerts and states leave the same twin_update call: together they give a p99 over many
    out["alerts_and_states"] = {"from_close": percentiles([app - end - args.lateness
                                                           for _r, end, app in seen])}
    return out


def behind_at_close(produced_ts: list[float], behind: list[float], ends: list[float],
                    lateness: float) -> list[float]:
    """Per window end: how far behind schedule the producer was with the first record at or
    after the window's close (end + lateness). The flow's clock closes a window at its close
    whatever the producer does (watermark = wall clock - lateness - the smallest delay an asset's
    records ever had), so a late producer does not move the close; it makes records late."""
    out = []
    for end in ends:
        i = bisect.bisect_left(produced_ts, end + lateness)
        if i < len(behind):
            out.append(behind[i])
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure capacity (or take it), then each load level; the last line printed is JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loads", default="0.5,0.8", help="fractions of capacity (default 0.5,0.8)")
    p.add_argument("--capacity", type=float, default=None, help="records/s (default: measured)")
    p.add_argument("--capacity-records", type=int, default=30_000)
    p.add_argument("--assets", type=int, default=32, help="simulated assets (default 32)")
    p.add_argument("--days", type=float, default=4.0, help="simulated days, half history (default 4)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--lateness", type=float, default=0.25, help="allowed_lateness_s (default 0.25)")
    p.add_argument("--settle", type=float, default=10.0,
                   help="seconds of the real-time phase left out of the figures (default 10)")
    p.add_argument("--run-args", default="", help="more `twin run` flags, space-separated")
    p.add_argument("--dump", type=Path, default=None,
                   help="write (output, window end - phase start, latency) rows to DUMP.<load>.json")
    args = p.parse_args(argv)
    load0 = os.getloadavg()[0]
    levels = []
    with tempfile.TemporaryDirectory() as tmp, broker() as brokers:
        work = Path(tmp)
        capacity = args.capacity
        if capacity is None:
            (work / "cap").mkdir()
            cap = measure_capacity(brokers, argparse.Namespace(
                assets=args.assets, seed=args.seed, partitions=args.partitions,
                capacity_records=args.capacity_records), work / "cap")
            capacity = cap["records_per_s"]
        print(f"capacity: {capacity} records/s", file=sys.stderr)
        for i, load in enumerate(float(x) for x in args.loads.split(",")):
            (work / str(i)).mkdir()
            levels.append(run_level(brokers, args, work / str(i), load, capacity))
            print(f"load {load}: {levels[-1]}", file=sys.stderr)
    out = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "capacity_records_per_s": capacity,
           "assets": args.assets, "lateness_s": args.lateness, "levels": levels,
           "load_average_1m": [round(load0, 1), round(os.getloadavg()[0], 1)],
           "metrics_reads": READS.as_dict()}
    for lv in levels:
        print(f"load {lv['load']:.0%}: window {lv['window_s']} s; alert p99 from close "
              f"{lv['alerts']['from_close'].get('p99_ms')} ms (n={lv['alerts']['from_close']['n']}); "
              f"state p99 from close {lv['state']['from_close'].get('p99_ms')} ms "
              f"(n={lv['state']['from_close']['n']}); alerts and states p99 "
              f"{lv['alerts_and_states']['from_close'].get('p99_ms')} ms "
              f"(n={lv['alerts_and_states']['from_close']['n']}); producer behind at close p99 "
              f"{lv['producer_behind_at_close'].get('p99_ms')} ms")
    print(READS.summary(), file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
