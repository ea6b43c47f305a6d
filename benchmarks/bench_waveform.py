"""The waveform path through Kafka: CPU per frame of ``twin run`` next to two floors, in one run.

Run: ``.venv/bin/python benchmarks/bench_waveform.py [--frames 12000] [--assets 8]
[--frame-interval-s 60]``. Broker: ``TWIN_KAFKA_BROKERS``, else the local broker is started (and
stopped) with ``infra/kafka/kafka.sh`` on ``KAFKA_PORT``. Topics get their own prefix (one
partition) and are deleted after.

One topic is filled with the simulator's TWF frames (4096 samples at 25.6 kHz by default; one
frame per asset every ``--frame-interval-s`` of event time, so hour windows hold 60 frames per
asset and the twin, alerts and archive run too). Then, on the same messages:

(a) floor 1: a bare confluent-kafka consume loop over the topic;
(b) floor 2: consume + TWF decode (``flows.codec.decode_telemetry``) + a batched Hann rfft of
    the frames (2-D arrays of ``--batch`` frames, one ``scipy.fft.rfft`` per batch);
(c) ``twin run --exit-at-end --clock data`` end to end (features incl. band scan, envelope and
    defect lines, windows, twin, alerts, Parquet archive), in its own process.

Floor 2 is measured twice: first with the C library's default ``malloc`` settings (a bare loop as
a user would write it), then with the settings every ``twin`` command applies at start
(``flows.app.heap.keep_freed_memory``: freed big arrays reused, not faulted in again), which is
the floor the ratio uses: the same allocator as the run it is compared with. With the defaults
the floor is bimodal from one process to the next (0.025-0.027 or 0.052-0.065 ms a frame on the
2-vCPU AMD EPYC VM, round 47): whether glibc hands the batch's 2-4 MB arrays back to the system
(~15 minor page faults a frame, each ~1.5 us on that VM) depends on the process's heap history.
Minor page faults per frame are reported for each floor and for the run.

CPU time, not wall time: the floors with ``time.process_time`` (librdkafka's threads included),
``twin run`` from ``/proc/PID/stat`` between 10 % and 90 % of the frames read (start-up and the
final flush excluded; ``total`` includes them). A continuous 25.6 kHz channel of 4096-sample
frames sends 6.25 frames/s: channels per core = frames per CPU-second / 6.25. Prints a table and
a final JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import app_heap  # noqa: E402  (the settings every archive benchmark applies)
from bench_overload import ROOT, TWIN, broker, free_port  # noqa: E402  (the local broker, started when none is given)
from metrics_read import ReadLog, ScrapeFailed, read_metrics, start_serving  # noqa: E402

READS = ReadLog()
"""The scrapes of the run's /metrics: a read cut off mid-response (the run exiting at its end) is
tried again, a scrape whose every try failed is skipped (the 10 %/90 % marks move to the next
complete one); the counts are printed and are in the JSON line (round 44, FLAKE44)."""

CLK_TCK = os.sysconf("SC_CLK_TCK")

SCRAPE_S = 0.5
"""Seconds between two scrapes of the run's /metrics. Rendering /metrics costs the twin's process
CPU (~5 ms a scrape): at 0.05 s (before round 2) that was ~10 % of the CPU the run was charged
with (py-spy). The 10 %/90 % marks use the record count and CPU read at the same scrape, so a
coarser interval only moves the marks, not the ratio."""


@contextmanager
def topics(brokers: str, prefix: str) -> Iterator[Any]:
    """twinflow's topics under ``prefix`` with one partition, deleted afterwards."""
    from confluent_kafka.admin import AdminClient

    from flows.app.topics import TOPIC_ROLES, create_topics
    from flows.config.pipeline import KafkaConfig

    cfg = KafkaConfig(brokers=brokers, topic_prefix=prefix, partitions=1)
    create_topics(cfg)
    try:
        yield cfg
    finally:
        admin = AdminClient({"bootstrap.servers": brokers})
        for fut in admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES]).values():
            with suppress(Exception):
                fut.result(timeout=30)


def fill(cfg: Any, args: argparse.Namespace) -> int:
    """Produce the first ``--frames`` simulated frames to the waveforms topic; returns the count."""
    from confluent_kafka import Producer

    from flows.dataflow.sinks.kafka import producer_config
    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
    from flows.dataflow.sources.replayable import encode_record
    from twin_models.records import WaveformFrame
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    days = args.frames / args.assets * args.frame_interval_s / 86400.0 * 1.05 + 0.01
    fleet = FleetConfig(n_assets=args.assets, days=days, seed=args.seed,
                        frame_interval_s=args.frame_interval_s, scalar_interval_s=days * 86400.0)
    frames = (r for r in simulate_fleet(fleet) if isinstance(r, WaveformFrame))
    producer = Producer(producer_config(cfg.client_config()))
    topic, n = cfg.topic("waveforms"), 0
    for rec in itertools.islice(frames, args.frames):
        ms = str(int(rec.timestamp.timestamp() * 1000)).encode()
        while True:
            try:
                producer.produce(topic, value=encode_record(rec), key=rec.asset_id.encode(),
                                 headers=[(EVENT_TIME_HEADER, ms)])
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        n += 1
    producer.flush()
    return n


