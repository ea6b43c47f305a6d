"""`twin run` on a real Apache Kafka broker: round trip, dead letters, scale-out, crash recovery,
broker restart. Every test has its own topic prefix, archive and recovery folder."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.free_ports import free_ports
from benchmarks.kafka_read import consume_all
from flows.app.produce import publish
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.archive.query import query
from flows.config.pipeline import KafkaConfig
from tests.integration.conftest import ended_well
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=4, days=8.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
BIG_FLEET = FleetConfig(n_assets=4, days=24.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


@dataclass
class Env:
    kafka: KafkaConfig
    tmp: Path
    metadata: Path

    def run_cmd(self, archive: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "flows.cli.main", "run", "--brokers", self.kafka.brokers,
                "--topic-prefix", self.kafka.topic_prefix, "--archive", str(archive),
                "--metadata", str(self.metadata), "--clock", "data", *extra]

    def run(self, archive: Path, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(self.run_cmd(archive, "--exit-at-end", *extra), capture_output=True,
                             text=True, timeout=timeout, check=False)
        assert res.returncode == 0, res.stderr[-3000:]
        return res


def _fleet_metadata_file(path: Path) -> Path:
    from flows.cli.kafka_commands import write_fleet_metadata

    write_fleet_metadata(FLEET, str(path))
    return path


@pytest.fixture
def env(kafka_brokers: str, kafka_admin: Any, tmp_path: Path) -> Iterator[Env]:
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"it-{uuid.uuid4().hex[:8]}.", partitions=4)
    create_topics(cfg)
    yield Env(cfg, tmp_path, _fleet_metadata_file(tmp_path / "meta.json"))
    kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def alert_keys(cfg: KafkaConfig) -> list[tuple[str, int, str]]:
    msgs = [json.loads(m.value()) for m in consume_all(cfg, "alerts")]
    return [(a["alert_id"], a["sequence"], a["status"]) for a in msgs]


def archive_summary(archive: Path) -> dict[str, Any]:
    """The archive, deduplicated by the views, in comparable form."""
    feats = query(archive, 'SELECT asset_id, window_start, round("vib.rms", 9), '
                           'round("temperature.mean", 9) FROM features ORDER BY 1, 2')[1]
    state = query(archive, "SELECT asset_id, window_start, condition, round(anomaly_score, 9), "
                           "round(health_index, 9), life_id FROM twin_state ORDER BY 1, 2")[1]
    alerts = query(archive, "SELECT alert_id, sequence, status, severity, defect FROM alerts "
                            "ORDER BY 1, 2")[1]
    return {"features": feats, "state": state, "alerts": alerts}


def test_round_trip_simulate_run_topics_and_archive(env: Env) -> None:
    rep = publish(simulate_fleet(FLEET), env.kafka)
    archive = env.tmp / "archive"
    env.run(archive)
    got = archive_summary(archive)
    n_windows = len(got["features"])
    assert n_windows > 4 * 8 * 24 * 0.9  # every asset-hour of the run, less downtime
    assert len(got["state"]) == n_windows
    state_msgs = consume_all(env.kafka, "state")
    assert len(state_msgs) == n_windows
    assert {m.key().decode() for m in state_msgs} == {f"pump-00{i}" for i in range(1, 5)}
    keys = alert_keys(env.kafka)
    assert keys and sorted(set(keys)) == sorted((a, s, st) for a, s, st, _sev, _d in got["alerts"])
    assert consume_all(env.kafka, "dead_letters") == []
    assert rep.records > 10000
    # prescriptions (issue 11, level 4): the topic holds what the archive holds, valid v1 documents
    recs = [json.loads(m.value()) for m in consume_all(env.kafka, "recommendations")]
    archived = query(archive, "SELECT recommendation_id, alert_id FROM recommendations")[1]
    assert recs and sorted({(r["recommendation_id"], r["alert_id"]) for r in recs}) == sorted(archived)
    assert any(r["alert_id"] in {a for a, _s, _st in keys} for r in recs)
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "recommendation.v1.json").read_text())
    for r in recs:
        jsonschema.Draft202012Validator(schema).validate(r)


def test_malformed_messages_go_to_the_dead_letter_topic(env: Env) -> None:
    good = list(simulate_fleet(FleetConfig(n_assets=2, days=2.0, seed=3)))
    publish(good, env.kafka)
    producer = Producer({"bootstrap.servers": env.kafka.brokers})
    bad = [(env.kafka.topic("scalars"), b"{not json"), (env.kafka.topic("waveforms"), b"TWF\x01short"),
           (env.kafka.topic("events"), b'{"type": "event", "asset_id": "pump-001", "kind": "x"}'),
           (env.kafka.topic("scalars"), b'{"type": "scalar", "asset_id": "", "channel": "t", '
                                        b'"timestamp": "2026-01-01T00:00:00Z", "value": 1}')]
    origin: dict[bytes, tuple[str, int, int]] = {}  # value -> where the broker stored it

    def stored(err: Any, msg: Any) -> None:
        assert err is None, err
        origin[msg.value()] = (msg.topic(), msg.partition(), msg.offset())

    for topic, value in bad:
        producer.produce(topic, value=value, key=b"pump-001", on_delivery=stored)
    producer.flush()
    assert len(origin) == len(bad)
    archive = env.tmp / "archive"
    env.run(archive)
    dead = consume_all(env.kafka, "dead_letters")
    assert sorted(m.value() for m in dead) == sorted(v for _t, v in bad)
    for m in dead:
        h = {k: v.decode() for k, v in m.headers()}
        assert h["dlq.reason"] and h["dlq.detail"]
        source = (h["source.topic"], int(h["source.partition"]), int(h["source.offset"]))
        assert source == origin[m.value()]  # the dead letter names the exact record it came from
    reasons = Counter(dict(m.headers())["dlq.reason"].decode() for m in dead)
    assert reasons["invalid_json"] == 1 and reasons["truncated"] + reasons["unknown_version"] >= 1
    assert query(archive, "SELECT count(DISTINCT asset_id) FROM features")[1][0][0] == 2


def test_two_processes_on_four_partitions_match_one_process(env: Env) -> None:
    publish(simulate_fleet(FLEET), env.kafka)
    one = env.tmp / "one"
    env.run(one)
    two = env.tmp / "two"
    addresses = ";".join(f"127.0.0.1:{p}" for p in free_ports(2))
    procs = [subprocess.Popen(env.run_cmd(two, "--exit-at-end", "-i", str(i), "-a", addresses),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    ended_well(procs, 240)
    a, b = archive_summary(one), archive_summary(two)
    assert a["alerts"] and b["alerts"] == a["alerts"]
    assert b["features"] == a["features"]
    assert b["state"] == a["state"]
    written_by = {p.name.split("-")[3] for p in (two / "features").rglob("*.parquet")}
    assert len(written_by) == 2  # both processes' writer partitions wrote part of the archive


def _chaos() -> ModuleType:
    """The chaos harness of benchmarks/chaos_recovery.py (the benchmark runs it at length)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos_recovery.py"
    spec = importlib.util.spec_from_file_location("chaos_recovery", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["chaos_recovery"] = mod
    spec.loader.exec_module(mod)
    return mod


# the run must still be producing when the broker has finished stopping (72 days: the flow got
# ~5x faster in issue 10 and 24 days finished during the stop)
DOWN_FLEET = FleetConfig(n_assets=8, days=72.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
CHAOS_FLEET = FleetConfig(n_assets=4, days=8.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


def test_kill_9_at_seeded_points_and_resume_loses_nothing(env: Env) -> None:
    """kill -9 five times in one run (in the first second, as a recovery snapshot is written, as
    an archive flush is under way, and at two seeded random points), restarting each time: the
    archive views (per-window record counts and values), the twin state and the alert messages
    deduplicated on (alert_id, sequence) equal a clean run's: nothing lost, nothing counted twice."""
    chaos = _chaos()
    publish(simulate_fleet(CHAOS_FLEET), env.kafka)
    inp = chaos.Input(env.kafka.brokers, env.kafka.topic_prefix, env.metadata)
    ref, ref_alerts, _seconds = chaos.reference(inp, env.tmp)
    assert ref_alerts and ref["features"]
    trial = chaos.run_trial(inp, ref, ref_alerts, seed=3, kills=5, work=env.tmp)
    assert not trial.refused, f"a restart was refused: {trial.refused}"
    assert trial.diffs == [], trial.diffs
    hit = [k for k in trial.kills if not k.endswith("(finished)")]
    assert len(hit) >= 4, f"too few kills hit a running process: {trial.kills}"


def test_broker_down_past_the_delivery_timeout_stops_then_resumes(env: Env, kafka_control: Any) -> None:
    """Kafka away longer than message.timeout.ms: the run stops with exit 1 and a one-line reason
    instead of dropping output; restarted with the same --recovery-dir once the broker is back,
    it produces exactly the clean run's outputs."""
    chaos = _chaos()
    publish(simulate_fleet(DOWN_FLEET), env.kafka)
    inp = chaos.Input(env.kafka.brokers, env.kafka.topic_prefix, env.metadata)
    ref, ref_alerts, _seconds = chaos.reference(inp, env.tmp)
    since = chaos.alerts_end_offsets(inp)
    config = env.tmp / "short-timeout.toml"
    # a short delivery timeout; and a small prefetch, so that the consumer cannot have read to the
    # end of the topics (and the run cannot finish) before the broker is gone
    config.write_text('[pipeline.kafka.librdkafka]\n"message.timeout.ms" = "4000"\n'
                      '"queued.max.messages.kbytes" = "1024"\n')
    archive, recovery = env.tmp / "outage", env.tmp / "recovery"
    resume = env.run_cmd(archive, "--exit-at-end", "--recovery-dir", str(recovery))
    proc = subprocess.Popen([*resume, "--config", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (archive / "twin_state").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # twin state is being produced to Kafka
    assert proc.poll() is None, "the run finished before the broker went down: use more data"
    kafka_control.stop()
    try:
        assert proc.poll() is None, "the run finished while the broker was stopping: use more data"
        _out, err = proc.communicate(timeout=180)
    finally:
        kafka_control.start()
    # librdkafka's own log lines ("%3|...") may follow from its threads; ours is the last of the rest
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("%")]
    assert proc.returncode == 1, err[-3000:]
    assert lines[-1].startswith("twin run: error: could not deliver "), lines[-1]
    assert "restart with the same --recovery-dir" in lines[-1]
    # the restart without the outage's settings (the same --recovery-dir is what it needs): kept, the
    # 1 MB prefetch made it ~3.5x slower (102 s against 29 s at load 2-4, its limit 300 s, which a
    # loaded machine overran) and gave each delivery to a broker just restarted on that machine 4 s
    res = subprocess.run(resume, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert chaos.diff_views(chaos.archive_views(archive), ref) == []
    assert set(chaos.alert_messages(inp, since)) == ref_alerts


def assert_second_run_delivered(first: list[tuple[str, int, str]], both: list[tuple[str, int, str]]) -> None:
    """Every alert message of the first run was produced again by the second (maybe more than
    once after a resume: same id and sequence, so consumers deduplicate), and nothing else."""
    second = Counter(both)
    second.subtract(Counter(first))
    assert all(second[k] >= 1 for k in set(first))
    assert {k for k, n in second.items() if n > 0} == set(first)


def _end_offsets(cfg: KafkaConfig, role: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": cfg.brokers, "group.id": uuid.uuid4().hex})
    topic = cfg.topic(role)
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def _wait_for_new_message(cfg: KafkaConfig, role: str, ends: dict[int, int], proc: subprocess.Popen[str],
                          limit_s: float) -> None:
    """Until a partition of the topic ends past ``ends`` (or the process ended, or the limit)."""
    deadline = time.monotonic() + limit_s
    while proc.poll() is None and time.monotonic() < deadline:
        now = _end_offsets(cfg, role)
        if any(now[p] > ends.get(p, 0) for p in now):
            return
        time.sleep(0.05)
    msg = f"the run published nothing on {cfg.topic(role)} within {limit_s} s (exit code {proc.poll()})"
    raise AssertionError(msg)


def test_broker_restart_mid_run_loses_nothing(env: Env, kafka_control: Any) -> None:
    publish(simulate_fleet(BIG_FLEET), env.kafka)
    reference = env.tmp / "reference"
    env.run(reference)
    ref_alerts = alert_keys(env.kafka)
    archive = env.tmp / "restart"
    before = _end_offsets(env.kafka, "state")
    proc = subprocess.Popen(env.run_cmd(archive, "--exit-at-end"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    # mid-run means the run has connected and published: a fixed sleep stopped the broker before
    # a slow start-up had connected at all (then the start-up's connect timeout decides, not recovery)
    _wait_for_new_message(env.kafka, "state", before, proc, limit_s=120)
    assert proc.poll() is None, "the run finished before the broker went down: use more data"
    kafka_control.stop()
    time.sleep(3.0)
    kafka_control.start()
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert archive_summary(archive) == archive_summary(reference)
    assert_second_run_delivered(ref_alerts, alert_keys(env.kafka))


def test_replay_publishes_files_in_event_time_order_per_asset(env: Env, tmp_path: Path) -> None:
    scalars = tmp_path / "scalars.csv"
    rows = ["timestamp,asset_id,temperature,current"]
    for i in range(60):  # two assets interleaved, deliberately out of order within the file
        for asset in ("pump-001", "pump-002"):
            minute = (i * 7) % 60
            rows.append(f"2025-03-01T00:{minute:02d}:00Z,{asset},{40 + i * 0.1:.2f},{10 + i * 0.01:.3f}")
    scalars.write_text("\n".join(rows) + "\n")
    events = tmp_path / "events.csv"
    events.write_text("timestamp,asset_id,event\n2025-03-01T00:30:00Z,pump-001,maintenance\n")
    res = subprocess.run([sys.executable, "-m", "flows.cli.main", "replay", str(scalars), str(events),
                          "--brokers", env.kafka.brokers, "--topic-prefix", env.kafka.topic_prefix,
                          "--no-progress"], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "published 241 records" in res.stdout
    msgs = consume_all(env.kafka, "scalars")
    assert len(msgs) == 240
    for asset in ("pump-001", "pump-002"):
        mine = [json.loads(m.value()) for m in msgs if m.key() == asset.encode()]
        assert len({m.partition() for m in msgs if m.key() == asset.encode()}) == 1
        stamps = [m["timestamp"] for m in mine]
        assert stamps == sorted(stamps) and len(mine) == 120
    assert len(consume_all(env.kafka, "events")) == 1


def test_replay_refuses_a_bad_file_before_publishing_anything(env: Env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,asset_id,temperature\n2025-03-01T00:00:00Z,a,40\n2025-03-01T00:01:00Z,a,hot\n")
    res = subprocess.run([sys.executable, "-m", "flows.cli.main", "replay", str(bad), "--brokers",
                          env.kafka.brokers, "--topic-prefix", env.kafka.topic_prefix, "--no-progress"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2
    assert "bad.csv line 3, column 'temperature'" in res.stderr and res.stderr.count("\n") == 1
    assert consume_all(env.kafka, "scalars", timeout_s=5) == []


def test_from_end_snapshots_concrete_end_offsets(env: Env) -> None:
    """`--from-end` with recovery: the source's snapshot pins where each topic ended at start, so
    a restart after a crash reads what arrived meanwhile instead of jumping to the new end (a
    topic that had delivered nothing kept no offset before, and a restart skipped its backlog)."""
    from flows.dataflow.sources.kafka import KafkaTelemetrySource

    publish(list(simulate_fleet(FleetConfig(n_assets=2, days=0.5, seed=3))), env.kafka)
    topics = [env.kafka.topic(r) for r in ("scalars", "waveforms", "events")]
    source = KafkaTelemetrySource(env.kafka.client_config(), topics, from_end=True)
    ends = {}
    c = Consumer({"bootstrap.servers": env.kafka.brokers, "group.id": uuid.uuid4().hex})
    for t in topics:
        ends[t] = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)[1]
    c.close()
    part = source.build_part("telemetry_in", "0", None)
    try:
        assert part.snapshot() == ends
        assert ends[topics[0]] > 0  # the partition holds data that a from-end start skips
    finally:
        part.close()
