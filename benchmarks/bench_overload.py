"""Overload on the real broker: produce at 2x the measured capacity, stop, watch lag and memory.

Run: ``.venv/bin/python benchmarks/bench_overload.py [--minutes 3] [--factor 2] [--assets 16]``.
Broker: ``TWIN_KAFKA_BROKERS``, else the local broker is started (and stopped) with
``infra/kafka/kafka.sh`` on ``KAFKA_PORT``. Topics get their own prefix and are deleted after.

1. Capacity: ``--capacity-records`` simulated records (what ``twin simulate`` publishes) are
   pre-filled, then ``twin run --exit-at-end --clock data`` consumes them; capacity is the slope
   of ``twin_records_in_total`` between 10 % and 90 % of the records (start-up excluded).
2. Overload: a fresh ``twin run`` tails new topics while the simulator's records are produced at
   ``factor x capacity`` (flows.app.produce.publish paced by event time) for ``--minutes``; then the
   producer stops. Every second: consumer lag (the broker's high watermarks minus the records
   the run has read, and the run's own ``twin_kafka_consumer_lag_messages``) and the resident
   memory of the ``twin run`` process (``/proc/PID/status`` VmRSS), until the lag is 0.
Writes ``benchmarks/results/overload.png`` (lag and RSS over time) and ``overload.csv``;
prints a summary and a final JSON line.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from free_ports import free_port  # noqa: E402  (below the ephemeral range: no outgoing connection takes it)
from metrics_read import ReadLog, ScrapeFailed, read_metrics, start_serving  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "infra" / "kafka" / "kafka.sh"
RESULTS = ROOT / "benchmarks" / "results"
TWIN = [sys.executable, "-m", "flows.cli.main"]
TELEMETRY = ("scalars", "waveforms", "events")
RUN_CONFIG: list[Path] = []  # --run-config, passed to every twin run
READS = ReadLog()  # the scrapes of the runs' /metrics (a cut read tried again; printed at the end)


@dataclass
class Sample:
    """One observation of the overload phase."""

    t: float
    produced: int
    read: int
    lag: int
    metric_lag: int
    rss_mb: float
    state_mb: float


# --------------------------------------------------------------------------- broker and topics


@contextmanager
def broker() -> Iterator[str]:
    """TWIN_KAFKA_BROKERS, or the local broker started here (and stopped after)."""
    given = os.environ.get("TWIN_KAFKA_BROKERS", "").strip()
    if given:
        yield given
        return
    sh = ["bash", str(KAFKA_SH)]
    subprocess.run([*sh, "start"], check=True, stdout=sys.stderr)
    try:
        subprocess.run([*sh, "wait"], check=True, stdout=sys.stderr)
        yield subprocess.run([*sh, "bootstrap"], check=True, capture_output=True,
                             text=True).stdout.strip()
    finally:
        subprocess.run([*sh, "stop"], check=False, stdout=sys.stderr)


def kafka_cfg(brokers: str, prefix: str, partitions: int) -> Any:
    from flows.config.pipeline import KafkaConfig

    return KafkaConfig(brokers=brokers, topic_prefix=prefix, partitions=partitions)


@contextmanager
def topics(brokers: str, prefix: str, partitions: int) -> Iterator[Any]:
    """twinflow's topics under ``prefix``, deleted afterwards (they hold gigabytes)."""
    from confluent_kafka.admin import AdminClient

    from flows.app.topics import TOPIC_ROLES, create_topics

    cfg = kafka_cfg(brokers, prefix, partitions)
    create_topics(cfg)
    try:
        yield cfg
    finally:
        admin = AdminClient({"bootstrap.servers": brokers})
        for fut in admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES]).values():
            with suppress(Exception):
                fut.result(timeout=30)


class Watermarks:
    """Sum of the high watermarks of the telemetry topics (messages produced so far)."""

    def __init__(self, cfg: Any) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer({"bootstrap.servers": cfg.brokers, "group.id": "bench-overload"})
        self.parts = [TopicPartition(cfg.topic(r), p) for r in TELEMETRY for p in range(cfg.partitions)]

    def total(self) -> int:
        return sum(self.consumer.get_watermark_offsets(tp, timeout=5)[1] for tp in self.parts)

    def close(self) -> None:
        self.consumer.close()