def _consumer(cfg: Any) -> Any:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({**cfg.client_config(), "group.id": f"bench-wave-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    c.assign([TopicPartition(cfg.topic("waveforms"), 0, OFFSET_BEGINNING)])
    return c


def floor(cfg: Any, n: int, *, decode_fft: bool, batch: int) -> tuple[float, int]:
    """CPU seconds to consume ``n`` frames (and, with ``decode_fft``, decode + batched rfft), and
    the minor page faults of the process meanwhile."""
    from flows import codec

    consumer = _consumer(cfg)
    now, seen, pending = datetime.now(UTC), 0, []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.process_time()
    while seen < n:
        for msg in consumer.consume(500, 1.0):
            if msg.error() is not None:
                continue
            seen += 1
            if decode_fft:
                pending.append(codec.decode_telemetry(msg.value(), now=now).samples)
                if len(pending) >= batch or seen == n:
                    _batched_spectrum(pending)
                    pending = []
    spent = time.process_time() - t0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    consumer.close()
    return spent, faults


def _batched_spectrum(frames: list[Any]) -> float:
    """Hann-windowed amplitude spectra of same-length frames: one rfft over a 2-D array."""
    x = np.asarray(frames, dtype=np.float64)
    x -= x.mean(axis=1, keepdims=True)
    x *= np.hanning(x.shape[1] + 1)[:-1]
    return float(np.abs(scipy.fft.rfft(x, axis=1))[:, 1].sum())


def _scrape(port: int) -> tuple[float, float]:
    """(records read, featurize_frames step calls) from the run's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    read = calls = 0.0
    for fam in text_string_to_metric_families(read_metrics(port, log=READS)):
        for s in fam.samples:
            if s.name == "twin_records_in_total":
                read += s.value
            elif s.name == "twin_step_call_seconds_count" and s.labels.get("step") == "featurize_frames":
                calls += s.value
    return read, calls


def _cpu_s(pid: int) -> tuple[float, int]:
    """utime + stime of a live process (all its threads), seconds, and its minor page faults."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[7])


def run_twin(cfg: Any, n: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    """CPU of ``twin run --exit-at-end`` over the filled topic: steady state and total."""
    from flows.cli.kafka_commands import write_fleet_metadata
    from twin_models.simulator.fleet import FleetConfig

    meta = work / "meta.json"
    write_fleet_metadata(FleetConfig(n_assets=args.assets, seed=args.seed), str(meta))
    cmd = [*TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix,
           "--archive", str(work / "archive"), "--metadata", str(meta), "--clock", "data", "--exit-at-end"]

    def start(port: int) -> subprocess.Popen[bytes]:
        with (work / "run.log").open("wb") as log:
            return subprocess.Popen([*cmd, "--metrics-port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                    cwd=ROOT)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc, port = start_serving(start, work / "run.log", free_port)  # a port taken meanwhile: another one
    marks: dict[float, tuple[float, float, float, int]] = {}
    while proc.poll() is None:
        # a scrape given up on (ScrapeFailed), or the process gone before its CPU was read: no sample
        with suppress(ScrapeFailed, OSError, ValueError, IndexError):
            (read, calls), (cpu, faults) = _scrape(port), _cpu_s(proc.pid)
            for frac in (0.1, 0.9):
                if frac not in marks and read >= frac * n:
                    marks[frac] = (read, cpu, calls, faults)
        time.sleep(SCRAPE_S)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        msg = f"twin run failed ({proc.returncode}): {(work / 'run.log').read_text()[-2000:]}"
        raise RuntimeError(msg)
    if len(marks) < 2:
        msg = (f"twin run ended before a complete /metrics scrape at 10 % and at 90 % of the frames "
               f"(marks at {sorted(marks)}; {READS.summary()})")
        raise RuntimeError(msg)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (r0, c0, _, m0), (r1, c1, calls, m1) = marks[0.1], marks[0.9]
    return {"steady_cpu_s": c1 - c0, "steady_frames": r1 - r0, "steady_faults": m1 - m0, "total_cpu_s": total,
            "frames_per_featurize_call": round(r1 / calls, 1) if calls else float("nan")}


def figures(cpu_s: float, frames: float, faults: float | None) -> dict[str, float | None]:
    """ms/frame, frames per CPU-second, continuous 25.6 kHz channels per core, minor page faults
    per frame (None: not counted)."""
    per = cpu_s / frames
    return {"ms_per_frame": round(per * 1e3, 4), "frames_per_cpu_s": round(1.0 / per, 1),
            "channels_per_core": round(1.0 / per / (25600.0 / 4096.0), 1),
            "faults_per_frame": None if faults is None else round(faults / frames, 1)}


def measure(brokers: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill, then the two floors and twin run on the same topic."""
    with topics(brokers, f"bench-wave-{uuid.uuid4().hex[:8]}.") as cfg, \
            tempfile.TemporaryDirectory() as tmp:
        n = fill(cfg, args)
        f1 = floor(cfg, n, decode_fft=False, batch=args.batch)
        f2_default = floor(cfg, n, decode_fft=True, batch=args.batch)  # before the settings: one-way
        heap = app_heap()  # the malloc settings `twin` applies at start (module docstring)
        f2 = floor(cfg, n, decode_fft=True, batch=args.batch)
        run = run_twin(cfg, n, args, Path(tmp))
    twin = figures(run["steady_cpu_s"], run["steady_frames"], run["steady_faults"])
    out = {"floor_consume": figures(f1[0], n, f1[1]), "floor_decode_rfft": figures(f2[0], n, f2[1]),
           "floor_decode_rfft_default_heap": figures(f2_default[0], n, f2_default[1]),
           "floor_twin_heap": heap,
           "twin_run": twin, "twin_run_total_incl_startup": figures(run["total_cpu_s"], n, None)}
    out["ratio_twin_to_floor_consume"] = round(twin["ms_per_frame"] / out["floor_consume"]["ms_per_frame"], 1)
    out["ratio_twin_to_floor_decode_rfft"] = round(
        twin["ms_per_frame"] / out["floor_decode_rfft"]["ms_per_frame"], 1)
    out["frames_per_featurize_call"] = run["frames_per_featurize_call"]
    return {"frames": n, **out}


def _bad_argument(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, or None. Round 48 (HOSTILE48): ``--assets 0`` and
    ``--frames 0`` were a ZeroDivisionError, ``--frames -1``, ``--seed -1`` and ``--frame-interval-s
    nan`` (or 0, or negative) a ValueError traceback of ``islice`` or the simulator, each after a broker
    was started; ``--batch 0`` measured batches of one frame, reported as batch 0."""
    for flag, value in (("--frames", args.frames), ("--assets", args.assets), ("--batch", args.batch)):
        if value < 1:
            return f"{flag} {value}: must be at least 1"
    if args.seed < 0:
        return f"--seed {args.seed}: must be 0 or more"
    if not (math.isfinite(args.frame_interval_s) and args.frame_interval_s > 0):
        return f"--frame-interval-s {args.frame_interval_s}: must be a number of seconds above 0"
    return _too_big(args)


def _too_big(args: argparse.Namespace) -> str | None:
    """The upper bounds ``twin simulate`` has (round 49, HOSTILE49): ``--frames 1e20`` was ``islice``'s
    ValueError, ``--frame-interval-s 1e300`` the simulator's, after a broker was started; ``--assets
    1e10`` started one to build a fleet no memory holds."""
    from flows.cli.args import MAX_ASSETS, MAX_DAYS

    if args.assets > MAX_ASSETS:
        return f"--assets {args.assets}: must be at most {MAX_ASSETS}"
    if args.seed > 2**32 - 1:
        return f"--seed {args.seed}: must be at most {2**32 - 1}"
    days = args.frames / args.assets * args.frame_interval_s / 86400.0
    if days > MAX_DAYS:
        return (f"--frames {args.frames} of {args.assets} asset(s) every {args.frame_interval_s:g} s: "
                f"{days:.4g} simulated days, at most {MAX_DAYS:g}")
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures (final line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=12000, help="frames in the topic (default 12000)")
    p.add_argument("--assets", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--frame-interval-s", type=float, default=60.0,
                   help="event time between one asset's frames (default 60: 60 frames per hour window)")
    p.add_argument("--batch", type=int, default=64, help="frames per rfft in floor 2 (default 64)")
    args = p.parse_args(argv)
    if (bad := _bad_argument(args)) is not None:  # before a broker is started (round 48: tracebacks)
        p.exit(2, f"bench_waveform: {bad}\n")
    with broker() as brokers:
        res = measure(brokers, args)
    out = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
           "python": platform.python_version(), "assets": args.assets,
           "frame_interval_s": args.frame_interval_s, **res, "metrics_reads": READS.as_dict()}
    for key in ("floor_consume", "floor_decode_rfft_default_heap", "floor_decode_rfft", "twin_run",
                "twin_run_total_incl_startup"):
        f = res[key]
        print(f"{key:>30}: {f['ms_per_frame']:.4f} ms/frame  {f['frames_per_cpu_s']:>9.1f} frames/CPU-s"
              f"  {f['channels_per_core']:>7.1f} channels/core"
              + ("" if f["faults_per_frame"] is None else f"  {f['faults_per_frame']:>5.1f} faults/frame"),
              file=sys.stderr)
    print(READS.summary(), file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
