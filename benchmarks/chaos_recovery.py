"""Chaos benchmark: kill -9 `twin run` at seeded random points, restart it, compare with a clean run.

    python benchmarks/chaos_recovery.py [--seeds 20] [--kills 10] [--assets 8] [--days 20]

One input (the fleet simulator, published once into topics with their own prefix, 2 partitions)
and one clean reference run; then, per seed, a trial: `twin run --exit-at-end --recovery-dir D`
is started, killed with SIGKILL at ``--kills`` seeded points and restarted each time, and finally
runs to the end. The kill points are aimed as well as random: the first in the first second
(before or during recovery initialisation), one as soon as a recovery snapshot is being written
(the recovery database's write-ahead log changes), one as soon as an archive flush is under way
(a ``.*.parquet.tmp`` file exists), the others 0.5-5 s after the restarted run's first recovery write.

A trial survives when every restart was accepted and the final archive views (features with
their per-window record counts and values, twin state, alerts), and the alert messages of the
trial on the alerts topic deduplicated on (alert_id, sequence, status), equal the clean run's.

Uses TWIN_KAFKA_BROKERS when set; otherwise starts the local broker (infra/kafka/kafka.sh, port
KAFKA_PORT or 19092) and stops it at the end. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "infra" / "kafka" / "kafka.sh"
sys.path.insert(0, str(ROOT))

SNAPSHOT_INTERVAL = "1"


@dataclass
class Input:
    """Published telemetry: broker, topic prefix and the fleet's metadata file."""

    brokers: str
    prefix: str
    metadata: Path

    def run_cmd(self, archive: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "flows.cli.main", "run", "--brokers", self.brokers,
                "--topic-prefix", self.prefix, "--archive", str(archive),
                "--metadata", str(self.metadata), "--clock", "data", "--exit-at-end", *extra]


def publish_input(brokers: str, work: Path, assets: int, days: float, seed: int = 5,
                  partitions: int = 2) -> Input:
    """Create the topics (own prefix) and publish the simulator's fleet into them."""
    from flows.app.produce import publish
    from flows.app.topics import create_topics
    from flows.cli.kafka_commands import write_fleet_metadata
    from flows.config.pipeline import KafkaConfig
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    fleet = FleetConfig(n_assets=assets, days=days, seed=seed, frame_interval_s=1800.0,
                        scalar_interval_s=900.0)
    cfg = KafkaConfig(brokers=brokers, topic_prefix=f"chaos-{uuid.uuid4().hex[:8]}.",
                      partitions=partitions)
    create_topics(cfg)
    publish(simulate_fleet(fleet), cfg)
    meta = work / "meta.json"
    write_fleet_metadata(fleet, str(meta))
    return Input(brokers, cfg.topic_prefix, meta)