# --------------------------------------------------------------------------- the fleet


Message = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
"""(topic, key, value, headers) exactly as flows.app.produce.publish sends a record."""


def encoded(cfg: Any, assets: int, n: int, seed: int) -> list[Message]:
    """The first ``n`` records of a simulated fleet (twin simulate's intervals), encoded ahead of
    time so that producing them costs the machine almost nothing (a producer simulating on the
    fly would take a core from the run under test)."""
    from flows.app.produce import topic_role
    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
    from flows.dataflow.sources.replayable import encode_record
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    # the fleet's length sets its faults' times: kept as it was measured, from count_records'
    # estimate before round 48 (it counted 5 scalar channels for the simulator's 4, no event)
    one = FleetConfig(n_assets=assets, days=1.0, seed=seed)
    per_day = int(assets * (86400.0 / one.frame_interval_s + 5 * 86400.0 / one.scalar_interval_s)) * 0.7
    fleet = FleetConfig(n_assets=assets, days=max(1.0, n / per_day), seed=seed)
    out: list[Message] = []
    for rec in itertools.islice(simulate_fleet(fleet), n):
        ms = str(int(rec.timestamp.timestamp() * 1000)).encode()
        out.append((cfg.topic(topic_role(rec)), rec.asset_id.encode(), encode_record(rec),
                    [(EVENT_TIME_HEADER, ms)]))
    return out


def produce(cfg: Any, msgs: list[Message], *, rate: float, seconds: float,
            counter: list[int]) -> tuple[int, float]:
    """Produce ``msgs`` in order at ``rate`` records/s (0: as fast as possible) for at most
    ``seconds``, with publish()'s producer settings; returns (records, seconds incl. flush)."""
    from confluent_kafka import Producer

    from flows.dataflow.sinks.kafka import producer_config

    producer = Producer(producer_config(cfg.client_config()))
    start = time.monotonic()
    for i, (topic, key, value, headers) in enumerate(msgs):
        if i % 64 == 0:
            now = time.monotonic()
            if now - start >= seconds:
                break
            ahead = start + i / rate - now if rate > 0 else 0.0
            if ahead > 0:
                time.sleep(ahead)
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        counter[0] = i + 1
    producer.flush()
    return counter[0], time.monotonic() - start


# --------------------------------------------------------------------------- the run under test


def scrape(port: int) -> dict[str, float]:
    """Records read and the run's own lag gauge, from its /metrics endpoint (a read cut off
    mid-response is tried again; ScrapeFailed when every try failed)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = read_metrics(port, log=READS)
    names = {"twin_records_in_total": "read", "twin_kafka_consumer_lag_messages": "lag",
             "twin_state_bytes": "state"}
    out = dict.fromkeys(names.values(), 0.0)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name in names:
                out[names[s.name]] += s.value
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` (VmRSS), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_run(cfg: Any, work: Path, meta: Path, port: int, *, exit_at_end: bool) -> subprocess.Popen[bytes]:
    args = [*TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix,
            "--archive", str(work / "archive"), "--metadata", str(meta), "--clock", "data",
            "--metrics-port", str(port), *(["--exit-at-end"] if exit_at_end else []),
            *(["--config", str(RUN_CONFIG[0])] if RUN_CONFIG else [])]
    log = (work / "run.log").open("wb")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def stop_run(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- the two phases


def measure_capacity(brokers: str, args: argparse.Namespace, work: Path) -> dict[str, float]:
    """Records/s of ``twin run`` draining a pre-filled topic (start-up excluded)."""
    from flows.cli.kafka_commands import write_fleet_metadata
    from twin_models.simulator.fleet import FleetConfig

    meta = work / "meta.json"
    write_fleet_metadata(FleetConfig(n_assets=args.assets, seed=args.seed), str(meta))
    with topics(brokers, f"bench-cap-{uuid.uuid4().hex[:8]}.", args.partitions) as cfg:
        msgs = encoded(cfg, args.assets, args.capacity_records, args.seed)
        n, secs = produce(cfg, msgs, rate=0, seconds=1e9, counter=[0])
        del msgs
        # a metrics port taken by another process before the run bound it: started on another one
        proc, port = start_serving(lambda p: start_run(cfg, work, meta, p, exit_at_end=True),
                                   work / "run.log", free_port)
        points: list[tuple[float, float, float]] = []
        while proc.poll() is None:
            with suppress(ScrapeFailed, OSError):  # given up (counted in READS), or the process gone
                points.append((time.monotonic(), scrape(port)["read"], rss_mb(proc.pid)))
            time.sleep(0.25)
    if proc.returncode != 0:
        msg = f"capacity run failed ({proc.returncode}): {(work / 'run.log').read_text()[-2000:]}"
        raise RuntimeError(msg)
    print((work / "run.log").read_text().strip().splitlines()[-1], file=sys.stderr)
    lo = next(p for p in points if p[1] >= 0.1 * n)
    hi = next((p for p in points if p[1] >= 0.9 * n), points[-1])
    return {"records": n, "prefill_seconds": round(secs, 1),
            "records_per_s": round((hi[1] - lo[1]) / (hi[0] - lo[0]), 1),
            "rss_mb": [round(points[0][2], 1), round(max(p[2] for p in points), 1)]}


def sample_loop(proc: subprocess.Popen[bytes], port: int, marks: Watermarks, produced: list[int],
                done: threading.Event, drain_timeout: float, t0: float) -> list[Sample]:
    """One sample a second while producing, then until the lag is 0 three times in a row."""
    samples: list[Sample] = []
    stop_at = None
    while proc.poll() is None:
        tick = time.monotonic()
        try:
            m = scrape(port)
        except ScrapeFailed:  # every try failed: no sample this second (counted in READS), none invented
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
            continue
        hw = marks.total()
        samples.append(Sample(round(tick - t0, 2), produced[0], int(m["read"]), max(hw - int(m["read"]), 0),
                              int(m["lag"]), round(rss_mb(proc.pid), 1), round(m["state"] / 2**20, 1)))
        if done.is_set():
            stop_at = stop_at or tick
            if len(samples) >= 3 and all(s.lag == 0 for s in samples[-3:]):
                break
            if tick - stop_at > drain_timeout:
                break
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    return samples


def overload(brokers: str, args: argparse.Namespace, work: Path, capacity: float) -> dict[str, Any]:
    """Produce at factor x capacity for the given minutes while ``twin run`` tails; sample."""
    from flows.cli.kafka_commands import write_fleet_metadata
    from twin_models.simulator.fleet import FleetConfig

    rate = args.factor * capacity
    meta = work / "meta.json"
    write_fleet_metadata(FleetConfig(n_assets=args.assets, seed=args.seed), str(meta))
    with topics(brokers, f"bench-ovl-{uuid.uuid4().hex[:8]}.", args.partitions) as cfg:
        msgs = encoded(cfg, args.assets, int(rate * args.minutes * 60 * 1.05), args.seed)
        proc, port = start_serving(lambda p: start_run(cfg, work, meta, p, exit_at_end=False),
                                   work / "run.log", free_port)
        marks = Watermarks(cfg)
        try:
            produced, done, result = [0], threading.Event(), {}

            def producer() -> None:
                result["records"], result["seconds"] = produce(
                    cfg, msgs, rate=rate, seconds=args.minutes * 60, counter=produced)
                done.set()

            t0 = time.monotonic()
            threading.Thread(target=producer, daemon=True).start()
            samples = sample_loop(proc, port, marks, produced, done, args.drain_timeout, t0)
        finally:
            marks.close()
            stop_run(proc)
    return {"rate": rate, "produced": result.get("records", produced[0]),
            "produce_seconds": result.get("seconds"), "samples": samples}


# --------------------------------------------------------------------------- report


def summarise(capacity: dict[str, float], ovl: dict[str, Any]) -> dict[str, Any]:
    samples: list[Sample] = ovl["samples"]
    stop = ovl["produce_seconds"] or samples[-1].t
    during = [s for s in samples if s.t <= stop]
    drained = next((s for s in samples if s.t > stop and s.lag == 0), None)
    half = [s.rss_mb for s in during if s.t >= stop / 2]
    return {
        "capacity_records_per_s": capacity["records_per_s"],
        "capacity_run_rss_start_peak_mb": capacity["rss_mb"],
        "target_rate_records_per_s": round(ovl["rate"], 1),
        "produced_records": ovl["produced"],
        "achieved_rate_records_per_s": round(ovl["produced"] / stop, 1),
        "produce_seconds": round(stop, 1),
        "peak_lag_messages": max(s.lag for s in samples),
        "lag_at_stop_messages": during[-1].lag if during else None,
        "drain_seconds": None if drained is None else round(drained.t - stop, 1),
        "rss_start_mb": samples[0].rss_mb,
        "rss_peak_mb": max(s.rss_mb for s in samples),
        "rss_end_mb": samples[-1].rss_mb,
        "rss_second_half_of_overload_mb": [min(half), max(half)] if half else None,
    }


def plot(samples: list[Sample], stop: float, path: Path, factor: float) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    t = [s.t for s in samples]
    a.plot(t, [s.lag / 1000 for s in samples], color="tab:red", label="lag (watermarks - read)")
    a.plot(t, [s.metric_lag / 1000 for s in samples], color="tab:orange", lw=0.8, ls="--",
           label="twin_kafka_consumer_lag_messages")
    a.set_ylabel("lag (k messages)")
    a.legend(fontsize=7, loc="upper left")
    b.plot(t, [s.rss_mb for s in samples], color="tab:blue", label="RSS of twin run")
    b.plot(t, [s.state_mb for s in samples], color="tab:green", lw=0.8,
           label="twin_state_bytes (pickled twins)")
    b.set_ylabel("MiB")
    b.legend(fontsize=7, loc="upper left")
    b.set_xlabel("seconds since the producer started")
    b.set_ylim(bottom=0)
    for ax in (a, b):
        ax.axvspan(0, stop, color="0.9", zorder=0)
        ax.grid(alpha=0.3)
    a.set_title(f"producing at {factor:g}x capacity (shaded), then stopped", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both phases and print the figures; the last line is JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=3.0, help="minutes of overload (default 3)")
    p.add_argument("--factor", type=float, default=2.0, help="produce rate / capacity (default 2)")
    p.add_argument("--assets", type=int, default=16)
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--capacity-records", type=int, default=60_000)
    p.add_argument("--drain-timeout", type=float, default=900.0, help="seconds (default 900)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the PNG and CSV")
    p.add_argument("--run-config", type=Path, default=None, help="TOML config for twin run")
    args = p.parse_args(argv)
    RUN_CONFIG[:] = [args.run_config.resolve()] if args.run_config else []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, broker() as brokers:
        (Path(tmp) / "cap").mkdir()
        (Path(tmp) / "ovl").mkdir()
        capacity = measure_capacity(brokers, args, Path(tmp) / "cap")
        print(f"capacity: {capacity}", file=sys.stderr)
        ovl = overload(brokers, args, Path(tmp) / "ovl", capacity["records_per_s"])
    out = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "minutes": args.minutes,
           "factor": args.factor, "assets": args.assets, "partitions": args.partitions,
           "load_average_1m": [round(load, 1), round(os.getloadavg()[0], 1)],
           "run_config": str(args.run_config) if args.run_config else None,
           **summarise(capacity, ovl), "metrics_reads": READS.as_dict()}
    args.out.mkdir(parents=True, exist_ok=True)
    stop = out["produce_seconds"]
    plot(ovl["samples"], stop, args.out / "overload.png", args.factor)
    with (args.out / "overload.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(ovl["samples"][0])))
        w.writeheader()
        w.writerows(asdict(s) for s in ovl["samples"])
    out["plot"] = str((args.out / "overload.png").relative_to(ROOT)) if args.out.is_relative_to(ROOT) \
        else str(args.out / "overload.png")
    for k, v in out.items():
        print(f"{k:>34}: {v}")
    print(READS.summary(), file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