def delete_topics(inp: Input) -> None:
    from confluent_kafka.admin import AdminClient

    from flows.app.topics import TOPIC_ROLES
    from flows.config.pipeline import KafkaConfig

    cfg = KafkaConfig(brokers=inp.brokers, topic_prefix=inp.prefix)
    AdminClient({"bootstrap.servers": inp.brokers}).delete_topics(
        [cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def alerts_end_offsets(inp: Input) -> dict[int, int]:
    """End offset of every partition of the alerts topic (where a trial's messages start)."""
    from confluent_kafka import Consumer, TopicPartition

    topic = f"{inp.prefix}twin.alerts.v4"
    c = Consumer({"bootstrap.servers": inp.brokers, "group.id": uuid.uuid4().hex})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.close()
    return ends


def alert_messages(inp: Input, since: dict[int, int]) -> list[tuple[str, int, str]]:
    """(alert_id, sequence, status) of every alert message produced after ``since``."""
    from confluent_kafka import Consumer, TopicPartition

    topic = f"{inp.prefix}twin.alerts.v4"
    c = Consumer({"bootstrap.servers": inp.brokers, "group.id": uuid.uuid4().hex,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, off) for p, off in since.items()])
    out: list[tuple[str, int, str]] = []
    eof: set[int] = set()
    deadline = time.monotonic() + 30
    while len(eof) < len(since) and time.monotonic() < deadline:
        for m in c.consume(500, 0.5):
            if m.error():
                eof.add(m.partition())
            else:
                a = json.loads(m.value())
                out.append((a["alert_id"], a["sequence"], a["status"]))
    c.close()
    return out


def archive_views(archive: Path) -> dict[str, Any]:
    """The archive as its deduplicated views show it, exactly (per-window counts and values)."""
    from flows.archive.query import query

    feats = query(archive, "SELECT * EXCLUDE (date) FROM features ORDER BY asset_id, window_start")
    state = query(archive, "SELECT * EXCLUDE (date) FROM twin_state ORDER BY asset_id, window_start")
    alerts = query(archive, "SELECT * EXCLUDE (date) FROM alerts ORDER BY alert_id, sequence")
    return {"features": _drop_meta(*feats), "twin_state": _drop_meta(*state), "alerts": _drop_meta(*alerts)}


# Every column is compared, the fleet-fused RUL, the lineage and the alert texts included: until
# round 49 they were left out (a resumed run could apply a fleet model version late: its earlier
# execution's versions were read in the background after the flow started; now the fleet model
# topic is read to its end before it starts, flows.app.fleet_topic).
# columns that say who wrote a row and when (differ between runs by design)
META_COLUMNS = {"run_id", "_write_seq", "_written_at", "_file", "filename"}


def _drop_meta(cols: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    keep = [i for i, c in enumerate(cols) if c not in META_COLUMNS]
    return [tuple(r[i] for i in keep) for r in rows]


def diff_views(got: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    """Human-readable differences (empty when equal)."""
    out = []
    for table, rows in ref.items():
        mine = got.get(table, [])
        if mine != rows:
            extra = sorted(set(mine) - set(rows), key=str)[:3]
            missing = sorted(set(rows) - set(mine), key=str)[:3]
            out.append(f"{table}: {len(mine)} rows vs {len(rows)} in the clean run; "
                       f"extra {extra}; missing {missing}")
    return out


@dataclass
class Trial:
    """One seeded trial's outcome."""

    seed: int
    kills: list[str] = field(default_factory=list)
    restarts: int = 0
    refused: str = ""
    diffs: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.refused and not self.diffs


def _wal_mtime(recovery: Path) -> float:
    """The newest change to the recovery store's files (SQLite removes its -wal/-shm files as it
    checkpoints, so a file listed a moment ago may be gone when it is stat'ed: skipped)."""
    stamps = []
    for p in recovery.glob("*.sqlite3*"):
        try:
            stamps.append(p.stat().st_mtime)
        except FileNotFoundError:
            continue
    return max(stamps, default=0.0)


def _flush_started(archive: Path) -> bool:
    try:
        return any(archive.rglob(".*.parquet.tmp")) if archive.exists() else False
    except FileNotFoundError:  # a folder renamed or removed while it was listed
        return False


def _snapshot_started(recovery: Path, since: float) -> Callable[[], bool]:
    return lambda: _wal_mtime(recovery) > since


def _wait_for(proc: subprocess.Popen[str], cond: Callable[[], bool], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while proc.poll() is None and time.monotonic() < deadline and not cond():
        time.sleep(0.002)


def plan(seed: int, kills: int) -> list[str]:
    """The kill schedule: 'early', 'snapshot', 'flush' and random delays ('t=1.73')."""
    rng = random.Random(seed)
    kinds = ["early", "snapshot", "flush"][:kills]
    kinds += [f"t={rng.uniform(0.5, 5.0):.2f}" for _ in range(kills - len(kinds))]
    rng.shuffle(kinds)
    return kinds


def _kill_at(proc: subprocess.Popen[str], kind: str, archive: Path, recovery: Path,
             rng: random.Random) -> None:
    """Block until the moment ``kind`` names (or the run ends), then SIGKILL it."""
    since = _wal_mtime(recovery)
    if kind == "early":
        time.sleep(rng.uniform(0.05, 1.0))
    elif kind == "snapshot":
        time.sleep(rng.uniform(1.0, 2.5))  # let it get going, then catch the next snapshot
        _wait_for(proc, _snapshot_started(recovery, _wal_mtime(recovery)), 20)
    elif kind == "flush":
        time.sleep(rng.uniform(0.5, 1.5))
        _wait_for(proc, lambda: _flush_started(archive), 30)
    else:  # counted from this run's first recovery write (start-up takes seconds on a busy machine)
        _wait_for(proc, _snapshot_started(recovery, since), 60)
        time.sleep(float(kind[2:]))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def run_trial(inp: Input, ref: dict[str, Any], ref_alerts: set[tuple[str, int, str]], seed: int,
              kills: int, work: Path, extra: tuple[str, ...] = ()) -> Trial:
    """One trial (see the module docstring)."""
    rng = random.Random(seed * 7919 + 1)
    archive, recovery = work / f"archive-{seed}", work / f"recovery-{seed}"
    trial = Trial(seed)
    since = alerts_end_offsets(inp)
    cmd = inp.run_cmd(archive, "--recovery-dir", str(recovery), "--snapshot-interval",
                      SNAPSHOT_INTERVAL, *extra)
    log = work / f"stderr-{seed}.log"
    for kind in plan(seed, kills):
        with log.open("w") as err_file:  # a file, not a pipe: a full pipe would stall the run
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file, text=True)
            _kill_at(proc, kind, archive, recovery, rng)
        err = log.read_text()
        trial.restarts += 1
        if proc.returncode not in (0, -signal.SIGKILL):
            trial.refused = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
            return trial
        trial.kills.append(kind if proc.returncode else f"{kind}(finished)")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if res.returncode != 0:
        trial.refused = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
        return trial
    trial.diffs = diff_views(archive_views(archive), ref)
    got_alerts = set(alert_messages(inp, since))
    if got_alerts != ref_alerts:
        trial.diffs.append(f"alert messages: {len(got_alerts)} distinct vs {len(ref_alerts)}; "
                           f"extra {sorted(got_alerts - ref_alerts)[:3]}; "
                           f"missing {sorted(ref_alerts - got_alerts)[:3]}")
    return trial


def reference(inp: Input, work: Path, name: str = "reference",
              ) -> tuple[dict[str, Any], set[tuple[str, int, str]], float]:
    """A clean run's archive views and alert messages, and how long it took."""
    since = alerts_end_offsets(inp)
    archive = work / name
    start = time.monotonic()
    res = subprocess.run(inp.run_cmd(archive), capture_output=True, text=True, timeout=900, check=False)
    if res.returncode != 0:
        msg = f"the clean reference run failed: {res.stderr[-2000:]}"
        raise RuntimeError(msg)
    return archive_views(archive), set(alert_messages(inp, since)), time.monotonic() - start


def _broker() -> tuple[str, bool]:
    """(bootstrap servers, whether we started the broker)."""
    brokers = os.environ.get("TWIN_KAFKA_BROKERS", "").strip()
    if brokers:
        return brokers, False
    subprocess.run(["bash", str(KAFKA_SH), "start"], check=True)
    subprocess.run(["bash", str(KAFKA_SH), "wait", "90"], check=True)
    out = subprocess.run(["bash", str(KAFKA_SH), "bootstrap"], check=True, capture_output=True, text=True)
    return out.stdout.strip(), True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--assets", type=int, default=8)
    ap.add_argument("--days", type=float, default=20.0)
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="seconds: start no new seed after this long (0: no limit)")
    ap.add_argument("--run-arg", action="append", default=[],
                    help="extra `twin run` argument for the trials (repeatable)")
    args = ap.parse_args(argv)
    brokers, started = _broker()
    work = Path(tempfile.mkdtemp(prefix="twin-chaos-"))
    try:
        inp = publish_input(brokers, work, args.assets, args.days)
        ref, ref_alerts, clean_s = reference(inp, work)
        again, again_alerts, _s = reference(inp, work, "reference-2")
        clean_diffs = diff_views(again, ref) + ([] if again_alerts == ref_alerts else ["alerts"])
        print(f"clean run: {clean_s:.1f} s, {len(ref['features'])} feature rows, "
              f"{len(ref_alerts)} alert messages; a second clean run "
              f"{'differs: ' + '; '.join(clean_diffs) if clean_diffs else 'is identical'}", flush=True)
        trials = []
        began = time.monotonic()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if args.time_budget and time.monotonic() - began > args.time_budget:
                print(f"time budget spent: stopping after {len(trials)} seeds", flush=True)
                break
            t0 = time.monotonic()
            t = run_trial(inp, ref, ref_alerts, seed, args.kills, work, tuple(args.run_arg))
            trials.append(t)
            status = "survived" if t.survived else f"FAILED: {t.refused or '; '.join(t.diffs)}"
            print(f"seed {seed}: {len(t.kills)} kills ({', '.join(t.kills)}) in "
                  f"{time.monotonic() - t0:.0f} s: {status}", flush=True)
        delete_topics(inp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started:
            subprocess.run(["bash", str(KAFKA_SH), "stop"], check=False)
    summary = {
        "benchmark": "chaos_recovery", "seeds": len(trials), "kills_per_seed": args.kills,
        "assets": args.assets, "days": args.days, "run_args": args.run_arg,
        "trials_survived": sum(t.survived for t in trials),
        "trials_failed": sum(not t.survived for t in trials),
        "kills_survived": sum(len(t.kills) for t in trials if t.survived),
        "kills_total": sum(len(t.kills) for t in trials),
        "failures": [{"seed": t.seed, "refused": t.refused, "diffs": t.diffs}
                     for t in trials if not t.survived],
        "clean_run_s": round(clean_s, 1), "clean_runs_identical": not clean_diffs,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
